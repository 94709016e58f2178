"""The layer plan: the graph's ops grouped into the layers every executor implements.

A *layer* is a synaptic op (``conv2d`` or ``linear``), an optional pool (sum or max) after a conv, the ``requantize`` that
turns its accumulator into a current, and the ``lif`` that current drives. The paper's networks, and every
network the exporter writes, are a chain of complete layers. The grouping is computed here once; the
simulator's fused stages (sim/plan.py), the C target and every later target read it, so they cannot disagree.

``group_ops`` groups any valid graph (docs/ir/graph.md allows other orders, such as a conv fed by a conv);
groups that are not complete layers are what the shared design rule ``layer_pattern`` refuses
(``plan_layers``), for every target alike. The simulator runs incomplete groups too: it is the oracle of
every valid graph.

One incomplete group is planned all the same: a lone ``sumpool2d`` right before a complete layer (the
Sinabs/Speck layout ``lif -> sumpool2d -> conv2d | linear``, the pool summing spikes). ``plan_layers`` folds it
into that layer's synapse (``fold_sum_pool``): a conv with a ``k``-times larger kernel, stride and padding, or
a linear whose columns are repeated over each window, on the unpooled map. The fold is exact (docs/ir/ops.md,
sumpool2d; docs/ir/ranges.md proves the folded op's range equals the IR op's), so targets run ``Layer.op``
with their existing kernels; ``Layer.in_pool`` and ``Layer.synapse`` keep the IR ops for tools that write
them back (NIR export).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, MaxPool2d, Op, Recurrent, Requantize, SumPool2d, Synaptic

Shape = tuple[int, ...]

LAYER_PATTERN = (
    "[sumpool2d] (conv2d [sumpool2d | maxpool2d] | linear) requantize [recurrent] [synaptic] lif, repeated"
)


@dataclass(frozen=True)
class Group:
    """Consecutive ops that run as one unit: ``[synapse] [pool] [requantize] [current] [lif]``, at least one
    present (a current op, ``synaptic``, only after a requantize).

    A pool is part of a group only directly after its conv. ``in_shape`` is the input of the first op,
    ``conv_shape`` the synapse's output (before pooling) and ``out_shape`` the output of the last op."""

    index: int
    ops: tuple[Op, ...]
    synapse: Conv2d | Linear | None
    pool: SumPool2d | MaxPool2d | None
    rq: Requantize | None
    lif: LIF | None
    in_shape: Shape
    conv_shape: Shape
    out_shape: Shape
    current: Synaptic | None = None
    recurrent: Recurrent | None = None

    @property
    def complete(self) -> bool:
        return self.synapse is not None and self.rq is not None and self.lif is not None


