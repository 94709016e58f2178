"""Torch modules -> float layers: one handler per supported module kind.

Anything else raises ``UnsupportedLayerError`` naming the layer, its type and what to use instead."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from qsnn_deploy.errors import UnsupportedLayerError
from qsnn_deploy.export.float_graph import AvgPool, BatchNorm, Identity, IntConv, IntLinear, Leaky, MaxPool


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy()


def _finite(name: str, what: str, value) -> None:
    """NaN or Inf in a layer's numbers is a one-line error naming the tensor, before any arithmetic sees it."""
    if not bool(torch.isfinite(torch.as_tensor(value, dtype=torch.float64)).all()):
        raise UnsupportedLayerError(f"layer {name!r}: {what} holds NaN or Inf")


def _quantized(name: str, module: nn.Module, out_channels: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer weights, per-output-channel scale and bit width, exactly as Brevitas computes them."""
    _finite(name, "weight", module.weight.detach())
    if getattr(module, "bias", None) is not None:
        _finite(name, "bias", module.bias.detach())
    try:
        q = module.quant_weight()
    except Exception as exc:  # brevitas raises assorted errors for unsupported quantizers
        raise UnsupportedLayerError(f"layer {name!r}: cannot read its quantized weight ({exc})") from None
    if q.scale is None or q.bit_width is None:
        raise UnsupportedLayerError(f"layer {name!r}: weight quantization is disabled; set weight_bit_width")
    if torch.any(q.zero_point != 0):
        raise UnsupportedLayerError(f"layer {name!r}: asymmetric weights (zero point != 0) are not supported")
    bits = int(q.bit_width.item())
    if not 2 <= bits <= 8:
        raise UnsupportedLayerError(f"layer {name!r}: {bits}-bit weights; qsnn-deploy supports 2 to 8 bits")
    scale = _np(q.scale).reshape(-1)
    if scale.size not in (1, out_channels):
        raise UnsupportedLayerError(
            f"layer {name!r}: scale of shape {tuple(q.scale.shape)} is neither per tensor nor per channel"
        )
    if not q.signed:
        raise UnsupportedLayerError(f"layer {name!r}: unsigned weights are not supported")
    weight = q.int().detach().cpu().numpy().astype(np.int64)
    return weight, np.broadcast_to(scale, (out_channels,)).copy(), bits


def _bias(module: nn.Module) -> np.ndarray | None:
    return None if module.bias is None else _np(module.bias)


def conv(name: str, m: nn.Module) -> list:
    if m.groups != 1 or tuple(m.dilation) != (1, 1):
        raise UnsupportedLayerError(f"layer {name!r}: grouped or dilated convolutions are not supported")
    if m.stride[0] != m.stride[1] or not isinstance(m.padding, tuple) or m.padding[0] != m.padding[1]:
        raise UnsupportedLayerError(
            f"layer {name!r}: only square stride and symmetric numeric padding are supported"
        )
    if m.padding_mode != "zeros":
        raise UnsupportedLayerError(
            f"layer {name!r}: padding_mode {m.padding_mode!r}; only 'zeros' is supported"
        )
    weight, scale, bits = _quantized(name, m, m.out_channels)
    return [IntConv(name, weight, scale, bits, int(m.stride[0]), int(m.padding[0]), _bias(m))]


def linear(name: str, m: nn.Module) -> list:
    weight, scale, bits = _quantized(name, m, m.out_features)
    return [IntLinear(name, weight, scale, bits, _bias(m))]


def avgpool(name: str, m: nn.AvgPool2d) -> list:
    k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
    stride = m.stride if isinstance(m.stride, int) else (m.stride or (k,))[0]
    square = isinstance(m.kernel_size, int) or m.kernel_size[0] == m.kernel_size[1]
    if not square or stride != k or m.padding not in (0, (0, 0)) or m.ceil_mode or m.divisor_override:
        raise UnsupportedLayerError(
            f"layer {name!r}: only square non-overlapping average pooling without padding"
        )
    return [AvgPool(name, int(k))]


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def maxpool(name: str, m: nn.MaxPool2d) -> list:
    """Square, non-overlapping windows (stride = kernel) without padding, dilation or ceil_mode: the exact
    integer max of the IR's maxpool2d. Anything else names what differs."""
    kh, kw = _pair(m.kernel_size)
    stride = _pair(m.stride) if m.stride is not None else (kh, kw)  # torch: stride None means the kernel
    problems = []
    if kh != kw:
        problems.append(f"kernel {kh}x{kw} is not square")
    if stride != (kh, kw):
        problems.append(f"stride {stride} differs from the kernel (overlapping or gapped windows)")
    if _pair(m.padding) != (0, 0):
        problems.append(f"padding {m.padding}")
    if _pair(m.dilation) != (1, 1):
        problems.append(f"dilation {m.dilation}")
    if m.ceil_mode:
        problems.append("ceil_mode=True")
    if m.return_indices:
        problems.append("return_indices=True")
    if problems:
        raise UnsupportedLayerError(
            f"layer {name!r} (MaxPool2d): {', '.join(problems)}; only square non-overlapping max pooling "
            "(stride = kernel) without padding, dilation or ceil_mode is supported"
        )
    return [MaxPool(name, int(kh))]


def batchnorm(name: str, m: nn.modules.batchnorm._BatchNorm) -> list:
    if m.running_mean is None or m.running_var is None:
        raise UnsupportedLayerError(f"layer {name!r}: BatchNorm without running statistics cannot be folded")
    for what in ("weight", "bias", "running_mean", "running_var"):
        if getattr(m, what) is not None:
            _finite(name, what, getattr(m, what).detach())
    gamma = _np(m.weight) if m.weight is not None else np.ones(m.num_features)
    beta = _np(m.bias) if m.bias is not None else np.zeros(m.num_features)
    return [BatchNorm(name, gamma, beta, _np(m.running_mean), _np(m.running_var), float(m.eps))]


def identity(name: str, m: nn.Module) -> list:
    return [Identity(name, type(m).__name__)]


def flatten(name: str, m: nn.Flatten) -> list:
    """Only the whole sample: the IR's Linear flattens (C, H, W); a partial flatten would leave torch's Linear
    acting on the last axis alone."""
    if (m.start_dim, m.end_dim) != (1, -1):
        raise UnsupportedLayerError(
            f"layer {name!r} (Flatten): start_dim={m.start_dim}, end_dim={m.end_dim}; use nn.Flatten() "
            "(start_dim=1, end_dim=-1), the whole sample in C, H, W order"
        )
    return identity(name, m)


def _neuron_settings(name: str, m: nn.Module) -> tuple[float, float]:
    """(beta, threshold) of an snnTorch neuron, after the checks a ``Leaky`` and a ``Synaptic`` share."""
    if not getattr(m, "reset_delay", True):
        raise UnsupportedLayerError(f"layer {name!r}: reset_delay=False is not supported")
    if getattr(m, "state_quant", False):
        raise UnsupportedLayerError(
            f"layer {name!r}: state_quant is not supported (the IR quantizes the state)"
        )
    if getattr(m, "inhibition", False):
        raise UnsupportedLayerError(f"layer {name!r}: inhibition=True (winner-take-all) is not supported")
    if float(m.graded_spikes_factor) != 1.0:
        raise UnsupportedLayerError(f"layer {name!r}: graded spikes (factor != 1) are not supported")
    beta, threshold = torch.as_tensor(m.beta).detach(), torch.as_tensor(m.threshold).detach()
    _finite(name, "beta", beta)
    _finite(name, "threshold", threshold)
    if beta.numel() != 1 or threshold.numel() != 1:
        raise UnsupportedLayerError(f"layer {name!r}: per-neuron beta or threshold is not supported")
    if float(threshold) <= 0:
        raise UnsupportedLayerError(f"layer {name!r}: threshold must be positive, got {float(threshold)}")
    # beta as given: quantize_decay clamps it to [0, 1], as snnTorch's forward does (a learned beta may leave it)
    return float(beta), float(threshold)


def leaky(name: str, m: nn.Module) -> list:
    if m.reset_mechanism not in ("subtract", "zero"):
        raise UnsupportedLayerError(
            f"layer {name!r}: reset_mechanism {m.reset_mechanism!r}; use 'subtract' or 'zero'"
        )
    beta, threshold = _neuron_settings(name, m)
    return [Leaky(name, beta, threshold, m.reset_mechanism)]


def synaptic(name: str, m: nn.Module) -> list:
    """snnTorch's ``Synaptic``: ``syn = alpha*syn + input``, then the Leaky's membrane on ``syn`` (the IR's
    ``requantize synaptic lif``). Only the subtract reset: snnTorch 1.0.0's zero reset sets the whole new
    membrane to 0 at a reset step (``mem - reset * (beta*mem + syn)``), dropping that step's current, where the
    IR's lif keeps it (``v = beta*0 + i``)."""
    if m.reset_mechanism != "subtract":
        why = {
            "zero": "snnTorch's Synaptic sets the membrane to 0 at a reset step, dropping that step's current, "
            "which the IR's zero reset keeps"
        }.get(m.reset_mechanism, "no integer form")
        raise UnsupportedLayerError(
            f"layer {name!r} (Synaptic): reset_mechanism {m.reset_mechanism!r} is not supported ({why}); "
            "use 'subtract'"
        )
    beta, threshold = _neuron_settings(name, m)
    alpha = torch.as_tensor(m.alpha)
    _finite(name, "alpha", alpha.detach())
    if alpha.numel() != 1:
        raise UnsupportedLayerError(f"layer {name!r}: per-neuron alpha is not supported")
    return [Leaky(name, beta, threshold, "subtract", alpha=float(alpha))]


PLAIN_RECURRENT_BITS = 8  # a plain nn.Linear as recurrent layer: symmetric per-neuron int8 weights


def _plain_quantized(name: str, m: nn.Linear, bits: int) -> tuple[np.ndarray, np.ndarray, int]:
    """A float ``nn.Linear``'s weights as symmetric per-output integers of ``bits`` bits (largest magnitude
    onto ``2**(bits-1) - 1``): the integer model then differs from the float one by this rounding."""
    _finite(name, "weight", m.weight.detach())
    w = _np(m.weight)
    top = (1 << (bits - 1)) - 1
    peak = np.abs(w).max(axis=1)
    scale = np.where(peak > 0, peak / top, 1.0)
    return np.round(w / scale[:, None]).astype(np.int64), scale, bits


def _recurrent_linear(name: str, m: nn.Module) -> IntLinear:
    """The all-to-all recurrent weights of an snnTorch ``RLeaky``/``RSynaptic`` as an (N, N) ``IntLinear``:
    a Brevitas ``QuantLinear``'s integers as Brevitas computes them, a plain ``nn.Linear`` quantized per neuron
    at 8 bits. The bias (snnTorch's default ``nn.Linear`` has one) stays real: the exporter folds it into the
    layer's requantize bias, since it joins the input current at every step."""
    import brevitas.nn as qnn

    kind = type(m).__name__
    if not getattr(m, "all_to_all", False):
        raise UnsupportedLayerError(
            f"layer {name!r} ({kind}): all_to_all=False (one-to-one recurrence through V) has no integer form; "
            "use all_to_all=True with linear_features"
        )
    rec = getattr(m, "recurrent", None)
    where = f"{name}.recurrent"
    if not isinstance(rec, nn.Linear):
        what = "a convolution (conv recurrence)" if isinstance(rec, nn.Conv2d) else type(rec).__name__
        raise UnsupportedLayerError(
            f"layer {where!r} ({kind}'s recurrent layer) is {what}; only a Linear (linear_features=N) is supported"
        )
    if rec.in_features != rec.out_features:
        raise UnsupportedLayerError(
            f"layer {where!r}: recurrent weights must be square, got {tuple(rec.weight.shape)}"
        )
    if isinstance(rec, qnn.QuantLinear):
        weight, scale, bits = _quantized(where, rec, rec.out_features)
    else:
        weight, scale, bits = _plain_quantized(where, rec, PLAIN_RECURRENT_BITS)
    if rec.bias is not None:
        _finite(where, "bias", rec.bias.detach())
    return IntLinear(where, weight, scale, bits, _bias(rec))


def _refuse_recurrent_zero_reset(name: str, m: nn.Module) -> None:
    if m.reset_mechanism != "subtract":
        why = {
            "zero": f"snnTorch's {type(m).__name__} sets the whole membrane to 0 at a reset step, dropping that "
            "step's input, which the IR's zero reset keeps"
        }.get(m.reset_mechanism, "no integer form")
        raise UnsupportedLayerError(
            f"layer {name!r} ({type(m).__name__}): reset_mechanism {m.reset_mechanism!r} is not supported "
            f"({why}); use 'subtract'"
        )


def rleaky(name: str, m: nn.Module) -> list:
    """snnTorch's ``RLeaky(all_to_all=True, linear_features=N)``: ``mem = beta*mem + input + recurrent(spk)
    - reset*threshold`` with ``spk`` the previous step's spikes (zeros at the first step), the IR's
    ``requantize recurrent lif``."""
    _refuse_recurrent_zero_reset(name, m)
    beta, threshold = _neuron_settings(name, m)
    return [Leaky(name, beta, threshold, "subtract", recurrent=_recurrent_linear(name, m))]


def rsynaptic(name: str, m: nn.Module) -> list:
    """snnTorch's ``RSynaptic(all_to_all=True, linear_features=N)``: ``syn = alpha*syn + input +
    recurrent(spk)``, then the Synaptic's membrane: the IR's ``requantize recurrent synaptic lif``."""
    _refuse_recurrent_zero_reset(name, m)
    beta, threshold = _neuron_settings(name, m)
    alpha = torch.as_tensor(m.alpha)
    _finite(name, "alpha", alpha.detach())
    if alpha.numel() != 1:
        raise UnsupportedLayerError(f"layer {name!r}: per-neuron alpha is not supported")
    recurrent = _recurrent_linear(name, m)
    return [Leaky(name, beta, threshold, "subtract", alpha=float(alpha), recurrent=recurrent)]


def _handlers() -> list[tuple[type, Callable[[str, nn.Module], list]]]:
    import brevitas.nn as qnn
    import snntorch as snn

    return [
        (qnn.QuantConv2d, conv),
        (qnn.QuantLinear, linear),
        (nn.AvgPool2d, avgpool),
        (nn.MaxPool2d, maxpool),
        (nn.BatchNorm2d, batchnorm),
        (nn.BatchNorm1d, batchnorm),
        (nn.Dropout, identity),
        (nn.Flatten, flatten),
        (nn.Identity, identity),
        (snn.Leaky, leaky),
        (snn.Synaptic, synaptic),
        (snn.RLeaky, rleaky),
        (snn.RSynaptic, rsynaptic),
    ]


HINTS = {
    nn.Conv2d: "use brevitas.nn.QuantConv2d(..., weight_bit_width=4)",
    nn.Linear: "use brevitas.nn.QuantLinear(..., weight_bit_width=4)",
    nn.AdaptiveAvgPool2d: "use nn.AvgPool2d with a fixed kernel (stride = kernel)",
    nn.AdaptiveMaxPool2d: "use nn.MaxPool2d with a fixed kernel (stride = kernel)",
    **dict.fromkeys(
        (nn.LSTM, nn.GRU, nn.RNN),
        "no integer form; use snntorch.RLeaky or RSynaptic (all_to_all=True) for recurrence",
    ),
}


def is_handled(module: nn.Module) -> bool:
    """Whether a handler takes this module's kind (it may still refuse its settings)."""
    return any(isinstance(module, cls) for cls, _ in _handlers())


def convert(name: str, module: nn.Module) -> list:
    """Float layers for one module, or a typed error naming it."""
    for cls, handler in _handlers():
        if isinstance(module, cls):
            return handler(name, module)
    hint = next(
        (h for cls, h in HINTS.items() if type(module) is cls), "see docs/export.md for supported layers"
    )
    raise UnsupportedLayerError(f"layer {name!r} ({type(module).__name__}) is not supported: {hint}")
