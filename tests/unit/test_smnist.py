"""The recurrent preset (issue 25, item 4): the sequential-MNIST data view, the RLeaky network's equations, its
checkpoint, and its loading for export."""

from __future__ import annotations

import dataclasses
import gzip

import brevitas.nn as qnn
import numpy as np
import pytest
import snntorch as snn
import torch

from qsnn_deploy.data import load_dataset
from qsnn_deploy.errors import CheckpointError, DatasetError
from qsnn_deploy.models import build_model, load_checkpoint, load_model, model_config, save_checkpoint
from qsnn_deploy.models.presets import PRESETS, ModelConfig, TrainPreset
from qsnn_deploy.models.qsnn import quantized_weight
from qsnn_deploy.models.recurrent import RecurrentQSNN

# A network small enough to check by hand: 4 steps of 5 features, 6 recurrent neurons, 3 classes.
TINY = dataclasses.replace(
    model_config("smnist"), input_hw=(4, 5), recurrent_hidden=6, num_classes=3, beta=0.9, threshold=0.5
)


# ------------------------------------------------------------------ data view
def _idx_body(path, header: int, count: int) -> np.ndarray:
    """The first ``count`` bytes after an IDX header, read straight from the .gz file."""
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read()[header : header + count], dtype=np.uint8)


