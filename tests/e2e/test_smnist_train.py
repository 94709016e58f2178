"""``qsnn-deploy train --dataset smnist`` end to end on a few hundred real sequential-MNIST samples: it writes a
checkpoint of the recurrent network that loads back (weights only) and scores as recorded, and ``export``
writes it as an IR graph with a recurrent op."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import snntorch as snn
import torch

from qsnn_deploy.data import load_dataset
from qsnn_deploy.ir.io import load_graph
from qsnn_deploy.models import load_checkpoint
from qsnn_deploy.models.recurrent import RecurrentQSNN
from qsnn_deploy.train.loop import evaluate, resolve_device
from tests.cli_run import CliResult, run_cli

TRAIN_SMNIST = Path(__file__).resolve().parents[2] / "benchmarks" / "train_smnist.py"


def _cli(*args: str, data_dir) -> CliResult:
    return run_cli(*args, env={"QSNN_DATA_DIR": str(data_dir)})


def test_train_smnist_writes_a_loadable_recurrent_checkpoint_that_exports(data_dir, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--dataset", "smnist", "--epochs", "1", "--train-limit", "384", "--test-limit", "128"]
    proc = _cli(*args, "--batch-size", "32", "--device", "cpu", "--out", str(out), data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "metrics.png", "model.pt"]
    assert "smnist 4-bit: best test accuracy" in proc.stdout

    raw = torch.load(out / "model.pt", weights_only=True)  # plain types and tensors only
    assert raw["config"]["recurrent_hidden"] == 256 and raw["train"]["loss"] == "ce_count"
    model, config, info = load_checkpoint(out / "model.pt")
    assert isinstance(model, RecurrentQSNN) and isinstance(model.lif1, snn.RLeaky) and config.bits == 4
    assert info["metrics"]["num_steps"] == 28
    test = load_dataset("smnist", "test", data_dir=data_dir, limit=128)
    accuracy = evaluate(model, test.inputs, test.labels, test.input_scale, 28, resolve_device("cpu"))
    assert accuracy == info["metrics"]["test_accuracy"]
    assert accuracy > 0.15  # 12 iterations already beat chance (10%) on real digits

    exported = _cli("export", str(out / "model.pt"), "--out", str(tmp_path / "m.qsnn"), data_dir=data_dir)
    assert exported.returncode == 0, exported.stderr
    assert "recurrent" in [op.kind for op in load_graph(tmp_path / "m.qsnn").ops]


def test_two_stacked_layers_train_from_a_one_layer_checkpoint_export_and_verify(data_dir, tmp_path):
    """``benchmarks/train_smnist.py --layers 2 --stack-onto``: the deeper checkpoint loads back with both
    RLeaky layers, exports as two recurrent chains and runs bit-exact as generated C."""
    from qsnn_deploy.models import build_model, model_config, save_checkpoint

    torch.manual_seed(0)
    shallow_path = save_checkpoint(
        tmp_path / "one.pt", build_model(model_config("smnist")), model_config("smnist"), None, {}
    )
    out = tmp_path / "two.pt"
    args = ["--layers", "2", "--stack-onto", str(shallow_path), "--epochs", "1", "--train-limit", "256"]
    args += ["--test-limit", "64", "--out", str(out), "--data-dir", str(data_dir)]
    proc = subprocess.run(
        [sys.executable, str(TRAIN_SMNIST), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 hidden layer(s)" in proc.stdout
    model, config, _ = load_checkpoint(out)
    assert config.recurrent_layers == 2 and isinstance(model.lifh2, snn.RLeaky)

    graph_path = tmp_path / "two.qsnn"
    exported = _cli(
        "export",
        str(out),
        "--out",
        str(graph_path),
        "--dataset",
        "smnist",
        "--limit",
        "16",
        data_dir=data_dir,
    )
    assert exported.returncode == 0, exported.stderr
    ops = load_graph(graph_path).ops
    assert [op.name for op in ops if op.kind == "lif"] == ["lif1", "lifh2", "lif2"]
    assert [op.kind for op in ops].count("recurrent") == 2
    verified = _cli("verify", str(graph_path), "--target", "c", "--limit", "4", data_dir=data_dir)
    assert verified.returncode == 0, verified.stderr[-2000:]
    assert "identical to the simulator" in verified.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--layers", "0"], "--layers must be 1 to 8, got 0"),
        (["--stack-onto", "one.pt"], "--stack-onto needs --layers 2 or more"),
        (["--layers", "2", "--stack-onto", "one.pt", "--init", "two.pt"], "and no --init"),
    ],
)
def test_train_smnist_refuses_a_stack_it_cannot_build(args, message, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(TRAIN_SMNIST), *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
