"""``export --builder ... --dataset NAME`` checks float against integer on real test samples, and ``simulate``
reports float beside integer for builder models (``--builder``) and imported NIR graphs (NIR's equations).

The builder model is a tutorial-style MLP without ``nn.Flatten`` for (1, 1, 784) inputs (the first crash of issue
22) whose first layer is excited by the centre of the frame and inhibited by its border: real MNIST digits make
it spike, uniform random probes do not. So the random-probe check calls both layers silent (and now says that
this may be false), and the check on real samples does not."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from qsnn_deploy.ir.io import load_graph
from tests.cli_run import error_lines, run_main

MODULE = "digitnets_issue22"
BUILDER = textwrap.dedent(
    '''
    import brevitas.nn as qnn
    import snntorch as snn
    import torch
    from torch import nn


    def build():
        return nn.Sequential(
            qnn.QuantLinear(784, 16, bias=False, weight_bit_width=4),
            snn.Leaky(beta=0.9, threshold=1.0, init_hidden=True),
            qnn.QuantLinear(16, 10, bias=False, weight_bit_width=4),
            snn.Leaky(beta=0.9, threshold=1.0, init_hidden=True, output=True),
        )


    def tuple_leaky():
        """The second crash of issue 22: a Leaky without init_hidden hands (spk, mem) to the next layer."""
        net = build()
        net[1] = snn.Leaky(beta=0.9, threshold=1.0)
        return net


    def weights():
        """Centre pixels excite, the border inhibits."""
        net = build()
        yy, xx = torch.meshgrid(torch.arange(28), torch.arange(28), indexing="ij")
        centre = ((yy - 13.5).abs() < 7) & ((xx - 13.5).abs() < 7)
        row = torch.where(centre, 1.0, -1.0).flatten()
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            net[0].weight.copy_(0.02 * row * (0.5 + torch.rand(16, 784, generator=gen)))
            net[2].weight.copy_(0.8 * torch.rand(10, 16, generator=gen))
        return net.state_dict()
    '''
)
NIR_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nir" / "snntorch" / "snntorch_mlp.nir"
EXPORT = [
    "export",
    "weights.pt",
    "--builder",
    f"{MODULE}:build",
    "--input-shape",
    "1,1,784",
    "--num-steps",
    "4",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory, data_dir) -> Path:
    """The user's folder (their builder module and weights) and both exports: on random probes and on MNIST."""
    folder = tmp_path_factory.mktemp("user")
    (folder / f"{MODULE}.py").write_text(BUILDER)
    sys.path.insert(0, str(folder))
    try:
        module = __import__(MODULE)
        torch.save(module.weights(), folder / "weights.pt")
    finally:
        sys.path.remove(str(folder))
    return folder


@pytest.fixture()
def in_project(project, monkeypatch, data_dir) -> Path:
    monkeypatch.chdir(project)
    monkeypatch.setenv("QSNN_DATA_DIR", str(data_dir))
    return project


def test_random_probes_call_both_layers_silent_and_say_it_may_be_false(in_project, monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, *EXPORT, "--out", "probes.qsnn")
    assert code == 0, err
    assert "check on 8 random probe inputs" in out and "note: the check used random probe inputs" in out
    for name in ("layer1", "layer3"):
        assert f"warning: {name}: never spikes on the 8 random probe inputs (may be false" in err
    assert load_graph(in_project / "probes.qsnn").metadata.get("dataset") is None


def test_real_samples_see_both_layers_spike(in_project, monkeypatch, capsys):
    code, out, err = run_main(
        monkeypatch, capsys, *EXPORT, "--dataset", "mnist", "--limit", "20", "--out", "mnist.qsnn"
    )
    assert code == 0, err
    assert "check on 20 mnist test samples: predictions agree 100.0%" in out
    assert "never spikes" not in err and "random probe" not in out
    graph = load_graph(in_project / "mnist.qsnn")
    assert graph.input.shape == (1, 1, 784) and graph.metadata["dataset"] == "mnist"


