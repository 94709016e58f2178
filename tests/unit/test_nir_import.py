"""NIR import: Brevitas's weight rounding, graphs written with nir's own API as other libraries write them,
a graph written by Rockpool where it is installed, and one error naming every node that cannot be taken."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from qsnn_deploy.commands.import_nir import import_from_cli  # noqa: E402
from qsnn_deploy.errors import QsnnError, UnsupportedLayerError  # noqa: E402
from qsnn_deploy.interop.nir_import import import_nir, quantize_per_tensor  # noqa: E402
from qsnn_deploy.ir.io import load_graph  # noqa: E402
from qsnn_deploy.ir.ops import LIF, Linear  # noqa: E402
from qsnn_deploy.sim import simulate  # noqa: E402

DT = 1e-4


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_weight_quantization_equals_brevitas(bits: int) -> None:
    torch = pytest.importorskip("torch")
    qnn = pytest.importorskip("brevitas.nn")
    torch.manual_seed(bits)
    layer = qnn.QuantLinear(40, 12, bias=False, weight_bit_width=bits)
    with torch.no_grad():  # exact halves of the scale as well, where the rounding rule shows
        layer.weight[0, :6] = torch.tensor([1.0, 0.5, -0.5, 1.5, -2.5, 0.25]) * float(
            layer.weight.abs().max()
        )
    q = layer.quant_weight()
    w_int, scale = quantize_per_tensor(layer.weight.detach().numpy(), bits)
    np.testing.assert_array_equal(w_int, q.int().numpy())
    assert scale == pytest.approx(float(q.scale.detach()), rel=1e-7)


def test_quantization_rounds_half_to_even() -> None:
    w_int, scale = quantize_per_tensor(np.array([7.0, 3.5, 2.5, -0.5, -1.5]), 4)
    assert scale == 1.0 and w_int.tolist() == [7, 4, 2, 0, -2]


def _lif(n: int, beta: float, threshold: float = 1.0):
    """A LIF as snnTorch's export writes a Leaky: tau = dt / (1 - beta), r = tau / dt, v_leak = 0."""
    tau = np.full(n, DT / (1 - beta))
    return nir.LIF(tau=tau, r=tau / DT, v_leak=np.zeros(n), v_threshold=np.full(n, threshold))


def _mlp(seed: int = 0):
    rng = np.random.default_rng(seed)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 8, 8])}),
        "flat": nir.Flatten(input_type={"input": np.array([1, 8, 8])}, start_dim=0),
        "fc1": nir.Affine(
            weight=rng.normal(0, 0.3, (32, 64)).astype(np.float32), bias=np.full(32, 0.05, np.float32)
        ),
        "lif1": _lif(32, 0.9),
        "fc2": nir.Linear(weight=rng.normal(0, 0.4, (5, 32)).astype(np.float32)),
        "lif2": nir.CubaLIF(  # no synaptic state: tau_syn = dt, as snnTorch writes a Synaptic with alpha = 0
            tau_syn=np.full(5, DT),
            tau_mem=np.full(5, DT / 0.2),
            r=np.full(5, 1 / 0.2),
            v_leak=np.zeros(5),
            v_threshold=np.full(5, 0.5),
            w_in=np.ones(5),
        ),
        "output": nir.Output(output_type={"output": np.array([5])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])))


def test_graph_written_with_nirs_api_imports_and_follows_the_float_graph(tmp_path: Path) -> None:
    path = tmp_path / "mlp.nir"
    nir.write(path, _mlp())
    result = import_nir(path, bits=8, num_steps=12, dt=DT)
    graph = result.graph
    assert [op.kind for op in graph.ops] == ["linear", "requantize", "lif"] * 2
    lifs = graph.lif_layers()
    assert all(op.reset == "zero" for op in lifs), "NIR's neurons reset to v_reset"
    assert lifs[0].decay == pytest.approx(0.9, abs=2e-5) and lifs[1].decay == pytest.approx(0.8, abs=2e-5)
    assert graph.input.shape == (1, 8, 8) and graph.num_steps == 12
    assert result.check["prediction_agreement"] >= 0.75
    assert not result.check["silent_layers"]


def test_metadata_reset_and_overrides() -> None:
    g = _mlp()
    g.nodes["lif1"].metadata = {"reset": "subtract"}
    graph = import_nir(g, bits=4, num_steps=5, dt=DT).graph
    assert [op.reset for op in graph.lif_layers()] == ["subtract", "zero"]
    forced = import_nir(g, bits=4, num_steps=5, dt=DT, reset="subtract").graph
    assert [op.reset for op in forced.lif_layers()] == ["subtract", "subtract"]


