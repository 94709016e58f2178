"""Data-parallel training under torchrun: two CPU ranks (gloo) finish and rank 0 alone writes one checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys

from qsnn_deploy.models import load_checkpoint


def test_torchrun_two_cpu_ranks_write_one_checkpoint(data_dir, tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, QSNN_DATA_DIR=str(data_dir), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "qsnn_deploy.cli", "train", "--dataset", "mnist", "--epochs", "1", "--num-steps", "5"]
    cmd += [
        "--train-limit",
        "256",
        "--test-limit",
        "64",
        "--batch-size",
        "32",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("best test accuracy") == 1  # rank 0 only
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "metrics.png", "model.pt"]
    _, config, info = load_checkpoint(out / "model.pt")
    assert config.arch == "qsnn-mnist" and info["metrics"]["iterations"] == 8  # 256 / 32: the global batch
