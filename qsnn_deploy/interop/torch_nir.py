"""A class-based torch + snnTorch network -> NIR graph: our writer for the networks people train themselves.

snnTorch 1.0.0's ``export_to_nir`` fails NIR 1.0.8's type check even for Linear-Leaky-Linear-Leaky (and needs
nirtorch); this writer does not trace: it takes the network's layers in the order its ``forward`` uses them,
by default the order the modules were registered in ``__init__`` (``model.named_children()``), which is the
order of every class-based snnTorch tutorial network. Pass ``modules=[(name, module), ...]`` when it differs.

Taken: ``nn.Linear`` and ``nn.Conv2d`` (Brevitas' QuantLinear/QuantConv2d too: their dequantized weights),
``nn.AvgPool2d``, ``nn.Flatten``, ``nn.Dropout``/``nn.Identity`` (dropped: identity at inference) and
``snn.Leaky`` (``LIF`` with snnTorch's own mapping, dt = 1e-4; the reset mechanism rides in the node's metadata
as ``reset``, which NIR's LIF cannot express) and ``snn.Synaptic`` with the subtract reset (``CubaLIF`` as
snnTorch's ``export_to_nir`` writes it: ``tau_syn = dt/(1 - alpha)``, ``w_in = tau_syn/dt``), and their
recurrent forms ``snn.RLeaky`` and ``snn.RSynaptic`` (``all_to_all=True``, a square Linear recurrent layer, the
subtract reset): the neuron node as above plus its recurrent layer as an ``Affine`` (``Linear`` without bias)
named ``<neuron>_w_rec``, in a loop ``<neuron> -> <neuron>_w_rec -> <neuron>``: the layout of the NIR paper's
Braille network, which ``import`` reads as the IR's recurrent op (docs/targets/nir.md). The loop adds
``W_rec s[t-1] + b`` to the neuron's input, as snnTorch does: into the membrane of an RLeaky, into the synaptic
current of an RSynaptic (NIR's gain on both inputs is 1 with this mapping). Shapes come from running each
stateless module once on zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qsnn_deploy.errors import UnsupportedLayerError
from qsnn_deploy.interop.conventions import DEFAULT_DT, PRODUCER, tau_of_beta


def _array(t) -> np.ndarray:
    return t.detach().cpu().to(dtype=__import__("torch").float32).numpy()


def _weight(module) -> np.ndarray:
    if hasattr(module, "quant_weight"):  # Brevitas: the weights the float model actually uses
        return _array(module.quant_weight().value)
    return _array(module.weight)


def _leaky(nir, name: str, module, shape: tuple[int, ...]):
    import torch

    beta, threshold = torch.as_tensor(module.beta), torch.as_tensor(module.threshold)
    if beta.numel() != 1 or threshold.numel() != 1:
        raise UnsupportedLayerError(f"{name!r}: per-neuron beta or threshold is not supported")
    if module.reset_mechanism not in ("subtract", "zero"):
        raise UnsupportedLayerError(f"{name!r}: reset_mechanism {module.reset_mechanism!r}")
    b = min(max(float(beta), 0.0), 1.0)  # snnTorch clamps beta to [0, 1]
    meta = {"reset": module.reset_mechanism, "reset_delay": int(bool(getattr(module, "reset_delay", True)))}
    full = lambda v: np.full(shape, v, dtype=np.float32)  # noqa: E731
    if b >= 1.0:
        return nir.IF(
            r=full(1.0 / DEFAULT_DT), v_threshold=full(float(threshold)), v_reset=full(0.0), metadata=meta
        )
    tau = tau_of_beta(b)
    return nir.LIF(tau=full(tau), r=full(tau / DEFAULT_DT), v_leak=full(0.0), v_threshold=full(float(threshold)),
                   v_reset=full(0.0), metadata=meta)  # fmt: skip


def _synaptic(nir, name: str, module, shape: tuple[int, ...]):
    """snnTorch's ``Synaptic`` as NIR's ``CubaLIF``, the way its own ``export_to_nir`` writes it (gain 1 on both
    equations: ``w_in = tau_syn/dt``, ``r = tau_mem/dt``); the subtract reset only (its zero reset also drops
    the step's current, which NIR's and the IR's do not: docs/export.md)."""
    import torch

    values = {k: torch.as_tensor(getattr(module, k)) for k in ("alpha", "beta", "threshold")}
    if any(v.numel() != 1 for v in values.values()):
        raise UnsupportedLayerError(f"{name!r}: per-neuron alpha, beta or threshold is not supported")
    if module.reset_mechanism != "subtract":
        raise UnsupportedLayerError(
            f"{name!r} (Synaptic): reset_mechanism {module.reset_mechanism!r}; only 'subtract' has a NIR and IR form"
        )
    a, b = (min(max(float(values[k]), 0.0), 1.0) for k in ("alpha", "beta"))  # snnTorch clamps both
    if a >= 1.0:
        raise UnsupportedLayerError(
            f"{name!r}: alpha 1 (a current that never decays) has no NIR CubaLIF form"
        )
    full = lambda v: np.full(shape, v, dtype=np.float32)  # noqa: E731
    tau_syn = DEFAULT_DT / (1.0 - a)
    tau_mem = tau_of_beta(b) if b < 1.0 else np.inf
    meta = {"reset": "subtract", "reset_delay": int(bool(getattr(module, "reset_delay", True)))}
    return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(tau_mem / DEFAULT_DT),
                       v_leak=full(0.0), v_threshold=full(float(values["threshold"])), v_reset=full(0.0),
                       w_in=full(tau_syn / DEFAULT_DT), metadata=meta)  # fmt: skip


