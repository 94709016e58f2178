"""Your own data end to end (docs/datasets.md#your-own-data): a .npy of real MNIST test images gives what
``--dataset mnist`` gives on the same images; ``verify --target c`` is bit-exact on a file; ``report`` measures
a file's activity; and a 12-channel stream network, whose data no built-in dataset has, runs from a
``(N, T, 12, 1, 1)`` file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.ir.io import load_graph, save_graph
from qsnn_deploy.sim.executor import simulate
from qsnn_deploy.targets import check_model, get_target
from qsnn_deploy.targets.base import TargetOptions
from tests.cli_run import run_main
from tests.toolchains import require_tools
from tests.user_data import events, mlp_graph

MNIST_MODEL = Path(__file__).resolve().parents[2] / "examples" / "mnist" / "model.pt"
SAMPLES = 50


@pytest.fixture(scope="module")
def mnist(data_dir, tmp_path_factory) -> Path:
    """A folder with the bundled MNIST model exported (mnist.qsnn) and the first SAMPLES real MNIST test
    images and labels saved as a user would save them (images.npy, labels.npy)."""
    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.export import export_checkpoint

    folder = tmp_path_factory.mktemp("own_mnist")
    save_graph(export_checkpoint(MNIST_MODEL).graph, folder / "mnist.qsnn")
    ds = load_dataset("mnist", "test", data_dir=data_dir, limit=SAMPLES)
    np.save(folder / "images.npy", ds.inputs)
    np.save(folder / "labels.npy", ds.labels.astype(np.uint8))  # any integer dtype will do
    return folder


@pytest.fixture(scope="module")
def tactile(tmp_path_factory) -> Path:
    """A 12-channel stream MLP (12 -> 40 -> 7, 8 steps) and recordings of 10 steps as (N, T, 12, 1, 1)."""
    folder = tmp_path_factory.mktemp("tactile")
    save_graph(mlp_graph((12, 1, 1), "stream", hidden=40, classes=7, num_steps=8), folder / "tactile.qsnn")
    np.save(folder / "touch.npy", events(24, 10, (12, 1, 1), seed=5))
    np.save(folder / "touch_labels.npy", np.arange(24) % 7)
    return folder


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_simulate_on_a_file_of_mnist_images_equals_dataset_mnist(mnist, data_dir, monkeypatch, capsys):
    monkeypatch.chdir(mnist)
    monkeypatch.setenv("QSNN_DATA_DIR", str(data_dir))
    code, out, err = run_main(
        monkeypatch, capsys, "simulate", "--model", "mnist.qsnn", "--inputs", "images.npy", "--labels",
        "labels.npy", "--json", "own.json", "--checkpoint", str(MNIST_MODEL),
    )  # fmt: skip
    assert code == 0, out + err
    assert out.startswith(f"--inputs images.npy: {SAMPLES} samples x 50 steps")
    code, out, err = run_main(
        monkeypatch, capsys, "simulate", "--model", "mnist.qsnn", "--dataset", "mnist", "--limit", SAMPLES,
        "--json", "builtin.json", "--checkpoint", str(MNIST_MODEL),
    )  # fmt: skip
    assert code == 0, out + err
    own, builtin = _json(mnist / "own.json"), _json(mnist / "builtin.json")
    assert own["float_checkpoint"] == builtin["float_checkpoint"] is not None  # the float model ran on both
    for key in ("samples", "int_accuracy", "float_accuracy", "prediction_agreement", "count_agreement"):
        assert own[key] == builtin[key], key
    assert own["int_firing_rates"] == builtin["int_firing_rates"]
    assert own["synops_per_inference"] == builtin["synops_per_inference"]
    assert own["int_accuracy"] >= 0.9  # a trained model on real images
    assert own["verdict"] == builtin["verdict"] == "PASS: integer model is faithful to the float model"


def test_without_labels_the_float_comparison_rests_on_agreement(mnist, monkeypatch, capsys):
    monkeypatch.chdir(mnist)
    code, out, err = run_main(
        monkeypatch, capsys, "simulate", "--model", "mnist.qsnn", "--inputs", "images.npy", "--limit", "10",
        "--json", "nolabels.json", "--checkpoint", str(MNIST_MODEL),
    )  # fmt: skip
    assert code == 0, out + err
    report = _json(mnist / "nolabels.json")
    assert report["int_accuracy"] is None and report["float_accuracy"] is None
    assert report["prediction_agreement"] == 1.0 and report["samples"] == 10
    assert "accuracy              - (no --labels)" in out and "prediction agreement  100.00%" in out
    assert report["verdict"] == "PASS: integer model is faithful to the float model (agreement; no labels)"


def test_verify_c_on_a_file_is_bit_exact(mnist, monkeypatch, capsys):
    require_tools("gcc")
    monkeypatch.chdir(mnist)
    code, out, err = run_main(
        monkeypatch, capsys, "verify", "mnist.qsnn", "--target", "c", "--inputs", "images.npy", "--labels",
        "labels.npy", "--limit", "4", "--json", "verify.json",
    )  # fmt: skip
    assert code == 0, out + err
    result = _json(mnist / "verify.json")
    assert result["verified"] is True and result["samples"] == 4 and result["inputs_file"] == "images.npy"
    graph = load_graph(mnist / "mnist.qsnn")
    sim = simulate(graph, np.load(mnist / "images.npy")[:4])
    assert result["accuracy"] == float(np.mean(sim.predictions == np.load(mnist / "labels.npy")[:4]))
    assert "identical to the simulator" in out and "accuracy on images.npy" in out


def test_report_measures_the_activity_of_the_file(tactile, monkeypatch, capsys):
    monkeypatch.chdir(tactile)
    code, out, err = run_main(
        monkeypatch, capsys, "report", "tactile.qsnn", "--target", "hls", "--inputs", "touch.npy", "--limit", "6",
        "--json", "report.json",
    )  # fmt: skip
    assert code == 0, out + err
    report = _json(tactile / "report.json")
    graph = load_graph(tactile / "tactile.qsnn")
    hls = get_target("hls")
    expected = hls.cost_report(
        check_model(graph, hls, TargetOptions()), np.load(tactile / "touch.npy")[:6], 8, tactile
    )
    assert report["samples"] == 6 and report["dataset"] == "touch.npy"
    assert report["cycles"] == expected.cycles and report["loops"] == json.loads(
        json.dumps(expected.to_dict()["loops"])
    )
    assert "note: touch.npy holds 10 frames per sample; the first 8 are used" in out


def test_a_12_channel_stream_network_runs_from_its_recordings(tactile, monkeypatch, capsys):
    require_tools("gcc")
    monkeypatch.chdir(tactile)
    code, out, err = run_main(
        monkeypatch, capsys, "simulate", "--model", "tactile.qsnn", "--inputs", "touch.npy", "--labels",
        "touch_labels.npy", "--json", "sim.json",
    )  # fmt: skip
    assert code == 0, out + err
    graph = load_graph(tactile / "tactile.qsnn")
    recordings = np.load(tactile / "touch.npy")
    sim = simulate(graph, recordings[:, :8])
    report = _json(tactile / "sim.json")
    assert report["samples"] == 24 and report["num_steps"] == 8
    assert report["int_accuracy"] == float(np.mean(sim.predictions == np.arange(24) % 7))
    assert report["int_firing_rates"] == sim.firing_rates() and min(sim.firing_rates().values()) > 0
    code, out, err = run_main(
        monkeypatch,
        capsys,
        "verify",
        "tactile.qsnn",
        "--target",
        "c",
        "--inputs",
        "touch.npy",
        "--json",
        "v.json",
    )
    assert code == 0, out + err
    result = _json(tactile / "v.json")
    assert result["verified"] is True and result["samples"] == 24 and result["accuracy"] is None
    assert "no accuracy on touch.npy (no --labels)" in out
