"""``qsnn-deploy import --exact``: a NIR file qsnn-deploy wrote comes back as the very IR graph it was written
from (every integer from the file's metadata, interop/nir_exact.py), here the NIR paper's Braille layout with
its CubaLIF neurons and recurrent weights; a foreign file and the quantizing import's options are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from click.testing import CliRunner  # noqa: E402

from qsnn_deploy.cli import cli  # noqa: E402
from qsnn_deploy.errors import QsnnError  # noqa: E402
from qsnn_deploy.interop.nir_export import write_nir  # noqa: E402
from qsnn_deploy.ir.graph import Graph  # noqa: E402
from qsnn_deploy.ir.io import load_graph  # noqa: E402
from qsnn_deploy.ir.synthetic import braille_graph, random_inputs  # noqa: E402
from qsnn_deploy.models.provenance import file_sha256  # noqa: E402
from qsnn_deploy.sim import simulate  # noqa: E402
from tests.unit.test_nir_recurrent import braille, load  # noqa: E402


def _import(*args: str):
    return CliRunner().invoke(cli, ["import", *args])


def test_exact_import_of_the_braille_layout_keeps_every_integer(tmp_path: Path) -> None:
    # the Braille graph built with nir's API, imported at 4 bits, written by the nir target's writer
    graph = load(braille(), 4).graph
    path = write_nir(graph, tmp_path / "braille.nir")
    run = _import(str(path), "--exact", "--out", str(tmp_path / "b.qsnn"))
    assert run.exit_code == 0, run.output
    assert "exact: the IR graph qsnn-deploy wrote into braille.nir" in run.output
    assert "recurrent layers: lif1" in run.output and "buildable" in run.output
    back = load_graph(tmp_path / "b.qsnn")
    assert Graph(graph.input, graph.ops, graph.num_steps, back.metadata).same_as(back)
    assert [op.kind for op in back.ops].count("synaptic") == 2 and back.feedback() == {
        "lif1": "lif1_recurrent"
    }
    assert back.metadata["source"] == "nir:braille.nir"
    assert back.metadata["nir_exact"]["sha256"] == file_sha256(path)
    raw = random_inputs(graph, 8, seed=1)
    ours, again = simulate(graph, raw, record=True), simulate(back, raw, record=True)
    assert np.array_equal(ours.counts, again.counts)  # the same network, not a re-quantized one


def test_exact_refuses_the_quantizing_options(tmp_path: Path) -> None:
    path = write_nir(braille_graph(1), tmp_path / "b.nir")
    run = _import(str(path), "--exact", "--bits", "8", "--reset", "zero", "--out", str(tmp_path / "b.qsnn"))
    assert isinstance(run.exception, QsnnError)  # main() prints it as one line, exit 2
    assert "drop --bits, --reset" in str(run.exception) and not (tmp_path / "b.qsnn").exists()


def test_exact_refuses_a_file_qsnn_deploy_did_not_write(tmp_path: Path) -> None:
    path = tmp_path / "theirs.nir"
    nir.write(path, braille())
    run = _import(str(path), "--exact", "--out", str(tmp_path / "t.qsnn"))
    assert isinstance(run.exception, QsnnError) and "not a NIR graph written by" in str(run.exception)
    assert not (tmp_path / "t.qsnn").exists()
