"""Recurrent layers through NIR in both directions: the IR's ``recurrent`` op written as a ``Linear`` node with
edges to and from its neuron (the Braille layout), the exact round trip of a file we wrote (every integer kept),
our own file imported again by the quantizing import, the nir target writing it, and snnTorch 1.0.0's own
``export_to_nir`` of an ``RSynaptic`` (its ``1.lif`` / ``1.w_rec`` nodes, an Affine with snnTorch's recurrent
bias) imported under snnTorch's convention and spiking like snnTorch's own run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from qsnn_deploy.interop.nir_exact import exact_graph  # noqa: E402
from qsnn_deploy.interop.nir_export import graph_to_nir, write_nir  # noqa: E402
from qsnn_deploy.interop.nir_import import import_nir, read_nir  # noqa: E402
from qsnn_deploy.ir.graph import Graph  # noqa: E402
from qsnn_deploy.ir.synthetic import braille_graph, random_inputs  # noqa: E402
from qsnn_deploy.sim import simulate  # noqa: E402
from qsnn_deploy.targets import generate  # noqa: E402
from tests.unit.test_nir_cubalif import probe  # noqa: E402


def _bare(graph: Graph, like: Graph) -> Graph:
    """``graph`` with ``like``'s metadata: the round trip keeps ops, input and steps, not the source notes."""
    return Graph(graph.input, graph.ops, graph.num_steps, like.metadata)


def test_the_recurrent_op_is_a_linear_node_in_a_loop_with_its_neuron() -> None:
    graph = braille_graph(1)
    written = graph_to_nir(graph)
    rec = written.nodes["rec1"]
    assert isinstance(rec, nir.Linear)
    assert {("lif1", "rec1"), ("rec1", "lif1")} <= set(written.edges)
    op = graph.ops[2]
    np.testing.assert_allclose(rec.weight, op.weight * (op.multiplier / 2.0**op.shift)[:, None], rtol=1e-6)
    assert np.array_equal(rec.metadata["weight_int"], op.weight)


@pytest.mark.parametrize("synaptic", [True, False])
@pytest.mark.parametrize("encoding", ["stream", "static"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_exact_round_trip_through_a_file(tmp_path: Path, synaptic: bool, encoding: str, reset: str) -> None:
    graph = braille_graph(2, synaptic=synaptic, encoding=encoding, reset=reset)
    path = write_nir(graph, tmp_path / "braille.nir")
    back = exact_graph(read_nir(path))
    assert _bare(graph, back).same_as(back)


def test_our_file_imports_again_with_its_recurrence(tmp_path: Path) -> None:
    graph = braille_graph(3, encoding="static")
    path = write_nir(graph, tmp_path / "braille.nir")
    again = import_nir(path, bits=8).graph
    assert [op.kind for op in again.ops] == [op.kind for op in graph.ops]
    assert again.feedback() == {"lif1": "lif1_recurrent"}
    raw = random_inputs(graph, 16, seed=4)
    ours, theirs = simulate(graph, raw), simulate(again, raw)
    assert np.mean(ours.predictions == theirs.predictions) >= 14 / 16  # re-quantized weights, same network


def test_the_nir_target_writes_an_imported_braille_graph(tmp_path: Path) -> None:
    from tests.unit.test_nir_recurrent import braille, load

    graph = load(braille(), 4).graph
    files = generate(graph, "nir", tmp_path)
    back = exact_graph(read_nir(next(f for f in files if f.suffix == ".nir")))
    assert _bare(graph, back).same_as(back)


def test_snntorchs_own_export_of_an_rsynaptic_imports_and_spikes_like_snntorch() -> None:
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    from snntorch.export_nir import export_to_nir

    from qsnn_deploy.export.inference import float_outputs

    def full(n: int, **values) -> dict:  # per-neuron tensors: nirtorch's type inference fails on scalars
        return {k: torch.full((n,), v) for k, v in values.items()}

    torch.manual_seed(0)
    rec = snn.RSynaptic(**full(40, alpha=0.75, beta=0.9, threshold=1.0), linear_features=40, init_hidden=True)
    out = snn.Synaptic(**full(7, alpha=0.5, beta=0.8, threshold=1.0), init_hidden=True, output=True)
    net = torch.nn.Sequential(torch.nn.Linear(12, 40), rec, torch.nn.Linear(40, 7), out).eval()
    with torch.no_grad():
        net[0].weight.mul_(2.0)
        net[2].weight.mul_(3.0)
    graph = export_to_nir(net, torch.zeros(1, 12), ignore_dims=[0])
    assert {"1.lif", "1.w_rec"} <= set(graph.nodes)  # snnTorch's naming of the recurrent layer
    result = import_nir(graph, bits=8, num_steps=25, encoding="static", input_scale=1 / 255, reset="subtract")
    assert result.settings.convention == "snntorch"
    kinds = [op.kind for op in result.graph.ops]
    assert kinds[:5] == ["linear", "requantize", "recurrent", "synaptic", "lif"]
    raw = probe(32, seed=5)
    counts, totals = float_outputs(net, raw, 25, 1 / 255)
    sim = simulate(result.graph, raw, 25)
    for theirs, ours in (("layer1", "layer1_lif"), ("layer3", "layer3")):
        f, i = totals[theirs], int(sim.spike_counts[ours].sum())
        assert f > 0 and abs(i - f) <= 0.02 * f, (theirs, f, i)
    assert np.mean(np.argmax(counts, axis=1) == sim.predictions) >= 30 / 32
