"""Move an Affine after a SumPool: ``sumpool(a x + b) = a sumpool(x) + k**2 b`` (per channel, exact)."""

from __future__ import annotations

from dataclasses import replace

from qsnn_deploy.export.float_graph import Affine, FloatGraph, SumPool


def apply(graph: FloatGraph) -> tuple[FloatGraph, bool]:
    layers = list(graph.layers)
    for i in range(len(layers) - 1):
        affine, pool = layers[i], layers[i + 1]
        if isinstance(affine, Affine) and isinstance(pool, SumPool):
            moved = replace(affine, offset=affine.offset * pool.kernel**2)
            layers[i : i + 2] = [pool, moved]
            return replace(graph, layers=tuple(layers)), True
    return graph, False
