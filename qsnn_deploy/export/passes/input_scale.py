"""Move the input's real scale (1/255 for pixels) into the first weighted layer's scale.

A conv or linear layer without the bias is linear in its input and zero padding stays zero, so
``W * (x * s) = (W * s) * x``: the layer then reads the raw integer input."""

from __future__ import annotations

from dataclasses import replace

from qsnn_deploy.export.float_graph import FloatGraph, IntConv, IntLinear


def apply(graph: FloatGraph) -> tuple[FloatGraph, bool]:
    if graph.input_scale == 1.0:
        return graph, False
    layers = list(graph.layers)
    first = next((i for i, layer in enumerate(layers) if isinstance(layer, (IntConv, IntLinear))), None)
    if first is None:
        return graph, False
    layer = layers[first]
    layers[first] = replace(layer, scale=layer.scale * graph.input_scale)
    return replace(graph, layers=tuple(layers), input_scale=1.0), True
