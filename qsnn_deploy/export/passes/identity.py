"""Drop layers that are the identity at inference: eval-mode Dropout, Flatten, nn.Identity."""

from __future__ import annotations

from dataclasses import replace

from qsnn_deploy.export.float_graph import FloatGraph, Identity


def apply(graph: FloatGraph) -> tuple[FloatGraph, bool]:
    kept = tuple(layer for layer in graph.layers if not isinstance(layer, Identity))
    return replace(graph, layers=kept), len(kept) != len(graph.layers)
