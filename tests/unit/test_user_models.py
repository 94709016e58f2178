"""User models: ``check_exportable(model) == []`` implies that ``export_model`` succeeds and the result simulates;
otherwise the checker's first line names a layer and what to do, and export refuses with that same line.

The family is generated: ``nn.Sequential`` MLPs and CNNs (Brevitas QuantLinear/QuantConv2d, average and max
pools, BatchNorm, pools on spikes), with and without ``nn.Flatten``, with every snnTorch ``Leaky`` built with
``init_hidden=True`` or one of them without it (or with ``output=True`` in the middle), designed for one input
shape and exported with another (1x1x784, 1x28x28, 2x34x34). It includes the two tracebacks measured in issue 22:
a tutorial MLP without Flatten exported with input shape (1, 1, 784) (export/fidelity.py: "operands could not be
broadcast together with shapes (8,1,10) (8,)") and a Leaky without init_hidden inside an nn.Sequential
(export/inference.py: "linear(): argument 'input' must be Tensor, not tuple")."""

from __future__ import annotations

import itertools
import random
import re

import brevitas.nn as qnn
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from qsnn_deploy.errors import QsnnError, UnsupportedLayerError
from qsnn_deploy.export import check_exportable, export_model
from qsnn_deploy.export.api import fit_inputs, probe_inputs
from qsnn_deploy.export.float_graph import FloatGraph, IntLinear, Leaky
from qsnn_deploy.export.inference import float_outputs, layer_name
from qsnn_deploy.sim import simulate

SHAPES = [(1, 1, 784), (1, 28, 28), (2, 34, 34)]
BODIES = ["mlp", "conv", "conv_avgpool", "conv_maxpool", "conv_bn", "pool_after_leaky"]
HIDDEN = ["all", "middle_without", "last_without", "middle_output"]
# Words that say what to do; every refusal line carries one.
ADVICE = ("put ", "use ", "check ", "move ", "construct ", "set ", "normalise", "pick ", "pass ")


def _leaky(hidden: str, last: bool) -> snn.Leaky:
    if hidden == ("last_without" if last else "middle_without"):
        return snn.Leaky(beta=0.9, threshold=0.5)
    output = last or hidden == "middle_output"
    return snn.Leaky(beta=0.9, threshold=0.5, init_hidden=True, output=output)


