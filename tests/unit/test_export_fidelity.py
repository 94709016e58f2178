"""Float model vs exported integer model: predictions and per-layer spike totals agree, a silent layer is named,
16-bit state warns exactly where the range analysis allows saturation, decays are quantized as documented, and
the exported graph survives the file format."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import brevitas.nn as qnn
import numpy as np
import pytest
import snntorch as snn
import torch
import torch.nn.functional as F
from torch import nn

from qsnn_deploy.export import export_model
from qsnn_deploy.export.quantize import quantize_decay
from qsnn_deploy.ir.io import load_graph, save_graph
from qsnn_deploy.ir.ranges import overflow_sites
from qsnn_deploy.ir.types import IntType
from qsnn_deploy.models.presets import model_config
from qsnn_deploy.models.qsnn import QSNN, build_model
from qsnn_deploy.sim import simulate


def digit_like(n: int, seed: int, hw: int = 28) -> np.ndarray:
    """MNIST-like uint8 images: a dark frame with one bright random blob (no dataset needed)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, hw, hw), np.uint8)
    for i in range(n):
        r, c = rng.integers(2, hw // 2, 2)
        x[i, 0, r : r + hw // 2, c : c + hw // 3] = rng.integers(0, 256, (hw // 2, hw // 3))
    return x


def assert_faithful(check: dict, n: int = 16) -> None:
    """Prediction agreement >= 15/16 and the spike total of every LIF layer within 1 %."""
    assert check["samples"] == n
    agree = int(np.sum(check["float_predictions"] == check["int_predictions"]))
    assert agree >= n - 1, (check["float_predictions"], check["int_predictions"])
    assert set(check["float_spikes"]) == set(check["int_spikes"])
    for name, f in check["float_spikes"].items():
        i = check["int_spikes"][name]
        assert f > 0, f"{name} is silent in the float model: the test model must spike"
        assert abs(i - f) <= 0.01 * f, f"{name}: float {f} spikes, integer {i}"
    assert not check["silent_layers"]


# ---------------------------------------------------------------- nn.Sequential of supported layers
@torch.no_grad()
def sequential_net(reset: str, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    conv = qnn.QuantConv2d(1, 6, 5, bias=False, weight_bit_width=4)
    bn = nn.BatchNorm2d(6)
    fc = qnn.QuantLinear(6 * 5 * 5, 10, bias=False, weight_bit_width=4)
    net = nn.Sequential(
        OrderedDict(
            conv=conv,
            pool=nn.AvgPool2d(2),
            bn=bn,
            lif1=snn.Leaky(beta=0.9, threshold=1.0, init_hidden=True, reset_mechanism=reset),
            flat=nn.Flatten(),
            fc=fc,
            drop=nn.Dropout(0.2),
            lif2=snn.Leaky(beta=0.8, threshold=1.0, init_hidden=True, reset_mechanism=reset, output=True),
        )
    ).eval()
    pre = F.avg_pool2d(conv(torch.from_numpy(digit_like(64, 99, 14)).float() / 255), 2)
    bn.running_mean.copy_(pre.mean((0, 2, 3)))
    bn.running_var.copy_(pre.var((0, 2, 3)))
    bn.weight.copy_(torch.linspace(-1.5, 2.0, 6))  # one channel with negative gamma
    bn.bias.fill_(0.4)
    fc.weight.mul_(6.0)
    return net


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_sequential_export_matches_float_model(reset):
    net = sequential_net(reset)
    raw = digit_like(16, 1, 14)
    result = export_model(
        net, num_steps=25, input_shape=(1, 14, 14), input_scale=1 / 255, encoding="static", check_inputs=raw
    )
    assert [op.reset for op in result.graph.lif_layers()] == [reset, reset]
    assert not result.warnings, result.warnings
    assert_faithful(result.check)


# ---------------------------------------------------------------- the paper's QSNN
@torch.no_grad()
def spiking_qsnn(config, seed: int = 0, gain: float = 1.5, shift: float = 0.5) -> QSNN:
    """A randomly initialised QSNN whose BatchNorm statistics are set from its own activations so that every
    LIF layer fires (an untrained net with default BN stats leaves lif2 and lif3 silent)."""
    torch.manual_seed(seed)
    model = build_model(config).eval()
    th = float(config.threshold)
    x = torch.from_numpy(digit_like(64, 1000 + seed)).float() / 255
    pre1 = F.avg_pool2d(model.conv1(x), 2)
    for bn, pre in ((model.conv1_bn, pre1), (model.conv2_bn, None)):
        if pre is None:
            _, rec = model(x, 10, record=True)
            pre = F.avg_pool2d(model.conv2(rec["spk1"].flatten(0, 1)), 2)
        bn.running_mean.copy_(pre.mean((0, 2, 3)))
        bn.running_var.copy_(pre.var((0, 2, 3)))
        bn.weight.fill_(gain * th)
        bn.bias.fill_(shift * th)
    _, rec = model(x, 10, record=True)
    cur3 = model.fc1(rec["spk2"].flatten(0, 1).flatten(1))
    model.fc1.weight.mul_(gain * th / float(cur3.std()))
    return model


@pytest.fixture(scope="module")
def qsnn_mnist() -> QSNN:
    return spiking_qsnn(model_config("mnist", 4))


def test_qsnn_mnist_export_matches_float_model(qsnn_mnist):
    result = export_model(qsnn_mnist, num_steps=20, check_inputs=digit_like(16, 2))
    graph = result.graph
    assert [op.name for op in graph.lif_layers()] == ["lif1", "lif2", "lif3"]
    assert graph.input.shape == (1, 28, 28) and graph.input.encoding == "static"
    assert graph.input.scale == pytest.approx(1 / 255)
    assert not result.warnings, result.warnings
    assert_faithful(result.check)


def test_silent_last_layer_is_named_in_warnings_and_check():
    model = spiking_qsnn(dataclasses.replace(model_config("mnist", 4), conv1_channels=4, conv2_channels=8))
    with torch.no_grad():
        model.fc1.weight.zero_()
    result = export_model(model, num_steps=10, check_inputs=digit_like(4, 3))
    assert result.check["silent_layers"] == ["lif3"]
    assert any("lif3" in w and "never spikes" in w for w in result.warnings), result.warnings
    assert not any("lif1" in w or "lif2" in w for w in result.warnings), result.warnings


# ---------------------------------------------------------------- 16-bit membrane state
def _saturating_layers(graph) -> set[str]:
    return {site.split(":")[0] for site in overflow_sites(graph) if "saturate" in site}


def _warned_layers(warnings: list[str]) -> set[str]:
    return {w.split(":")[0] for w in warnings if "saturate" in w}


def test_16_bit_state_warns_where_the_membrane_can_saturate(qsnn_mnist):
    raw = digit_like(8, 4)
    result = export_model(qsnn_mnist, num_steps=20, state_bits=16, check_inputs=raw)
    graph = result.graph
    assert all(op.state_type == IntType(16) for op in graph.lif_layers())
    assert graph.metadata["state_bits"] == 16
    # beta 0.994 leaks too little for a 16-bit membrane to be provably in range: every layer may saturate.
    assert _saturating_layers(graph) == {"lif1", "lif2", "lif3"}
    assert _warned_layers(result.warnings) == _saturating_layers(graph)
    assert all("int16" in w for w in result.warnings if "saturate" in w)
    assert graph.metadata["saturation_sites"] == overflow_sites(graph)
    sim = simulate(graph, raw, 20)  # the simulator accepts it and saturates instead of refusing
    assert all(int(v.sum()) > 0 for v in sim.spike_counts.values())
    assert result.check["prediction_agreement"] >= 0.75


def test_16_bit_state_without_possible_saturation_does_not_warn():
    net = sequential_net("subtract")
    with torch.no_grad():  # a strong leak and small currents: the range analysis proves int16 suffices
        net.lif1.beta.fill_(0.5)
        net.lif2.beta.fill_(0.5)
        net.bn.weight.fill_(0.02)
        net.bn.bias.fill_(0.0)
        net.fc.weight.div_(12.0)
    result = export_model(
        net,
        num_steps=4,
        state_bits=16,
        input_shape=(1, 14, 14),
        input_scale=1 / 255,
        encoding="static",
        check_inputs=digit_like(2, 5, 14),
    )
    assert all(op.state_type == IntType(16) for op in result.graph.lif_layers())
    assert _saturating_layers(result.graph) == set() == _warned_layers(result.warnings)
    assert result.graph.metadata["saturation_sites"] == []


@pytest.mark.parametrize(
    ("beta", "bn_gain", "fc_gain"),
    [
        (0.5, 0.01, 0.1),
        (0.5, 1.0, 1.0),
        (0.9, 0.01, 0.01),
        (0.0, 0.05, 0.5),
        (0.75, 0.002, 4.0),
        (0.97, 0.3, 0.2),
    ],
)
def test_16_bit_saturation_warnings_agree_with_the_range_analysis(beta, bn_gain, fc_gain):
    net = sequential_net("subtract")
    with torch.no_grad():
        net.lif1.beta.fill_(beta)
        net.lif2.beta.fill_(beta)
        net.bn.weight.mul_(bn_gain)
        net.bn.bias.mul_(bn_gain)
        net.fc.weight.mul_(fc_gain)
    result = export_model(
        net,
        num_steps=2,
        state_bits=16,
        input_shape=(1, 14, 14),
        input_scale=1 / 255,
        encoding="static",
        check_inputs=digit_like(1, 8, 14),
    )
    assert _warned_layers(result.warnings) == _saturating_layers(result.graph)


# ---------------------------------------------------------------- decay quantization
@pytest.mark.parametrize(
    ("beta", "expected"),
    [
        (0.5, (1, 1)),
        (0.75, (3, 2)),
        (0.0, (0, 0)),
        (1.0, (1, 0)),
        (0.875, (7, 3)),
        (1.5, (1, 0)),
        (-0.2, (0, 0)),
    ],
)
def test_decay_is_a_pure_shift_where_exact(beta, expected):
    assert quantize_decay(beta, 16) == expected


def test_decay_0994_is_the_nearest_16_bit_fraction():
    m, s = quantize_decay(0.994, 16)
    assert (m, s) == (65143, 16) == (round(0.994 * 2**16), 16)
    assert abs(m / 2**16 - 0.994) <= 2**-17
    # float32 storage of beta in snnTorch rounds to the same fraction
    assert quantize_decay(float(torch.tensor(0.994)), 16) == (65143, 16)


@pytest.mark.parametrize(("beta", "expected"), [(0.5, (1, 1)), (0.75, (3, 2)), (0.0, (0, 0)), (1.0, (1, 0))])
def test_exported_lif_ops_carry_the_quantized_decay(beta, expected):
    net = sequential_net("subtract")
    with torch.no_grad():
        net.lif1.beta.fill_(beta)
    result = export_model(
        net,
        num_steps=3,
        input_shape=(1, 14, 14),
        input_scale=1 / 255,
        encoding="static",
        check_inputs=digit_like(2, 6, 14),
    )
    lif1 = result.graph.lif_layers()[0]
    assert (lif1.decay_multiplier, lif1.decay_shift) == expected
    assert result.graph.metadata["lif_layers"]["lif1"]["beta_quantized"] == beta
    if beta == 1.0:  # no leak: the membrane is unbounded, which the exporter must say
        assert "lif1" in _warned_layers(result.warnings) == _saturating_layers(result.graph)


# ---------------------------------------------------------------- file format
def test_exported_graph_round_trips_through_the_file_format(tmp_path, qsnn_mnist):
    raw = digit_like(4, 7)
    result = export_model(qsnn_mnist, num_steps=10, check_inputs=raw, metadata={"note": "round trip"})
    path = save_graph(result.graph, tmp_path / "m.qsnn")
    loaded = load_graph(path)
    assert loaded.same_as(result.graph)
    assert loaded.metadata["note"] == "round trip"
    a, b = simulate(result.graph, raw, 10), simulate(loaded, raw, 10)
    np.testing.assert_array_equal(a.output_spikes, b.output_spikes)
    np.testing.assert_array_equal(a.counts, result.check["sim"].counts)
