"""Bounds on every integer and size in an IR, beyond the rules of each op (docs/ir/file-format.md#limits).

An op's own ``check`` says what makes sense (a stride of at least 1); these limits say what a file may ask of
the machine that reads it, so that a stranger's ``.qsnn`` cannot make ``simulate`` run for days, allocate
terabytes or make a target's compiler overflow a constant. They are far above any network the paper or the
exporter makes. ``check_fields`` runs before the graph's own validation (whose arithmetic must not see absurd
numbers), ``check_sizes`` after it (it needs the shapes).
"""

from __future__ import annotations

import math
import re

import numpy as np

from qsnn_deploy.errors import IRValidationError
from qsnn_deploy.ir.ops import LIF, Conv2d, MaxPool2d, Op, Requantize, SumPool2d

MAX_NUM_STEPS = 10_000  # time steps per sample; the presets use 100, the bundled models 25 to 50
MAX_OPS = 1024
MAX_DIM = 4096  # any one input size (C, H or W) and any kernel's output channels
MAX_KERNEL = 64  # conv kernel height/width, pooling window
MAX_STRIDE = 64
MAX_PADDING = 64
MAX_TENSOR_ELEMENTS = 1 << 26  # one weight tensor: 64 Mi values
MAX_ACTIVATION_ELEMENTS = 1 << 24  # one activation (input frame or any op's output): 16 Mi values
MAX_DECAY_MULTIPLIER = (1 << 31) - 1  # executors hold it in an int32, like the requantize multipliers
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
"""Op names become identifiers in generated code (C, HLS, Verilog), so they are identifiers here."""


def _bound(where: str, field: str, value: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise IRValidationError(f"{where}: {field} {value} is outside the limit [{lo}, {hi}]")


def _check_op(op: Op) -> None:
    where = f"{op.kind} {op.name!r}"
    for key, arr in op.tensors().items():
        if arr.size > MAX_TENSOR_ELEMENTS:
            raise IRValidationError(
                f"{where}: tensor {key!r} has {arr.size} values, more than the limit {MAX_TENSOR_ELEMENTS}"
            )
    if isinstance(op, Conv2d):
        if op.weight.ndim == 4:
            _bound(where, "kernel height", int(op.weight.shape[2]), 1, MAX_KERNEL)
            _bound(where, "kernel width", int(op.weight.shape[3]), 1, MAX_KERNEL)
            _bound(where, "output channels", int(op.weight.shape[0]), 1, MAX_DIM)
        _bound(where, "stride", op.stride, 1, MAX_STRIDE)
        _bound(where, "padding", op.padding, 0, MAX_PADDING)
    elif isinstance(op, (SumPool2d, MaxPool2d)):
        _bound(where, "kernel", op.kernel, 1, MAX_KERNEL)
    elif isinstance(op, Requantize):
        _bound(where, "shift", op.shift, 0, 62)
    elif isinstance(op, LIF):
        _bound(where, "threshold", op.threshold, 1, (1 << 31) - 1)
        _bound(where, "decay_shift", op.decay_shift, 0, 31)
        _bound(where, "decay_multiplier", op.decay_multiplier, 0, MAX_DECAY_MULTIPLIER)


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
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise IRValidationError(f"input: scale must be a finite positive number, got {scale!r}")
    seen: dict[str, str] = {}
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
    """Every activation (the input frame and each op's output) within ``MAX_ACTIVATION_ELEMENTS``; needs a
    graph that passed ``Graph.validate``."""
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
