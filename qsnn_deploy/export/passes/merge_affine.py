"""Merge two consecutive Affines: ``a2 (a1 x + b1) + b2 = (a1 a2) x + (a2 b1 + b2)``."""

from __future__ import annotations

from dataclasses import replace

from qsnn_deploy.export.float_graph import Affine, FloatGraph


def apply(graph: FloatGraph) -> tuple[FloatGraph, bool]:
    layers = list(graph.layers)
    for i in range(len(layers) - 1):
        first, second = layers[i], layers[i + 1]
        if isinstance(first, Affine) and isinstance(second, Affine):
            merged = Affine(
                first.name, first.scale * second.scale, first.offset * second.scale + second.offset
            )
            layers[i : i + 2] = [merged]
            return replace(graph, layers=tuple(layers)), True
    return graph, False
