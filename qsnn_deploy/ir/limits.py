"""Bounds on every integer and size in an IR, beyond the rules of each op (docs/ir/file-format.md#limits).

An op's own ``check`` says what makes sense (a stride of at least 1); these limits say what a file may ask of
the machine that reads it, so that a stranger's ``.qsnn`` cannot make ``simulate`` run for days, allocate
terabytes or make a target's compiler overflow a constant. They are far above any network the paper or the
exporter makes. ``check_fields`` runs before the graph's own validation (whose arithmetic must not see absurd
numbers), ``check_sizes`` after it (it needs the shapes).

Counts alone do not bound the work: each field can be inside its limit while their product is not (a 1x1 conv
with padding 64 has 389k neurons, and 1,000 steps of them is a 1.9 GB record per sample). ``check_budget``
bounds the products that memory, time and temporary disk follow, per sample (``Footprint``): the batching code
(sim/executor.py ``samples_per_batch``) then sizes batches so that any graph inside these budgets runs in
``MEMORY_BUDGET_BYTES``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from qsnn_deploy.errors import IRValidationError

MAX_NUM_STEPS = 10_000  # time steps per sample; the presets use 100, the bundled models 25 to 50
MAX_OPS = 1024
MAX_DIM = 4096  # any one input size (C, H or W) and any kernel's output channels
MAX_KERNEL = 64  # conv kernel height/width, pooling window
MAX_STRIDE = 64
MAX_PADDING = 64
MAX_TENSOR_ELEMENTS = 1 << 24  # one weight tensor: 16 Mi values (the reader refuses more before allocating)
MAX_GRAPH_TENSOR_VALUES = 1 << 24  # all tensors of the graph together (see the budgets below)
MAX_ACTIVATION_ELEMENTS = 1 << 24  # one activation (input frame or any op's output): 16 Mi values
MAX_DECAY_MULTIPLIER = (1 << 31) - 1  # executors hold it in an int32, like the requantize multipliers

# Budgets per sample (``Footprint``; docs/trust-model.md#resources gives the figures of the real networks).
MEMORY_BUDGET_BYTES = 1 << 30
"""What the batching code lets one batch of samples take (sim/executor.py ``samples_per_batch``)."""
RECORD_BYTES_PER_VALUE = 48
"""Peak bytes ``verify`` holds per recorded value (one LIF neuron at one step): the simulator's record and its
flattened copy (5 + 9), the executor's record file read back (5 + 8) and the comparison's int64 copies (17);
measured 44 on the 389k-neuron graph (17 GB for 389M values)."""
MAX_NEURON_STEPS = 1 << 24  # LIF neurons x steps: 16.8 Mi
"""One sample's trace, every LIF neuron at every step: what ``verify`` records and compares at once, so one
sample must fit the memory budget (16.8 Mi values x 48 B = 768 MiB). The largest real network, the Sinabs
N-MNIST CNN at 100 steps, needs 1.27 Mi; the paper's presets at 100 steps 0.33-0.52 Mi."""
MAX_INTERMEDIATE = 1 << 24  # values
"""The largest array one sample needs at one step: the input frame, any op's output, a conv's zero-padded
input and its im2col matrix (sim/kernels.py ``conv2d_weights``: output pixels x taps x input channels), 128 MiB
in int64. Batches and time chunks are cut so that several of these never exceed the memory budget."""
MAX_SYNAPTIC_OPS = 1 << 33  # multiply-accumulates x steps
"""Time: the multiply-accumulates of every conv and linear op (output values x fan-in) over all steps of one
sample, 8 Gi: seconds per sample for the simulator and the C executor."""
MAX_SAMPLE_TEMP_BYTES = 1 << 28  # 256 MiB
"""Temporary disk per sample in ``verify``: the vectors file (one frame, or one per step for a stream), the
outputs file and the record file (5 bytes per LIF neuron per step) the executors write."""
TEMP_BUDGET_BYTES = 1 << 30
"""What one ``verify`` chunk of samples may write to temporary files (sim/executor.py ``samples_per_record``);
each chunk's files replace the last one's."""

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
"""Op names become identifiers in generated code (C, HLS, Verilog), so they are identifiers here."""


