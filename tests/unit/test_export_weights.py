"""Export of weights: the IR's integer weights are Brevitas' ``quant_weight().int()`` bit for bit, for every
supported quantizer variant, and every unsupported layer is refused by name."""

from __future__ import annotations

from collections import OrderedDict

import brevitas.nn as qnn
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from qsnn_deploy.errors import UnsupportedLayerError
from qsnn_deploy.export import export_model
from qsnn_deploy.ir.ops import Conv2d, Linear, Requantize
from qsnn_deploy.ir.types import IntType

INPUT_SHAPE = (1, 8, 8)
INPUT_SCALE = 1 / 255


def _quant_kwargs(bits: int, per_channel: bool, narrow: bool) -> dict:
    return {
        "weight_bit_width": bits,
        "weight_scaling_per_output_channel": per_channel,
        "weight_narrow_range": narrow,
    }


def tiny_net(bits: int = 4, per_channel: bool = False, narrow: bool = True, **leaky) -> nn.Sequential:
    """conv 3x3 (4 channels of very different magnitudes) -> avgpool -> LIF -> flatten -> linear -> LIF."""
    torch.manual_seed(bits * 4 + 2 * per_channel + narrow)
    q = _quant_kwargs(bits, per_channel, narrow)
    conv = qnn.QuantConv2d(1, 4, 3, bias=False, **q)
    fc = qnn.QuantLinear(4 * 3 * 3, 3, bias=False, **q)
    with torch.no_grad():  # distinct per-channel magnitudes make per-channel scales really differ
        conv.weight.mul_(torch.tensor([1.0, 3.0, 0.25, 7.0]).view(4, 1, 1, 1))
        fc.weight.mul_(torch.tensor([0.5, 2.0, 5.0]).view(3, 1))
        for w in (conv.weight, fc.weight):  # the largest magnitude of every channel is negative
            flat = w.view(w.shape[0], -1)
            flat[:, 0] = -1.5 * flat.abs().max(dim=1).values
    return nn.Sequential(
        OrderedDict(
            conv=conv,
            pool=nn.AvgPool2d(2),
            lif1=snn.Leaky(beta=0.5, init_hidden=True, **leaky),
            flat=nn.Flatten(),
            fc=fc,
            lif2=snn.Leaky(beta=0.5, init_hidden=True, output=True),
        )
    )


def export_tiny(net: nn.Module, **kwargs):
    return export_model(
        net,
        num_steps=2,
        input_shape=INPUT_SHAPE,
        input_scale=INPUT_SCALE,
        encoding="static",
        check_inputs=np.full((1, *INPUT_SHAPE), 128, dtype=np.uint8),
        **kwargs,
    )


def _op(graph, name):
    return next(op for op in graph.ops if op.name == name)


def _requant_before(graph, lif_name: str) -> Requantize:
    """The Requantize feeding a LIF op (the IR requires one right before every LIF)."""
    index = next(i for i, op in enumerate(graph.ops) if op.name == lif_name)
    op = graph.ops[index - 1]
    assert isinstance(op, Requantize)
    return op


@pytest.mark.parametrize("narrow", [True, False], ids=["narrow", "full"])
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("bits", range(2, 9))
def test_ir_weights_equal_brevitas_int_weights(bits, per_channel, narrow):
    net = tiny_net(bits, per_channel, narrow)
    graph = export_tiny(net).graph
    for name, kind in (("conv", Conv2d), ("fc", Linear)):
        layer = getattr(net, name)
        q = layer.quant_weight()
        expected = q.int().detach().numpy()
        op = _op(graph, name)
        assert isinstance(op, kind)
        assert op.weight_type == IntType(bits)
        assert op.weight.shape == expected.shape
        np.testing.assert_array_equal(op.weight, expected.astype(np.int8))
        # The quantizer's range is used, and the IR type holds it: [-(2^(b-1)-1), ...] or [-2^(b-1), ...].
        low = -(2 ** (bits - 1)) + (1 if narrow else 0)
        assert low <= int(op.weight.min()) and int(op.weight.max()) <= 2 ** (bits - 1) - 1
        assert op.weight_type.contains(op.weight)
    if not narrow:
        # The full range really is used: the largest negative weights sit on the extra level.
        for name in ("conv", "fc"):
            assert int(_op(graph, name).weight.min()) == -(2 ** (bits - 1))


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_requantize_multipliers_carry_brevitas_scales_per_channel(per_channel):
    """multiplier[c] / 2**shift * membrane_scale == w_scale[c] * input_scale / 4 (the 2x2 average pool)."""
    net = tiny_net(4, per_channel, True)
    result = export_tiny(net)
    requant = _requant_before(result.graph, "lif1")
    s_m = result.graph.metadata["lif_layers"]["lif1"]["membrane_scale"]
    w_scale = net.conv.quant_weight().scale.detach().to(torch.float64).numpy().reshape(-1)
    expected = np.broadcast_to(w_scale, (4,)) * INPUT_SCALE / 4
    got = requant.multiplier.astype(np.float64) / 2.0**requant.shift * s_m
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert (len(set(requant.multiplier.tolist())) == 4) == per_channel


