"""NIR node names as libraries write them become IR op names every target takes; the originals are kept as
labels and never reach generated code; the file saves, reads back and generates C."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from click.testing import CliRunner  # noqa: E402

from qsnn_deploy.cli import cli  # noqa: E402
from qsnn_deploy.commands.import_nir import import_from_cli  # noqa: E402
from qsnn_deploy.interop.nir_names import base_name, ir_names  # noqa: E402
from qsnn_deploy.ir.identifiers import IDENTIFIER, RESERVED  # noqa: E402
from qsnn_deploy.ir.io import load_graph  # noqa: E402

AWKWARD = ["0", "0_LinearTorch", "layer_0", "lif1.lif", "a b", "ünï", "", "  ", "int", "main", "x", "x_current",
           "X", "Layer0", "layer0", "*/ evil \\", "a" * 80, "a" * 80 + "b", "__init__", "1.2.3"]  # fmt: skip


def test_every_name_becomes_a_distinct_identifier_every_target_takes() -> None:
    names = ir_names(AWKWARD)
    ops = list(names.values())
    lifs_current = [f"{n}_current" for n in ops]  # the exporter's requantizer names
    every = ops + lifs_current
    assert len({n.upper() for n in every}) == len(every), "distinct even ignoring case"
    for n in every:
        assert IDENTIFIER.match(n) and "__" not in n and n.lower() not in RESERVED, n
    assert names["0"] == "layer0" and names["0_LinearTorch"] == "layer0_lineartorch"
    assert names["lif1.lif"] == "lif1_lif" and names["layer_0"] == "layer_0" and names["int"] == "int_op"
    assert names[""] == "node" and names["  "] == "node_2"
    assert names["x"] == "x" and names["x_current"] == "x_current_2", "x's requantizer is x_current"
    assert names["X"] == "x_2" and names["Layer0"] == "layer0_2" and names["layer0"] == "layer0_3"
    assert names["a" * 80] != names["a" * 80 + "b"] and len(names["a" * 80]) <= 32
    assert ir_names(AWKWARD) == names, "deterministic"
    assert base_name(b"0") == "layer0", "h5py may hand back bytes"


def _graph(names: list[str], seed: int = 0):
    """Linear -> LIF -> Linear -> LIF with the given node names (as nirtorch, Rockpool or Spyx name them)."""
    rng = np.random.default_rng(seed)

    def lif(n: int):
        return nir.LIF(tau=np.full(n, 1e-3), r=np.full(n, 10.0), v_leak=np.zeros(n), v_threshold=np.ones(n))

    layers = [
        nir.Affine(weight=rng.normal(0, 0.3, (12, 16)).astype(np.float32), bias=np.zeros(12, np.float32)),
        lif(12),
        nir.Linear(weight=rng.normal(0, 0.5, (4, 12)).astype(np.float32)),
        lif(4),
    ]
    nodes = {"input": nir.Input(input_type={"input": np.array([16])})}
    nodes.update(zip(names, layers))
    nodes["output"] = nir.Output(output_type={"output": np.array([4])})
    order = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])), type_check=False)


@pytest.mark.parametrize(
    "names",
    [
        ["0", "1", "2", "3"],  # nirtorch (snnTorch, Norse, Sinabs)
        ["0_LinearTorch", "1_LIFNeuronTorch", "2_LinearTorch", "3_LIFNeuronTorch"],  # Rockpool
        ["layer_0", "layer_1", "layer_2", "layer_3"],  # Spyx
        ["fc.1", "lif ünï 1", "fc 2", "lif\n2"],  # anything HDF5 can hold (no "/")
    ],
)
def test_graph_saves_reads_back_and_generates_c(names: list[str], tmp_path: Path) -> None:
    path = tmp_path / "g.nir"
    nir.write(path, _graph(names))
    out = tmp_path / "model.qsnn"
    import_from_cli(path, out, bits=4, num_steps=6, dt=1e-4, convention="nir")
    graph = load_graph(out)
    labels = graph.metadata["nir_import"]["nodes"]
    assert sorted(labels.values()) == sorted(names), "every original name kept as a label"
    assert [op.name for op in graph.lif_layers()] == [ir_names(names)[names[1]], ir_names(names)[names[3]]]
    run = CliRunner().invoke(cli, ["codegen", str(out), "--target", "c", "--out", str(tmp_path / "c")])
    assert run.exit_code == 0, run.output
    files = [p for p in (tmp_path / "c").rglob("*") if p.is_file()]
    assert any(p.suffix == ".c" for p in files)
    text = "\n".join(p.read_text(errors="replace") for p in files)
    assert "ünï" not in text and "lif\n2" not in text, "a raw NIR name never reaches generated code"
    assert ir_names(names)[names[0]] in text