@pytest.mark.parametrize("split, prefix", [("train", "train"), ("test", "t10k")])
def test_each_step_is_one_image_row_with_the_idx_bytes(data_dir, split, prefix):
    ds = load_dataset("smnist", split, data_dir=data_dir, limit=3)
    assert ds.inputs.shape == (3, 28, 28) and ds.inputs.dtype == np.uint8  # (N, steps, features)
    assert ds.kind == "sequence" and ds.input_scale == 1 / 255 and ds.num_classes == 10
    pixels = _idx_body(data_dir / "mnist" / f"{prefix}-images-idx3-ubyte.gz", 16, 3 * 28 * 28)
    # step t of image n is row t, top to bottom: bytes n*784 + 28*t ... + 28*t + 27
    for n in range(3):
        for t in (0, 9, 27):
            start = n * 784 + 28 * t
            assert np.array_equal(ds.inputs[n, t], pixels[start : start + 28])
    assert np.array_equal(ds.inputs.reshape(-1), pixels)
    labels = _idx_body(data_dir / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", 8, 3)
    assert ds.labels.tolist() == labels.tolist()
    assert ds.inputs[:, 10:18].max() > 100  # the middle rows of a digit carry ink: not an all-zero view


def test_smnist_refuses_another_number_of_steps(data_dir):
    with pytest.raises(DatasetError, match="smnist has 28 rows, one per step"):
        load_dataset("smnist", "test", data_dir=data_dir, limit=2, num_steps=10)
    assert load_dataset("smnist", "test", data_dir=data_dir, limit=2, num_steps=28).inputs.shape == (
        2,
        28,
        28,
    )


# ------------------------------------------------------------------ the network
def _lively(model: RecurrentQSNN, seed: int = 0) -> RecurrentQSNN:
    """Weights large enough that both layers spike and the recurrence matters on a 4-step example."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (model.fc1, model.lif1.recurrent, model.fc2):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * 0.6)
    return model.eval()


def _hand_written(model: RecurrentQSNN, x: torch.Tensor):
    """The RLeaky / Leaky equations of snnTorch 1.0.0 (subtract reset, reset from the previous membrane), one
    step at a time, on the weights as Brevitas quantizes them."""
    w1, wr, w2 = (quantized_weight(m) for m in (model.fc1, model.lif1.recurrent, model.fc2))
    beta, thr = TINY.beta, TINY.threshold
    batch, steps = x.shape[:2]
    mem1, spk1 = torch.zeros(batch, w1.shape[0]), torch.zeros(batch, w1.shape[0])
    mem2 = torch.zeros(batch, w2.shape[0])
    out, hidden = [], []
    for t in range(steps):
        reset1 = (mem1 > thr).float()
        mem1 = beta * mem1 + x[:, t] @ w1.T + spk1 @ wr.T - reset1 * thr
        spk1 = (mem1 > thr).float()
        reset2 = (mem2 > thr).float()
        mem2 = beta * mem2 + spk1 @ w2.T - reset2 * thr
        out.append((mem2 > thr).float())
        hidden.append(spk1)
    return torch.stack(out), torch.stack(hidden)


def test_the_recurrent_layer_is_an_all_to_all_rleaky_with_a_4bit_quantlinear():
    torch.manual_seed(4)
    model = build_model(TINY)
    assert isinstance(model, RecurrentQSNN)
    assert isinstance(model.lif1, snn.RLeaky) and model.lif1.all_to_all
    for layer in (model.fc1, model.lif1.recurrent, model.fc2):
        assert isinstance(layer, qnn.QuantLinear) and layer.bias is None
    assert model.lif1.recurrent.weight.shape == (6, 6)
    quant = model.lif1.recurrent.quant_weight()
    assert int(quant.bit_width) == 4
    levels = (quant.value / quant.scale).detach()  # integers up to the division's last-bit rounding
    assert torch.allclose(levels, levels.round(), rtol=0, atol=1e-5)
    assert -8 <= levels.min() and levels.max() <= 7 and len(levels.round().unique()) > 4
    assert isinstance(build_model(TINY.with_bits(None)).lif1.recurrent, torch.nn.Linear)


def test_forward_equals_the_hand_written_rleaky_step_loop():
    torch.manual_seed(1)
    model = _lively(build_model(TINY))
    x = torch.rand(3, 4, 5)
    with torch.no_grad():
        out, rec = model(x, record=True)
        stepwise = model.forward_stepwise(x)
    expected, hidden = _hand_written(model, x)
    assert out.shape == (4, 3, 3)
    assert torch.equal(out, expected) and torch.equal(rec["spk1"], hidden)
    assert torch.equal(out, stepwise)  # the fast forward is the reference loop, bit for bit, in eval mode
    assert 0 < hidden.mean() < 1 and 0 < out.mean() < 1  # both layers spike, not always
    # the recurrent weights are in the equation: without them the spikes differ
    with torch.no_grad():
        model.lif1.recurrent.weight.zero_()
        assert not torch.equal(model(x), expected)


def test_training_forward_takes_gradients_into_the_recurrent_weights():
    torch.manual_seed(2)
    model = _lively(build_model(TINY)).train()
    out = model(torch.rand(3, 4, 5))
    out.sum().backward()
    grad = model.lif1.recurrent.weight.grad
    assert grad is not None and bool(grad.abs().sum() > 0)


def test_hidden_dropout_acts_in_training_only_and_adds_no_weights(tmp_path):
    """``config.dropout`` drops hidden spikes before ``rec`` and ``fc2`` in training; eval mode (what export and
    the simulator see) is the network without it, and a fine-tune may change the rate (``--init``)."""
    from qsnn_deploy.commands.train import load_initial_weights

    torch.manual_seed(4)
    plain = _lively(build_model(TINY))
    dropped = build_model(dataclasses.replace(TINY, dropout=0.5))
    assert dropped.state_dict().keys() == plain.state_dict().keys()
    path = save_checkpoint(tmp_path / "m.pt", plain, TINY, PRESETS["smnist"].train, {"test_accuracy": 0.5})
    load_initial_weights(dropped, dataclasses.replace(TINY, dropout=0.5), path)
    x = torch.rand(8, 4, 5)
    with torch.no_grad():
        assert torch.equal(dropped.eval()(x), plain.eval()(x))
        dropped.train()
        plain.train()
        torch.manual_seed(5)
        with_dropout = [dropped(x) for _ in range(3)]
        assert torch.equal(plain(x), plain(x))  # without dropout training is deterministic...
        assert not all(torch.equal(with_dropout[0], o) for o in with_dropout[1:])  # ...with it, it is not
    with pytest.raises(CheckpointError, match="holds a different network: recurrent_hidden"):
        load_initial_weights(
            build_model(dataclasses.replace(TINY, recurrent_hidden=7)),
            dataclasses.replace(TINY, recurrent_hidden=7),
            path,
        )


def test_per_channel_scales_are_the_recurrent_networks_and_round_trip(tmp_path):
    config = dataclasses.replace(TINY, per_channel=True)
    model = build_model(config)
    for layer in (model.fc1, model.lif1.recurrent, model.fc2):
        assert layer.quant_weight().scale.reshape(-1).shape == (layer.out_features,)
    assert build_model(TINY).fc1.quant_weight().scale.numel() == 1
    assert "per_channel" not in TINY.to_dict() and config.to_dict()["per_channel"] is True
    path = save_checkpoint(tmp_path / "m.pt", model, config, PRESETS["smnist"].train, {"test_accuracy": 0.5})
    assert load_checkpoint(path)[1] == config
    with pytest.raises(CheckpointError, match="'per_channel' must be true or false"):
        ModelConfig.from_dict({**config.to_dict(), "per_channel": "yes"})
    with pytest.raises(ValueError, match="recurrent network only"):
        build_model(dataclasses.replace(model_config("mnist"), per_channel=True))


def _hand_written_stack(model: RecurrentQSNN, x: torch.Tensor) -> torch.Tensor:
    """The RLeaky equations of each hidden layer in turn within a step, then the Leaky output layer."""
    beta, thr = TINY.beta, TINY.threshold
    layers = [(quantized_weight(fc), quantized_weight(lif.recurrent)) for fc, lif in model.hidden_layers()]
    w2 = quantized_weight(model.fc2)
    batch, steps = x.shape[:2]
    mems = [torch.zeros(batch, w.shape[0]) for w, _ in layers]
    spks = [torch.zeros(batch, w.shape[0]) for w, _ in layers]
    mem2, out = torch.zeros(batch, w2.shape[0]), []
    for t in range(steps):
        inp = x[:, t]
        for k, (w, wr) in enumerate(layers):
            reset = (mems[k] > thr).float()
            mems[k] = beta * mems[k] + inp @ w.T + spks[k] @ wr.T - reset * thr
            spks[k] = (mems[k] > thr).float()
            inp = spks[k]
        reset2 = (mem2 > thr).float()
        mem2 = beta * mem2 + inp @ w2.T - reset2 * thr
        out.append((mem2 > thr).float())
    return torch.stack(out)


def test_stacked_hidden_layers_follow_the_equations_layer_after_layer(tmp_path):
    config = dataclasses.replace(TINY, recurrent_layers=2)
    torch.manual_seed(6)
    model = build_model(config)
    assert [name for name, _ in model.named_children()][:6] == ["fc1", "lif1", "fch2", "lifh2", "fc2", "lif2"]
    assert isinstance(model.lifh2, snn.RLeaky) and model.fch2.weight.shape == (6, 6)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in (model.fc1, model.lif1.recurrent, model.fch2, model.lifh2.recurrent, model.fc2):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * 0.8)
    model.eval()
    x = torch.rand(5, 4, 5)
    with torch.no_grad():
        out, rec = model(x, record=True)
        expected = _hand_written_stack(model, x)
        assert torch.equal(out, expected) and torch.equal(model.forward_stepwise(x), out)
        assert 0 < rec["spk1"].mean() < 1 and 0 < out.mean() < 1
        model.lifh2.recurrent.weight.zero_()  # the second layer's recurrence is in the equation
        assert not torch.equal(model(x), expected)
    assert "recurrent_layers" not in TINY.to_dict() and config.to_dict()["recurrent_layers"] == 2
    path = save_checkpoint(tmp_path / "m.pt", model, config, PRESETS["smnist"].train, {"test_accuracy": 0.5})
    assert load_checkpoint(path)[1] == config
    with pytest.raises(ValueError, match="recurrent network only"):
        build_model(dataclasses.replace(model_config("mnist"), recurrent_layers=2))


@pytest.mark.parametrize("bad", [0, 9, 1.0, "2", True])
def test_a_damaged_stack_depth_is_one_checkpoint_error(bad):
    with pytest.raises(CheckpointError, match="'recurrent_layers' must be an integer 1 to 8"):
        ModelConfig.from_dict(TINY.to_dict() | {"recurrent_layers": bad})


def test_stack_onto_copies_the_shallow_network_and_adds_pass_through_layers():
    from qsnn_deploy.models.recurrent import stack_onto

    shallow = _lively(build_model(TINY), seed=2)
    deep = build_model(dataclasses.replace(TINY, recurrent_layers=3))
    stack_onto(deep, shallow)
    for name, value in shallow.state_dict().items():
        assert torch.equal(deep.state_dict()[name], value)
    for k in (2, 3):
        fc, rec = getattr(deep, f"fch{k}").weight, getattr(deep, f"lifh{k}").recurrent.weight
        assert torch.equal(fc, torch.eye(6) * 1.05 * TINY.threshold)  # one spike in: just over threshold
        assert quantized_weight(getattr(deep, f"fch{k}")).diagonal().min() > TINY.threshold
        assert 0 < rec.abs().max() <= 0.01 * TINY.threshold
    with pytest.raises(ValueError, match="one hidden layer"):
        stack_onto(deep, deep)
    with pytest.raises(ValueError, match="same widths"):
        stack_onto(build_model(dataclasses.replace(TINY, recurrent_layers=2, recurrent_hidden=7)), shallow)


def test_learned_neurons_train_beta_and_threshold_per_layer_and_start_from_fixed_ones(tmp_path):
    """``config.learn_neurons``: each hidden RLeaky's beta and threshold are parameters (one value each, as the
    IR's LIF carries them) that training moves; ``--init`` may start them from a checkpoint with fixed ones."""
    from qsnn_deploy.commands.train import load_initial_weights

    config = dataclasses.replace(TINY, learn_neurons=True, recurrent_layers=2)
    fixed = _lively(build_model(dataclasses.replace(config, learn_neurons=False)), seed=3)
    path = save_checkpoint(tmp_path / "m.pt", fixed, fixed.config, PRESETS["smnist"].train, {})
    model = build_model(config)
    load_initial_weights(model, config, path)
    x = torch.rand(8, 4, 5)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), fixed.eval()(x))  # the same network until training moves it
    for lif in (model.lif1, model.lifh2):
        assert isinstance(lif.beta, torch.nn.Parameter) and lif.beta.numel() == 1
        assert isinstance(lif.threshold, torch.nn.Parameter) and lif.threshold.numel() == 1
    assert not model.lif2.beta.requires_grad  # the output layer's stay fixed
    model.train()(x).sum().backward()
    assert float(model.lif1.beta.grad.abs()) > 0 and float(model.lif1.threshold.grad.abs()) > 0
    assert "learn_neurons" not in TINY.to_dict() and config.to_dict()["learn_neurons"] is True
    saved = save_checkpoint(tmp_path / "l.pt", model, config, PRESETS["smnist"].train, {})
    assert load_checkpoint(saved)[1] == config
    with pytest.raises(CheckpointError, match="'learn_neurons' must be true or false"):
        ModelConfig.from_dict({**config.to_dict(), "learn_neurons": 1})
    with pytest.raises(ValueError, match="recurrent network only"):
        build_model(dataclasses.replace(model_config("mnist"), learn_neurons=True))


