"""The whole chain on event-camera data: N-MNIST (real recordings) and DVS128 Gesture (fixtures in the real
published format). Train -> export -> simulate -> generated C verified bit for bit."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.cli_run import run_cli
from tests.toolchains import require_tools

NMNIST_STEPS = 20


def cli(*args: str, cwd: Path, env: dict | None = None, ok: tuple[int, ...] = (0,)) -> str:
    proc = run_cli(*args, cwd=cwd, env=env)
    assert proc.returncode in ok, (
        f"qsnn-deploy {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    )
    assert "Traceback" not in proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def nmnist_model(tmp_path_factory, data_dir) -> Path:
    """A small N-MNIST QSNN trained on the 1,000 real training recordings (2 epochs, 20 steps of 3 ms)."""
    work = tmp_path_factory.mktemp("nmnist")
    cli("train", "--dataset", "nmnist", "--bits", "4", "--epochs", "2", "--num-steps", str(NMNIST_STEPS),
        "--data-dir", str(data_dir), "--out", "run", cwd=work)  # fmt: skip
    cli("export", "run/model.pt", "--bits", "4", "--out", "model.qsnn", cwd=work)
    return work / "model.qsnn"


def test_nmnist_integer_model_beats_chance_and_c_matches_it(nmnist_model, data_dir):
    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.ir import load_graph
    from qsnn_deploy.targets.verifier import verify_c

    require_tools("gcc")
    graph = load_graph(nmnist_model)
    assert graph.input.encoding == "stream" and graph.input.shape == (2, 34, 34)
    test = load_dataset("nmnist", "test", data_dir=data_dir, num_steps=NMNIST_STEPS)
    assert len(test) == 100
    result = verify_c(graph, test.inputs, NMNIST_STEPS)  # raises on the first differing spike
    accuracy = float(np.mean(result.predictions == test.labels))
    assert result.samples == 100 and result.spikes_compared == 100 * NMNIST_STEPS * 10
    assert accuracy >= 0.3, f"integer N-MNIST accuracy {accuracy:.0%} is not clearly above chance (10%)"


def test_nmnist_simulate_command_compares_with_float(nmnist_model, data_dir):
    # 100 test recordings: one differing prediction is 1 point, so the default targets (99.5 %, 0.1 points)
    # would call a 2-epoch model's single near-threshold flip DRIFT (exit 1); these targets still fail a real
    # disagreement.
    out = cli("simulate", "--model", str(nmnist_model), "--dataset", "nmnist", "--data-dir", str(data_dir),
              "--num-steps", str(NMNIST_STEPS), "--min-agreement", "95", "--max-accuracy-gap", "5",
              "--checkpoint", "run/model.pt",
              cwd=nmnist_model.parent)  # fmt: skip
    assert f"nmnist test set: 100 samples x {NMNIST_STEPS} steps" in out
    assert "verdict: PASS" in out
    # Each figure is the library's on the same 100 recordings: the integer simulator, and the float model.
    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.export.inference import float_outputs
    from qsnn_deploy.ir import load_graph
    from qsnn_deploy.models.checkpoint import load_model
    from qsnn_deploy.sim import simulate

    graph = load_graph(nmnist_model)
    test = load_dataset("nmnist", "test", data_dir=data_dir, num_steps=NMNIST_STEPS)
    predictions = simulate(graph, test.inputs, NMNIST_STEPS).predictions
    model, _, _ = load_model(nmnist_model.parent / "run" / "model.pt", bits=4)
    float_counts, _ = float_outputs(model, test.inputs, NMNIST_STEPS, graph.input.scale)
    expected = {
        "integer accuracy": np.mean(predictions == test.labels),
        "float accuracy": np.mean(float_counts.argmax(axis=1) == test.labels),
        "prediction agreement": np.mean(float_counts.argmax(axis=1) == predictions),
    }
    for label, value in expected.items():
        assert re.search(rf"^  {label} +{re.escape(f'{value:.2%}')}$", out, re.M), (label, value, out)


def test_dvs_gesture_train_simulate_verify_on_fixture(tmp_path):
    from qsnn_deploy.data.dvs_gesture import write_dvs_gesture_fixture

    require_tools("gcc")
    root = tmp_path / "data"
    write_dvs_gesture_fixture(
        root, train_users=(1, 2), test_users=(24,), gestures_per_trial=4, events_per_gesture=40_000
    )
    common = ["--data-dir", str(root)]
    cli("train", "--dataset", "dvs", "--bits", "4", "--epochs", "1", "--num-steps", "12", "--out", "run", *common,
        cwd=tmp_path)  # fmt: skip
    cli("export", "run/model.pt", "--bits", "4", "--out", "dvs.qsnn", cwd=tmp_path)
    # A model trained for one epoch on random fixture events may leave deep layers silent: simulate must then
    # say so and exit 1 rather than hide it; anything else is an error.
    out = cli("simulate", "--model", "dvs.qsnn", "--dataset", "dvs", "--num-steps", "12", "--checkpoint",
              "run/model.pt", *common, cwd=tmp_path,
              ok=(0, 1))  # fmt: skip
    assert "dvs test set: 4 samples x 12 steps" in out and "prediction agreement" in out
    assert ("SILENT" in out) == ("verdict: FAIL: silent" in out)
    out = cli(
        "verify", "dvs.qsnn", "--dataset", "dvs", "--num-steps", "12", "--target", "c", *common, cwd=tmp_path
    )
    assert "identical to the simulator" in out
