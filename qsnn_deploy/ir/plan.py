"""The layer plan: the graph's ops grouped into the layers every executor implements.

A *layer* is a synaptic op (``conv2d`` or ``linear``), an optional pool (sum or max) after a conv, the ``requantize`` that
turns its accumulator into a current, and the ``lif`` that current drives. The paper's networks, and every
network the exporter writes, are a chain of complete layers. The grouping is computed here once; the
simulator's fused stages (sim/plan.py), the C target and every later target read it, so they cannot disagree.

``group_ops`` groups any valid graph (docs/ir/graph.md allows other orders, such as a conv fed by a conv);
groups that are not complete layers are what the shared design rule ``layer_pattern`` refuses
(``plan_layers``), for every target alike. The simulator runs incomplete groups too: it is the oracle of
every valid graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, MaxPool2d, Op, Requantize, SumPool2d

Shape = tuple[int, ...]
POOL_TYPES = (SumPool2d, MaxPool2d)
SYNAPSE_TYPES = (Conv2d, Linear)

LAYER_PATTERN = "(conv2d [sumpool2d | maxpool2d] | linear) requantize lif, repeated"


@dataclass(frozen=True)
class Group:
    """Consecutive ops that run as one unit: ``[synapse] [pool] [requantize] [lif]``, at least one present.

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

    @property
    def complete(self) -> bool:
        return self.synapse is not None and self.rq is not None and self.lif is not None


@dataclass(frozen=True)
class Layer:
    """One complete layer: ``op`` [+ ``pool``] -> ``rq`` -> ``lif``, with its shapes.

    ``in_shape`` is the synapse's input, ``conv_shape`` its output before pooling, ``out_shape`` the shape of
    the LIF layer (after pooling)."""

    index: int
    op: Conv2d | Linear
    pool: SumPool2d | MaxPool2d | None
    rq: Requantize
    lif: LIF
    in_shape: Shape
    conv_shape: Shape
    out_shape: Shape

    @property
    def kind(self) -> str:
        return "conv" if isinstance(self.op, Conv2d) else "linear"

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
        return self.pool.kernel**2 if isinstance(self.pool, SumPool2d) else 1


def group_ops(graph: Graph) -> tuple[Group, ...]:
    """Group the op chain greedily into ``[synapse] [pool] [requantize] [lif]`` runs (shapes checked)."""
    shapes = graph.shapes()
    ops = graph.ops
    groups: list[Group] = []
    i = 0
    while i < len(ops):
        start = i
        synapse = pool = rq = lif = None
        if isinstance(ops[i], SYNAPSE_TYPES):
            synapse = ops[i]
            i += 1
        conv_shape = shapes[i - 1][1] if synapse is not None else shapes[start][0]
        if (
            i < len(ops)
            and isinstance(ops[i], POOL_TYPES)
            and (synapse is None or isinstance(synapse, Conv2d))
        ):
            pool = ops[i]
            i += 1
        if i < len(ops) and isinstance(ops[i], Requantize):
            rq = ops[i]
            i += 1
        if i < len(ops) and isinstance(ops[i], LIF) and rq is not None:
            lif = ops[i]
            i += 1
        if i == start:  # pragma: no cover - Graph.validate makes every LIF follow a requantize
            raise DesignRuleError("layer_pattern", f"op {ops[i].name!r} cannot start a layer")
        groups.append(
            Group(len(groups), tuple(ops[start:i]), synapse, pool, rq, lif, shapes[start][0], conv_shape,
                  shapes[i - 1][1])
        )  # fmt: skip
    return tuple(groups)


def layer_pattern_violations(graph: Graph) -> list[str]:
    """One message per group of ``graph`` that is not a complete layer (empty when the graph is plannable)."""
    messages = []
    for g in group_ops(graph):
        if g.complete:
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
    return tuple(
        Layer(g.index, g.synapse, g.pool, g.rq, g.lif, g.in_shape, g.conv_shape, g.out_shape)  # type: ignore[arg-type]
        for g in group_ops(graph)
    )


def weight_floor_bytes(graph: Graph) -> float:
    """The physical floor of weight storage: number of weights x bits / 8."""
    return sum(op.weight.size * op.weight_type.bits / 8 for op in graph.ops if isinstance(op, SYNAPSE_TYPES))


__all__ = ["Group", "Layer", "LAYER_PATTERN", "group_ops", "layer_pattern_violations", "plan_layers"]
