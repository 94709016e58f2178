"""A literal, slow transcription of docs/ir/ops.md: one step at a time, every op every step, int64 only.

No fusion, no float BLAS, no static-input shortcut. It exists to check the fast executor (tests and
benchmarks/sim_speed.py), never to be fast."""

from __future__ import annotations

import numpy as np

from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, Requantize, SumPool2d
from qsnn_deploy.sim import kernels


def _conv(x: np.ndarray, op: Conv2d) -> np.ndarray:
    p = op.padding
    x = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (p, p), (p, p)))
    kh, kw = op.weight.shape[2:]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, :: op.stride, :: op.stride]
    return np.einsum("nchwij,ocij->nohw", win, op.weight.astype(np.int64))


def simulate_reference(graph: Graph, inputs: np.ndarray, num_steps: int | None = None) -> np.ndarray:
    """Output spikes (N, T, K) uint8, computed step by step."""
    steps = num_steps or graph.num_steps
    stream = graph.input.encoding == "stream"
    n = len(inputs)
    membranes: dict[str, np.ndarray] = {}
    out = []
    for t in range(steps):
        x = (inputs[:, t] if stream else inputs).astype(np.int64)
        for op in graph.ops:
            if isinstance(op, Conv2d):
                x = _conv(x, op)
            elif isinstance(op, SumPool2d):
                x = kernels.sumpool2d(x, op)
            elif isinstance(op, Linear):
                x = x.reshape(n, -1) @ op.weight.astype(np.int64).T
            elif isinstance(op, Requantize):
                x = kernels.requantize(x, op)
            elif isinstance(op, LIF):
                v = membranes.get(op.name, np.zeros(x.shape, dtype=np.int64))
                membranes[op.name], spikes = kernels.lif_step(v.copy(), x, op, saturate=True)
                x = spikes.astype(np.int64)
        out.append(x.astype(np.uint8))
    return np.stack(out, axis=1)
