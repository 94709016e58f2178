"""Max pooling through the exporter: ``nn.MaxPool2d`` -> IR ``maxpool2d``, exact over integer accumulators (a min
where the scale from accumulator to float value is negative), and ``check_exportable`` before training."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import brevitas.nn as qnn
import numpy as np
import pytest
import snntorch as snn
import torch
from snntorch import utils
from torch import nn

from qsnn_deploy.errors import UnsupportedLayerError
from qsnn_deploy.export import check_exportable, export_model
from qsnn_deploy.export.float_graph import Affine, FloatGraph, IntConv, MaxPool, apply_stateless
from qsnn_deploy.export.passes import affine_through_pool
from qsnn_deploy.ir.ops import MaxPool2d
from qsnn_deploy.targets.buildable import check_exportable_for

STEPS = 8
SHAPE = (1, 28, 28)
# BatchNorm gains of conv channel c; negative ones turn that channel's float max into an integer min.
GAINS = (1.0, -1.0, 0.5, -2.0, 1.5, 1.0, -0.7, 0.8)


def tutorial_net(batch_norm: str | None = None) -> nn.Sequential:
    """The snnTorch convolutional tutorial's shape, small: conv 5x5 -> max pool 2 -> LIF -> linear -> LIF, with a
    BatchNorm (some gains negative) ``"before"`` or ``"after"`` the pool."""
    torch.manual_seed(1)
    bn = nn.BatchNorm2d(8)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(GAINS))
        bn.bias.uniform_(-0.3, 0.3)
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 1.5)
    pool = [("pool", nn.MaxPool2d(2))]
    layers = [("conv", qnn.QuantConv2d(1, 8, 5, bias=False, weight_bit_width=4))]
    layers += {None: pool, "before": [("bn", bn), *pool], "after": [*pool, ("bn", bn)]}[batch_norm]
    layers += [
        ("lif1", snn.Leaky(beta=0.5, init_hidden=True)),
        ("flat", nn.Flatten()),
        ("fc", qnn.QuantLinear(8 * 12 * 12, 10, bias=False, weight_bit_width=4)),
        ("lif2", snn.Leaky(beta=0.5, init_hidden=True, output=True)),
    ]
    return nn.Sequential(OrderedDict(layers))


def train_briefly(net: nn.Sequential, images: np.ndarray, labels: np.ndarray, iterations: int = 4) -> None:
    """A few steps of rate-count cross-entropy, enough to move the weights away from their initialisation."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.from_numpy(images.astype(np.float32)) / 255
    y = torch.from_numpy(labels.astype(np.int64))
    net.train()
    for _ in range(iterations):
        utils.reset(net)
        counts = sum(net(x)[0] for _ in range(STEPS))
        loss = nn.functional.cross_entropy(counts, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()


def export(net: nn.Module, check_inputs: np.ndarray):
    return export_model(
        net,
        num_steps=STEPS,
        input_shape=SHAPE,
        input_scale=1 / 255,
        encoding="static",
        check_inputs=check_inputs,
    )


def pooled_accumulators(graph, images: np.ndarray) -> np.ndarray:
    """The IR's int64 output of its maxpool2d on ``images`` (conv, then pool, each op's own reference)."""
    x = images.astype(np.int64)
    for op in graph.ops:
        x, _ = op.reference(x)
        if isinstance(op, MaxPool2d):
            return x
    raise AssertionError("no maxpool2d in the graph")


def float_pooled(net: nn.Sequential, images: np.ndarray, upto: str) -> np.ndarray:
    """The float model's activation after module ``upto`` (fake-quantized weights, float64 comparison)."""
    x = torch.from_numpy(images.astype(np.float32)) / 255
    with torch.no_grad():
        for name, module in net.named_children():
            x = module(x)
            if name == upto:
                return x.double().numpy()
    raise AssertionError(upto)


@pytest.fixture(scope="module")
def mnist(data_dir: Path):
    from qsnn_deploy.data import load_dataset

    train = load_dataset("mnist", "train", data_dir=data_dir, limit=64)
    test = load_dataset("mnist", "test", data_dir=data_dir, limit=64)
    return train, test


@pytest.fixture(scope="module")
def trained(mnist):
    """Nets trained for a few iterations on real MNIST, one per BatchNorm placement, trained once per module."""
    train, _ = mnist
    nets: dict = {}

    def get(batch_norm: str | None) -> nn.Sequential:
        if batch_norm not in nets:
            net = tutorial_net(batch_norm)
            assert check_exportable(net, input_shape=SHAPE) == []  # asked before training
            train_briefly(net, train.inputs, train.labels)
            nets[batch_norm] = net
        return nets[batch_norm]

    return get


@pytest.mark.parametrize("batch_norm", [None, "before", "after"])
def test_max_pooled_network_exports_exactly_on_real_mnist(mnist, trained, batch_norm: str | None) -> None:
    _, test = mnist
    net = trained(batch_norm)
    result = export(net, test.inputs)
    (pool,) = [op for op in result.graph.ops if isinstance(op, MaxPool2d)]
    # A BN gain < 0 before the pool makes the float max an integer min; after the pool it only negates the
    # requantize multiplier.
    flipped = batch_norm == "before"
    expected_sign = np.where(net.bn.weight.detach().numpy() < 0, -1, 1) if flipped else np.ones(8)
    assert (expected_sign == -1).any() == flipped
    np.testing.assert_array_equal(pool.sign, expected_sign)

    # The pool is exact: the integer pooled accumulator, mapped onto real values by the per-channel scale (and
    # the BN), is the float model's pooled activation.
    acc = pooled_accumulators(result.graph, test.inputs).astype(np.float64)
    conv = net.conv
    scale = conv.quant_weight().scale.detach().double().numpy().reshape(1, -1, 1, 1) / 255
    if batch_norm:
        bn = net.bn
        gain = (
            (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().double().numpy().reshape(1, -1, 1, 1)
        )
        offset = (bn.bias.detach().double().numpy().reshape(1, -1, 1, 1) - bn.running_mean.double().numpy()
                  .reshape(1, -1, 1, 1) * gain)  # fmt: skip
        real, upto = acc * scale * gain + offset, ("pool" if flipped else "bn")
    else:
        real, upto = acc * scale, "pool"
    reference = float_pooled(net, test.inputs, upto)
    np.testing.assert_allclose(real, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())

    # Whole network, float vs integer on real test images: membranes differ only by rounding.
    check = result.check
    assert check["samples"] == len(test.inputs)
    assert check["prediction_agreement"] >= 15 / 16, check["prediction_agreement"]
    for name, total in check["float_spikes"].items():
        int_total = check["int_spikes"][name]
        assert abs(int_total - total) <= max(2, 0.01 * total), (name, total, int_total)
    assert not check["silent_layers"]


def test_max_pooled_network_runs_bit_exactly_in_onnxruntime(mnist, trained) -> None:
    """The exported trained network (channels pooled by their minimum included) in onnxruntime, every layer of
    every step against the simulator."""
    pytest.importorskip("onnxruntime")
    from qsnn_deploy.targets.verifier import verify

    _, test = mnist
    result = export(trained("before"), test.inputs[:8])
    checked = verify(result.graph, test.inputs[:32], target="onnx")
    assert checked.compared.layer_values > 0
    assert checked.sim.counts.sum() > 0


def test_affine_moves_through_a_max_pool_flipping_negative_channels() -> None:
    rng = np.random.default_rng(0)
    conv = IntConv("conv", rng.integers(-7, 8, (4, 1, 3, 3)), np.ones(4), 4)
    affine = Affine("conv.scale", np.array([0.5, -2.0, 0.0, -0.1]), np.array([0.1, -0.3, 0.7, 0.0]))
    graph = FloatGraph((conv, affine, MaxPool("pool", 2)), (1, 9, 9), 1.0, "static", 1)
    moved, changed = affine_through_pool.apply(graph)
    assert changed
    assert [type(layer) for layer in moved.layers] == [IntConv, MaxPool, Affine]
    np.testing.assert_array_equal(moved.layers[1].sign, [1, -1, 1, -1])
    assert moved.layers[2] is affine  # a max pool takes no offset: max(a x + b) = a max(x) + b
    x = rng.integers(0, 256, (3, 1, 9, 9)).astype(np.float64)
    np.testing.assert_allclose(_chain(moved, x), _chain(graph, x), rtol=1e-12)


def _chain(graph: FloatGraph, x: np.ndarray) -> np.ndarray:
    for layer in graph.layers:
        x = apply_stateless(layer, x)
    return x


def test_float_max_pool_is_a_max_or_a_min_per_channel() -> None:
    x = np.arange(32, dtype=np.float64).reshape(1, 2, 4, 4)
    y = apply_stateless(MaxPool("pool", 2, np.array([1, -1])), x)
    np.testing.assert_array_equal(y[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(y[0, 1], [[16, 18], [24, 26]])


MAXPOOL_REFUSALS = {
    "overlapping": (nn.MaxPool2d(3, stride=1), "stride"),
    "padding": (nn.MaxPool2d(2, padding=1), "padding"),
    "dilation": (nn.MaxPool2d(2, dilation=2), "dilation"),
    "ceil_mode": (nn.MaxPool2d(2, ceil_mode=True), "ceil_mode"),
    "not_square": (nn.MaxPool2d((2, 3)), "square"),
}


@pytest.mark.parametrize("case", sorted(MAXPOOL_REFUSALS))
def test_unsupported_max_pools_are_named_before_training(case: str) -> None:
    module, what = MAXPOOL_REFUSALS[case]
    net = tutorial_net()
    net.pool = module
    problems = check_exportable(net, input_shape=SHAPE)
    assert len(problems) == 1 and "'pool'" in problems[0] and what in problems[0], problems
    with pytest.raises(UnsupportedLayerError, match="'pool'"):
        export(net, np.zeros((1, *SHAPE), np.uint8))


def test_check_exportable_names_every_unsupported_layer() -> None:
    net = tutorial_net()
    net.pool = nn.AdaptiveAvgPool2d(12)
    net.fc = nn.Linear(8 * 12 * 12, 10)
    problems = check_exportable(net, input_shape=SHAPE)
    assert len(problems) == 2, problems
    assert "'pool' (AdaptiveAvgPool2d)" in problems[0] and "AvgPool2d" in problems[0]
    assert "'fc' (Linear)" in problems[1] and "QuantLinear" in problems[1]
    with pytest.raises(UnsupportedLayerError, match=r"2 problem\(s\).*'pool'.*'fc'"):
        check_exportable(net, input_shape=SHAPE, raise_error=True)


def test_check_exportable_names_layers_of_a_model_with_its_own_forward() -> None:
    class Recurrent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(16, 16)
            self.fc = qnn.QuantLinear(16, 4, bias=False, weight_bit_width=4)
            self.lif = snn.Leaky(beta=0.5)

        def forward(self, x):  # pragma: no cover - never run
            return self.lif(self.fc(self.lstm(x)[0]))

    problems = check_exportable(Recurrent())
    assert "Recurrent" in problems[0] and "nn.Sequential" in problems[0]
    assert len(problems) == 2 and "'lstm' (LSTM)" in problems[1], problems  # fc and lif are supported kinds


def test_check_exportable_finds_structural_problems_and_check_exportable_for_target_rules() -> None:
    net = tutorial_net()
    assert check_exportable_for(net, "onnx", input_shape=SHAPE) == []
    (nir,) = check_exportable_for(net, "nir", input_shape=SHAPE)
    assert "op_supported" in nir and "maxpool2d 'pool'" in nir
    # A max pool over spikes (after the LIF) is no layer any target implements.
    after_lif = nn.Sequential(OrderedDict(
        conv=net.conv, lif1=net.lif1, pool=nn.MaxPool2d(2), flat=nn.Flatten(), fc=net.fc, lif2=net.lif2
    ))  # fmt: skip
    (problem,) = check_exportable(after_lif, input_shape=SHAPE)
    assert "'pool' (MaxPool2d) pools the spikes of 'lif1'" in problem
    no_lif_at_end = nn.Sequential(
        OrderedDict(conv=net.conv, pool=net.pool, lif1=net.lif1, flat=net.flat, fc=net.fc)
    )
    (problem,) = check_exportable(no_lif_at_end, input_shape=SHAPE)
    assert "ends with 'fc' (QuantLinear), not a Leaky" in problem


def test_check_exportable_accepts_the_package_qsnn() -> None:
    from qsnn_deploy.models.presets import get_preset
    from qsnn_deploy.models.qsnn import build_model

    assert check_exportable_for(build_model(get_preset("mnist").model), "c") == []


def test_the_nir_target_refuses_max_pooling(tmp_path: Path) -> None:
    """NIR 1.0.8 has no max-pool node: the shared rule refuses it, and the writer never turns it into a sum."""
    pytest.importorskip("nir")
    from qsnn_deploy.errors import DesignRuleError, QsnnError
    from qsnn_deploy.interop.nir_export import write_nir
    from qsnn_deploy.ir.synthetic import random_graph
    from qsnn_deploy.targets import generate

    graph = random_graph("tiny", 3, pool="max")
    with pytest.raises(DesignRuleError, match="op_supported"):
        generate(graph, "nir", tmp_path)
    with pytest.raises(QsnnError, match="no max-pool node"):
        write_nir(graph, tmp_path / "model.nir")
    assert not (tmp_path / "model.nir").exists()
    generate(random_graph("tiny", 3), "nir", tmp_path)  # sum pooling still goes through


def test_package_qsnn_with_max_pooling_trains_and_exports(mnist) -> None:
    """``ModelConfig(pooling="max")``: the network description's pool layers become ``maxpool``, the fast forward
    equals the reference loop, and the export agrees with the float model on real MNIST test images."""
    import dataclasses

    from qsnn_deploy.models.presets import ModelConfig, get_preset
    from qsnn_deploy.models.qsnn import build_model

    train, test = mnist
    base = get_preset("mnist").model
    assert "pooling" not in base.to_dict()  # average-pooled configs are written as before
    config = dataclasses.replace(
        base, pooling="max", conv1_channels=6, conv2_channels=12, batch_norm=False, threshold=1.0, beta=0.5
    )
    assert ModelConfig.from_dict(config.to_dict()) == config
    torch.manual_seed(0)
    model = build_model(config)
    assert check_exportable(model) == []
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.from_numpy(train.inputs.astype(np.float32)) / 255
    for _ in range(6):
        loss = nn.functional.cross_entropy(
            model(x, STEPS).sum(0), torch.from_numpy(train.labels.astype(np.int64))
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        probe = torch.from_numpy(test.inputs[:16].astype(np.float32)) / 255
        assert torch.equal(model(probe, STEPS), model.forward_stepwise(probe, STEPS))
    result = export_model(model, num_steps=STEPS, check_inputs=test.inputs)
    pools = [op for op in result.graph.ops if isinstance(op, MaxPool2d)]
    assert [op.name for op in pools] == ["pool1", "pool2"] and all((op.sign == 1).all() for op in pools)
    check = result.check
    assert check["prediction_agreement"] >= 15 / 16 and not check["silent_layers"], check
    for name, total in check["float_spikes"].items():
        assert abs(check["int_spikes"][name] - total) <= max(2, 0.01 * total), (name, total)


def test_unknown_pooling_is_refused() -> None:
    import dataclasses

    from qsnn_deploy.models.presets import get_preset
    from qsnn_deploy.models.qsnn import build_model

    with pytest.raises(ValueError, match="pooling 'min'"):
        build_model(dataclasses.replace(get_preset("mnist").model, pooling="min"))
