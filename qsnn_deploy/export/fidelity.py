"""The float (fake-quantized) torch model beside the integer IR on the same inputs."""

from __future__ import annotations

import numpy as np
from torch import nn

from qsnn_deploy.export.inference import float_outputs
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.sim import simulate

__all__ = ["agreement", "compare", "float_outputs"]


def agreement(f_counts: np.ndarray, result) -> dict:
    """How the integer simulation ``result`` agrees with float output spike counts ``f_counts`` (N, K):
    predictions, whole count vectors, and which LIF layers stayed silent."""
    f_pred = np.argmax(f_counts, axis=1)
    return {
        "samples": len(f_counts),
        "prediction_agreement": float(np.mean(f_pred == result.predictions)),
        "count_agreement": float(np.mean(f_counts == result.counts)),
        "float_predictions": f_pred,
        "int_predictions": result.predictions,
        "silent_layers": [k for k, v in result.spike_counts.items() if int(v.sum()) == 0],
    }


def compare(model: nn.Module, graph: Graph, raw: np.ndarray, num_steps: int) -> dict:
    """Agreement of the integer simulator with the float model on ``raw`` inputs."""
    f_counts, f_totals = float_outputs(model, raw, num_steps, graph.input.scale)
    result = simulate(graph, raw, num_steps)
    return {
        **agreement(f_counts, result),
        "float_spikes": f_totals,
        "int_spikes": {k: int(v.sum()) for k, v in result.spike_counts.items()},
        "sim": result,
        "float_counts": f_counts,
    }
