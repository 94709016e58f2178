"""Checkpoints: our own versioned format, and the paper's raw ``state_dict``s.

Format (``torch.save`` of a dict made of plain Python types and tensors only, read with
``torch.load(weights_only=True)`` -- never a full unpickle)::

    {"format": "qsnn-deploy-checkpoint", "version": 1,
     "config": ModelConfig.to_dict(), "train": TrainPreset.to_dict() | None,
     "state_dict": model.state_dict(), "metrics": {name: float}}

Every failure is a one-line :class:`~qsnn_deploy.errors.CheckpointError` that says what to do next.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from qsnn_deploy.atomic import write_atomic
from qsnn_deploy.errors import CheckpointError, QsnnError
from qsnn_deploy.models import network
from qsnn_deploy.models.presets import SEED_ARCHS, ModelConfig, TrainPreset, model_config
from qsnn_deploy.models.qsnn import QSNN, build_model

FORMAT = "qsnn-deploy-checkpoint"
VERSION = 1
_LIF_BUFFERS = ("threshold", "graded_spikes_factor", "reset_mechanism_val", "beta")
# A freshly constructed nn.BatchNorm2d: what the paper's code saves for a BatchNorm it defines but never runs.
_BN_INITIAL = {"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0, "num_batches_tracked": 0}


def save_checkpoint(
    path: str | os.PathLike,
    model: QSNN,
    config: ModelConfig,
    train_preset: TrainPreset | None = None,
    metrics: dict[str, Any] | None = None,
    init_from: str | os.PathLike | None = None,
) -> Path:
    """Write ``model`` atomically (temp file in the same folder, then ``os.replace``). ``init_from``: the
    checkpoint the training started from (``train --init``), kept as provenance."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_dict(),
        "train": train_preset.to_dict() if train_preset is not None else None,
        "state_dict": state,
        "metrics": {str(k): float(v) for k, v in (metrics or {}).items()},
    }
    if init_from is not None:
        payload["init_from"] = str(init_from)
    return write_atomic(Path(path), lambda f: torch.save(payload, f))


def _is_plain_pickle(path: Path) -> bool:
    """A pickle stream starts with PROTO (0x80) and a protocol number; torch.save files are zip archives."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def load_weights_only(path: Path, map_location) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain Python values only, never arbitrary objects;
    every failure is one CheckpointError line."""
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} not found; pass the model.pt written by 'qsnn-deploy train'"
        )
    try:
        with warnings.catch_warnings():
            # torch warns about plain pickles before refusing them; the error below says it in one line.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        message = str(exc)
        # weights_only names the forbidden class ("Unsupported global"); a plain pickle (not torch.save) fails
        # on an opcode torch's safe loader does not implement; garbage fails on some other opcode.
        if "Unsupported operand" in message and _is_plain_pickle(path):
            raise CheckpointError(
                f"refusing to unpickle {path}: it is a plain Python pickle, not a torch.save file of tensors; "
                "save a state_dict or a qsnn-deploy checkpoint instead"
            ) from None
        if "Unsupported global" in message or "can still be loaded" in message:
            raise CheckpointError(
                f"refusing to unpickle {path}: it holds arbitrary Python objects, not only tensors; "
                "save a state_dict or a qsnn-deploy checkpoint instead"
            ) from None
        raise CheckpointError(
            f"{path} is not a readable torch file (corrupt or truncated?); re-save it"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path} is not a readable torch file (corrupt or truncated?): {first[:120]}; re-save it"
        ) from None


def check_finite(state: dict, path: Path) -> None:
    """Every tensor of a state_dict holds finite numbers; else a CheckpointError naming the first that does not."""
    for key, value in state.items():
        if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(
                f"{path}: tensor {key!r} holds NaN or Inf ({bad} of {value.numel()} values); the model diverged "
                "in training or the file is damaged"
            )


def check_running_var(state: dict, path: Path) -> None:
    """A BatchNorm's running variance is never negative (its square root scales the layer)."""
    for key, value in state.items():
        if key.endswith("running_var") and torch.is_tensor(value) and bool((value < 0).any()):
            raise CheckpointError(
                f"{path}: tensor {key!r} holds a negative variance ({float(value.min()):g}); the file is damaged"
            )


def finite_option(name: str, value: float | None) -> None:
    """A command-line number that is NaN or infinite is a one-line error naming the option."""
    if value is not None and not math.isfinite(value):
        raise QsnnError(f"--{name} must be a finite number, got {value}")