def test_simulate_compares_a_builder_model_when_named(in_project, monkeypatch, capsys):
    code, _, err = run_main(
        monkeypatch, capsys, *EXPORT, "--dataset", "mnist", "--limit", "5", "--out", "b.qsnn"
    )
    assert code == 0, err
    code, out, err = run_main(monkeypatch, capsys, "simulate", "--model", "b.qsnn", "--limit", "30")
    assert code == 0, err
    hint = f"pass --builder {MODULE}:build --checkpoint {in_project / 'weights.pt'} to compare"
    assert hint in out and "float accuracy" not in out, out
    code, out, err = run_main(
        monkeypatch, capsys, "simulate", "--model", "b.qsnn", "--limit", "30",
        "--builder", f"{MODULE}:build", "--checkpoint", "weights.pt", "--json", "sim.json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads((in_project / "sim.json").read_text())
    assert (
        report["samples"] == 30
        and (in_project / report["float_checkpoint"]).resolve() == (in_project / "weights.pt").resolve()
    )
    assert report["prediction_agreement"] == 1.0 and report["float_accuracy"] == report["int_accuracy"]
    assert report["verdict"].startswith("PASS")
    for name in ("layer1", "layer3"):  # both sides spike, at the same rate
        assert report["int_firing_rates"][name] > 0.05
        assert report["float_firing_rates"][name] == pytest.approx(report["int_firing_rates"][name], rel=0.02)


def test_a_leaky_without_init_hidden_is_one_line_at_the_command_line(in_project, monkeypatch, capsys):
    args = [*EXPORT[:3], f"{MODULE}:tuple_leaky", *EXPORT[4:], "--out", "t.qsnn"]
    code, _, err = run_main(monkeypatch, capsys, *args)
    assert code != 0 and "Traceback" not in err
    (line,) = error_lines(err)
    assert "'layer1' (Leaky): without init_hidden=True" in line and "snn.Leaky(..., init_hidden=True)" in line
    assert not (in_project / "t.qsnn").exists()


def test_limit_without_dataset_is_one_line(in_project, monkeypatch, capsys):
    code, _, err = run_main(monkeypatch, capsys, *EXPORT, "--limit", "5", "--out", "l.qsnn")
    assert code != 0
    (line,) = error_lines(err)
    assert "pass --dataset too" in line


def test_simulate_compares_an_imported_nir_graph_with_nirs_equations(tmp_path, monkeypatch, capsys, data_dir):
    """The float side is the project's evaluator of NIR's equations on the .nir file that was imported."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QSNN_DATA_DIR", str(data_dir))
    source = tmp_path / NIR_FIXTURE.name
    shutil.copy(NIR_FIXTURE, source)
    args = ["import", source, "--bits", "8", "--num-steps", "15", "--dataset", "mnist", "--out", "n.qsnn"]
    code, _, err = run_main(monkeypatch, capsys, *args)
    assert code == 0, err
    simulate = ["simulate", "--model", "n.qsnn", "--limit", "100", "--json", "n.json"]
    code, out, err = run_main(monkeypatch, capsys, *simulate, "--checkpoint", source)
    assert code == 0, err
    report = json.loads((tmp_path / "n.json").read_text())
    assert report["prediction_agreement"] >= 0.99 and report["verdict"].startswith("PASS")
    assert abs(report["float_accuracy"] - report["int_accuracy"]) <= 0.01 and report["float_accuracy"] > 0.85
    assert "NIR's equations on snntorch_mlp.nir" in out
    # Without --checkpoint: the recorded path if import records one, else a note saying what to pass.
    code, out, err = run_main(monkeypatch, capsys, *simulate)
    assert code == 0, err
    recorded = load_graph(tmp_path / "n.qsnn").metadata["nir_import"].get("path")
    if recorded is None:
        assert "pass --checkpoint FILE.nir" in out and "float accuracy" not in out
    else:
        assert json.loads((tmp_path / "n.json").read_text())["float_accuracy"] == report["float_accuracy"]
