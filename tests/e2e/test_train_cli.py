"""``qsnn-deploy train`` end to end on real MNIST: learns, writes its files, and fails cleanly on bad input."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

from qsnn_deploy.models import load_checkpoint


def _cli(*args: str, env_data_dir=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if env_data_dir is not None:
        env["QSNN_DATA_DIR"] = str(env_data_dir)
    return subprocess.run(
        [sys.executable, "-m", "qsnn_deploy.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_train_mnist_beats_chance_and_writes_checkpoint_csv_and_plot(data_dir, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--dataset", "mnist", "--bits", "4", "--epochs", "1", "--num-steps", "10"]
    args += ["--train-limit", "1024", "--test-limit", "256", "--batch-size", "32", "--out", str(out)]
    proc = _cli(*args, env_data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "best test accuracy" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "metrics.png", "model.pt"]
    model, config, info = load_checkpoint(out / "model.pt")
    assert config.bits == 4 and info["metrics"]["test_accuracy"] > 0.30
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


def test_unknown_dataset_is_rejected(tmp_path):
    proc = _cli("train", "--dataset", "cifar", "--out", str(tmp_path / "o"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
