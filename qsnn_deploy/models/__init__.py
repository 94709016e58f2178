"""The paper's QSNNs (snnTorch + Brevitas), their presets, layout and checkpoints.

Names are imported on first use, so that the torch-free parts (``presets``, ``network``) load on the base
install: ``from qsnn_deploy.models import get_preset`` does not import torch, ``build_model`` does.
"""

from __future__ import annotations

import importlib

_SOURCES = {
    "load_checkpoint": "checkpoint",
    "load_model": "checkpoint",
    "load_seed_state_dict": "checkpoint",
    "save_checkpoint": "checkpoint",
    "PRESETS": "presets",
    "ModelConfig": "presets",
    "Preset": "presets",
    "TrainPreset": "presets",
    "get_preset": "presets",
    "model_config": "presets",
    "QSNN": "qsnn",
    "build_model": "qsnn",
    "predict": "qsnn",
    "to_input": "qsnn",
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_SOURCES[name]}"), name)
    globals()[name] = value
    return value
