"""Run a float model on raw dataset samples: output spike counts and spikes per LIF layer.

The float model is a (fake-quantized) torch model, or the exporter's float chain (``FloatGraph``, for instance
an imported NIR graph under NIR's equations). Shared by the exporter's check (:mod:`qsnn_deploy.export.fidelity`)
and ``simulate``'s float comparison (:mod:`qsnn_deploy.commands.simulate`); torch models need torch, snnTorch and
Brevitas. It lives in ``export/`` because it runs the exporter's ``FloatGraph`` too: ``models/`` stays below
the exporter (docs/architecture.md).
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

from qsnn_deploy.models.network import lif_names
from qsnn_deploy.models.qsnn import QSNN
from qsnn_deploy.models.recurrent import hidden_layer_names

__all__ = ["float_outputs", "layer_name"]


def layer_name(name: str) -> str:
    """An IR op name from a module name: targets derive identifiers from it, so keep it one
    (``0`` -> ``layer0``, ``block.conv`` -> ``block_conv``). The exporter names IR ops with it and the float
    run names its spike totals with it, so the two sides of a comparison use the same keys."""
    safe = re.sub(r"\W", "_", name)
    return f"layer{safe}" if not safe or safe[0].isdigit() else safe


@torch.no_grad()
def float_outputs(
    model, raw: np.ndarray, num_steps: int, input_scale: float, batch_size: int = 64
) -> tuple[np.ndarray, dict[str, int]]:
    """Output spike counts (N, K) of the float model and total spikes per LIF layer (name -> int).

    ``model`` is a torch module, or a ``FloatGraph`` (run in float64 by ``run_float``)."""
    if not isinstance(model, nn.Module):
        from qsnn_deploy.export.float_graph import run_float

        totals: dict[str, int] = {}
        counts = [
            run_float(model, raw[i : i + batch_size], num_steps=num_steps, spike_totals=totals)
            for i in range(0, len(raw), batch_size)
        ]
        return np.concatenate(counts).reshape(len(raw), -1).astype(np.int64), totals
    model.eval()
    counts, totals = [], {}
    for start in range(0, len(raw), batch_size):
        x = torch.from_numpy(raw[start : start + batch_size].astype(np.float32)) * float(input_scale)
        if isinstance(model, QSNN):
            out, rec = model(x, num_steps, record=True)
            spikes = {name: rec[f"spk{i}"] for i, name in enumerate(lif_names(model.config), start=1)}
        elif _is_recurrent_qsnn(model):  # (N, T, F, 1, 1) stream frames -> its (N, T, F) rows
            out, rec = model(x.reshape(len(x), x.shape[1], -1), num_steps, record=True)
            spikes = {name: rec[f"spk_{name}"] for _, name in hidden_layer_names(model.config)}
            spikes["lif2"] = rec["spk2"]
        else:
            out, spikes = _run_sequential(model, x, num_steps)
        # (T, N, ...) -> (N, K): an MLP without nn.Flatten on (1, 1, F) inputs keeps the singleton axes.
        counts.append(out.sum(dim=0).reshape(len(x), -1).to(torch.int64).numpy())
        for name, s in spikes.items():
            totals[name] = totals.get(name, 0) + int(s.sum().item())
    return np.concatenate(counts), totals


def _is_recurrent_qsnn(model: nn.Module) -> bool:
    from qsnn_deploy.models.recurrent import RecurrentQSNN

    return isinstance(model, RecurrentQSNN)


def _run_sequential(model: nn.Sequential, x: torch.Tensor, num_steps: int):
    import snntorch as snn

    neurons = (snn.Leaky, snn.Synaptic, snn.RLeaky, snn.RSynaptic)
    leaky = {layer_name(name): m for name, m in model.named_children() if isinstance(m, neurons)}
    for m in leaky.values():
        # An empty membrane (and synaptic current) is re-made as zeros of the input's shape at the first step
        # (snnTorch's Leaky and Synaptic), with or without init_hidden. Only this model's: snntorch.utils.reset
        # zeroes every Leaky in the process.
        m.mem = torch.zeros(0)
        if isinstance(m, (snn.Synaptic, snn.RSynaptic)):
            m.syn = torch.zeros(0)
        if isinstance(m, (snn.RLeaky, snn.RSynaptic)):  # no spikes before the first step
            m.spk = torch.zeros(0)
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