@dataclass(frozen=True)
class Layer:
    """One complete layer: ``op`` [+ ``pool``] -> ``rq`` -> ``lif``, with its shapes.

    ``in_shape`` is the synapse's input, ``conv_shape`` its output before pooling, ``out_shape`` the shape of
    the LIF layer (after pooling).

    ``in_pool`` is a sum pool before the synapse (``lif -> sumpool2d -> conv2d | linear``), already folded:
    ``op`` is then the folded synapse (``fold_sum_pool``, same name as the IR op), ``in_shape`` the unpooled
    input it reads, and ``synapse`` the IR op as the graph holds it (on the pooled map). Without an input pool
    ``synapse`` is ``op``. Targets read ``op`` and ``in_shape``; only writers of the IR itself (NIR export)
    read ``in_pool`` and ``synapse``."""

    index: int
    op: Conv2d | Linear
    pool: SumPool2d | MaxPool2d | None
    rq: Requantize
    lif: LIF
    in_shape: Shape
    conv_shape: Shape
    out_shape: Shape
    in_pool: SumPool2d | None = None
    ir_op: Conv2d | Linear | None = None  # the unfolded synapse when ``in_pool`` is set
    current: Synaptic | None = None  # a synaptic current between ``rq`` and ``lif`` (IR version 3)
    recurrent: Recurrent | None = None  # recurrent weights from ``lif``'s own spikes, right after ``rq``

    @property
    def synapse(self) -> Conv2d | Linear:
        """The synapse as the graph holds it (before folding ``in_pool``)."""
        return self.ir_op if self.ir_op is not None else self.op

    @property
    def synapse_in_shape(self) -> Shape:
        """The input shape of ``synapse``: the pooled map under an input pool, else ``in_shape``."""
        return self.in_pool.out_shape(self.in_shape) if self.in_pool is not None else self.in_shape

    @property
    def kind(self) -> str:
        return self.op.layer_kind

    @property
    def neurons(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def state_bits(self) -> int:
        return self.lif.state_type.bits

    @property
    def channels(self) -> int:
        return int(self.out_shape[0])

    @property
    def per_channel(self) -> int:
        """Neurons per channel: H * W of a map, 1 for a vector."""
        return int(np.prod(self.out_shape[1:])) if len(self.out_shape) > 1 else 1

    @property
    def pool_kernel(self) -> int:
        """The pool's window side, 1 when there is no pool."""
        return self.pool.kernel if self.pool is not None else 1

    @property
    def summed_area(self) -> int:
        """How many conv outputs one accumulator adds up: ``k * k`` under a sum pool, else 1."""
        return self.pool.summed_area if self.pool is not None else 1


def group_ops(graph: Graph) -> tuple[Group, ...]:
    """Group the op chain greedily into ``[synapse] [pool] [requantize] [lif]`` runs (shapes checked)."""
    shapes = graph.shapes()
    ops = graph.ops
    groups: list[Group] = []
    i = 0
    while i < len(ops):
        start = i
        synapse = pool = rq = recurrent = current = lif = None
        if ops[i].role == "synapse":
            synapse = ops[i]
            i += 1
        conv_shape = shapes[i - 1][1] if synapse is not None else shapes[start][0]
        if i < len(ops) and ops[i].role == "pool" and (synapse is None or synapse.takes_pool):
            pool = ops[i]
            i += 1
        if i < len(ops) and ops[i].role == "requantize":
            rq = ops[i]
            i += 1
        if i < len(ops) and ops[i].role == "feedback" and rq is not None:
            recurrent = ops[i]
            i += 1
        if i < len(ops) and ops[i].role == "current" and rq is not None:
            current = ops[i]
            i += 1
        if i < len(ops) and ops[i].role == "neuron" and rq is not None:
            lif = ops[i]
            i += 1
        if i == start:  # pragma: no cover - Graph.validate makes every LIF follow a requantize
            raise DesignRuleError("layer_pattern", f"op {ops[i].name!r} cannot start a layer")
        groups.append(
            Group(len(groups), tuple(ops[start:i]), synapse, pool, rq, lif, shapes[start][0], conv_shape,
                  shapes[i - 1][1], current, recurrent)
        )  # fmt: skip
    return tuple(groups)


def _input_pool(g: Group) -> bool:
    """Whether ``g`` is a lone sum pool that ``plan_layers`` folds into the next layer's synapse."""
    return len(g.ops) == 1 and g.pool is not None and g.pool.folds_into_synapse


def fold_sum_pool(pool: SumPool2d, op: Conv2d | Linear, in_shape: Shape) -> Conv2d | Linear:
    """The synapse that computes ``op(pool(x))`` from the unpooled ``x`` of shape ``in_shape``, exactly.

    A sum pool is linear, so it moves into the weights. For a conv (kernel K, stride S, padding P) on the
    pooled map: kernel ``K*k``, stride ``S*k``, padding ``P*k`` and ``W'[o,c,dy*k+u,dx*k+v] = W[o,c,dy,dx]``;
    every pooled position ``p`` becomes the unpooled rows ``p*k .. p*k+k-1``, padding positions become padding
    rows, and the output size is the same. It needs the rows and columns the pool drops (``H mod k``,
    ``W mod k``) never to be read: true without padding; with padding only when ``k`` divides H and W
    (``fold_problem`` says so). For a linear: ``W'[o, c, y, x] = W[o, c, y // k, x // k]`` for ``y, x`` inside
    the kept windows, 0 on the dropped rows and columns; always exact. Weights keep their values and type, so
    the folded op's range equals the IR op's (docs/ir/ranges.md)."""
    return op.fold_input_pool(pool.kernel, in_shape)


def fold_problem(pool: SumPool2d, op: Op, in_shape: Shape) -> str | None:
    """Why ``pool`` cannot fold into ``op`` exactly (None when it can)."""
    if op.role != "synapse":
        return f"sumpool2d {pool.name!r} feeds {op.kind} {op.name!r}, not a conv2d or linear"
    return op.input_pool_problem(pool.name, pool.kernel, in_shape)


def layer_pattern_violations(graph: Graph) -> list[str]:
    """One message per group of ``graph`` that is not a complete layer (empty when the graph is plannable).

    A lone sum pool before a complete layer is planned (folded), when the fold is exact."""
    messages = []
    groups = group_ops(graph)
    for i, g in enumerate(groups):
        if g.complete:
            continue
        after = groups[i + 1] if i + 1 < len(groups) else None
        if _input_pool(g) and after is not None and after.complete:
            problem = fold_problem(g.pool, after.ops[0], g.in_shape)  # type: ignore[arg-type]
            if problem is None:
                continue
            messages.append(problem)
            continue
        if len(g.ops) == 1 and g.pool is not None and after is not None and after.complete:
            messages.append(
                f"{g.pool.kind} {g.pool.name!r} pools the input of {after.ops[0].kind} {after.ops[0].name!r}: targets "
                "implement a pool before a synapse only as a sum pool, which folds into its weights (a max does "
                "not); use a sum pool there, or pool after the conv"
            )
            continue
        names = " -> ".join(f"{op.kind} {op.name!r}" for op in g.ops)
        missing = [w for w, present in (("conv2d or linear", g.synapse), ("requantize", g.rq), ("lif", g.lif))
                   if present is None]  # fmt: skip
        messages.append(f"ops {names} lack {' and '.join(missing)}; targets implement {LAYER_PATTERN}")
    return messages


def plan_layers(graph: Graph) -> tuple[Layer, ...]:
    """The graph as complete layers; raises ``DesignRuleError('layer_pattern')`` naming every other run."""
    problems = layer_pattern_violations(graph)
    if problems:
        raise DesignRuleError("layer_pattern", "; ".join(problems))
    layers: list[Layer] = []
    in_pool = None
    for g in group_ops(graph):
        if not g.complete:  # a lone sum pool (layer_pattern_violations let nothing else through)
            in_pool, pool_in = g.pool, g.in_shape
            continue
        if in_pool is None:
            shapes = (g.in_shape, g.conv_shape, g.out_shape)
            layers.append(
                Layer(
                    len(layers),
                    g.synapse,
                    g.pool,
                    g.rq,
                    g.lif,
                    *shapes,
                    current=g.current,
                    recurrent=g.recurrent,
                )
            )  # type: ignore[arg-type]
            continue
        folded = fold_sum_pool(in_pool, g.synapse, pool_in)  # type: ignore[arg-type]
        layers.append(
            Layer(len(layers), folded, g.pool, g.rq, g.lif, pool_in, folded.out_shape(pool_in), g.out_shape,
                  in_pool, g.synapse, g.current, g.recurrent)  # type: ignore[arg-type]
        )  # fmt: skip
        in_pool = None
    return tuple(layers)


def weight_floor_bytes(graph: Graph) -> float:
    """The physical floor of weight storage: number of weights x bits / 8."""
    return sum(op.weight.size * op.weight_type.bits / 8 for op in graph.ops if op.role == "synapse")


__all__ = [
    "Group",
    "Layer",
    "LAYER_PATTERN",
    "fold_problem",
    "fold_sum_pool",
    "group_ops",
    "layer_pattern_violations",
    "plan_layers",
]
