"""The paper's DVS state_dicts import (their unused BatchNorm keys at initial values), trained ones are refused,
and NaN/Inf anywhere in a checkpoint or a number option is one line naming the tensor or option."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from qsnn_deploy.errors import CheckpointError, QsnnError
from qsnn_deploy.export import export_checkpoint
from qsnn_deploy.models import (
    build_model,
    load_checkpoint,
    load_seed_state_dict,
    model_config,
    save_checkpoint,
)
from tests.paper_nets import LIF_BUFFERS, paper_dvs_state_dict


def test_the_paper_dvs_state_dict_has_the_documented_keys():
    state = paper_dvs_state_dict()
    bn = {f"conv{i}_bn.{b}" for i in (1, 2) for b in nn.BatchNorm2d(4).state_dict()}
    lif = {f"lif{i}.{b}" for i in (1, 2, 3) for b in LIF_BUFFERS}
    assert set(state) == {"conv1.weight", "conv2.weight", "fc1.weight"} | bn | lif
    assert int(state["conv1_bn.num_batches_tracked"]) == 0


def test_unused_batchnorm_keys_at_initial_values_are_accepted(tmp_path):
    state = paper_dvs_state_dict()
    torch.save(state, tmp_path / "dvs.pth")
    model, config = load_seed_state_dict(tmp_path / "dvs.pth", "seed-dvs")
    assert not config.batch_norm and not hasattr(model, "conv1_bn")
    # The model computes the paper's function: the same weights as the file, quantized by Brevitas.
    for key in ("conv1.weight", "conv2.weight", "fc1.weight"):
        assert torch.equal(model.state_dict()[key], state[key]), key
    assert config.beta == pytest.approx(0.614) and config.threshold == pytest.approx(0.427)
    graph = export_checkpoint(tmp_path / "dvs.pth", arch="seed-dvs", num_steps=5).graph
    assert graph.input.shape == (2, 32, 32) and graph.input.encoding == "stream" and graph.num_classes == 11
    assert not any("bn" in op.name for op in graph.ops)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("conv1_bn.num_batches_tracked", torch.tensor(120), "num_batches_tracked 120"),
        ("conv2_bn.running_mean", torch.full((32,), 0.3), "running_mean differs"),
        ("conv1_bn.weight", torch.full((16,), 1.7), "weight differs"),
    ],
)
def test_trained_batchnorm_keys_are_refused_by_name(tmp_path, key, value, fragment):
    state = paper_dvs_state_dict()
    state[key] = value
    torch.save(state, tmp_path / "dvs.pth")
    with pytest.raises(CheckpointError) as info:
        load_seed_state_dict(tmp_path / "dvs.pth", "seed-dvs")
    message = str(info.value)
    assert key.split(".")[0] in message and "was trained" in message and fragment in message
    assert "\n" not in message


def test_batchnorm_keys_of_the_wrong_shape_are_still_named(tmp_path):
    state = paper_dvs_state_dict()
    state["conv1_bn.weight"] = torch.ones(8)  # initial value, wrong shape: not the paper's DVS net
    torch.save(state, tmp_path / "dvs.pth")
    with pytest.raises(CheckpointError, match="conv1_bn.weight"):
        load_seed_state_dict(tmp_path / "dvs.pth", "seed-dvs")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("key", ["fc1.weight", "lif2.beta", "lif1.threshold"])
def test_non_finite_values_in_a_paper_state_dict_name_the_tensor(tmp_path, key, bad):
    state = paper_dvs_state_dict()
    state[key] = state[key].clone()
    state[key].view(-1)[0] = bad
    torch.save(state, tmp_path / "dvs.pth")
    with pytest.raises(CheckpointError) as info:
        load_seed_state_dict(tmp_path / "dvs.pth", "seed-dvs")
    assert f"'{key}'" in str(info.value) and "NaN or Inf" in str(info.value)


@pytest.mark.parametrize("key", ["conv2.weight", "conv1_bn.running_var", "lif3.beta"])
def test_non_finite_values_in_our_checkpoint_name_the_tensor(tmp_path, key):
    config = model_config("mnist")
    model = build_model(config)
    path = save_checkpoint(tmp_path / "model.pt", model, config)
    payload = torch.load(path, weights_only=True)
    payload["state_dict"][key].view(-1)[-1] = math.nan
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"'{key}' holds NaN or Inf"):
        load_checkpoint(path)


@pytest.mark.parametrize("field", ["beta", "threshold"])
def test_non_finite_config_values_are_refused(tmp_path, field):
    config = model_config("mnist")
    path = save_checkpoint(tmp_path / "model.pt", build_model(config), config)
    payload = torch.load(path, weights_only=True)
    payload["config"][field] = math.inf
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"'{field}' must be a finite number"):
        load_checkpoint(path)


@pytest.mark.parametrize("option", ["beta", "threshold"])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_overrides_name_the_option(tmp_path, option, bad):
    torch.save(paper_dvs_state_dict(), tmp_path / "dvs.pth")
    with pytest.raises(QsnnError, match=f"--{option} must be a finite number"):
        load_seed_state_dict(tmp_path / "dvs.pth", "seed-dvs", **{option: bad})


@pytest.mark.parametrize(("layer", "what"), [("conv", "weight"), ("bn", "running_var"), ("lif", "beta")])
def test_non_finite_numbers_in_an_in_memory_model_name_the_layer(layer, what):
    import brevitas.nn as qnn
    import snntorch as snn

    from qsnn_deploy.errors import UnsupportedLayerError
    from qsnn_deploy.export import export_model

    net = nn.Sequential(
        qnn.QuantConv2d(1, 2, 5, bias=False, weight_bit_width=4),
        nn.AvgPool2d(2),
        nn.BatchNorm2d(2),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Flatten(),
        qnn.QuantLinear(2 * 12 * 12, 3, bias=False, weight_bit_width=4),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )
    module = {"conv": net[0], "bn": net[2], "lif": net[3]}[layer]
    with torch.no_grad():
        getattr(module, what).view(-1)[0] = math.nan
    with pytest.raises(UnsupportedLayerError) as info:
        export_model(net, num_steps=3, input_shape=(1, 28, 28), input_scale=1 / 255, encoding="static")
    assert what in str(info.value) and "NaN or Inf" in str(info.value)
