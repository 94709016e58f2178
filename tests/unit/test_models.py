"""The QSNN: shapes, the fast forward equal to the reference loop, the fused LIF equal to snnTorch."""

from __future__ import annotations

import dataclasses

import brevitas.nn as qnn
import pytest
import snntorch as snn
import torch
import torch.nn.functional as F
from snntorch import surrogate

from qsnn_deploy.models import PRESETS, ModelConfig, build_model, model_config, predict
from qsnn_deploy.models.lif import leaky_scan
from qsnn_deploy.models.qsnn import flattened_features, quantized_weight


def _input(config: ModelConfig, batch: int, steps: int) -> torch.Tensor:
    h, w = config.input_hw
    if config.in_channels == 1:
        return torch.randint(0, 256, (batch, 1, h, w)).float() / 255.0
    return torch.randint(0, 3, (batch, steps, config.in_channels, h, w)).float()


def _lively(model, scale: float = 3.0):
    """Scale weights and randomise BN so that every layer spikes (a silent net would compare trivially)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(scale)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) * 2.5 + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g))
    return model


# the conv QSNNs; the recurrent smnist preset has its own tests (tests/unit/test_smnist.py)
@pytest.mark.parametrize("name", sorted(n for n, p in PRESETS.items() if p.model.recurrent_hidden is None))
@pytest.mark.parametrize("bits", [4, None])
def test_output_shape_for_every_preset_and_float_variant(name, bits):
    torch.manual_seed(0)
    config = model_config(name, bits)
    model = build_model(config).eval()
    out = model(_input(config, 2, 3), 3)
    assert out.shape == (3, 2, config.num_classes)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert isinstance(model.conv1, qnn.QuantConv2d) == (bits is not None)
    assert model.fc1.in_features == flattened_features(config)


def test_state_dict_keys_match_the_paper_reference():
    keys = set(build_model(model_config("mnist")).state_dict())
    lif = {
        f"lif{i}.{b}"
        for i in (1, 2, 3)
        for b in ("threshold", "graded_spikes_factor", "reset_mechanism_val", "beta")
    }
    bn = {f"conv{i}_bn.{b}" for i in (1, 2) for b in ("weight", "bias", "running_mean", "running_var")}
    bn |= {"conv1_bn.num_batches_tracked", "conv2_bn.num_batches_tracked"}
    assert keys == {"conv1.weight", "conv2.weight", "fc1.weight"} | lif | bn
    assert "conv1_bn.weight" not in build_model(model_config("dvs")).state_dict()


@pytest.mark.parametrize("name", ["mnist", "dvs"])
def test_fast_forward_equals_stepwise_exactly_in_eval_mode(name):
    torch.manual_seed(0)
    config = model_config(name)
    model = _lively(build_model(config)).eval()
    x = _input(config, 4, 25)
    with torch.no_grad():
        ref, ref_rec = model.forward_stepwise(x, 25, record=True)
        out, rec = model(x, 25, record=True)
        plain = model(x, 25)
    assert torch.equal(out, ref) and torch.equal(plain, ref)
    assert set(rec) == set(ref_rec) == {f"{k}{i}" for i in "123" for k in ("cur", "mem", "spk")}
    for key in ref_rec:
        assert rec[key].shape == ref_rec[key].shape, key
        assert torch.equal(rec[key], ref_rec[key]), key
    for i in "123":  # every layer actually spikes, and not always
        assert 0.0 < rec[f"spk{i}"].mean() < 1.0


def test_training_mode_bn_uses_the_same_batch_statistics_as_the_reference():
    """Static input: BN1 sees identical batches at every step, so one call gives the same output; BN2 keeps
    per-step statistics. With dropout 0 and the exact conv path the training forward is bit-identical, the
    running statistics agree, and so do the gradients."""
    torch.manual_seed(0)
    config = dataclasses.replace(model_config("mnist"), dropout=0.0)
    fast, ref = _lively(build_model(config)), _lively(build_model(config))
    ref.load_state_dict(fast.state_dict())
    fast.train().fast_training = False
    ref.train()
    x = _input(config, 6, 12)
    out_fast, out_ref = fast(x, 12), ref.forward_stepwise(x, 12)
    assert torch.equal(out_fast, out_ref)
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(fast.state_dict()[key], value, rtol=1e-5, atol=1e-6, msg=key)
    target = torch.rand_like(out_ref)
    ((out_fast - target) ** 2).sum().backward()
    ((out_ref - target) ** 2).sum().backward()
    # The gradients sum the same terms in another order (the static conv1 once over T steps, fc1 over all T*B
    # rows at once): float32 noise of ~1e-5 of the largest entry, measured; a wrong gradient is off by O(1).
    for (name, p_fast), p_ref in zip(fast.named_parameters(), ref.parameters(), strict=True):
        scale = float(p_ref.grad.abs().max())
        torch.testing.assert_close(p_fast.grad, p_ref.grad, rtol=1e-4, atol=1e-4 * scale, msg=name)


def test_folded_pool_conv_used_in_training_equals_conv_then_pool():
    torch.manual_seed(0)
    model = build_model(model_config("nmnist")).train()  # 15x15 map: floor pooling of an odd size
    x = (torch.rand(8, 16, 15, 15) < 0.3).float()
    w = quantized_weight(model.conv2)
    torch.testing.assert_close(model._conv_pool(x, w), F.avg_pool2d(F.conv2d(x, w), 2), rtol=1e-5, atol=1e-5)


def test_quantized_weights_are_brevitas_values_bit_for_bit():
    torch.manual_seed(0)
    model = build_model(model_config("mnist"))
    for layer in (model.conv1, model.conv2, model.fc1):
        q = layer.quant_weight()
        assert torch.equal(quantized_weight(layer), q.value)
        assert q.int().abs().max() <= 7
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(F.conv2d(x, quantized_weight(model.conv1)), model.conv1(x))
    s = (torch.rand(3, 1024) < 0.3).float()
    assert torch.equal(F.linear(s, quantized_weight(model.fc1)), model.fc1(s))


@pytest.mark.parametrize(("beta", "threshold", "slope"), [(0.994, 2.915, 13.84), (0.614, 0.427, 4.413)])
def test_fused_lif_equals_snntorch_leaky_and_its_gradient(beta, threshold, slope):
    torch.manual_seed(0)
    lif = snn.Leaky(beta=beta, threshold=threshold, spike_grad=surrogate.fast_sigmoid(slope=slope))
    x_ref = (torch.randn(50, 4, 37) * threshold).requires_grad_()
    x_fast = x_ref.detach().clone().requires_grad_()
    mem, spikes, mems = lif.init_leaky(), [], []
    for t in range(50):
        spk, mem = lif(x_ref[t], mem)
        spikes.append(spk)
        mems.append(mem)
    spk_ref, mem_ref = torch.stack(spikes), torch.stack(mems)
    spk_fast, mem_fast = leaky_scan(x_fast, lif)
    assert torch.equal(spk_fast, spk_ref) and torch.equal(mem_fast, mem_ref)
    assert 0.02 < spk_ref.mean() < 0.9
    g_spk, g_mem = torch.randn_like(spk_ref), 0.1 * torch.randn_like(mem_ref)
    ((spk_ref * g_spk).sum() + (mem_ref * g_mem).sum()).backward()
    ((spk_fast * g_spk).sum() + (mem_fast * g_mem).sum()).backward()
    assert (x_fast.grad - x_ref.grad).abs().max() < 1e-6


def test_static_current_scan_equals_the_scan_of_the_repeated_current():
    """``leaky_scan(cur, lif, steps)`` (the static first layer) gives the spikes and membranes of feeding the
    same current at every step, and the gradient of the repeated input summed over the steps."""
    torch.manual_seed(0)
    lif = snn.Leaky(beta=0.994, threshold=2.915, spike_grad=surrogate.fast_sigmoid(slope=13.84))
    cur = (torch.rand(4, 37) * 0.5).requires_grad_()
    repeated = cur.detach().unsqueeze(0).repeat(30, 1, 1).requires_grad_()
    spk_static, mem_static = leaky_scan(cur, lif, 30)
    spk_rep, mem_rep = leaky_scan(repeated, lif)
    assert torch.equal(spk_static, spk_rep) and torch.equal(mem_static, mem_rep)
    assert 0.02 < spk_rep.mean() < 0.9
    g = torch.randn_like(spk_rep)
    (spk_static * g).sum().backward()  # mem unused: its gradient is None, not zeros
    (spk_rep * g).sum().backward()
    torch.testing.assert_close(cur.grad, repeated.grad.sum(0), rtol=1e-5, atol=1e-6)


def test_scan_output_keeps_the_channels_last_layout_of_its_input():
    """Spikes come out in the layout of the input current (what the folded conv2 reads without a copy), with
    the same values as from a contiguous input."""
    torch.manual_seed(0)
    lif = snn.Leaky(beta=0.9, threshold=1.0, spike_grad=surrogate.fast_sigmoid(slope=5.0))
    cur = torch.rand(3, 4, 5, 6) * 0.5
    spk_cl, mem_cl = leaky_scan(cur.contiguous(memory_format=torch.channels_last), lif, 7)
    spk, mem = leaky_scan(cur, lif, 7)
    assert spk_cl.reshape(21, 4, 5, 6).is_contiguous(memory_format=torch.channels_last)
    assert spk.is_contiguous()
    assert torch.equal(spk_cl, spk) and torch.equal(mem_cl, mem)
    assert 0.0 < spk.mean() < 1.0


def test_predict_takes_the_lowest_index_on_ties():
    spikes = torch.zeros(4, 2, 3)
    spikes[:, 0, 1] = 1
    spikes[:, 0, 2] = 1
    assert predict(spikes).tolist() == [1, 0]
