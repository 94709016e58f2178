"""The simulator's execution plan: the graph's ops grouped into stages, each run by one kernel call.

The grouping of ops into layers is ir/plan.py's (``group_ops``), shared with every target; this module decides
how each group runs as kernel calls, once per graph, with the range analysis as proof:

* a stride-1 conv followed by a sum pool runs as one strided conv over box sums (``kernels.pooled_conv``);
* the requantize after a conv or linear, and the ``lif_prepare`` of the LIF after that, run in the GEMM's
  epilogue, on each chunk while it is in cache (``fused_epilogue``);
* a linear after a conv gets its weight columns reordered to the executor's channels-last layout;
* each conv's and linear's fan-out (for the synaptic-operation counts) is computed once, in that layout.

Every stage computes exactly the integers docs/ir/ops.md defines for the ops it covers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, MaxPool2d, Requantize, SumPool2d
from qsnn_deploy.ir.plan import group_ops
from qsnn_deploy.ir.ranges import OpRange
from qsnn_deploy.sim import compiled, kernels


@dataclass(frozen=True, eq=False)
class Stage:
    """One kernel call of the plan. ``op`` names it (the conv, linear, pool, requantize or LIF); ``in_shape``
    and ``out_shape`` are IR shapes (C, H, W) or (F,); ``max_abs`` bounds |input| (it makes float BLAS exact).
    """

    kind: str  # "conv" | "linear" | "pool" | "maxpool" | "requantize" | "recurrent" | "synaptic" | "lif"
    op: Conv2d | Linear | SumPool2d | MaxPool2d | Requantize | LIF
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    max_abs: int
    pool: int = 0  # conv: the sum pool fused into it (its kernel), 0 if none
    weight: np.ndarray | None = None  # conv/linear: the weight as the kernel uses it
    epilogue: FusedEpilogue | None = None  # conv/linear: the fused requantize (and lif_prepare)
    saturate: bool = False  # lif: the range analysis says the membrane can reach its type's bounds
    prepared_input: bool = False  # lif: the stage before already applied lif_prepare
    chain: tuple = ()  # recurrent: the [synaptic] and lif after it, run with it one step at a time
    saturating: frozenset[str] = frozenset()  # recurrent: which ops of the chain can saturate
    fanout: np.ndarray | None = (
        None  # conv/linear: accumulations per nonzero input element, flat, held layout
    )

    @functools.cached_property
    def event_geometry(self) -> tuple[np.ndarray, int, int, int]:
        """A conv's or linear's (weight (O, C, kh, kw), fused sum pool (1: none), padding, input width) as the
        event-driven conv of spikes takes them (sim/compiled.py): a linear is a 1 x 1 conv of a 1 x 1 map whose
        inputs are all channels."""
        if self.kind == "linear":
            return self.weight.reshape(*self.weight.shape, 1, 1), 1, 0, 1
        return self.weight, self.pool or 1, self.op.padding, self.in_shape[2]

    @functools.cached_property
    def event_table(self) -> np.ndarray | None:
        """``compiled.binary_conv_table`` of ``event_geometry``, built once per plan (its weights are the
        stage's, whatever the batch), and only when a batch first runs the event-driven conv."""
        return compiled.binary_conv_table(*self.event_geometry)


def hwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The executor's layout of an IR shape: (C, H, W) is held channels last, (H, W, C); others as they are."""
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else tuple(shape)


def held_fanout(op: Conv2d | Linear, in_shape: tuple[int, ...]) -> np.ndarray:
    """``fanout`` flattened in the executor's channels-last order (what synaptic-operation counts multiply)."""
    fan = op.fanout(in_shape)
    return (fan.transpose(1, 2, 0) if fan.ndim == 3 else fan).reshape(-1)


def _peak(rng: OpRange) -> int:
    return max(max(abs(v) for v in rng.lo), max(abs(v) for v in rng.hi))


@dataclass(frozen=True, eq=False)
class FusedEpilogue:
    """A Requantize, and the ``lif_prepare`` of the LIF after it (``lif``, else None), run on an exact
    conv/linear result: ``epilogue(res, out)`` stores ``(res * multiplier + offset) >> shift`` (then
    ``(value << s) + 2**(s-1)`` for the LIF) as int64 into ``out``, channel last. The same int64 operations as
    kernels.requantize / lif_prepare, on the same integers; ``float_multiply``: a float GEMM result times the
    multiplier is computed in float64 and stored as int64 in one pass (exact: every product is an integer below
    2**53, by the accumulator's proven range times |m|). Its fields let the compiled conv (sim/compiled.py)
    apply it too."""

    multiplier: np.ndarray  # int64, per output channel
    offset: np.ndarray  # int64, per output channel: bias + rounding
    shift: int
    lif: LIF | None
    float_multiply: bool

    @functools.cached_property
    def multiplier_float(self) -> np.ndarray:
        return self.multiplier.astype(np.float64)

    def __call__(self, res: np.ndarray, out: np.ndarray) -> None:
        if self.float_multiply and res.dtype.kind == "f":
            np.multiply(res, self.multiplier_float, out=out, casting="unsafe")
            np.add(out, self.offset, out=out)
            np.right_shift(out, self.shift, out=out)
        else:
            np.copyto(out, res, casting="unsafe")  # exact integers
            kernels.requantize_inplace(out, self.multiplier, self.offset, self.shift)
        if self.lif is not None:
            kernels.lif_prepare(out, self.lif)


def fused_epilogue(
    ops: tuple, i: int, ranges: dict[str, OpRange]
) -> tuple[FusedEpilogue | None, int, LIF | None]:
    """The ops after a conv/linear (its sum pool already consumed) at ``ops[i]`` that run inside its GEMM
    epilogue: a Requantize, then the ``lif_prepare`` of a LIF after it.

    Returns (epilogue or None, how many ops it consumed, the LIF whose input is now prepared or None). The range
    analysis proves the requantize fits 64 bits (check_no_overflow) and ``lif_prepared_fits`` is checked on the
    requantize's proven output range."""
    rq = ops[i] if i < len(ops) and ops[i].kind == "requantize" else None
    if rq is None:
        return None, 0, None
    mult = rq.multiplier.astype(np.int64)  # channel last in the GEMM result: plain broadcasting
    lif = ops[i + 1] if i + 1 < len(ops) and ops[i + 1].kind == "lif" else None
    if lif is not None and not kernels.lif_prepared_fits(lif, _peak(ranges[rq.name])):
        lif = None
    float_multiply = _peak(ranges[ops[i - 1].name]) * int(np.abs(mult).max()) < 2**53
    epilogue = FusedEpilogue(mult, kernels._requant_offset(rq), rq.shift, lif, float_multiply)
    return epilogue, 1, lif


def _conv_stage(op: Conv2d, group, shape: tuple[int, ...]) -> tuple[str, np.ndarray, int]:
    """A conv runs on its weight as the IR holds it; a stride-1 unpadded conv fuses the sum pool after it
    (``kernels.pooled_conv``: returns that pool's kernel, else 0)."""
    pooled = group.pool is not None and group.pool.kind == "sumpool2d" and op.stride == 1 and op.padding == 0
    return "conv", op.weight, group.pool.kernel if pooled else 0


def _linear_stage(op: Linear, group, shape: tuple[int, ...]) -> tuple[str, np.ndarray, int]:
    """A linear's columns, in the IR's (C, H, W) order, reordered to the (H, W, C) order of a channels-last
    input."""
    weight = op.weight
    if len(shape) == 3:
        weight = weight.reshape(-1, *shape).transpose(0, 2, 3, 1).reshape(len(weight), -1)
    return "linear", weight, 0


# The simulator's registration tables: the stage builder of each synaptic op, and the stage kind
# (executor.STAGE_RUNNERS) of every other op. An op missing here is refused by simulate before any work.
SYNAPSE_STAGES = {"conv2d": _conv_stage, "linear": _linear_stage}
STAGE_KINDS = {
    "sumpool2d": "pool",
    "maxpool2d": "maxpool",
    "requantize": "requantize",
    "recurrent": "recurrent",
    "synaptic": "synaptic",
    "lif": "lif",
}


def build_plan(graph: Graph, can_saturate: set[str], ranges: dict[str, OpRange]) -> list[Stage]:
    """The stages that run ``graph``, in order: the layer groups of ir/plan.py, each as few kernel calls as
    its ops allow (a group that is not a complete layer runs op by op where nothing fuses)."""
    ops = graph.ops
    index = {id(op): i for i, op in enumerate(ops)}
    stages: list[Stage] = []

    def max_abs_before(i: int) -> int:
        """|input| bound of ops[i]: the input type, spikes after a LIF, else the range of the op before."""
        if i == 0:
            return max(abs(graph.input.dtype.min), abs(graph.input.dtype.max))
        prev = ops[i - 1]
        return 1 if prev.role == "neuron" else _peak(ranges[prev.name])

    for group in group_ops(graph):
        shape = group.in_shape
        rest = list(group.ops)
        prepared_for = None  # the LIF whose prepared current the synapse stage outputs
        if group.synapse is not None:
            op = rest.pop(0)
            i = index[id(op)]
            kind, weight, pool = SYNAPSE_STAGES[op.kind](op, group, shape)
            out_shape = group.conv_shape
            if pool:
                out_shape = group.pool.out_shape(out_shape)  # type: ignore[union-attr]
                rest.pop(0)
            epilogue = None
            if rest and rest[0].kind == "requantize":
                epilogue, used, prepared_for = fused_epilogue(ops, index[id(rest[0])], ranges)
                del rest[:used]
            stages.append(
                Stage(kind, op, shape, out_shape, max_abs_before(i), pool=pool, weight=weight,
                      epilogue=epilogue, fanout=held_fanout(op, shape))
            )  # fmt: skip
            shape = out_shape
        while rest:  # what did not fuse: a pool, a requantize, a synaptic current, the LIF
            op = rest.pop(0)
            i = index[id(op)]
            out_shape = op.out_shape(shape)
            kind = STAGE_KINDS[op.kind]
            if op.role == "feedback":  # the recurrent layer runs step by step: recurrent, [synaptic], lif
                chain = tuple(rest)
                del rest[:]
                stage = Stage(kind, op, shape, out_shape, max_abs_before(i), chain=chain,
                              saturating=frozenset(o.name for o in chain if o.name in can_saturate))  # fmt: skip
            elif op.stateful:
                stage = Stage(kind, op, shape, out_shape, max_abs_before(i), saturate=op.name in can_saturate,
                              prepared_input=prepared_for is op)  # fmt: skip
            else:
                stage = Stage(kind, op, shape, out_shape, max_abs_before(i))
            stages.append(stage)
            shape = out_shape
    return stages
