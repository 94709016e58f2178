"""AvgPool(k) -> SumPool(k) followed by Affine(1/k**2): the integer path sums, the division joins the scales."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qsnn_deploy.export.float_graph import Affine, AvgPool, FloatGraph, SumPool


def apply(graph: FloatGraph) -> tuple[FloatGraph, bool]:
    layers, changed = [], False
    for i, layer in enumerate(graph.layers):
        if isinstance(layer, AvgPool):
            channels = _channels_before(graph, i)
            layers.append(SumPool(layer.name, layer.kernel))
            layers.append(
                Affine(f"{layer.name}.scale", np.full(channels, 1.0 / layer.kernel**2), np.zeros(channels))
            )
            changed = True
        else:
            layers.append(layer)
    return replace(graph, layers=tuple(layers)), changed


def _channels_before(graph: FloatGraph, index: int) -> int:
    """Channel count of the activation entering layer ``index``: that of the last layer with weights."""
    for layer in reversed(graph.layers[:index]):
        weight = getattr(layer, "weight", None)
        if weight is not None:
            return int(weight.shape[0])
    return graph.input_shape[0]
