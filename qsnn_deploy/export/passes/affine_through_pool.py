"""Move an Affine after a pool, per channel and exactly:

* ``sumpool(a x + b) = a sumpool(x) + k**2 b``;
* ``max(a x + b) = a max(x) + b`` where ``a > 0`` and ``a min(x) + b`` where ``a < 0``: the pool's per-channel sign
  (max or min) is multiplied by the sign of ``a`` (``a = 0`` pools a constant; either sign is exact, so it is
  kept).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qsnn_deploy.export.float_graph import Affine, FloatGraph, MaxPool, SumPool


def apply(graph: FloatGraph) -> tuple[FloatGraph, bool]:
    layers = list(graph.layers)
    for i in range(len(layers) - 1):
        affine, pool = layers[i], layers[i + 1]
        if isinstance(affine, Affine) and isinstance(pool, SumPool):
            moved = replace(affine, offset=affine.offset * pool.kernel**2)
            layers[i : i + 2] = [pool, moved]
            return replace(graph, layers=tuple(layers)), True
        if isinstance(affine, Affine) and isinstance(pool, MaxPool):
            scale = np.asarray(affine.scale, dtype=np.float64)
            flip = np.where(scale < 0, -1, 1)
            layers[i : i + 2] = [replace(pool, sign=pool.signs(len(scale)) * flip), affine]
            return replace(graph, layers=tuple(layers)), True
    return graph, False