def _check_state_dict(model: QSNN, state: dict, arch: str, path: Path) -> None:
    expected = model.state_dict()
    for key, value in state.items():
        if key not in expected:
            raise CheckpointError(
                f"{path}: key {key!r} does not belong to architecture {arch}; wrong --arch or dataset?"
            )
        if not torch.is_tensor(value):
            raise CheckpointError(f"{path}: key {key!r} is not a tensor")
        if value.is_complex():  # a cast to the model's float type would drop the imaginary part silently
            raise CheckpointError(f"{path}: tensor {key!r} holds complex numbers; a model's tensors are real")
        if tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{path}: key {key!r} has shape {tuple(value.shape)} but architecture {arch} expects "
                f"{tuple(expected[key].shape)}; wrong --arch or dataset?"
            )
    missing = [k for k in expected if k not in state]
    if missing:
        raise CheckpointError(
            f"{path}: key {missing[0]!r} missing for architecture {arch} ({len(missing)} missing)"
        )


def _drop_unused_batchnorm(state: dict, config: ModelConfig, path: Path) -> dict:
    """The paper's networks define their BatchNorms even where ``batch_norm`` is off (its DVS recipe), so their
    state_dicts carry ``conv1_bn.*``/``conv2_bn.*`` that the forward never uses. Drop them when they are at a
    fresh BatchNorm's values; a BatchNorm that was trained means the network ran with ``batch_norm`` on, which
    is not this architecture: refuse it rather than silently export another function."""
    if config.batch_norm:
        return state
    for layer in network.layers(dataclasses.replace(config, batch_norm=True)):
        if layer.kind != "batchnorm":
            continue
        prefix = f"{layer.name}."
        for key in [k for k in state if k.startswith(prefix)]:
            field = key[len(prefix) :]
            value = state[key]
            initial = _BN_INITIAL.get(field)
            if initial is None or not torch.is_tensor(value):
                continue  # an unknown buffer: left for _check_state_dict to name
            shape = () if field == "num_batches_tracked" else (layer.out_size,)
            if tuple(value.shape) != shape:
                raise CheckpointError(
                    f"{path}: key {key!r} has shape {tuple(value.shape)} but the paper's {layer.name} has "
                    f"{shape}; wrong --arch or dataset?"
                )
            if value.numel() and not bool(torch.all(value == initial)):
                what = (
                    f"num_batches_tracked {int(value)}"
                    if field == "num_batches_tracked"
                    else f"{field} differs from a fresh BatchNorm's {initial}"
                )
                raise CheckpointError(
                    f"{path}: {layer.name} was trained ({what}), but architecture {config.arch} runs without "
                    "BatchNorm (the paper's DVS recipe, batch_norm=False); a network trained with BatchNorm on "
                    "is not supported for this architecture"
                )
            del state[key]
    return state


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(torch.is_tensor(v) for v in obj.values())


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> tuple[QSNN, ModelConfig, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`. Returns ``(model (eval mode), config, info)``
    with ``info = {"metrics": {...}, "train": {...} | None, "version": int}``."""
    path = Path(path)
    obj = load_weights_only(path, map_location)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        kind = "a raw state_dict" if _is_state_dict(obj) else f"a {type(obj).__name__}"
        raise CheckpointError(
            f"foreign checkpoint: {path} is {kind}, not a qsnn-deploy checkpoint; "
            f"use --arch {'|'.join(SEED_ARCHS)} for the paper's state_dicts"
        )
    version = obj.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {version!r}; this qsnn-deploy reads up to {VERSION}"
        )
    if not isinstance(obj.get("config"), dict) or not isinstance(obj.get("state_dict"), dict):
        raise CheckpointError(f"{path} lacks 'config' or 'state_dict'; the checkpoint is incomplete")
    try:
        config = ModelConfig.from_dict(obj["config"])
        model = build_model(config)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} has an invalid model config: {exc}") from None
    _check_state_dict(model, obj["state_dict"], config.arch, path)
    check_finite(obj["state_dict"], path)
    check_running_var(obj["state_dict"], path)
    for part in ("metrics", "train"):
        if obj.get(part) is not None and not isinstance(obj[part], dict):
            raise CheckpointError(
                f"{path}: {part!r} is a {type(obj[part]).__name__}, not a dict; the file is damaged"
            )
    model.load_state_dict(obj["state_dict"])
    model.eval()
    info = {"metrics": dict(obj.get("metrics") or {}), "train": obj.get("train"), "version": version}
    if isinstance(obj.get("init_from"), str):
        info["init_from"] = obj["init_from"]
    return model, config, info


def load_seed_state_dict(
    path: str | os.PathLike,
    arch: str,
    bits: int | None = 4,
    beta: float | None = None,
    threshold: float | None = None,
) -> tuple[QSNN, ModelConfig]:
    """Load a raw ``state_dict`` saved by the paper's code (``arch``: seed-mnist|seed-fmnist|seed-dvs).

    ``lif*`` buffers missing in files from older snnTorch are filled from the preset. The returned config's
    beta/threshold are the ones in the file (all LIF layers must agree), unless overridden here.
    """
    path = Path(path)
    if arch not in SEED_ARCHS:
        raise CheckpointError(f"unknown seed architecture {arch!r}; choose one of {', '.join(SEED_ARCHS)}")
    obj = load_weights_only(path, "cpu")
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        raise CheckpointError(f"{path} is a qsnn-deploy checkpoint, not a raw state_dict; use --arch auto")
    if not _is_state_dict(obj):
        raise CheckpointError(f"{path} is not a state_dict (a dict of tensors); save model.state_dict()")
    finite_option("beta", beta)
    finite_option("threshold", threshold)
    config = model_config(SEED_ARCHS[arch], bits)
    model = build_model(config)
    state = _drop_unused_batchnorm(dict(obj), config, path)
    own = model.state_dict()
    for key, value in own.items():
        if key.startswith("lif") and key.split(".", 1)[1] in _LIF_BUFFERS and key not in state:
            state[key] = value.clone()
    _check_state_dict(model, state, arch, path)
    check_finite(state, path)
    check_running_var(state, path)
    model.load_state_dict(state)
    lifs = network.lif_names(config)
    for name, override in (("beta", beta), ("threshold", threshold)):
        values = {round(float(state[f"{lif}.{name}"]), 9) for lif in lifs}
        if override is not None:
            for lif in lifs:
                getattr(getattr(model, lif), name).fill_(override)
            config = dataclasses.replace(config, **{name: float(override)})
        elif len(values) == 1:
            config = dataclasses.replace(config, **{name: float(state[f"{lifs[0]}.{name}"])})
        else:
            raise CheckpointError(
                f"{path}: the LIF layers disagree on {name} ({sorted(values)}); pass --{name}"
            )
    model.config = config
    model.eval()
    return model, config


def load_model(
    path: str | os.PathLike,
    *,
    bits: int,
    arch: str = "auto",
    beta: float | None = None,
    threshold: float | None = None,
) -> tuple[QSNN, ModelConfig, int | None]:
    """(model (eval mode), config, trained steps or None) from a qsnn-deploy checkpoint (``arch="auto"``) or a
    paper state_dict (``arch="seed-*"``), in one read of the file. A qsnn-deploy checkpoint records the time
    steps it was trained with; a paper state_dict does not."""
    path = Path(path)
    if arch != "auto":
        model, config = load_seed_state_dict(path, arch, bits=bits, beta=beta, threshold=threshold)
        return model, config, None
    if beta is not None or threshold is not None:
        raise CheckpointError(
            "--beta/--threshold override the presets of --arch seed-*; a qsnn-deploy checkpoint carries its own"
        )
    model, config, info = load_checkpoint(path)
    if config.bits is None:
        raise CheckpointError(f"{path} holds a float model; the integer IR needs a model trained with --bits")
    if config.bits != bits:
        raise CheckpointError(f"{path} was trained with {config.bits}-bit weights; pass --bits {config.bits}")
    steps = (info.get("metrics") or {}).get("num_steps") or (info.get("train") or {}).get("num_steps")
    from qsnn_deploy.ir.limits import MAX_NUM_STEPS

    # checked here, when it is read: a run of that many steps is what export does next
    valid = isinstance(steps, (int, float)) and not isinstance(steps, bool) and math.isfinite(steps)
    if steps is not None and not (valid and steps == int(steps) and 1 <= steps <= MAX_NUM_STEPS):
        raise CheckpointError(
            f"{path} records an invalid number of time steps {steps!r} (a whole number from 1 to "
            f"{MAX_NUM_STEPS}); the file is damaged"
        )
    return model, config, int(steps) if steps else None
