"""``qsnn-deploy train`` end to end on real MNIST: learns, writes its files, and fails cleanly on bad input."""

from __future__ import annotations

import csv
import re

import pytest

from qsnn_deploy.data import load_dataset
from qsnn_deploy.models import load_checkpoint
from qsnn_deploy.train.loop import evaluate, resolve_device
from tests.cli_run import CliResult, run_cli


def _cli(*args: str, env_data_dir=None) -> CliResult:
    return run_cli(*args, env=None if env_data_dir is None else {"QSNN_DATA_DIR": str(env_data_dir)})


def test_train_mnist_beats_chance_and_writes_checkpoint_csv_and_plot(data_dir, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--dataset", "mnist", "--bits", "4", "--epochs", "1", "--num-steps", "10"]
    args += ["--train-limit", "1024", "--test-limit", "256", "--batch-size", "32", "--out", str(out)]
    args += ["--lr", "4e-3", "--patience", "5", "--device", "cpu"]  # scored again on the CPU below
    proc = _cli(*args, env_data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "metrics.png", "model.pt"]
    model, config, info = load_checkpoint(out / "model.pt")
    assert config.bits == 4 and info["metrics"]["test_accuracy"] > 0.30
    # The printed figures are the saved model's: its accuracy scored again through the library on the same
    # 256 test images, one epoch of 1024 / 32 iterations.
    printed = re.search(
        r"^mnist 4-bit: best test accuracy ([0-9.]+)% at epoch 1/1 on 256 samples, 32 iterations in ",
        proc.stdout,
        re.M,
    )
    assert printed, proc.stdout
    test_ds = load_dataset("mnist", "test", data_dir=data_dir, limit=256, num_steps=10)
    accuracy = evaluate(model, test_ds.inputs, test_ds.labels, test_ds.input_scale, 10, resolve_device("cpu"))
    assert info["metrics"]["test_accuracy"] == accuracy
    assert float(printed.group(1)) == round(accuracy * 100, 2)
    # the recipe as run, command-line overrides included, not the preset's defaults
    assert info["train"]["lr"] == 4e-3 and info["train"]["batch"] == 32 and info["train"]["patience"] == 5
    assert info["train"]["num_steps"] == 10 and info["train"]["epochs"] == 1
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    iters = [r for r in rows if r["kind"] == "iter"]
    epochs = [r for r in rows if r["kind"] == "epoch"]
    assert len(iters) == 32 and len(epochs) == 1
    assert float(epochs[0]["test_accuracy"]) == info["metrics"]["test_accuracy"]
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_data_dir_is_one_line_without_traceback(tmp_path):
    proc = _cli(
        "train", "--dataset", "mnist", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "o")
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--data-dir" in lines[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("lr", ["0", "-1", "inf", "nan"])
def test_a_learning_rate_that_is_not_a_positive_number_is_rejected(tmp_path, lr):
    """0 is not replaced by the preset's rate; inf and nan are not trained with (they gave NaN weights)."""
    proc = _cli("train", "--dataset", "mnist", "--lr", lr, "--out", str(tmp_path / "o"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("error:") and "--lr must be a finite number > 0" in lines[0]
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("lr", "what"), [("1e36", "conv1.weight became NaN or Inf"), ("1e38", "overflowed")])
def test_training_that_diverges_stops_with_an_error_and_saves_nothing(data_dir, tmp_path, lr, what):
    out = tmp_path / "run"
    args = ["train", "--dataset", "mnist", "--epochs", "1", "--num-steps", "5", "--train-limit", "256"]
    args += ["--test-limit", "64", "--batch-size", "64", "--lr", lr, "--out", str(out)]
    proc = _cli(*args, env_data_dir=data_dir)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: training diverged") and what in last, last
    assert not (out / "model.pt").exists()


def test_unknown_dataset_is_rejected(tmp_path):
    proc = _cli("train", "--dataset", "cifar", "--out", str(tmp_path / "o"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr


def test_init_starts_from_a_checkpoints_weights(data_dir, tmp_path):
    """--init with the bundled MNIST model and a near-zero learning rate: the run keeps the trained weights, so
    two iterations already reach the bundled model's accuracy, far above what two iterations from scratch give."""
    out = tmp_path / "warm"
    args = ["train", "--dataset", "mnist", "--epochs", "1", "--num-steps", "25", "--lr", "1e-9"]
    args += ["--train-limit", "128", "--test-limit", "256", "--batch-size", "64", "--out", str(out)]
    args += ["--init", "examples/mnist/model.pt"]
    proc = _cli(*args, env_data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _, _, info = load_checkpoint(out / "model.pt")
    assert info["metrics"]["test_accuracy"] > 0.95
    assert info["init_from"] == "examples/mnist/model.pt"


def test_init_from_another_network_is_one_line_without_traceback(data_dir, tmp_path):
    for extra in (["--dataset", "fmnist"], ["--dataset", "mnist", "--bits", "2"]):
        args = ["train", *extra, "--epochs", "1", "--train-limit", "64", "--test-limit", "64"]
        proc = _cli(
            *args, "--init", "examples/mnist/model.pt", "--out", str(tmp_path / "x"), env_data_dir=data_dir
        )
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr
        assert "holds a different network" in proc.stderr and "(want" in proc.stderr
    proc = _cli("train", "--dataset", "mnist", "--init", str(tmp_path / "none.pt"), env_data_dir=data_dir)
    assert proc.returncode != 0 and "no such file" in proc.stderr and "Traceback" not in proc.stderr
