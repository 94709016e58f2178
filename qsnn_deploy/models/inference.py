"""Run a float (fake-quantized) torch model on raw dataset samples: output spike counts and spikes per LIF layer.

Shared by the exporter's check (:mod:`qsnn_deploy.export.fidelity`) and ``simulate``'s float comparison
(:mod:`qsnn_deploy.sim.report`); it needs torch, snnTorch and Brevitas.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from qsnn_deploy.models.network import lif_names
from qsnn_deploy.models.qsnn import QSNN


@torch.no_grad()
def float_outputs(
    model: nn.Module, raw: np.ndarray, num_steps: int, input_scale: float, batch_size: int = 64
) -> tuple[np.ndarray, dict[str, int]]:
    """Output spike counts (N, K) of the float model and total spikes per LIF layer (name -> int)."""
    model.eval()
    counts, totals = [], {}
    for start in range(0, len(raw), batch_size):
        x = torch.from_numpy(raw[start : start + batch_size].astype(np.float32)) * float(input_scale)
        if isinstance(model, QSNN):
            out, rec = model(x, num_steps, record=True)
            spikes = {name: rec[f"spk{i}"] for i, name in enumerate(lif_names(model.config), start=1)}
        else:
            out, spikes = _run_sequential(model, x, num_steps)
        counts.append(out.sum(dim=0).to(torch.int64).numpy())
        for name, s in spikes.items():
            totals[name] = totals.get(name, 0) + int(s.sum().item())
    return np.concatenate(counts), totals


def _run_sequential(model: nn.Sequential, x: torch.Tensor, num_steps: int):
    import snntorch as snn
    from snntorch import utils

    utils.reset(model)
    leaky = {name: m for name, m in model.named_children() if isinstance(m, snn.Leaky)}
    outs, spikes = [], {name: [] for name in leaky}
    hooks = [m.register_forward_hook(_collector(spikes[name])) for name, m in leaky.items()]
    try:
        for t in range(num_steps):
            out = model(x if x.dim() == 4 else x[:, t])
            outs.append(out[0] if isinstance(out, tuple) else out)
    finally:
        for hook in hooks:
            hook.remove()
    return torch.stack(outs), {k: torch.stack(v) for k, v in spikes.items()}


def _collector(store: list):
    def hook(_module, _inp, output):
        store.append(output[0] if isinstance(output, tuple) else output)

    return hook
