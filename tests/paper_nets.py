"""State_dicts shaped exactly like the ones the paper's reference code (jeshraghian/QSNNs) saves."""

from __future__ import annotations

import torch
from torch import nn

LIF_BUFFERS = ("threshold", "graded_spikes_factor", "reset_mechanism_val", "beta")


def paper_dvs_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Keys and shapes of the paper's DVS ``Net`` (dvs/Net.py with snnTorch 1.0.0), written out by hand rather
    than taken from our model: conv1 (16, 2, 5, 5), conv2 (32, 16, 5, 5), fc1 (11, 800), 0-d ``lif1..3``
    buffers, and ``conv1_bn``/``conv2_bn`` as a BatchNorm2d the recipe defines but never runs (batch_norm=False)
    leaves them."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {"conv1.weight": torch.randn(16, 2, 5, 5, generator=g) * 0.3}
    state.update({f"conv1_bn.{k}": v for k, v in nn.BatchNorm2d(16).state_dict().items()})
    state.update(_lif("lif1"))
    state["conv2.weight"] = torch.randn(32, 16, 5, 5, generator=g) * 0.1
    state.update({f"conv2_bn.{k}": v for k, v in nn.BatchNorm2d(32).state_dict().items()})
    state.update(_lif("lif2"))
    state["fc1.weight"] = torch.randn(11, 800, generator=g) * 0.1
    state.update(_lif("lif3"))
    return state


def _lif(name: str) -> dict[str, torch.Tensor]:
    values = {"threshold": 0.427, "graded_spikes_factor": 1.0, "reset_mechanism_val": 0.0, "beta": 0.614}
    return {f"{name}.{k}": torch.tensor(v) for k, v in values.items()}