def _bound(where: str, field: str, value: int, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise IRValidationError(f"{where}: {field} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise IRValidationError(f"{where}: {field} {value} is outside the limit [{lo}, {hi}]")


def _check_op(op) -> None:
    """``op`` (an ir.ops ``Op``) within the tensor-size limit and its own ``field_limits``."""
    where = f"{op.kind} {op.name!r}"
    for key, arr in op.tensors().items():
        if arr.size > MAX_TENSOR_ELEMENTS:
            raise IRValidationError(
                f"{where}: tensor {key!r} has {arr.size} values, more than the limit {MAX_TENSOR_ELEMENTS}"
            )
    for field, value, lo, hi in op.field_limits():
        _bound(where, field, value, lo, hi)


def check_tensor_total(ops) -> None:
    """All tensors of ``ops`` together within ``MAX_GRAPH_TENSOR_VALUES``: the file reader runs it after each
    op, so a file of many tensors, each inside its own limit (a zip of 1,024 deflated members), stops before
    the next is inflated; the simulator holds a few converted copies of every weight."""
    total = sum(int(arr.size) for op in ops for arr in op.tensors().values())
    if total > MAX_GRAPH_TENSOR_VALUES:
        raise IRValidationError(
            f"the graph's tensors hold {total:,} values together, more than the limit {MAX_GRAPH_TENSOR_VALUES:,}"
        )


def check_fields(graph) -> None:
    """Every field of ``graph`` (a ``Graph``) within its limit; raise IRValidationError naming the first that
    is not. Runs before ``Graph.validate``."""
    _bound("graph", "num_steps", graph.num_steps, 1, MAX_NUM_STEPS)
    if not 1 <= len(graph.ops) <= MAX_OPS:
        raise IRValidationError(f"the graph has {len(graph.ops)} ops; the limit is 1 to {MAX_OPS}")
    shape = tuple(graph.input.shape)
    for axis, size in zip("CHW", shape):
        _bound("input", f"shape {axis}", size, 1, MAX_DIM)
    scale = graph.input.scale
    # bool is an int in Python; a scale of True is a wrong type, not 1.0
    number = isinstance(scale, (int, float)) and not isinstance(scale, bool)
    if not (number and math.isfinite(scale) and scale > 0):
        raise IRValidationError(f"input: scale must be a finite positive number, got {scale!r}")
    seen: dict[str, str] = {}
    check_tensor_total(graph.ops)
    for op in graph.ops:
        if not isinstance(op.name, str) or not NAME_PATTERN.match(op.name):
            raise IRValidationError(
                f"{op.kind} op name {op.name!r} is not an identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64 "
                "characters)"
            )
        # Targets derive upper-case macro names from op names, so two names may not differ only in case.
        folded = op.name.upper()
        if folded in seen and seen[folded] != op.name:
            raise IRValidationError(f"op names {seen[folded]!r} and {op.name!r} differ only in case")
        seen[folded] = op.name
        _check_op(op)


def check_sizes(graph) -> None:
    """Every activation (the input frame and each op's output) within ``MAX_ACTIVATION_ELEMENTS``, and the
    per-sample budgets of ``check_budget``; needs a graph that passed ``Graph.validate``."""
    frame = int(np.prod(graph.input.shape, dtype=np.int64))
    if frame > MAX_ACTIVATION_ELEMENTS:
        raise IRValidationError(
            f"input: a frame of shape {tuple(graph.input.shape)} has {frame} values, more than the limit "
            f"{MAX_ACTIVATION_ELEMENTS}"
        )
    for op, (_, out) in zip(graph.ops, graph.shapes()):
        size = math.prod(out)
        if size > MAX_ACTIVATION_ELEMENTS:
            raise IRValidationError(
                f"{op.kind} {op.name!r}: output shape {out} has {size} values, more than the limit "
                f"{MAX_ACTIVATION_ELEMENTS}"
            )
    check_budget(graph)


@dataclass(frozen=True)
class Footprint:
    """What one sample of a graph asks of the machine over ``steps`` steps, computed from shapes alone."""

    steps: int
    frame: int  # input values per step
    neurons: int  # LIF neurons, all layers
    classes: int
    largest: int  # values of the largest array of one sample at one step (MAX_INTERMEDIATE)
    macs: int  # multiply-accumulates of one step (conv and linear)
    stream: bool

    @property
    def neuron_steps(self) -> int:
        """LIF neurons x steps: the trace verify records for one sample."""
        return self.neurons * self.steps

    @property
    def synaptic_ops(self) -> int:
        return self.macs * self.steps

    @property
    def temp_bytes(self) -> int:
        """Bytes verify's executors write for one sample (verify/vectors.py, verify/harness.py): the frames,
        the outputs (spikes per step, uint16 counts, an int32 prediction) and the record (a spike byte and an
        int32 membrane per LIF neuron per step)."""
        frames = self.frame * (self.steps if self.stream else 1)
        outputs = self.classes * self.steps + 2 * self.classes + 4
        return frames + outputs + 5 * self.neuron_steps


def footprint(graph, steps: int | None = None) -> Footprint:
    """The ``Footprint`` of ``graph`` (a ``Graph`` that passed ``Graph.validate``) over ``steps`` (default: its
    own). Python integers throughout: no product can overflow."""
    frame = math.prod(int(v) for v in graph.input.shape)
    largest, neurons, macs, out = frame, 0, 0, ()
    for op, (shape_in, out) in zip(graph.ops, graph.shapes()):
        largest = max(largest, op.scratch_values(shape_in, out))
        neurons += math.prod(out) if op.role == "neuron" else 0
        macs += op.macs(shape_in, out)
    return Footprint(
        steps=int(steps or graph.num_steps),
        frame=frame,
        neurons=neurons,
        classes=math.prod(out),
        largest=largest,
        macs=macs,
        stream=graph.input.encoding == "stream",
    )


def check_budget(graph, steps: int | None = None) -> Footprint:
    """Refuse, in one line naming the figure and its limit, a graph whose ``footprint`` over ``steps``
    (default: its own) exceeds a budget; returns the footprint. ``check_sizes`` runs it at every load; the
    commands that take ``--num-steps`` run it again with theirs before any work."""
    fp = footprint(graph, steps)
    over = [
        (fp.neuron_steps, MAX_NEURON_STEPS, "LIF neurons x steps (the trace verify records per sample)"),
        (fp.largest, MAX_INTERMEDIATE, "values in its largest intermediate array (per sample and step)"),
        (fp.synaptic_ops, MAX_SYNAPTIC_OPS, "multiply-accumulates x steps per sample"),
        (fp.temp_bytes, MAX_SAMPLE_TEMP_BYTES, "bytes of temporary files per sample in verify"),
    ]
    for value, limit, what in over:
        if value > limit:
            raise IRValidationError(
                f"the graph over {fp.steps} steps needs {value:,} {what}, more than the limit {limit:,} "
                "(docs/ir/file-format.md#limits)"
            )
    return fp
