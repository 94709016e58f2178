"""Folding passes: each does its one rewrite without changing the float function, ``fold`` reaches a fixed
point, the drift check catches a pass that changes a scale, and a negative BatchNorm gamma survives into the
integer model as a negative requantize multiplier."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

import brevitas.nn as qnn
import numpy as np
import pytest
import snntorch as snn
import torch
import torch.nn.functional as F
from torch import nn

from qsnn_deploy.export import export_model
from qsnn_deploy.export import passes as passes_pkg
from qsnn_deploy.export.float_graph import (
    Affine,
    AvgPool,
    BatchNorm,
    FloatGraph,
    Identity,
    IntConv,
    IntLinear,
    Leaky,
    SumPool,
    apply_stateless,
    run_float,
)
from qsnn_deploy.export.passes import (
    PASSES,
    PassDriftError,
    affine_through_pool,
    avgpool,
    batchnorm,
    fold,
    identity,
    input_scale,
    merge_affine,
    weight_scale,
)
from qsnn_deploy.ir.ops import Requantize

RNG = np.random.default_rng(7)
CONV_W = RNG.integers(-7, 8, (2, 1, 3, 3))
CONV_SCALE = np.array([0.11, 0.23])
CONV_BIAS = np.array([0.05, -0.02])
FC_W = RNG.integers(-7, 8, (3, 18))
FC_SCALE = np.array([0.3, 0.25, 0.4])


def tiny_graph(**overrides) -> FloatGraph:
    """conv(+bias) -> avgpool -> BN (one negative gamma) -> LIF -> flatten -> linear -> dropout -> LIF."""
    layers = (
        IntConv("conv", CONV_W, CONV_SCALE, 4, bias=CONV_BIAS),
        AvgPool("pool", 2),
        BatchNorm(
            "bn",
            np.array([1.5, -2.0]),
            np.array([0.4, 0.9]),
            np.array([0.3, -0.1]),
            np.array([0.5, 2.0]),
            1e-5,
        ),
        Leaky("lif1", 0.5, 1.0, "subtract"),
        Identity("flat", "Flatten"),
        IntLinear("fc", FC_W, FC_SCALE, 4),
        Identity("drop", "Dropout"),
        Leaky("lif2", 0.75, 1.0, "zero"),
    )
    fields = {"layers": layers, "input_shape": (1, 8, 8), "input_scale": 1 / 255, "encoding": "static"}
    fields["num_steps"] = 6
    fields.update(overrides)
    return FloatGraph(**fields)


PROBE = RNG.integers(0, 256, (5, 1, 8, 8)).astype(np.uint8)


def currents(graph: FloatGraph) -> dict[str, np.ndarray]:
    return run_float(graph, PROBE, record_currents=True)[1]


def assert_same_function(before: FloatGraph, after: FloatGraph) -> None:
    a, b = currents(before), currents(after)
    assert list(a) == list(b)
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_array_equal(run_float(after, PROBE), run_float(before, PROBE))


def kinds(graph: FloatGraph) -> list[str]:
    return [type(layer).__name__ for layer in graph.layers]


def test_probe_spikes_in_both_lif_layers():
    """The function checks below mean something only if the chain is active."""
    counts, cur = run_float(tiny_graph(), PROBE, record_currents=True)
    assert counts.sum() > 0
    assert all(np.abs(c).max() > 1.0 for c in cur.values())


def test_identity_drops_flatten_and_dropout():
    g = tiny_graph()
    out, changed = identity.apply(g)
    assert changed and kinds(out) == ["IntConv", "AvgPool", "BatchNorm", "Leaky", "IntLinear", "Leaky"]
    assert identity.apply(out) == (out, False)
    assert_same_function(g, out)


def test_batchnorm_becomes_affine_with_signed_scale():
    g = tiny_graph()
    out, changed = batchnorm.apply(g)
    assert changed and kinds(out)[2] == "Affine"
    bn, affine = g.layers[2], out.layers[2]
    scale = bn.gamma / np.sqrt(bn.var + bn.eps)
    np.testing.assert_allclose(affine.scale, scale)
    np.testing.assert_allclose(affine.offset, bn.beta - bn.mean * scale)
    assert affine.scale[1] < 0 < affine.scale[0]
    x = RNG.normal(size=(3, 2, 4, 4))
    np.testing.assert_allclose(apply_stateless(affine, x), apply_stateless(bn, x), rtol=1e-12, atol=1e-12)
    assert not batchnorm.apply(out)[1]
    assert_same_function(g, out)


def test_avgpool_becomes_sumpool_and_quarter_affine_per_channel():
    g = tiny_graph()
    out, changed = avgpool.apply(g)
    assert changed and kinds(out)[1:3] == ["SumPool", "Affine"]
    pool, affine = out.layers[1], out.layers[2]
    assert pool.kernel == 2
    np.testing.assert_array_equal(affine.scale, [0.25, 0.25])  # one entry per conv output channel
    np.testing.assert_array_equal(affine.offset, [0.0, 0.0])
    assert not avgpool.apply(out)[1]
    assert_same_function(g, out)


def test_input_scale_moves_into_the_first_weighted_layer_once():
    g = tiny_graph()
    out, changed = input_scale.apply(g)
    assert changed and out.input_scale == 1.0
    np.testing.assert_allclose(out.layers[0].scale, CONV_SCALE / 255)
    np.testing.assert_array_equal(out.layers[5].scale, FC_SCALE)  # only the first weighted layer
    np.testing.assert_array_equal(out.layers[0].bias, CONV_BIAS)  # the bias does not see the input scale
    assert input_scale.apply(out) == (out, False)
    assert_same_function(g, out)


def test_weight_scale_leaves_unit_scale_integer_layers_and_affines():
    g = tiny_graph()
    out, changed = weight_scale.apply(g)
    assert changed
    assert kinds(out)[:2] == ["IntConv", "Affine"] and kinds(out)[6:8] == ["IntLinear", "Affine"]
    for i, scale, bias in ((0, CONV_SCALE, CONV_BIAS), (6, FC_SCALE, np.zeros(3))):
        layer, affine = out.layers[i], out.layers[i + 1]
        np.testing.assert_array_equal(layer.scale, np.ones_like(scale))
        assert layer.bias is None
        np.testing.assert_array_equal(affine.scale, scale)
        np.testing.assert_array_equal(affine.offset, bias)
    assert not weight_scale.apply(out)[1]
    assert_same_function(g, out)


def test_affine_through_pool_scales_the_offset_by_the_window():
    affine = Affine("a", np.array([0.5, -1.0]), np.array([0.1, 0.2]))
    layers = (
        IntConv("conv", CONV_W, np.ones(2), 4),
        affine,
        SumPool("pool", 2),
        Leaky("lif", 0.5, 1.0, "subtract"),
    )
    g = FloatGraph(layers, (1, 8, 8), 1.0, "static", 4)
    out, changed = affine_through_pool.apply(g)
    assert changed and kinds(out) == ["IntConv", "SumPool", "Affine", "Leaky"]
    np.testing.assert_array_equal(out.layers[2].scale, affine.scale)
    np.testing.assert_allclose(out.layers[2].offset, affine.offset * 4)
    assert not affine_through_pool.apply(out)[1]
    probe = RNG.integers(0, 256, (3, 1, 8, 8)).astype(np.uint8)
    a = run_float(g, probe, record_currents=True)[1]["lif"]
    b = run_float(out, probe, record_currents=True)[1]["lif"]
    np.testing.assert_allclose(b, a, rtol=1e-12)


def test_merge_affine_composes_two_affines():
    first = Affine("a", np.array([0.5, -1.0]), np.array([0.1, 0.2]))
    second = Affine("b", np.array([3.0, -0.25]), np.array([-1.0, 0.5]))
    layers = (IntConv("conv", CONV_W, np.ones(2), 4), first, second, Leaky("lif", 0.5, 1.0, "subtract"))
    g = FloatGraph(layers, (1, 8, 8), 1.0, "static", 4)
    out, changed = merge_affine.apply(g)
    assert changed and kinds(out) == ["IntConv", "Affine", "Leaky"]
    x = RNG.normal(size=(4, 2, 3, 3))
    expected = apply_stateless(second, apply_stateless(first, x))
    np.testing.assert_allclose(apply_stateless(out.layers[1], x), expected, rtol=1e-12)
    assert not merge_affine.apply(out)[1]


def test_fold_reaches_a_fixed_point_in_the_integer_friendly_form():
    g = tiny_graph()
    folded, applied = fold(g, PROBE)
    assert kinds(folded) == ["IntConv", "SumPool", "Affine", "Leaky", "IntLinear", "Affine", "Leaky"]
    assert folded.input_scale == 1.0
    for layer in folded.layers:
        if isinstance(layer, (IntConv, IntLinear)):
            assert layer.bias is None and np.all(layer.scale == 1.0)
    assert set(applied) == {m.__name__.rsplit(".", 1)[-1] for m in PASSES}
    for module in PASSES:  # the fixed point: no pass changes anything any more
        assert module.apply(folded) == (folded, False), module.__name__
    assert fold(folded, PROBE) == (folded, [])
    assert_same_function(g, folded)


def test_drift_check_catches_a_pass_that_changes_a_scale(monkeypatch):
    original = weight_scale.apply

    def broken(graph):
        graph, changed = original(graph)
        layers = [
            replace(layer, scale=layer.scale * (1 + 1e-6)) if isinstance(layer, Affine) else layer
            for layer in graph.layers
        ]
        return replace(graph, layers=tuple(layers)), changed

    monkeypatch.setattr(weight_scale, "apply", broken)
    with pytest.raises(PassDriftError, match="weight_scale"):
        fold(tiny_graph(), PROBE)


def test_drift_check_catches_a_pass_that_drops_a_lif_layer(monkeypatch):
    def broken(graph):
        layers = [layer for layer in graph.layers if not (isinstance(layer, Leaky) and layer.name == "lif1")]
        return replace(graph, layers=tuple(layers)), len(layers) != len(graph.layers)

    monkeypatch.setattr(identity, "apply", broken)
    with pytest.raises(PassDriftError, match="identity"):
        fold(tiny_graph(), PROBE)


def test_a_pass_that_always_reports_a_change_is_stopped(monkeypatch):
    monkeypatch.setattr(identity, "apply", lambda graph: (graph, True))
    monkeypatch.setattr(passes_pkg, "MAX_ROUNDS", 5)
    with pytest.raises(PassDriftError, match="fixed point"):
        fold(tiny_graph(), PROBE)


# ---------------------------------------------------------------- negative gamma through the whole exporter
GAMMA = torch.tensor([1.0, -1.0, 2.0, -0.5])


def _bn_net() -> tuple[nn.Sequential, np.ndarray]:
    torch.manual_seed(11)
    conv = qnn.QuantConv2d(1, 4, 3, bias=True, weight_bit_width=4)
    bn = nn.BatchNorm2d(4)
    fc = qnn.QuantLinear(4 * 5 * 5, 3, bias=False, weight_bit_width=4)
    net = nn.Sequential(
        OrderedDict(
            conv=conv,
            pool=nn.AvgPool2d(2),
            bn=bn,
            lif1=snn.Leaky(beta=0.75, threshold=1.0, init_hidden=True),
            flat=nn.Flatten(),
            fc=fc,
            lif2=snn.Leaky(beta=0.5, threshold=1.0, init_hidden=True, output=True),
        )
    ).eval()
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 256, (16, 1, 12, 12)).astype(np.uint8)
    with torch.no_grad():  # normalise with the real statistics so both signs of gamma give spikes
        pre = F.avg_pool2d(conv(torch.from_numpy(raw).float() / 255), 2)
        bn.running_mean.copy_(pre.mean((0, 2, 3)))
        bn.running_var.copy_(pre.var((0, 2, 3)))
        bn.weight.copy_(GAMMA * 2.0)
        bn.bias.fill_(0.5)
        fc.weight.mul_(4.0)
    return net, raw


def test_negative_gamma_gives_negative_multipliers_and_the_integer_model_still_matches():
    net, raw = _bn_net()
    result = export_model(
        net, num_steps=12, input_shape=(1, 12, 12), input_scale=1 / 255, encoding="static", check_inputs=raw
    )
    ops = result.graph.ops
    requant = ops[next(i for i, op in enumerate(ops) if op.name == "lif1") - 1]
    assert isinstance(requant, Requantize)
    np.testing.assert_array_equal(np.sign(requant.multiplier), np.sign(GAMMA.numpy()).astype(np.int64))
    check = result.check
    assert not check["silent_layers"], check["int_spikes"]
    assert np.sum(check["float_predictions"] == check["int_predictions"]) >= 15
    for name, f in check["float_spikes"].items():
        assert f > 0 and abs(check["int_spikes"][name] - f) <= 0.01 * f, (name, f, check["int_spikes"][name])
    # Spikes of every channel, negative-gamma ones included, agree neuron by neuron.
    float_spikes = _float_lif1_spikes(net, raw, 12)
    sim_spikes = _int_lif1_spikes(result.graph, raw, 12)
    for c in range(4):
        assert float_spikes[:, :, c].sum() > 0, f"channel {c} is silent"
        assert np.mean(float_spikes[:, :, c] == sim_spikes[:, :, c]) >= 0.99


@torch.no_grad()
def _float_lif1_spikes(net: nn.Sequential, raw: np.ndarray, steps: int) -> np.ndarray:
    from snntorch import utils

    utils.reset(net)
    x = torch.from_numpy(raw).float() / 255
    cur = net.bn(net.pool(net.conv(x)))
    out = [net.lif1(cur) for _ in range(steps)]
    return torch.stack(out, dim=1).numpy().astype(np.uint8)  # (N, T, C, H, W)


def _int_lif1_spikes(graph, raw: np.ndarray, steps: int) -> np.ndarray:
    from qsnn_deploy.sim import simulate

    return simulate(graph, raw, steps, record=True).layer_spikes["lif1"]
