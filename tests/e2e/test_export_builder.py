"""``export --builder MODULE:FUNCTION``: one's own nn.Sequential from the command line, its code from the user's
module and its weights from a weights-only state_dict; a pickled module is never unpickled."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import torch

from qsnn_deploy.ir.io import load_graph
from tests.cli_run import CliResult
from tests.cli_run import run_cli as run_in_process

BUILDER = textwrap.dedent(
    """
    from collections import OrderedDict

    import brevitas.nn as qnn
    import snntorch as snn
    from torch import nn


    def build():
        return nn.Sequential(
            OrderedDict(
                conv=qnn.QuantConv2d(1, 6, 5, bias=False, weight_bit_width=4),
                pool=nn.AvgPool2d(2),
                bn=nn.BatchNorm2d(6),
                lif1=snn.Leaky(beta=0.9, threshold=1.0, init_hidden=True),
                flat=nn.Flatten(),
                fc=qnn.QuantLinear(6 * 5 * 5, 10, bias=False, weight_bit_width=4),
                lif2=snn.Leaky(beta=0.8, threshold=1.0, init_hidden=True, output=True),
            )
        )


    def not_a_model():
        return 42


    def broken():
        raise RuntimeError("the user's code failed")
    """
)


def run_cli(*args: str, cwd: Path) -> CliResult:
    return run_in_process(*args, cwd=cwd)


@pytest.fixture()
def project(tmp_path) -> Path:
    """A user's folder: their builder module and the weights it was trained to, saved as a state_dict."""
    (tmp_path / "mynets.py").write_text(BUILDER)
    sys.path.insert(0, str(tmp_path))
    try:
        import mynets

        torch.manual_seed(0)
        net = mynets.build()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mynets", None)
    with torch.no_grad():
        net.bn.weight.fill_(2.0)
        net.bn.bias.fill_(0.5)
        net.fc.weight.mul_(6.0)
    torch.save(net.state_dict(), tmp_path / "weights.pt")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "pickled_module.pt")  # a whole module, as pickle saves it
    return tmp_path


def test_builder_and_weights_only_state_dict_export(project):
    args = [
        "export",
        "weights.pt",
        "--builder",
        "mynets:build",
        "--input-shape",
        "1,14,14",
        "--num-steps",
        "12",
    ]
    proc = run_cli(*args, "--out", "net.qsnn", cwd=project)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "12 steps (from --num-steps)" in proc.stdout
    graph = load_graph(project / "net.qsnn")
    assert graph.input.shape == (1, 14, 14) and graph.input.encoding == "static" and graph.num_steps == 12
    assert [op.name for op in graph.lif_layers()] == ["lif1", "lif2"]
    assert graph.metadata["source"]["builder"] == "mynets:build"
    assert graph.input.scale == pytest.approx(1 / 255)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--builder", "mynets:build", "--num-steps", "5"], "--input-shape"),
        (["--builder", "mynets:build", "--input-shape", "1,14,14"], "--num-steps"),
        (["--builder", "mynets", "--input-shape", "1,14,14", "--num-steps", "5"], "MODULE:FUNCTION"),
        (
            ["--builder", "nosuchmodule:build", "--input-shape", "1,14,14", "--num-steps", "5"],
            "cannot import",
        ),
        (
            ["--builder", "mynets:missing", "--input-shape", "1,14,14", "--num-steps", "5"],
            "no function missing",
        ),
        (["--builder", "mynets:not_a_model", "--input-shape", "1,14,14", "--num-steps", "5"], "not a torch"),
        (
            ["--builder", "mynets:broken", "--input-shape", "1,14,14", "--num-steps", "5"],
            "the user's code failed",
        ),
        (["--builder", "mynets:build", "--input-shape", "1,14", "--num-steps", "5"], "C,H,W"),
        (["--input-shape", "1,14,14"], "pass --builder too"),
    ],
)
def test_builder_mistakes_are_one_line(project, extra, fragment):
    proc = run_cli("export", "weights.pt", *extra, "--out", "net.qsnn", cwd=project)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], proc.stderr
    assert not (project / "net.qsnn").exists()


def test_a_pickled_module_is_refused_not_unpickled(project):
    args = ["export", "pickled_module.pt", "--builder", "mynets:build", "--input-shape", "1,14,14"]
    proc = run_cli(*args, "--num-steps", "5", "--out", "net.qsnn", cwd=project)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "refusing to unpickle" in proc.stderr
    assert not (project / "net.qsnn").exists()


def test_weights_that_do_not_fit_the_built_model_name_the_key(project):
    state = torch.load(project / "weights.pt", weights_only=True)
    state["fc.weight"] = torch.zeros(10, 99)
    torch.save(state, project / "other.pt")
    args = ["export", "other.pt", "--builder", "mynets:build", "--input-shape", "1,14,14", "--num-steps", "5"]
    proc = run_cli(*args, cwd=project)
    assert proc.returncode != 0 and "'fc.weight'" in proc.stderr and "Traceback" not in proc.stderr