def _recurrent_layer(nir, name: str, module):
    """The all-to-all recurrent layer of an ``RLeaky``/``RSynaptic`` as a NIR ``Affine`` (``Linear`` without
    bias); the same refusals as the exporter's (export/handlers.py), naming the layer."""
    from torch import nn

    kind = type(module).__name__
    if module.reset_mechanism != "subtract":
        raise UnsupportedLayerError(
            f"{name!r} ({kind}): reset_mechanism {module.reset_mechanism!r}; only 'subtract' has a NIR and IR "
            "form (snnTorch's zero reset drops the reset step's input)"
        )
    if not getattr(module, "all_to_all", False):
        raise UnsupportedLayerError(
            f"{name!r} ({kind}): all_to_all=False (one-to-one recurrence through V) has no NIR form here; use "
            "all_to_all=True with linear_features"
        )
    rec = getattr(module, "recurrent", None)
    if not isinstance(rec, nn.Linear) or rec.in_features != rec.out_features:
        raise UnsupportedLayerError(
            f"{name!r} ({kind}): the recurrent layer must be a square Linear (linear_features=N), got "
            f"{type(rec).__name__}"
        )
    if rec.bias is None:
        return nir.Linear(weight=_weight(rec))
    return nir.Affine(weight=_weight(rec), bias=_array(rec.bias))


def torch_to_nir(
    model,
    input_shape: Sequence[int],
    *,
    num_steps: int,
    encoding: str = "static",
    input_scale: float = 1.0 / 255.0,
    modules: Sequence[tuple[str, object]] | None = None,
):
    """The NIR graph of ``model`` (see the module docstring). ``input_shape`` excludes the batch; the graph's
    metadata records ``num_steps``, ``encoding``, ``input_scale`` (the real value of one uint8 input unit)
    and ``dt`` for the importer."""
    import nir
    import snntorch as snn
    import torch
    from torch import nn

    chain = list(modules) if modules is not None else list(model.named_children())
    x = torch.zeros(1, *input_shape)
    nodes: dict[str, object] = {"input": nir.Input(input_type={"input": np.array(input_shape)})}
    loops: dict[str, object] = {}  # a recurrent neuron's weights, on edges to and from it, outside the chain
    problems = []
    with torch.no_grad():
        for name, m in chain:
            name = name.replace(".", "_")
            shape = tuple(x.shape[1:])
            if isinstance(m, (nn.Dropout, nn.Identity)):
                continue
            if isinstance(m, (snn.Leaky, snn.Synaptic)):  # RLeaky and RSynaptic are neither
                write = _leaky if isinstance(m, snn.Leaky) else _synaptic
                try:
                    nodes[name] = write(nir, name, m, shape)
                except UnsupportedLayerError as exc:
                    problems.append(str(exc))
                continue
            if isinstance(m, (snn.RLeaky, snn.RSynaptic)):
                write = _leaky if isinstance(m, snn.RLeaky) else _synaptic
                try:
                    loops[f"{name}_w_rec"] = _recurrent_layer(nir, name, m)
                    nodes[name] = write(nir, name, m, shape)
                except UnsupportedLayerError as exc:
                    problems.append(str(exc))
                continue
            if isinstance(m, nn.Linear):
                bias = _array(m.bias) if m.bias is not None else np.zeros(m.out_features, np.float32)
                nodes[name] = nir.Affine(weight=_weight(m), bias=bias)
            elif isinstance(m, nn.Conv2d):
                bias = _array(m.bias) if m.bias is not None else np.zeros(m.out_channels, np.float32)
                nodes[name] = nir.Conv2d(input_shape=shape[1:], weight=_weight(m), stride=tuple(m.stride),
                                         padding=tuple(m.padding), dilation=tuple(m.dilation), groups=m.groups,
                                         bias=bias)  # fmt: skip
            elif isinstance(m, nn.AvgPool2d):
                k = np.broadcast_to(np.asarray(m.kernel_size), 2).copy()
                s = np.broadcast_to(np.asarray(m.stride if m.stride is not None else m.kernel_size), 2).copy()
                p = np.broadcast_to(np.asarray(m.padding), 2).copy()
                nodes[name] = nir.AvgPool2d(kernel_size=k, stride=s, padding=p)
            elif isinstance(m, nn.Flatten):
                nodes[name] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
            else:
                problems.append(f"{name!r} ({type(m).__name__}): not supported by the NIR writer")
                continue
            x = m(x)
    if problems:
        raise UnsupportedLayerError("cannot write NIR: " + "; ".join(problems))
    nodes["output"] = nir.Output(output_type={"output": np.array(x.shape[1:])})
    names = list(nodes)
    edges = list(zip(names[:-1], names[1:]))
    for rec in loops:
        neuron = rec.removesuffix("_w_rec")
        edges += [(neuron, rec), (rec, neuron)]
    metadata = {"producer": PRODUCER, "units": "real", "dt": DEFAULT_DT, "num_steps": int(num_steps),
                "encoding": encoding, "input_scale": float(input_scale)}  # fmt: skip
    return nir.NIRGraph(nodes={**nodes, **loops}, edges=edges, metadata=metadata)


def write_torch_nir(path: Path | str, model, input_shape: Sequence[int], **kwargs) -> Path:
    """``torch_to_nir`` written to ``path`` (HDF5), atomically."""
    import io

    import nir

    from qsnn_deploy.atomic import write_bytes_atomic

    buffer = io.BytesIO()
    nir.write(buffer, torch_to_nir(model, input_shape, **kwargs))
    return write_bytes_atomic(Path(path), buffer.getvalue())


__all__ = ["torch_to_nir", "write_torch_nir"]