def test_forward_refuses_images_and_too_many_steps():
    model = build_model(TINY)
    with pytest.raises(ValueError, match=r"expected input \(B, T, 5\)"):
        model(torch.rand(2, 1, 4, 5))
    with pytest.raises(ValueError, match="num_steps=5 but the sequence has 4 steps"):
        model(torch.rand(2, 4, 5), 5)


# ------------------------------------------------------------------ checkpoint and config
def test_checkpoint_round_trips_and_loads_weights_only(tmp_path):
    model = _lively(build_model(TINY), seed=3)
    recipe = PRESETS["smnist"].train
    path = save_checkpoint(tmp_path / "model.pt", model, TINY, recipe, {"test_accuracy": 0.5, "num_steps": 4})
    raw = torch.load(path, weights_only=True)
    assert raw["config"]["recurrent_hidden"] == 6 and raw["train"]["loss"] == "ce_count"
    assert "lif1.recurrent.weight" in raw["state_dict"]
    loaded, config, info = load_checkpoint(path)
    assert isinstance(loaded, RecurrentQSNN) and config == TINY and info["train"]["loss"] == "ce_count"
    x = torch.rand(2, 4, 5)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_the_conv_presets_write_no_recurrent_or_loss_field():
    """Configs and recipes of the feed-forward presets are what they were (checkpoints, IR fingerprints)."""
    for name in ("mnist", "fmnist", "dvs", "nmnist"):
        assert "recurrent_hidden" not in PRESETS[name].model.to_dict()
        assert "loss" not in PRESETS[name].train.to_dict()
    assert ModelConfig.from_dict(PRESETS["mnist"].model.to_dict()).recurrent_hidden is None
    assert TrainPreset(lr=1e-3, batch=1, num_steps=1, t_max=1, epochs=1, patience=0).loss == "mse_count"


@pytest.mark.parametrize("bad", [0, 1.5, "128", True])
def test_a_damaged_recurrent_width_is_one_checkpoint_error(bad):
    data = TINY.to_dict() | {"recurrent_hidden": bad}
    with pytest.raises(CheckpointError, match="recurrent_hidden"):
        ModelConfig.from_dict(data)


# ------------------------------------------------------------------ export takes it (the IR's recurrent op)
def test_load_model_gives_export_the_recurrent_model(tmp_path):
    path = save_checkpoint(tmp_path / "model.pt", build_model(TINY), TINY, None, {"num_steps": 4})
    model, config, steps = load_model(path, bits=4)
    assert isinstance(model.lif1, snn.RLeaky) and config.recurrent_hidden == TINY.recurrent_hidden
    assert steps == 4
