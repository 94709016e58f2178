"""NIR export of current-based layers (``synaptic`` + ``lif``) as NIR ``CubaLIF``: the parameters NIR 1.0.8
defines (tau_syn, tau_mem, r, w_in), the integers in the metadata, the exact round trip (export -> exact_graph
gives the same IR graph, every integer), the re-quantizing import keeping the layers and decays, and the nir
target taking the op."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from qsnn_deploy.errors import QsnnError  # noqa: E402
from qsnn_deploy.interop.conventions import DEFAULT_DT, text  # noqa: E402
from qsnn_deploy.interop.nir_exact import exact_graph, is_exact  # noqa: E402
from qsnn_deploy.interop.nir_export import write_nir  # noqa: E402
from qsnn_deploy.interop.nir_import import import_nir, read_nir  # noqa: E402
from qsnn_deploy.ir.graph import Graph  # noqa: E402
from qsnn_deploy.ir.ops import Synaptic  # noqa: E402
from qsnn_deploy.ir.plan import plan_layers  # noqa: E402
from qsnn_deploy.ir.synthetic import random_graph, random_inputs  # noqa: E402
from qsnn_deploy.sim import simulate  # noqa: E402
from qsnn_deploy.targets import generate  # noqa: E402


def bare(graph: Graph) -> Graph:
    """The graph without its metadata (NIR carries the ops and the input, not the IR's provenance)."""
    return Graph(graph.input, graph.ops, graph.num_steps)


@pytest.mark.parametrize(
    ("arch", "reset", "synaptic"),
    [("tiny", "subtract", (3, 2)), ("tiny-stream", "zero", (55705, 16)), ("mnist", "subtract", (0, 0))],
)
def test_synaptic_layers_are_written_as_cubalif_with_nirs_parameters(tmp_path, arch, reset, synaptic) -> None:
    graph = random_graph(arch, 2, reset=reset, synaptic=synaptic)
    back = read_nir(write_nir(graph, tmp_path / "model.nir"))
    layers = plan_layers(graph)
    assert all(layer.current is not None for layer in layers)
    for layer in layers:
        node, syn, lif = back.nodes[layer.lif.name], layer.current, layer.lif
        assert isinstance(node, nir.CubaLIF)
        dt = DEFAULT_DT
        # NIR's Euler step: I <- (1 - dt/tau_syn) I + (dt/tau_syn) w_in x, v <- (1 - dt/tau_mem) v + (dt r/tau_mem) I
        np.testing.assert_allclose(1 - dt / node.tau_syn, syn.decay, rtol=0, atol=1e-12)
        np.testing.assert_allclose(dt / node.tau_syn * node.w_in, 1.0, rtol=1e-12)
        np.testing.assert_allclose(1 - dt / node.tau_mem, lif.decay, rtol=0, atol=1e-12)
        np.testing.assert_allclose(dt * node.r / node.tau_mem, 1.0, rtol=1e-12)
        assert (
            np.all(node.v_threshold == lif.threshold)
            and np.all(node.v_leak == 0)
            and np.all(node.v_reset == 0)
        )
        m = node.metadata
        assert (int(m["synaptic_decay_multiplier"]), int(m["synaptic_decay_shift"])) == (
            syn.decay_multiplier, syn.decay_shift)  # fmt: skip
        assert int(m["synaptic_state_bits"]) == syn.state_type.bits and text(m["reset"]) == reset
        assert text(m["ir_ops"]) == f"{syn.name},{lif.name}"
    assert int(back.metadata["ir_version"]) == 3


@pytest.mark.parametrize(
    ("arch", "synaptic"), [("tiny", (3, 2)), ("tiny-stream", (55705, 16)), ("mnist", None), ("tiny", None)]
)
def test_export_then_exact_import_gives_the_same_graph(tmp_path: Path, arch: str, synaptic) -> None:
    graph = random_graph(arch, 3, synaptic=synaptic)
    back = read_nir(write_nir(graph, tmp_path / "model.nir"))
    assert is_exact(back)
    rebuilt = exact_graph(back)
    assert rebuilt.same_as(bare(graph))
    x = random_inputs(graph, 4, seed=1)
    np.testing.assert_array_equal(simulate(rebuilt, x).output_spikes, simulate(graph, x).output_spikes)


def test_an_exported_synaptic_snntorch_model_survives_the_exact_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("snntorch")
    from tests.unit.test_export_fidelity import digit_like
    from tests.unit.test_synaptic_export import export, synaptic_cnn

    graph = export(synaptic_cnn(), digit_like(2, 7, 14)).graph
    rebuilt = exact_graph(read_nir(write_nir(graph, tmp_path / "model.nir")))
    assert rebuilt.same_as(bare(graph))


def test_a_graph_of_another_writer_is_not_exact() -> None:
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}),
                                "output": nir.Output(output_type={"output": np.array([3])})},
                         edges=[("input", "output")], metadata={"producer": "snntorch"})  # fmt: skip
    assert not is_exact(graph)
    with pytest.raises(QsnnError, match="import it with import_nir"):
        exact_graph(graph)


def test_export_then_requantizing_import_keeps_the_synaptic_layers(tmp_path: Path) -> None:
    """IR -> NIR -> import_nir at 8 bits (NIR's Euler convention, recorded by our writer): the same op kinds, the
    same decays, and the original's predictions."""
    graph = random_graph("tiny", 1, reset="subtract", synaptic=(3, 2))
    imported = import_nir(write_nir(graph, tmp_path / "model.nir"), bits=8).graph
    assert [op.kind for op in imported.ops] == [op.kind for op in graph.ops]
    for a, b in zip(imported.ops, graph.ops, strict=True):
        if isinstance(a, Synaptic):
            assert a.decay == pytest.approx(b.decay, abs=2e-5)
    x = random_inputs(graph, 50, seed=3)
    agree = np.mean(simulate(graph, x).predictions == simulate(imported, x).predictions)
    assert agree >= 0.9, agree


def test_the_nir_target_writes_a_synaptic_graph(tmp_path: Path) -> None:
    graph = random_graph("tiny", 1, synaptic=(3, 2))
    files = generate(graph, "nir", tmp_path)
    assert "model.nir" in [p.name for p in files]
    assert isinstance(nir.read(tmp_path / "model.nir").nodes["lif1"], nir.CubaLIF)


def test_a_current_that_never_decays_is_refused_in_one_line(tmp_path: Path) -> None:
    graph = random_graph("tiny", 1, synaptic=(3, 2))
    ops = tuple(
        replace(op, decay_multiplier=1, decay_shift=0) if isinstance(op, Synaptic) else op for op in graph.ops
    )
    with pytest.raises(QsnnError, match="synaptic 'syn_lif1': a decay of 1") as err:
        write_nir(Graph(graph.input, ops, graph.num_steps), tmp_path / "model.nir")
    assert "\n" not in str(err.value)
