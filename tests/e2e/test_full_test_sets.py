"""Opt-in (-m slow): the bundled trained models on the full 10,000-image test sets.

The fidelity targets of the export (integer accuracy within 0.1 pp of the float model, >= 99.5% prediction
agreement) and the bit-exactness of the generated C, with and without sanitizers, on every test image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.toolchains import require_tools

ROOT = Path(__file__).resolve().parents[2]
MODELS = {
    "mnist": ROOT / "examples" / "mnist" / "model.pt",
    "fmnist": ROOT / "examples" / "fmnist" / "model.pt",
}

pytestmark = pytest.mark.slow


def exported(dataset: str):
    from qsnn_deploy.export import export_checkpoint

    if not MODELS[dataset].is_file():
        pytest.fail(f"bundled model {MODELS[dataset]} is missing")
    return export_checkpoint(MODELS[dataset], bits=4).graph


@pytest.mark.parametrize("dataset", ["mnist", "fmnist"])
def test_integer_model_is_faithful_on_the_full_test_set(dataset, data_dir):
    from qsnn_deploy.commands.simulate import simulate_dataset

    report = simulate_dataset(
        exported(dataset), dataset, data_dir=data_dir, checkpoint=MODELS[dataset], progress=False
    )
    assert report.samples == 10_000
    assert report.prediction_agreement >= 0.995
    assert abs(report.int_accuracy - report.float_accuracy) <= 0.001
    assert not report.silent_layers


@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "asan-ubsan"])
def test_generated_c_matches_the_simulator_on_all_mnist_test_images(sanitize, data_dir):
    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.targets.verifier import verify_c

    require_tools("gcc")
    graph = exported("mnist")
    test = load_dataset("mnist", "test", data_dir=data_dir)
    result = verify_c(graph, test.inputs, sanitize=sanitize, layers=not sanitize)
    assert result.samples == 10_000
    assert result.spikes_compared == 10_000 * graph.num_steps * 10
    assert np.mean(result.predictions == test.labels) > 0.98
