"""snnTorch ``RLeaky``/``RSynaptic`` (all-to-all recurrent weights) exported to ``requantize recurrent [synaptic]
lif``: the float model and the integer simulator agree on predictions and per-layer spike totals, the simulator
equals the int64 reference on every spike, membrane and current, a recurrent bias is folded into the layer's
requantize, a plain ``nn.Linear`` recurrent layer is quantized at 8 bits, the recurrent preset's
``RecurrentQSNN`` exports, and what has no integer form is refused in one line naming the layer."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import brevitas.nn as qnn
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from qsnn_deploy.errors import UnsupportedLayerError
from qsnn_deploy.export import check_exportable, export_model
from qsnn_deploy.ir.io import load_graph
from qsnn_deploy.ir.ops import Recurrent, Requantize
from qsnn_deploy.sim import simulate
from qsnn_deploy.sim.reference import simulate_reference
from tests.cli_run import run_cli
from tests.unit.test_export_fidelity import assert_faithful

STEPS = 20
FEATURES, HIDDEN = 28, 32


def rows(n: int, seed: int) -> np.ndarray:
    """Sequential-MNIST-like samples: (N, T, F, 1, 1) uint8, one row of pixels per step."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, STEPS, FEATURES, 1, 1)).astype(np.uint8)
    x[rng.random(x.shape) < 0.6] = 0  # dark background, as MNIST rows
    return x


@torch.no_grad()
def recurrent_mlp(
    kind: str = "rleaky", rec: nn.Module | None = None, seed: int = 0, **neuron
) -> nn.Sequential:
    torch.manual_seed(seed)
    settings = {"beta": 0.9, "linear_features": HIDDEN, "init_hidden": True, **neuron}
    lif1 = snn.RLeaky(**settings) if kind == "rleaky" else snn.RSynaptic(alpha=0.7, **settings)
    lif1.recurrent = (
        rec if rec is not None else qnn.QuantLinear(HIDDEN, HIDDEN, bias=True, weight_bit_width=4)
    )
    net = nn.Sequential(
        OrderedDict(
            flat=nn.Flatten(),
            fc1=qnn.QuantLinear(FEATURES, HIDDEN, bias=False, weight_bit_width=4),
            lif1=lif1,
            fc2=qnn.QuantLinear(HIDDEN, 10, bias=False, weight_bit_width=4),
            lif2=snn.Leaky(beta=0.9, init_hidden=True, output=True),
        )
    ).eval()
    net.fc1.weight.mul_(3.0)
    if hasattr(net.lif1.recurrent, "weight"):
        net.lif1.recurrent.weight.mul_(3.0)
    net.fc2.weight.mul_(3.0)
    return net


def export(net: nn.Module, raw: np.ndarray, state_bits: int = 32):
    return export_model(
        net, num_steps=STEPS, state_bits=state_bits, input_shape=(FEATURES, 1, 1), input_scale=1 / 255,
        encoding="stream", check_inputs=raw,
    )  # fmt: skip


def assert_simulator_equals_reference(graph, raw: np.ndarray) -> None:
    fast = simulate(graph, raw, STEPS, record=True)
    ref = simulate_reference(graph, raw, STEPS, record=True)
    assert np.array_equal(fast.output_spikes, ref.output_spikes)
    for name, spikes in ref.layer_spikes.items():
        assert np.array_equal(fast.layer_spikes[name], spikes), name
        assert np.array_equal(fast.layer_membranes[name], ref.layer_membranes[name]), name
    for name, current in fast.layer_currents.items():
        assert np.array_equal(current, ref.op_outputs[name]), name


@pytest.mark.parametrize("kind", ["rleaky", "rsynaptic"])
def test_recurrent_layer_exports_faithfully(kind: str) -> None:
    raw = rows(32, 1)
    result = export(recurrent_mlp(kind), raw)
    kinds = [op.kind for op in result.graph.ops]
    current = ["synaptic"] if kind == "rsynaptic" else []
    assert kinds == ["linear", "requantize", "recurrent", *current, "lif", "linear", "requantize", "lif"]
    assert result.graph.feedback() == {"lif1": "lif1_recurrent"}
    assert_faithful(result.check, n=32)
    assert result.check["count_agreement"] >= 0.95
    assert_simulator_equals_reference(result.graph, raw[:8])


