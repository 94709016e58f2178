"""The paper's QSNNs (snnTorch + Brevitas), their presets and checkpoints."""

from qsnn_deploy.models.checkpoint import load_checkpoint, load_seed_state_dict, save_checkpoint
from qsnn_deploy.models.presets import PRESETS, ModelConfig, Preset, TrainPreset, get_preset, model_config
from qsnn_deploy.models.qsnn import QSNN, build_model, predict, to_input

__all__ = [
    "PRESETS",
    "QSNN",
    "ModelConfig",
    "Preset",
    "TrainPreset",
    "build_model",
    "get_preset",
    "load_checkpoint",
    "load_seed_state_dict",
    "model_config",
    "predict",
    "save_checkpoint",
    "to_input",
]
