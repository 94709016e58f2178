"""One's own network for ``export --builder`` and ``simulate --builder``, without unpickling a module.

The network's *code* comes from a Python function the user names (``FUNCTION()`` returns an ``nn.Sequential``
of supported layers or a ``QSNN``); its *weights* come from a ``state_dict`` read with
``torch.load(weights_only=True)``, which holds tensors only and never runs code. Importing MODULE runs the
user's own code, exactly as ``python -c "import MODULE"`` would: name only a module you trust.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from torch import nn

from qsnn_deploy.errors import CheckpointError, QsnnError

__all__ = ["build_from_spec", "load_weights"]


def _function(spec: str):
    module_name, sep, function_name = spec.partition(":")
    if not sep or not module_name or not function_name:
        raise QsnnError(f"--builder {spec!r}: expected MODULE:FUNCTION, e.g. mynets:build_net")
    # The console script's sys.path lacks the current folder; look there last, never ahead of installed packages.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise QsnnError(
            f"--builder {spec}: cannot import {module_name} ({exc}); run from its folder or add it to PYTHONPATH"
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise QsnnError(f"--builder {spec}: {module_name} has no function {function_name}")
    return function


def build_from_spec(spec: str) -> nn.Module:
    """Call the user's ``MODULE:FUNCTION`` with no arguments; it must return an ``nn.Module``."""
    function = _function(spec)
    try:
        model = function()
    except Exception as exc:  # the user's code: report it in one line, the message names what went wrong
        raise QsnnError(
            f"--builder {spec}: {spec.partition(':')[2]}() raised {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(model, nn.Module):
        raise QsnnError(f"--builder {spec} returned a {type(model).__name__}, not a torch nn.Module")
    return model


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a weights-only state_dict (or a qsnn-deploy checkpoint's) into ``model``; every key must match."""
    import torch

    from qsnn_deploy.models.checkpoint import FORMAT, check_finite, load_weights_only

    obj = load_weights_only(Path(path), "cpu")
    if isinstance(obj, dict) and obj.get("format") == FORMAT and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not (isinstance(obj, dict) and obj and all(torch.is_tensor(v) for v in obj.values())):
        raise CheckpointError(f"{path} is not a state_dict (a dict of tensors); save model.state_dict()")
    expected = model.state_dict()
    unexpected = [k for k in obj if k not in expected]
    missing = [k for k in expected if k not in obj]
    if unexpected or missing:
        which = (
            f"key {unexpected[0]!r} is not in the built model"
            if unexpected
            else f"key {missing[0]!r} is missing"
        )
        raise CheckpointError(
            f"{path} does not fit the built model: {which} ({len(unexpected)} unexpected, {len(missing)} missing)"
        )
    for key, value in obj.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{path}: key {key!r} has shape {tuple(value.shape)} but the built model expects "
                f"{tuple(expected[key].shape)}"
            )
    check_finite(obj, Path(path))
    model.load_state_dict(obj)
