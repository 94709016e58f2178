"""Eval-mode BatchNorm -> per-channel Affine: ``gamma / sqrt(var + eps)`` scale, ``beta - mean * scale`` offset.

A negative gamma gives a negative scale; Requantize carries it as a negative multiplier."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qsnn_deploy.export.float_graph import Affine, BatchNorm, FloatGraph


def apply(graph: FloatGraph) -> tuple[FloatGraph, bool]:
    layers, changed = [], False
    for layer in graph.layers:
        if isinstance(layer, BatchNorm):
            scale = layer.gamma / np.sqrt(layer.var + layer.eps)
            layers.append(Affine(layer.name, scale, layer.beta - layer.mean * scale))
            changed = True
        else:
            layers.append(layer)
    return replace(graph, layers=tuple(layers)), changed
