"""NIR export (target ``nir``): write, read back with ``nir.read``, and find every parameter as written: the
integer weights and their scales, the requantizers, the LIF thresholds, decays and resets; the float weights
NIR tools run are the integer weights times their scales."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from qsnn_deploy.errors import QsnnError, VerificationError  # noqa: E402
from qsnn_deploy.interop.conventions import DEFAULT_DT, beta_of_tau, text  # noqa: E402
from qsnn_deploy.interop.nir_export import write_nir  # noqa: E402
from qsnn_deploy.ir.graph import Graph  # noqa: E402
from qsnn_deploy.ir.ops import LIF  # noqa: E402
from qsnn_deploy.ir.plan import plan_layers  # noqa: E402
from qsnn_deploy.ir.synthetic import random_graph, random_inputs  # noqa: E402
from qsnn_deploy.targets import generate  # noqa: E402
from qsnn_deploy.targets.verifier import verify  # noqa: E402


def _chain(g) -> list[str]:
    after = dict(g.edges)
    order = ["input"]
    while order[-1] in after:
        order.append(after[order[-1]])
    return order


@pytest.mark.parametrize("arch,reset", [("mnist", "subtract"), ("tiny-stream", "zero")])
def test_round_trip_keeps_every_parameter(tmp_path: Path, arch: str, reset: str) -> None:
    graph = random_graph(arch, 2, reset=reset)
    back = nir.read(write_nir(graph, tmp_path / "model.nir"))
    assert (
        back.metadata["num_steps"] == graph.num_steps
        and text(back.metadata["encoding"]) == graph.input.encoding
    )
    assert float(back.metadata["dt"]) == DEFAULT_DT
    expected = ["input"]
    for layer in plan_layers(graph):
        if layer.kind == "linear" and len(layer.in_shape) > 1:
            expected.append(f"{layer.op.name}_flatten")
        expected += [layer.op.name] + ([layer.pool.name] if layer.pool else []) + [layer.lif.name]
    assert _chain(back) == expected + ["output"]
    np.testing.assert_array_equal(back.nodes["input"].input_type["input"], graph.input.shape)
    for layer in plan_layers(graph):
        syn, rq, lif = back.nodes[layer.op.name], layer.rq, layer.lif
        meta = syn.metadata
        np.testing.assert_array_equal(meta["weight_int"], layer.op.weight)
        np.testing.assert_array_equal(meta["multiplier"], rq.multiplier)
        np.testing.assert_array_equal(meta["bias"], rq.bias)
        assert int(meta["shift"]) == rq.shift and int(meta["weight_bits"]) == layer.op.weight_type.bits
        np.testing.assert_allclose(meta["weight_scale"], rq.multiplier / 2.0**rq.shift, rtol=0, atol=0)
        scale = meta["weight_scale"].reshape((-1,) + (1,) * (layer.op.weight.ndim - 1))
        np.testing.assert_allclose(syn.weight, layer.op.weight * scale, rtol=1e-6)
        np.testing.assert_allclose(syn.bias, rq.bias / 2.0**rq.shift / layer.pool_kernel**2, rtol=1e-6)
        if layer.kind == "conv":
            assert isinstance(syn, nir.Conv2d)
            np.testing.assert_array_equal(syn.stride, [layer.op.stride] * 2)
            np.testing.assert_array_equal(syn.padding, [layer.op.padding] * 2)
        else:
            assert isinstance(syn, nir.Affine)
        if layer.pool is not None:
            np.testing.assert_array_equal(back.nodes[layer.pool.name].kernel_size, [layer.pool.kernel] * 2)
        neuron = back.nodes[lif.name]
        assert isinstance(neuron, nir.LIF)
        assert neuron.v_threshold.shape == layer.out_shape and np.all(neuron.v_threshold == lif.threshold)
        assert np.all(neuron.v_leak == 0) and np.all(neuron.v_reset == 0)
        np.testing.assert_allclose(beta_of_tau(neuron.tau), lif.decay, rtol=1e-12)
        np.testing.assert_allclose(neuron.r * DEFAULT_DT / neuron.tau, 1.0, rtol=1e-12)  # input gain 1
        m = neuron.metadata
        assert (int(m["threshold"]), int(m["decay_multiplier"]), int(m["decay_shift"])) == (
            lif.threshold, lif.decay_multiplier, lif.decay_shift)  # fmt: skip
        assert text(m["reset"]) == lif.reset and int(m["state_bits"]) == lif.state_type.bits


def test_a_neuron_without_leak_is_written_as_if(tmp_path: Path) -> None:
    graph = random_graph("tiny", 1)
    ops = tuple(
        replace(op, decay_multiplier=1, decay_shift=0) if isinstance(op, LIF) else op for op in graph.ops
    )
    graph = Graph(graph.input, ops, graph.num_steps)
    back = nir.read(write_nir(graph, tmp_path / "if.nir"))
    for lif in graph.lif_layers():
        node = back.nodes[lif.name]
        assert isinstance(node, nir.IF) and np.allclose(node.r * DEFAULT_DT, 1.0)


def test_nir_target_writes_the_file_and_has_no_executor(tmp_path: Path) -> None:
    graph = random_graph("tiny", 1)
    files = generate(graph, "nir", tmp_path)
    assert sorted(p.name for p in files) == ["model.nir", "qsnn-target.json"]
    assert isinstance(nir.read(tmp_path / "model.nir"), nir.NIRGraph)
    with pytest.raises(
        QsnnError, match="no executor"
    ) as refused:  # a user's choice: exit 2, not a failed check
        verify(graph, random_inputs(graph, 2), target="nir")
    assert refused.value.exit_code == 2 and not isinstance(refused.value, VerificationError)


def test_export_then_import_predicts_like_the_original(tmp_path: Path) -> None:
    """IR -> NIR -> IR at 8 bits: the re-quantized network keeps the original's predictions."""
    from qsnn_deploy.interop.nir_import import import_nir
    from qsnn_deploy.sim import simulate

    graph = random_graph("mnist", 1, reset="subtract")
    imported = import_nir(write_nir(graph, tmp_path / "model.nir"), bits=8).graph
    assert [op.kind for op in imported.ops] == [op.kind for op in graph.ops]
    assert all(op.reset == "subtract" for op in imported.lif_layers())
    x = random_inputs(graph, 50, seed=3)
    agree = np.mean(simulate(graph, x).predictions == simulate(imported, x).predictions)
    assert agree >= 0.9
