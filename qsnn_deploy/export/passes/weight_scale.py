"""Split a weighted layer into its integer part and an Affine: ``(W_int * s) x + b = Affine(s, b)(W_int x)``.

After this pass every IntConv/IntLinear has unit scale and no bias, so it computes exactly in integers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qsnn_deploy.export.float_graph import Affine, FloatGraph, IntConv, IntLinear


def apply(graph: FloatGraph) -> tuple[FloatGraph, bool]:
    layers, changed = [], False
    for layer in graph.layers:
        if isinstance(layer, (IntConv, IntLinear)) and (layer.bias is not None or np.any(layer.scale != 1.0)):
            out = layer.weight.shape[0]
            offset = np.zeros(out) if layer.bias is None else np.asarray(layer.bias, dtype=np.float64)
            layers.append(replace(layer, scale=np.ones(out), bias=None))
            layers.append(Affine(f"{layer.name}.scale", np.asarray(layer.scale, dtype=np.float64), offset))
            changed = True
        else:
            layers.append(layer)
    return replace(graph, layers=tuple(layers)), changed
