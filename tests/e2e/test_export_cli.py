"""``qsnn-deploy export`` and ``simulate`` end to end: a qsnn-deploy checkpoint and a paper state_dict become IR
files the simulator runs on real MNIST, and every user mistake is one ``error:`` line with no traceback."""

from __future__ import annotations

import dataclasses
import json
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from qsnn_deploy import cli
from qsnn_deploy.data import load_dataset
from qsnn_deploy.ir.io import load_graph
from qsnn_deploy.models import build_model, get_preset, model_config, save_checkpoint
from tests.cli_run import CliResult
from tests.cli_run import run_cli as run_in_process_cli
from tests.paper_nets import paper_dvs_state_dict

# A small MNIST net (the preset with fewer channels) keeps the 100-step export check and simulate fast.
SMALL_MNIST = dataclasses.replace(model_config("mnist", 4), conv1_channels=4, conv2_channels=8)


def run_cli(*args: str, cwd: Path | None = None, data_dir: Path | None = None) -> CliResult:
    return run_in_process_cli(
        *args, cwd=cwd, env=None if data_dir is None else {"QSNN_DATA_DIR": str(data_dir)}
    )


def run_in_process(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """``main()`` exactly as the console script calls it, without paying for a new interpreter. Python
    warnings, which a real run prints to stderr, are appended to ``err`` as they would appear there."""
    monkeypatch.setattr(sys, "argv", ["qsnn-deploy", *args])
    code = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    shown = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught)
    return code, captured.out, shown + captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@torch.no_grad()
def make_spiking(model, images: np.ndarray) -> None:
    """Set BN statistics and fc1's magnitude from the model's own activations on real digits, so that all
    three LIF layers fire (a random init leaves lif2/lif3 silent)."""
    th = float(model.config.threshold)
    x = torch.from_numpy(images).float() / 255
    for index in (1, 2):
        if index == 1:
            pre = F.avg_pool2d(model.conv1(x), 2)
        else:
            _, rec = model(x, 20, record=True)
            pre = F.avg_pool2d(model.conv2(rec["spk1"].flatten(0, 1)), 2)
        bn = getattr(model, f"conv{index}_bn")
        bn.running_mean.copy_(pre.mean((0, 2, 3)))
        bn.running_var.copy_(pre.var((0, 2, 3)))
        bn.weight.fill_(1.5 * th)
        bn.bias.fill_(0.5 * th)
    _, rec = model(x, 20, record=True)
    model.fc1.weight.mul_(1.5 * th / float(model.fc1(rec["spk2"].flatten(0, 1).flatten(1)).std()))


