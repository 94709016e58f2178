"""Files written by every released IR version stay loadable and compute the same outputs.

tests/fixtures/ir/v<N>/ holds graphs written by IR version N with fixed inputs and the outputs they produced
(see tests/fixtures/ir/make_fixtures.py, which runs only when a new version is added). A failure here means
either a broken upgrader in qsnn_deploy/ir/io.py or a change of integer semantics: both need a version bump,
never a regenerated fixture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.ir import IR_VERSION, load_graph
from qsnn_deploy.sim import simulate
from qsnn_deploy.sim.reference import simulate_reference

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ir"
FILES = sorted(FIXTURES.glob("v*/*.qsnn"))


def _version(path: Path) -> int:
    return int(path.parent.name[1:])


def _expected(path: Path, what: str) -> np.ndarray:
    return np.load(path.with_name(f"{path.stem}.{what}.npy"), allow_pickle=False)


def test_every_version_up_to_the_current_one_has_fixtures():
    versions = {_version(p) for p in FILES}
    assert versions == set(range(1, IR_VERSION + 1)), (
        f"fixtures for IR versions {sorted(versions)}; run tests/fixtures/ir/make_fixtures.py after a bump"
    )


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_loads_and_simulates_to_the_committed_outputs(path):
    graph = load_graph(path)
    assert graph.version == IR_VERSION  # upgraded on load
    inputs = _expected(path, "inputs")
    result = simulate(graph, inputs)
    np.testing.assert_array_equal(result.counts, _expected(path, "counts"))
    np.testing.assert_array_equal(result.predictions, _expected(path, "predictions"))
    layers = np.stack([result.spike_counts[op.name] for op in graph.lif_layers()])
    np.testing.assert_array_equal(layers, _expected(path, "layer_counts"))
    # The step-by-step reference agrees too, so a fixture mismatch is never an executor shortcut's fault alone.
    np.testing.assert_array_equal(simulate_reference(graph, inputs).sum(axis=1), _expected(path, "counts"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_outputs_are_not_trivial(path):
    """A fixture whose outputs are all zero would not notice a change of semantics."""
    assert _expected(path, "counts").sum() > 0
    assert (_expected(path, "layer_counts") > 0).all()