def test_recurrent_weights_are_brevitas_integers_rescaled_into_membrane_units() -> None:
    net = recurrent_mlp()
    result = export(net, rows(4, 2))
    rec = next(op for op in result.graph.ops if isinstance(op, Recurrent))
    q = net.lif1.recurrent.quant_weight()
    assert np.array_equal(rec.weight, q.int().numpy())
    assert rec.weight_type.bits == 4
    s_m = result.graph.metadata["lif_layers"]["lif1"]["membrane_scale"]
    real = rec.multiplier / 2.0**rec.shift * s_m  # one integer weight unit, in real membrane units
    np.testing.assert_allclose(real, float(q.scale.detach().reshape(-1)[0]), rtol=1e-6)


def test_recurrent_bias_is_folded_into_the_requantize_bias() -> None:
    net = recurrent_mlp()
    with torch.no_grad():
        net.lif1.recurrent.bias.fill_(0.25)
    graph = export(net, rows(4, 3)).graph
    rq = next(op for op in graph.ops if isinstance(op, Requantize))
    s_m = graph.metadata["lif_layers"]["lif1"]["membrane_scale"]
    np.testing.assert_allclose(rq.bias / 2.0**rq.shift * s_m, 0.25, rtol=1e-6)


def test_plain_linear_recurrent_layer_is_quantized_at_8_bits() -> None:
    torch.manual_seed(5)
    raw = rows(32, 4)
    result = export(recurrent_mlp(rec=nn.Linear(HIDDEN, HIDDEN)), raw)
    rec = next(op for op in result.graph.ops if isinstance(op, Recurrent))
    assert rec.weight_type.bits == 8
    assert np.abs(rec.weight).max() == 127
    # the float model keeps float recurrent weights: the 8-bit rounding may flip a rare prediction
    assert result.check["prediction_agreement"] >= 30 / 32


def test_int16_state_exports_and_the_simulator_equals_the_reference() -> None:
    raw = rows(8, 6)
    result = export(recurrent_mlp("rsynaptic"), raw, state_bits=16)
    assert all(op.state_type.bits == 16 for op in result.graph.ops if op.kind == "lif")
    assert_simulator_equals_reference(result.graph, raw)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: recurrent_mlp(reset_mechanism="zero"), "'lif1' (RLeaky): reset_mechanism 'zero'"),
        (lambda: recurrent_mlp("rsynaptic", reset_mechanism="zero"), "'lif1' (RSynaptic): reset_mechanism"),
        (lambda: recurrent_mlp(rec=nn.Conv2d(HIDDEN, HIDDEN, 1)), "'lif1.recurrent' (RLeaky's recurrent layer) is a convolution"),
        (lambda: recurrent_mlp(rec=nn.Identity()), "'lif1.recurrent' (RLeaky's recurrent layer) is Identity"),
        (lambda: recurrent_mlp(rec=nn.Linear(HIDDEN, HIDDEN), reset_delay=False), "'lif1': reset_delay=False"),
    ],
)  # fmt: skip
def test_what_has_no_integer_form_is_refused_in_one_line(make, fragment: str) -> None:
    with pytest.raises(UnsupportedLayerError) as err:
        export(make(), rows(2, 0))
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_one_to_one_recurrence_is_refused_naming_the_layer() -> None:
    net = recurrent_mlp()
    net.lif1 = snn.RLeaky(beta=0.9, all_to_all=False, V=0.5, init_hidden=True)
    with pytest.raises(UnsupportedLayerError, match=r"'lif1' \(RLeaky\): all_to_all=False"):
        export(net, rows(2, 0))
    assert any("all_to_all=False" in p for p in check_exportable(net))


def test_check_exportable_passes_a_recurrent_sequential() -> None:
    net = recurrent_mlp("rsynaptic")
    assert check_exportable(net, input_shape=(FEATURES, 1, 1), encoding="stream") == []


def lively_preset_model(seed: int, **fields) -> nn.Module:
    """The smnist preset's network at 24 hidden neurons with ``fields`` changed in its config, from random
    weights scaled x4 so that every layer spikes on the rows of :func:`rows`."""
    from qsnn_deploy.models.presets import get_preset
    from qsnn_deploy.models.qsnn import build_model

    config = get_preset("smnist").model
    config = type(config).from_dict({**config.to_dict(), "recurrent_hidden": 24, **fields})
    torch.manual_seed(seed)
    model = build_model(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4.0)
    return model