@pytest.fixture(scope="module")
def spiking_checkpoint(data_dir, tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = build_model(SMALL_MNIST).eval()
    make_spiking(model, load_dataset("mnist", "train", data_dir=data_dir, limit=64).inputs)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    return save_checkpoint(path, model, SMALL_MNIST, get_preset("mnist").train, {"test_accuracy": 0.1})


def test_export_then_simulate_with_json(spiking_checkpoint, data_dir, tmp_path):
    ir = tmp_path / "out" / "small.qsnn"
    proc = run_cli("export", str(spiking_checkpoint), "--bits", "4", "--out", str(ir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"wrote {ir}" in proc.stdout and "lif3: threshold" in proc.stdout
    assert "Traceback" not in proc.stderr and "never spikes" not in proc.stderr
    graph = load_graph(ir)
    assert graph.num_steps == 100 and graph.metadata["model_config"]["conv2_channels"] == 8
    assert graph.metadata["source"]["checkpoint"] == str(spiking_checkpoint.resolve())

    report = tmp_path / "report.json"
    args = ["simulate", "--model", str(ir), "--dataset", "mnist", "--limit", "50", "--json", str(report),
            "--checkpoint", str(spiking_checkpoint)]  # fmt: skip
    proc = run_cli(*args, data_dir=data_dir)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(report.read_text())
    expected_keys = {
        "dataset", "samples", "num_steps", "int_accuracy", "float_accuracy", "prediction_agreement",
        "count_agreement", "int_firing_rates", "float_firing_rates", "synops_per_inference", "silent_layers",
        "seconds", "verdict", "notes",
    }  # fmt: skip
    assert expected_keys <= set(data)
    assert (data["dataset"], data["samples"], data["num_steps"]) == ("mnist", 50, 100)
    assert data["silent_layers"] == [] and not data["verdict"].startswith("FAIL")
    assert 0.0 <= data["int_accuracy"] <= 1.0 and 0.0 <= data["float_accuracy"] <= 1.0
    assert data["prediction_agreement"] >= 0.9
    assert abs(data["int_accuracy"] - data["float_accuracy"]) <= 0.1
    for name in ("lif1", "lif2", "lif3"):
        rate, f_rate = data["int_firing_rates"][name], data["float_firing_rates"][name]
        assert 0.0 < rate < 1.0 and rate == pytest.approx(f_rate, rel=0.05), (name, rate, f_rate)
    assert set(data["synops_per_inference"]) == {"conv1", "conv2", "fc1"}
    assert all(v > 0 for v in data["synops_per_inference"].values())
    assert data["seconds"] > 0


def test_default_output_path_then_simulate_as_typed(spiking_checkpoint, data_dir, tmp_path):
    proc = run_cli("export", str(spiking_checkpoint), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "model.qsnn").is_file()
    proc = run_cli(
        "simulate", "--dataset", "mnist", "--limit", "20", "--checkpoint", str(spiking_checkpoint), cwd=tmp_path,
        data_dir=data_dir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "mnist test set: 20 samples x 100 steps" in proc.stdout
    assert "prediction agreement" in proc.stdout and "verdict:" in proc.stdout


@pytest.fixture(scope="module")
def seed_state_dict(tmp_path_factory) -> Path:
    """The paper's format: ``torch.save(model.state_dict())``, as an older snnTorch wrote it (no
    graded_spikes_factor / reset_mechanism_val buffers)."""
    torch.manual_seed(1)
    state = build_model(model_config("mnist", 4)).state_dict()
    for key in list(state):
        if key.startswith("lif") and key.endswith((".graded_spikes_factor", ".reset_mechanism_val")):
            del state[key]
    assert "lif1.beta" in state and "lif1.reset_mechanism_val" not in state
    path = tmp_path_factory.mktemp("seed") / "seed.pth"
    torch.save(state, path)
    return path


def test_paper_state_dict_exports_with_arch_seed_mnist(seed_state_dict, tmp_path):
    ir = tmp_path / "seed.qsnn"
    proc = run_cli("export", str(seed_state_dict), "--arch", "seed-mnist", "--out", str(ir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    graph = load_graph(ir)
    assert graph.input.shape == (1, 28, 28) and graph.num_classes == 10
    assert graph.metadata["source"]["arch"] == "seed-mnist"
    assert [op.name for op in graph.lif_layers()] == ["lif1", "lif2", "lif3"]
    assert graph.metadata["lif_layers"]["lif1"]["beta"] == pytest.approx(0.994)


def test_paper_state_dict_without_arch_says_to_pass_it(seed_state_dict, tmp_path, monkeypatch, capsys):
    args = ("export", str(seed_state_dict), "--out", str(tmp_path / "x.qsnn"))
    code, _, err = run_in_process(monkeypatch, capsys, *args)
    assert_one_line_error(code, err, "--arch seed-mnist")
    assert not (tmp_path / "x.qsnn").exists()


class Payload:
    """An arbitrary class: unpickling it would run code from the file."""

    def __init__(self) -> None:
        self.data = [1, 2, 3]


def test_pickled_custom_object_is_refused(tmp_path, monkeypatch, capsys):
    path = tmp_path / "obj.pt"
    torch.save(Payload(), path)
    code, _, err = run_in_process(monkeypatch, capsys, "export", str(path), "--out", str(tmp_path / "x.qsnn"))
    assert_one_line_error(code, err, "refusing to unpickle")
    assert not (tmp_path / "x.qsnn").exists()


def _pickled_set(tmp_path: Path) -> Path:
    path = tmp_path / "set.pkl"
    with open(path, "wb") as fh:
        pickle.dump({1, 2, 3}, fh)
    return path


def test_pickled_set_is_refused_without_traceback(tmp_path, monkeypatch, capsys):
    path = _pickled_set(tmp_path)
    code, _, err = run_in_process(monkeypatch, capsys, "export", str(path), "--out", str(tmp_path / "x.qsnn"))
    assert code != 0 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:") and str(path) in last
    assert not (tmp_path / "x.qsnn").exists()


def test_pickled_set_is_refused_with_exactly_one_line(tmp_path, monkeypatch, capsys):
    path = _pickled_set(tmp_path)
    code, _, err = run_in_process(monkeypatch, capsys, "export", str(path), "--out", str(tmp_path / "x.qsnn"))
    assert_one_line_error(code, err, str(path))
    assert "corrupt" not in err


def test_bits_mismatch_names_the_right_bits(spiking_checkpoint, tmp_path, monkeypatch, capsys):
    out = tmp_path / "x.qsnn"
    code, _, err = run_in_process(
        monkeypatch, capsys, "export", str(spiking_checkpoint), "--bits", "8", "--out", str(out)
    )
    assert_one_line_error(code, err, "4-bit", "--bits 4")
    assert not out.exists()


def test_garbage_ir_file_is_one_line_error(tmp_path):
    bad = tmp_path / "garbage.qsnn"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    proc = run_cli("simulate", "--model", str(bad), "--dataset", "mnist", "--limit", "5")
    assert_one_line_error(proc.returncode, proc.stderr, str(bad))


def test_the_papers_dvs_state_dict_exports_from_the_command_line(tmp_path, monkeypatch, capsys):
    torch.save(paper_dvs_state_dict(), tmp_path / "dvs.pth")
    out = tmp_path / "dvs.qsnn"
    args = ("export", str(tmp_path / "dvs.pth"), "--arch", "seed-dvs", "--num-steps", "7", "--out", str(out))
    code, stdout, err = run_in_process(monkeypatch, capsys, *args)
    assert code == 0 and "Traceback" not in err, err
    assert "7 steps (from --num-steps)" in stdout
    graph = load_graph(out)
    assert graph.num_steps == 7 and graph.input.shape == (2, 32, 32) and graph.metadata["dataset"] == "dvs"


def test_without_num_steps_a_paper_state_dict_gets_the_presets_and_says_so(
    seed_state_dict, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "seed.qsnn"
    code, stdout, _ = run_in_process(
        monkeypatch, capsys, "export", str(seed_state_dict), "--arch", "seed-mnist", "--out", str(out)
    )
    assert code == 0 and "100 steps (the preset's; the checkpoint records none" in stdout
    assert load_graph(out).num_steps == 100


@pytest.mark.parametrize("option", ["--beta", "--threshold"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_options_are_one_line_naming_the_option(
    seed_state_dict, tmp_path, monkeypatch, capsys, option, value
):
    out = tmp_path / "x.qsnn"
    args = ("export", str(seed_state_dict), "--arch", "seed-mnist", option, value, "--out", str(out))
    code, _, err = run_in_process(monkeypatch, capsys, *args)
    assert_one_line_error(code, err, f"{option} must be a finite number")
    assert not out.exists()


def test_nan_weights_in_a_checkpoint_are_one_line_naming_the_tensor(
    spiking_checkpoint, tmp_path, monkeypatch, capsys
):
    payload = torch.load(spiking_checkpoint, weights_only=True)
    payload["state_dict"]["fc1.weight"][0, 0] = float("nan")
    bad = tmp_path / "nan.pt"
    torch.save(payload, bad)
    code, _, err = run_in_process(monkeypatch, capsys, "export", str(bad), "--out", str(tmp_path / "x.qsnn"))
    assert_one_line_error(code, err, "'fc1.weight'", "NaN or Inf")
