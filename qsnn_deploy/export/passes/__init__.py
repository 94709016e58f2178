"""Folding passes, QONNX-style: each ``apply(graph) -> (graph, changed)`` lives in its own file; ``fold`` runs
them to a fixed point and re-runs the float chain on the same probe inputs after every change, so a pass that
alters what the network computes is caught at the pass that did it."""

from __future__ import annotations

import numpy as np

from qsnn_deploy.export.float_graph import FloatGraph, run_float
from qsnn_deploy.export.passes import (
    affine_through_pool,
    avgpool,
    batchnorm,
    identity,
    input_scale,
    merge_affine,
    weight_scale,
)

PASSES = (identity, batchnorm, avgpool, input_scale, weight_scale, affine_through_pool, merge_affine)
MAX_ROUNDS = 100
PROBE_STEPS = 8  # steps of the drift check; a pass that changes currents shows at the first step already


class PassDriftError(AssertionError):
    """A folding pass changed the network's function: a bug in the pass, never a user error."""


def fold(graph: FloatGraph, probe: np.ndarray) -> tuple[FloatGraph, list[str]]:
    """Apply every pass until none changes the graph; returns the folded graph and the names applied."""
    reference = _currents(graph, probe)
    applied: list[str] = []
    for _ in range(MAX_ROUNDS):
        changed_any = False
        for module in PASSES:
            graph, changed = module.apply(graph)
            if changed:
                name = module.__name__.rsplit(".", 1)[-1]
                applied.append(name)
                changed_any = True
                _check_drift(reference, _currents(graph, probe), name)
        if not changed_any:
            return graph, applied
    raise PassDriftError(
        f"folding passes did not reach a fixed point in {MAX_ROUNDS} rounds: {applied[-10:]}"
    )


def _currents(graph: FloatGraph, probe: np.ndarray) -> list[np.ndarray]:
    _, currents = run_float(graph, probe, record_currents=True, num_steps=PROBE_STEPS)
    return list(currents.values())


def _check_drift(before: list[np.ndarray], after: list[np.ndarray], name: str) -> None:
    if len(before) != len(after):
        raise PassDriftError(f"pass {name} changed the number of LIF layers")
    for i, (a, b) in enumerate(zip(before, after, strict=True)):
        tol = 1e-9 * max(1.0, float(np.abs(a).max(initial=0.0)))
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-9, atol=tol):
            raise PassDriftError(f"pass {name} changed the input current of LIF layer {i}")