def build(body: str, shape: tuple[int, int, int], flatten: bool, hidden: str) -> nn.Sequential:
    """A small network designed for input ``shape``; weights scaled so that every layer spikes on probes."""
    torch.manual_seed(0)
    c, h, w = shape
    layers: list[nn.Module] = []
    if body == "mlp":
        layers += [nn.Flatten()] if flatten else []
        layers += [qnn.QuantLinear(c * h * w if flatten else w, 16, bias=False, weight_bit_width=4)]
        layers += [_leaky(hidden, False), qnn.QuantLinear(16, 10, bias=False, weight_bit_width=4)]
    else:
        layers.append(qnn.QuantConv2d(c, 2, 3, padding=1, bias=False, weight_bit_width=4))
        k = 2 if body in ("conv_avgpool", "conv_maxpool", "pool_after_leaky") and h >= 2 else 1
        pool = {"conv_avgpool": nn.AvgPool2d(k), "conv_maxpool": nn.MaxPool2d(k)}.get(body)
        layers += [pool] if pool is not None else []
        layers += [nn.BatchNorm2d(2)] if body == "conv_bn" else []
        layers.append(_leaky(hidden, False))
        layers += [nn.AvgPool2d(k)] if body == "pool_after_leaky" else []
        layers += [nn.Flatten()] if flatten else []
        features = 2 * (h // k) * (w // k) if flatten else w // k
        layers.append(qnn.QuantLinear(features, 10, bias=False, weight_bit_width=4))
    net = nn.Sequential(*layers, _leaky(hidden, True))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.mul_(8.0)
    return net


def _family() -> list[tuple]:
    """Every body with and without Flatten (its design shape cycling through SHAPES), every Leaky variant on
    an MLP and a CNN, and a seeded sample of exports with another input shape than the one designed for."""
    plain = [
        (body, SHAPES[i % 3], SHAPES[i % 3], flatten, "all")
        for i, (body, flatten) in enumerate(itertools.product(BODIES, (True, False)))
    ]
    leaky = [
        (body, (1, 28, 28), (1, 28, 28), True, hidden)
        for body, hidden in itertools.product(("mlp", "conv_avgpool"), HIDDEN[1:])
    ]
    other = [
        (body, design, given, flatten, "all")
        for body, design, given, flatten in itertools.product(BODIES, SHAPES, SHAPES, (True, False))
        if design != given
    ]
    return plain + leaky + random.Random(22).sample(other, 4)


def _export(net: nn.Module, shape: tuple[int, int, int], encoding: str):
    scale = 1 / 255 if encoding == "static" else 1.0
    return export_model(net, num_steps=2, input_shape=shape, input_scale=scale, encoding=encoding)


def assert_check_predicts_export(net: nn.Sequential, shape: tuple[int, int, int]) -> str | None:
    """The property; returns the refusal line (None when the model exported)."""
    encoding = "stream" if shape[0] == 2 else "static"
    problems = check_exportable(net, input_shape=shape, encoding=encoding)
    if not problems:
        result = _export(net, shape, encoding)
        probes = probe_inputs(shape, encoding, 2, n=8, seed=1)
        sim = simulate(result.graph, probes, 2)
        f_counts, _ = float_outputs(net, probes, 2, result.graph.input.scale)
        assert f_counts.shape == sim.counts.shape == (8, 10)
        assert np.mean(np.argmax(f_counts, axis=1) == sim.predictions) >= 7 / 8
        return None
    with pytest.raises(QsnnError) as refused:
        _export(net, shape, encoding)
    line = problems[0]
    assert str(refused.value) == line, (line, str(refused.value))
    assert "\n" not in line and "Traceback" not in line
    names = {layer_name(n) for n, _ in net.named_children()}
    quoted = set(re.findall(r"'([A-Za-z_]\w*)'", line))
    assert quoted & names, f"names no layer: {line}"
    assert any(word in line for word in ADVICE), f"says nothing to do: {line}"
    return line


FAMILY = _family()


@pytest.mark.parametrize(("body", "design", "given", "flatten", "hidden"), FAMILY)
def test_check_exportable_predicts_export(body, design, given, flatten, hidden):
    assert_check_predicts_export(build(body, design, flatten, hidden), given)


def test_tutorial_mlp_without_flatten_on_a_flat_input_exports():
    """Crash (a): the float run's (N, 1, 1, 10) counts met the simulator's (N,) predictions."""
    net = build("mlp", (1, 1, 784), flatten=False, hidden="all")
    assert check_exportable(net, input_shape=(1, 1, 784)) == []
    result = _export(net, (1, 1, 784), "static")
    assert result.check["float_counts"].shape == (8, 10)
    assert result.check["prediction_agreement"] == 1.0
    assert set(result.check["float_spikes"]) == set(result.check["int_spikes"]) == {"layer1", "layer3"}
    # MNIST-shaped frames feed it in C, H, W order
    frames = probe_inputs((1, 28, 28), "static", 2, n=3)
    assert np.array_equal(fit_inputs(frames, (1, 1, 784), "static", "x"), frames.reshape(3, 1, 1, 784))


def test_the_same_mlp_on_an_image_input_asks_for_flatten():
    net = build("mlp", (1, 1, 784), flatten=False, hidden="all")
    line = assert_check_predicts_export(net, (1, 28, 28))
    assert line is not None and "'layer0' (QuantLinear)" in line and "put nn.Flatten() before it" in line


def test_leaky_without_init_hidden_inside_a_sequential_is_one_line():
    """Crash (b): the tuple (spk, mem) reached the next layer in the float run."""
    net = build("mlp", (1, 28, 28), flatten=True, hidden="middle_without")
    line = assert_check_predicts_export(net, (1, 28, 28))
    assert line == (
        "layer 'layer2' (Leaky): without init_hidden=True it returns (spk, mem), which layer 'layer3' cannot "
        "take; construct it as snn.Leaky(..., init_hidden=True)"
    )
    # also without an input shape: the checker needs none to see it
    assert check_exportable(net) == [line]


L = lambda: snn.Leaky(beta=0.9, threshold=0.5, init_hidden=True)  # noqa: E731
QL = lambda i, o: qnn.QuantLinear(i, o, bias=False, weight_bit_width=4)  # noqa: E731
QC = lambda: qnn.QuantConv2d(1, 4, 3, padding=1, bias=False, weight_bit_width=4)  # noqa: E731


@pytest.mark.parametrize(
    ("layers", "fragment"),
    [
        (lambda: [L(), nn.Flatten(), QL(784, 10), L()], "'layer0' (Leaky) is the first layer"),
        (lambda: [nn.Flatten(), QL(784, 16), L(), QL(16, 10)], "ends with 'layer3' (QuantLinear), not a Leaky"),
        (lambda: [nn.Flatten(), QL(784, 16), QL(16, 10), L()], "follows 'layer1' without a Leaky"),
        (lambda: [QC(), L(), nn.BatchNorm2d(4), nn.Flatten(), QL(3136, 10), L()], "normalises the spikes"),
        (lambda: [QC(), L(), nn.MaxPool2d(2), nn.Flatten(), QL(784, 10), L()], "pools the spikes of 'layer1'"),
        (lambda: [nn.AvgPool2d(2), QC(), L(), nn.Flatten(), QL(784, 10), L()], "pools the raw input"),
        (lambda: [QC(), nn.AvgPool2d(2), nn.AvgPool2d(2), L(), nn.Flatten(), QL(196, 10), L()], "second pool"),
        (lambda: [nn.Flatten(), QL(784, 16), nn.AvgPool2d(2), L(), QL(16, 10), L()], "follows the Linear"),
        (lambda: [nn.Flatten(2), QL(784, 10), L()], "use nn.Flatten()"),
        (lambda: [nn.Flatten(), QL(784, 16), L(), nn.Flatten(), QC(), L()], "flat input after 'layer0'"),
        (lambda: [nn.Flatten(), QL(700, 10), L()], "takes 700 features but gets 784"),
        (lambda: [qnn.QuantConv2d(3, 4, 3, weight_bit_width=4), L(), nn.Flatten(), QL(2704, 10), L()],
         "takes 3 input channel(s)"),
        (lambda: [nn.Flatten(), nn.Linear(784, 10), L()], "use brevitas.nn.QuantLinear"),
        (lambda: [QC(), nn.BatchNorm1d(4), L(), nn.Flatten(), QL(3136, 10), L()], "(4, 28, 28) per sample but needs a flat one"),
    ],
)  # fmt: skip
def test_what_export_cannot_take_is_one_line_naming_the_layer(layers, fragment):
    net = nn.Sequential(*layers())
    line = assert_check_predicts_export(net, (1, 28, 28))
    assert line is not None and fragment in line, line


def test_leaky_with_output_true_in_the_middle():
    net = build("conv", (1, 28, 28), flatten=True, hidden="middle_output")
    line = assert_check_predicts_export(net, (1, 28, 28))
    assert line is not None and "output=True returns (spk, mem)" in line and "only on the last layer" in line


def test_check_inputs_of_another_layout_are_one_line():
    net = build("mlp", (1, 28, 28), flatten=True, hidden="all")
    stream = np.zeros((2, 3, 2, 34, 34), np.uint8)
    with pytest.raises(QsnnError, match=r"5-axis samples, the model takes static inputs"):
        export_model(net, num_steps=2, input_shape=(1, 28, 28), input_scale=1 / 255, encoding="static",
                     check_inputs=stream)  # fmt: skip
    with pytest.raises(QsnnError, match=r"frames of shape \(1, 12, 12\), the model takes \(1, 28, 28\)"):
        export_model(net, num_steps=2, input_shape=(1, 28, 28), input_scale=1 / 255, encoding="static",
                     check_inputs=np.zeros((2, 1, 12, 12), np.uint8), check_on="tiny")  # fmt: skip


def test_silent_layers_on_random_probes_are_flagged_as_possibly_false():
    """Weights that inhibit on bright borders: silent on uniform noise, which says nothing about real data."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), QL(784, 8), L(), QL(8, 10), L())
    with torch.no_grad():
        net[1].weight.fill_(-0.05)
        net[3].weight.fill_(0.5)
    result = export_model(net, num_steps=2, input_shape=(1, 28, 28), input_scale=1 / 255, encoding="static")
    assert result.random_check and result.check_on == "8 random probe inputs"
    assert result.warnings[-2:] == [
        f"{name}: never spikes on the 8 random probe inputs (may be false: check on real samples with --dataset "
        "NAME (in Python: check_inputs=))"
        for name in ("layer2", "layer4")
    ]
    given = export_model(net, num_steps=2, input_shape=(1, 28, 28), input_scale=1 / 255, encoding="static",
                         check_inputs=np.zeros((3, 1, 28, 28), np.uint8), check_on="3 blank frames")  # fmt: skip
    assert not given.random_check
    assert "layer2: never spikes on the 3 blank frames" in given.warnings


def test_float_outputs_runs_a_float_graph_with_spike_totals():
    """simulate's float side for imported graphs: the exporter's float chain, spikes counted per Leaky."""
    weight = np.eye(4, dtype=np.int64)[:, :4]
    fg = FloatGraph(
        (IntLinear("fc", weight, np.ones(4), 4), Leaky("lif", 0.5, 0.9, "zero")),
        (1, 1, 4), 1.0, "static", 3,
    )  # fmt: skip
    raw = np.array([[[[0, 1, 2, 0]]], [[[1, 1, 0, 0]]]], np.uint8)
    counts, totals = float_outputs(fg, raw, 3, 1.0, batch_size=1)
    # constant current c, threshold 0.9, reset to zero: c = 1 spikes at steps 1..3 (3), c = 2 likewise (3)
    assert counts.tolist() == [[0, 3, 3, 0], [3, 3, 0, 0]]
    assert totals == {"lif": 12}


def test_unsupported_module_inside_a_sequential_is_refused_by_export_with_the_same_line():
    net = nn.Sequential(nn.Flatten(), QL(784, 16), nn.GRU(16, 16), L())
    problems = check_exportable(net, input_shape=(1, 28, 28))
    with pytest.raises(UnsupportedLayerError) as refused:
        _export(net, (1, 28, 28), "static")
    assert str(refused.value) == problems[0] and "'layer2' (GRU)" in problems[0]


def test_check_exportable_leaves_the_model_as_it_was():
    """The trace runs the model in eval mode on a zero input; training mode and membranes are restored."""
    net = build("mlp", (1, 28, 28), flatten=True, hidden="all").train()
    net(torch.rand(3, 1, 28, 28))
    before = net[2].mem.clone()
    assert before.abs().sum() > 0
    assert check_exportable(net, input_shape=(1, 28, 28)) == []
    assert net.training and torch.equal(net[2].mem, before)
