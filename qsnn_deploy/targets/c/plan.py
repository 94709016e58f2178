"""The C target's view of a graph: a list of stages (conv[+pool] or linear, requantize, LIF) with shapes,
weight layouts and buffer sizes. Checks and templates both read this plan, so they cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, Requantize, SumPool2d

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Stage:
    """One synaptic layer and the neurons it drives: ``op`` [+ ``pool``] -> ``rq`` -> ``lif``."""

    index: int
    op: Conv2d | Linear
    pool: SumPool2d | None
    rq: Requantize
    lif: LIF
    in_shape: Shape
    conv_shape: Shape  # output of op before pooling
    out_shape: Shape  # output after pooling (= the LIF layer's shape)

    @property
    def kind(self) -> str:
        return "conv" if isinstance(self.op, Conv2d) else "linear"

    @property
    def neurons(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def packed(self) -> bool:
        return self.op.weight_type.bits <= 4

    @property
    def state_bits(self) -> int:
        return self.lif.state_type.bits

    @property
    def per_channel(self) -> int:
        return int(np.prod(self.out_shape[1:])) if len(self.out_shape) > 1 else 1


def parse_stages(graph: Graph) -> list[Stage]:
    """Split the op chain into stages; any other arrangement has no template (rule ``op_has_template``)."""
    shapes = graph.shapes()
    ops = list(graph.ops)
    stages: list[Stage] = []
    i = 0
    while i < len(ops):
        op = ops[i]
        if not isinstance(op, (Conv2d, Linear)):
            raise DesignRuleError(
                "op_has_template",
                f"{op.kind} {op.name!r} at position {i} has no C template here; the C target supports "
                "conv2d [sumpool2d] | linear, then requantize, then lif, repeated",
            )
        in_shape, conv_shape = shapes[i]
        pool = None
        j = i + 1
        if isinstance(op, Conv2d) and j < len(ops) and isinstance(ops[j], SumPool2d):
            pool = ops[j]
            j += 1
        out_shape = shapes[j - 1][1]
        rq = ops[j] if j < len(ops) else None
        lif = ops[j + 1] if j + 1 < len(ops) else None
        if not isinstance(rq, Requantize) or not isinstance(lif, LIF):
            where = ops[j].kind if j < len(ops) else "the end of the graph"
            raise DesignRuleError(
                "op_has_template",
                f"{op.kind} {op.name!r} must be followed by [sumpool2d], requantize and lif; found {where}",
            )
        stages.append(Stage(len(stages), op, pool, rq, lif, in_shape, conv_shape, out_shape))
        i = j + 2
    return stages


def input_major(op: Conv2d | Linear) -> np.ndarray:
    """Weights flattened so that the weights of one input element are contiguous (see qsnn_runtime.h):
    conv (O, C, kh, kw) -> (C, kh, kw, O); linear (O, I) -> (I, O)."""
    w = op.weight.astype(np.int64)
    w = w.transpose(1, 2, 3, 0) if w.ndim == 4 else w.T
    return np.ascontiguousarray(w).reshape(-1)


def pack_weights(values: np.ndarray, packed: bool) -> bytes:
    """4-bit packing: element 2k in the low nibble, 2k+1 in the high nibble (odd count: high nibble 0).
    Unpacked: one two's-complement byte per weight."""
    v = values.astype(np.int64)
    if not packed:
        return bytes((v & 0xFF).astype(np.uint8).tolist())
    nib = (v & 0xF).astype(np.uint8)
    if len(nib) % 2:
        nib = np.append(nib, np.uint8(0))
    return bytes((nib[0::2] | (nib[1::2] << 4)).astype(np.uint8).tolist())


def weight_bytes(stage: Stage) -> int:
    n = int(stage.op.weight.size)
    return (n + 1) // 2 if stage.packed else n


def floor_bytes(graph: Graph) -> float:
    """The physical floor of weight storage: number of weights x bits / 8."""
    return sum(
        op.weight.size * op.weight_type.bits / 8 for op in graph.ops if isinstance(op, (Conv2d, Linear))
    )


def acc_elements(stages: list[Stage], static: bool) -> int:
    """Scratch accumulators: the largest layer computed per step (a static first layer has its own cache)."""
    per_step = stages[1:] if static else stages
    return max((int(np.prod(s.out_shape)) for s in per_step), default=1)


def state_bytes(stages: list[Stage], static: bool) -> int:
    """sizeof(<prefix>_state_t) before padding: scratch, static cache, membranes, spikes, counts."""
    acc = acc_elements(stages, static) * 4
    cache = stages[0].neurons * 4 if static else 0
    mems = sum(s.neurons * s.state_bits // 8 for s in stages)
    spikes = sum(s.neurons for s in stages)
    counts = stages[-1].neurons * 2 + len(stages) * 4
    return acc + cache + mems + spikes + counts
