"""Checkpoints: round trip, and every way a file can be wrong gives a one-line CheckpointError."""

from __future__ import annotations

import pytest
import torch

from qsnn_deploy.errors import CheckpointError
from qsnn_deploy.models import (
    ModelConfig,
    build_model,
    get_preset,
    load_checkpoint,
    load_seed_state_dict,
    model_config,
    save_checkpoint,
)


class _Arbitrary:
    pass


def test_round_trip_keeps_config_weights_and_metrics(tmp_path):
    torch.manual_seed(0)
    config = model_config("dvs")
    model = build_model(config)
    path = save_checkpoint(tmp_path / "m.pt", model, config, get_preset("dvs").train, {"test_accuracy": 0.5})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # no temp file left behind
    loaded, loaded_config, info = load_checkpoint(path)
    assert loaded_config == config and ModelConfig.from_dict(config.to_dict()) == config
    assert info["metrics"] == {"test_accuracy": 0.5} and info["train"]["batch"] == 16
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = torch.rand(2, 5, 2, 32, 32)
    assert torch.equal(loaded(x), model.eval()(x))


def test_float_config_round_trips(tmp_path):
    config = model_config("mnist", None)
    save_checkpoint(tmp_path / "f.pt", build_model(config), config)
    assert load_checkpoint(tmp_path / "f.pt")[1].bits is None


def _message(path, loader=load_checkpoint, *args) -> str:
    with pytest.raises(CheckpointError) as info:
        loader(path, *args)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_arbitrary_pickled_object_is_refused(tmp_path):
    torch.save({"payload": _Arbitrary()}, tmp_path / "evil.pt")
    assert "refusing to unpickle" in _message(tmp_path / "evil.pt")


def test_corrupt_and_missing_files(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a torch file" * 20)
    assert "not a readable torch file" in _message(tmp_path / "junk.pt")
    config = model_config("mnist")
    good = save_checkpoint(tmp_path / "good.pt", build_model(config), config)
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:4000])
    assert "not a readable torch file" in _message(tmp_path / "cut.pt")
    assert "not found" in _message(tmp_path / "nope.pt")


def test_raw_state_dict_is_called_foreign(tmp_path):
    torch.save(build_model(model_config("mnist")).state_dict(), tmp_path / "raw.pt")
    message = _message(tmp_path / "raw.pt")
    assert message.startswith("foreign checkpoint") and "--arch seed-mnist" in message


def test_other_architecture_state_dict_names_the_key_and_shapes(tmp_path):
    config = model_config("mnist")
    dvs_state = build_model(model_config("dvs")).state_dict()
    payload = {
        "format": "qsnn-deploy-checkpoint",
        "version": 1,
        "config": config.to_dict(),
        "state_dict": dvs_state,
    }
    torch.save(payload, tmp_path / "mixed.pt")
    message = _message(tmp_path / "mixed.pt")
    assert "'conv1.weight'" in message and "(16, 2, 5, 5)" in message and "(16, 1, 5, 5)" in message
    torch.save(dvs_state, tmp_path / "dvs_raw.pt")
    assert "'conv1.weight'" in _message(tmp_path / "dvs_raw.pt", load_seed_state_dict, "seed-mnist")


def test_seed_state_dict_loads_and_fills_old_snntorch_buffers(tmp_path):
    torch.manual_seed(0)
    reference = build_model(model_config("mnist"))
    state = reference.state_dict()
    for key in ("lif1.graded_spikes_factor", "lif2.reset_mechanism_val", "lif3.graded_spikes_factor"):
        del state[key]
    torch.save(state, tmp_path / "seed.pt")
    model, config = load_seed_state_dict(tmp_path / "seed.pt", "seed-mnist")
    assert config.arch == "qsnn-mnist" and abs(config.beta - 0.994) < 1e-6
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(model(x, 5), reference.eval()(x, 5))
    assert "unknown seed architecture" in _message(tmp_path / "seed.pt", load_seed_state_dict, "seed-xyz")