def test_conv_and_linear_bias_become_requantize_bias():
    torch.manual_seed(3)
    conv = qnn.QuantConv2d(1, 2, 3, bias=True, weight_bit_width=4)
    net = nn.Sequential(
        OrderedDict(
            conv=conv,
            lif1=snn.Leaky(beta=0.5, init_hidden=True),
            flat=nn.Flatten(),
            fc=qnn.QuantLinear(2 * 6 * 6, 3, bias=True, weight_bit_width=4),
            lif2=snn.Leaky(beta=0.5, init_hidden=True, output=True),
        )
    )
    with torch.no_grad():
        conv.bias.copy_(torch.tensor([0.75, -0.5]))
    result = export_tiny(net)
    requant = _requant_before(result.graph, "lif1")
    s_m = result.graph.metadata["lif_layers"]["lif1"]["membrane_scale"]
    np.testing.assert_allclose(requant.bias / 2.0**requant.shift * s_m, [0.75, -0.5], rtol=1e-6)
    np.testing.assert_array_equal(_op(result.graph, "conv").weight, conv.quant_weight().int().numpy())


class _Unknown(nn.Module):
    def forward(self, x):
        return x * 2


def _replace(net: nn.Sequential, name: str, module: nn.Module) -> nn.Sequential:
    children = OrderedDict(net.named_children())
    children[name] = module
    return nn.Sequential(children)


UNSUPPORTED = {
    "plain_conv": ("conv", lambda: nn.Conv2d(1, 4, 3, bias=False), "QuantConv2d"),
    "overlapping_maxpool": ("pool", lambda: nn.MaxPool2d(2, stride=1), "stride"),
    "maxpool_ceil_mode": ("pool", lambda: nn.MaxPool2d(2, ceil_mode=True), "ceil_mode"),
    "adaptive_avgpool": ("pool", lambda: nn.AdaptiveAvgPool2d(3), "AvgPool2d"),
    "reset_none": ("lif1", lambda: snn.Leaky(beta=0.5, init_hidden=True, reset_mechanism="none"), "reset"),
    "graded_spikes": (
        "lif1",
        lambda: snn.Leaky(beta=0.5, init_hidden=True, graded_spikes_factor=2.0),
        "graded",
    ),
    "grouped_conv": ("conv", None, None),  # built in the test: needs 4 input channels
    "unknown_module": ("pool", _Unknown, "_Unknown"),
    "nested_sequential": ("pool", lambda: nn.Sequential(nn.AvgPool2d(2)), "Sequential"),
    "dilated_conv": (
        "conv",
        lambda: qnn.QuantConv2d(1, 4, 3, dilation=2, bias=False, weight_bit_width=4),
        None,
    ),
    "float_linear": ("fc", lambda: nn.Linear(36, 3, bias=False), "QuantLinear"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_layers_are_refused_by_name(case):
    name, make, hint = UNSUPPORTED[case]
    net = tiny_net()
    if case == "grouped_conv":
        net = nn.Sequential(
            OrderedDict(
                first=qnn.QuantConv2d(1, 4, 3, bias=False, weight_bit_width=4),
                conv=qnn.QuantConv2d(4, 4, 3, groups=2, bias=False, weight_bit_width=4),
                lif=snn.Leaky(beta=0.5, init_hidden=True, output=True),
            )
        )
    else:
        net = _replace(net, name, make())
    with pytest.raises(UnsupportedLayerError) as info:
        export_tiny(net)
    message = str(info.value)
    assert f"{name!r}" in message, message
    if hint is not None:
        assert hint in message, message


@pytest.mark.parametrize(("encoding", "scale"), [("static", INPUT_SCALE), ("stream", 1.0)])
def test_batchnorm_on_the_raw_input_is_refused_by_name(encoding, scale):
    """Regression: it used to end in PassDriftError (static: input_scale moved the pixel scale across the BN)
    or in a misleading 'two affine layers in a row' error (stream)."""
    bn = nn.BatchNorm2d(1).eval()
    net = nn.Sequential(OrderedDict([("bn_in", bn), *tiny_net().named_children()]))
    with pytest.raises(UnsupportedLayerError, match="'bn_in'"):
        export_model(
            net,
            num_steps=2,
            input_shape=INPUT_SHAPE,
            input_scale=scale,
            encoding=encoding,
            check_inputs=np.zeros((1, 2, *INPUT_SHAPE), np.uint8) if encoding == "stream" else None,
        )


def test_a_model_that_is_neither_qsnn_nor_sequential_is_refused_by_type():
    with pytest.raises(UnsupportedLayerError, match="_Unknown"):
        export_tiny(_Unknown())


def test_sequential_without_input_description_is_refused():
    with pytest.raises(UnsupportedLayerError, match="input_shape"):
        export_model(tiny_net(), num_steps=2)