def test_input_gain_and_leak_fold_into_the_current() -> None:
    """r * dt / tau != 1 scales the current: it ends in the requantizer, never in the weights."""
    base, scaled = _mlp(), _mlp()
    lif = scaled.nodes["lif1"]
    scaled.nodes["lif1"] = nir.LIF(
        tau=lif.tau, r=lif.r * 2, v_leak=np.zeros(32), v_threshold=lif.v_threshold * 2
    )
    a, b = (import_nir(g, bits=4, num_steps=5, dt=DT).graph for g in (base, scaled))
    lin_a = [op for op in a.ops if isinstance(op, Linear)][0]
    lin_b = [op for op in b.ops if isinstance(op, Linear)][0]
    np.testing.assert_array_equal(lin_a.weight, lin_b.weight)
    # gain 2 with threshold 2 is the same network: the same spikes
    x = np.random.default_rng(0).integers(0, 256, (20, 1, 8, 8)).astype(np.uint8)
    np.testing.assert_array_equal(simulate(a, x).output_spikes, simulate(b, x).output_spikes)
    assert simulate(a, x).counts.sum() > 0


def test_every_unsupported_node_is_named_in_one_error() -> None:
    g = _mlp()
    g.nodes["lif1"] = nir.LI(tau=np.full(32, 1e-3), r=np.ones(32), v_leak=np.zeros(32))
    g.nodes["fc2"] = nir.Delay(delay=np.ones(32))
    g.nodes["lif2"] = nir.CubaLIF(
        tau_syn=np.full(5, 5e-3), tau_mem=np.full(5, 1e-2), r=np.ones(5), v_leak=np.zeros(5),
        v_threshold=np.ones(5), w_in=np.ones(5),
    )  # fmt: skip
    with pytest.raises(UnsupportedLayerError) as err:
        import_nir(nir.NIRGraph(nodes=g.nodes, edges=g.edges, type_check=False), bits=4, num_steps=5, dt=DT)
    message = str(err.value)
    assert "3 NIR node(s)" in message
    for name, kind in (("lif1", "LI"), ("fc2", "Delay"), ("lif2", "synapse")):
        assert repr(name) in message and kind in message


def test_branches_and_missing_settings_are_clear_errors() -> None:
    g = _mlp()
    edges = [*g.edges, ("lif1", "output")]
    with pytest.raises(UnsupportedLayerError, match="only a chain"):
        import_nir(nir.NIRGraph(nodes=g.nodes, edges=edges, type_check=False), bits=4, num_steps=5)
    with pytest.raises(QsnnError, match="--num-steps"):
        import_nir(_mlp(), bits=4)
    with pytest.raises(QsnnError, match="--bits"):
        import_nir(_mlp(), bits=9, num_steps=4)


def test_import_from_cli_writes_a_loadable_ir(tmp_path: Path, capsys) -> None:
    nir.write(tmp_path / "mlp.nir", _mlp())
    import_from_cli(tmp_path / "mlp.nir", tmp_path / "model.qsnn", bits=4, num_steps=6, dt=DT)
    graph = load_graph(tmp_path / "model.qsnn")
    assert graph.num_steps == 6 and graph.metadata["nir_import"]["weight_bits"] == 4
    assert all(int(np.abs(op.weight).max()) <= 7 for op in graph.ops if isinstance(op, Linear))
    assert "wrote" in capsys.readouterr().out


def test_graph_written_by_rockpool(tmp_path: Path) -> None:
    """Rockpool 3.1 (``pip install rockpool nirtorch``, beside torch 2.13) writes LIFTorch as CubaLIF. Rockpool's
    own reading (the default for its graphs) keeps exp(-dt/tau_syn) = exp(-1) of the synaptic current each step:
    a synaptic op with that decay (issue 25); read with NIR's forward-Euler equations (``--convention nir``),
    ``tau_syn = dt`` has no synaptic state and imports without one."""
    pytest.importorskip("nirtorch")
    pytest.importorskip("rockpool")
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch, to_nir

    dt = 1e-3
    net = Sequential(LinearTorch((16, 12)), LIFTorch(12, tau_syn=dt, dt=dt), LinearTorch((12, 4)),
                     LIFTorch(4, tau_syn=dt, dt=dt))  # fmt: skip
    path = tmp_path / "rockpool.nir"
    nir.write(path, to_nir(net))
    own = import_nir(path, bits=8, num_steps=10, encoding="static", input_scale=1 / 255).graph
    assert [op.kind for op in own.ops] == ["linear", "requantize", "synaptic", "lif"] * 2
    assert [op.name for op in own.ops if op.kind == "synaptic"] == [
        "layer1_liftorch_synaptic",
        "layer3_liftorch_synaptic",
    ]
    assert all(op.decay == pytest.approx(math.exp(-1), abs=2e-5) for op in own.ops if op.kind == "synaptic")
    result = import_nir(
        path, bits=8, num_steps=10, dt=dt, encoding="static", input_scale=1 / 255, convention="nir"
    )
    graph = result.graph
    assert graph.input.shape == (1, 1, 16)
    assert [op.kind for op in graph.ops] == ["linear", "requantize", "lif"] * 2
    assert all(
        isinstance(op, LIF) and op.decay == pytest.approx(1 - dt / 0.02, abs=2e-5)
        for op in graph.lif_layers()
    )
    assert result.check["prediction_agreement"] >= 0.75