@pytest.mark.parametrize("per_channel", [False, True], ids=["per-layer-scale", "per-channel-scales"])
def test_the_recurrent_preset_model_exports_faithfully(per_channel: bool) -> None:
    """Also with one weight scale per output neuron (``ModelConfig.per_channel``): the requantize and the
    recurrent multipliers are per channel in the IR, so each neuron's scale is exact."""
    model = lively_preset_model(0, per_channel=per_channel)
    assert check_exportable(model) == []
    raw = rows(16, 7)
    result = export_model(model, num_steps=STEPS, check_inputs=raw)
    assert result.graph.input.encoding == "stream" and result.graph.input.shape == (FEATURES, 1, 1)
    assert [op.kind for op in result.graph.ops][:4] == ["linear", "requantize", "recurrent", "lif"]
    rec = next(op for op in result.graph.ops if isinstance(op, Recurrent))
    assert len(set(np.asarray(rec.multiplier).reshape(-1).tolist())) == (24 if per_channel else 1)
    assert_faithful(result.check, n=16)
    assert_simulator_equals_reference(result.graph, raw[:4])


def test_stacked_recurrent_layers_export_faithfully() -> None:
    """Two hidden RLeaky layers (``ModelConfig.recurrent_layers``): each its own linear, recurrent and LIF ops."""
    model = lively_preset_model(1, recurrent_layers=2)
    assert check_exportable(model) == []
    raw = rows(16, 8)
    result = export_model(model, num_steps=STEPS, check_inputs=raw)
    kinds = [op.kind for op in result.graph.ops]
    assert kinds == ["linear", "requantize", "recurrent", "lif"] * 2 + ["linear", "requantize", "lif"]
    assert [op.name for op in result.graph.ops if op.kind == "lif"][:2] == ["lif1", "lifh2"]
    assert_faithful(result.check, n=16)
    assert_simulator_equals_reference(result.graph, raw[:4])


def test_a_learned_beta_above_one_exports_as_the_clamp_snntorch_applies() -> None:
    """snnTorch decays by ``beta.clamp(0, 1)``; a learned beta may leave that range, and the IR's decay is the
    clamped one (``quantize_decay``; the export stays faithful). A learned threshold is the layer's threshold."""
    model = lively_preset_model(2, learn_neurons=True)
    with torch.no_grad():
        model.lif1.beta.fill_(1.2)
        model.lif1.threshold.fill_(0.8)
    raw = rows(16, 9)
    result = export_model(model, num_steps=STEPS, check_inputs=raw)
    lif1 = next(op for op in result.graph.ops if op.kind == "lif" and op.name == "lif1")
    assert lif1.decay_multiplier == 1 << lif1.decay_shift  # beta 1: no decay
    assert_faithful(result.check, n=16)


BUILDER = """
import brevitas.nn as qnn
import snntorch as snn
from torch import nn

def build():
    lif1 = snn.RLeaky(beta=0.9, linear_features=32, init_hidden=True)
    lif1.recurrent = qnn.QuantLinear(32, 32, bias=True, weight_bit_width=4)
    return nn.Sequential(nn.Flatten(), qnn.QuantLinear(28, 32, bias=False, weight_bit_width=4), lif1,
                         qnn.QuantLinear(32, 10, bias=False, weight_bit_width=4),
                         snn.Leaky(beta=0.9, init_hidden=True, output=True))
"""


def test_export_builder_takes_a_recurrent_network(tmp_path: Path) -> None:
    (tmp_path / "my_rec_net.py").write_text(BUILDER)
    net = recurrent_mlp()
    state = {k.replace("flat.", "0.").replace("fc1.", "1.").replace("lif1.", "2.").replace("fc2.", "3.")
             .replace("lif2.", "4."): v for k, v in net.state_dict().items()}  # fmt: skip
    torch.save(state, tmp_path / "weights.pt")
    out = tmp_path / "net.qsnn"
    proc = run_cli(
        "export", str(tmp_path / "weights.pt"), "--builder",
        "my_rec_net:build", "--input-shape", f"{FEATURES},1,1", "--encoding", "stream", "--input-scale",
        str(1 / 255), "--num-steps", str(STEPS), "--out", str(out), cwd=tmp_path
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    graph = load_graph(out)
    assert [op.kind for op in graph.ops] == [
        "linear",
        "requantize",
        "recurrent",
        "lif",
        "linear",
        "requantize",
        "lif",
    ]
    same = export(net, rows(2, 0)).graph
    rec, want = graph.ops[2], same.ops[2]
    assert np.array_equal(rec.weight, want.weight) and np.array_equal(rec.multiplier, want.multiplier)
