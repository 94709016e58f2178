"""The exporter's working form: a chain of float-annotated layers between the torch model and the integer IR.

Handlers (handlers.py) turn torch modules into these; folding passes (passes/) rewrite the chain until it is
``[IntConv|IntLinear, (SumPool|MaxPool)?, Affine, Leaky]*``; quantize.py maps that onto IR ops. ``run_float`` executes
any stage of the chain in float64 so every pass can be checked for drift on the same probe inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class IntConv:
    """Conv with integer weights whose real weight is ``weight * scale[o]``; ``bias`` is real (or None)."""

    name: str
    weight: np.ndarray  # int (O, C, kh, kw)
    scale: np.ndarray  # (O,) float
    bits: int
    stride: int = 1
    padding: int = 0
    bias: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class IntLinear:
    name: str
    weight: np.ndarray  # int (O, I)
    scale: np.ndarray  # (O,)
    bits: int
    bias: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class AvgPool:
    name: str
    kernel: int


@dataclass(frozen=True, eq=False)
class SumPool:
    name: str
    kernel: int


@dataclass(frozen=True, eq=False)
class MaxPool:
    """Non-overlapping k x k max pooling, per channel a max or a min: ``y[c] = sign[c] * max(sign[c] * x[c])``.

    A handler writes ``sign = None`` (a max in every channel, what torch computes); affine_through_pool flips a
    channel's sign when it moves an affine with a negative scale from before the pool to after it, because
    ``max(a x + b) = a min(x) + b`` for ``a < 0``."""

    name: str
    kernel: int
    sign: np.ndarray | None = None  # (C,) of 1 (max) and -1 (min); None: 1 in every channel

    def signs(self, channels: int) -> np.ndarray:
        return np.ones(channels, dtype=np.int64) if self.sign is None else np.asarray(self.sign, np.int64)


@dataclass(frozen=True, eq=False)
class BatchNorm:
    name: str
    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    eps: float


@dataclass(frozen=True, eq=False)
class Affine:
    """``y[c] = x[c] * scale[c] + offset[c]`` (channel = axis 0 of a sample's activation)."""

    name: str
    scale: np.ndarray
    offset: np.ndarray


@dataclass(frozen=True, eq=False)
class Identity:
    """Dropout in eval mode, Flatten (the IR's Linear flattens in C, H, W order) and nn.Identity."""

    name: str
    what: str


@dataclass(frozen=True, eq=False)
class Leaky:
    """A LIF layer; with ``alpha`` a current-based one (snnTorch's ``Synaptic``, NIR's ``CubaLIF``): at every
    step ``syn = alpha * syn + input`` first, then the membrane integrates ``syn`` instead of the input."""

    name: str
    beta: float
    threshold: float
    reset: str  # "subtract" | "zero"
    alpha: float | None = None  # the synaptic decay per step; None: no synaptic current
    # snnTorch's RLeaky/RSynaptic (all_to_all): ``recurrent(spk[t-1])`` joins the input current at every step,
    # before the synaptic decay (an (N, N) IntLinear, its bias real); None: no recurrence
    recurrent: IntLinear | None = None


FloatLayer = IntConv | IntLinear | AvgPool | SumPool | MaxPool | BatchNorm | Affine | Identity | Leaky


@dataclass(frozen=True)
class FloatGraph:
    """``input_scale``: the real value of one input unit; ``encoding``: "static" or "stream"."""

    layers: tuple
    input_shape: tuple[int, int, int]
    input_scale: float
    encoding: str
    num_steps: int


def _channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return np.asarray(v, dtype=np.float64).reshape((1, -1) + (1,) * (ndim - 2))


def _conv(x: np.ndarray, w: np.ndarray, stride: int, padding: int) -> np.ndarray:
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    o, c, kh, kw = w.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,ocij->nohw", win, w, optimize=True)


def apply_stateless(layer, x: np.ndarray) -> np.ndarray:
    """One stateless layer on a (N, ...) float64 batch."""
    if isinstance(layer, IntConv):
        y = _conv(
            x, layer.weight * _channel(layer.scale, 4).reshape(-1, 1, 1, 1), layer.stride, layer.padding
        )
        return y if layer.bias is None else y + _channel(layer.bias, 4)
    if isinstance(layer, IntLinear):
        y = x.reshape(len(x), -1) @ (layer.weight * np.asarray(layer.scale).reshape(-1, 1)).T
        return y if layer.bias is None else y + layer.bias
    if isinstance(layer, (AvgPool, SumPool)):
        n, c, h, w = x.shape
        k = layer.kernel
        s = x[:, :, : h // k * k, : w // k * k].reshape(n, c, h // k, k, w // k, k).sum(axis=(3, 5))
        return s / (k * k) if isinstance(layer, AvgPool) else s
    if isinstance(layer, MaxPool):
        n, c, h, w = x.shape
        k = layer.kernel
        sign = _channel(layer.signs(c), 6)
        windows = x[:, :, : h // k * k, : w // k * k].reshape(n, c, h // k, k, w // k, k) * sign
        return windows.max(axis=(3, 5)) * sign[..., 0, 0]
    if isinstance(layer, BatchNorm):
        inv = layer.gamma / np.sqrt(layer.var + layer.eps)
        return (x - _channel(layer.mean, x.ndim)) * _channel(inv, x.ndim) + _channel(layer.beta, x.ndim)
    if isinstance(layer, Affine):
        return x * _channel(layer.scale, x.ndim) + _channel(layer.offset, x.ndim)
    if isinstance(layer, Identity):
        return x
    raise TypeError(f"not a stateless layer: {layer!r}")


def run_float(
    graph: FloatGraph,
    raw_inputs: np.ndarray,
    record_currents: bool = False,
    num_steps: int | None = None,
    spike_totals: dict[str, int] | None = None,
):
    """Execute the chain in float64 on raw dataset inputs (uint8: (N,C,H,W) static, (N,T,C,H,W) stream).

    Returns output spike counts (N, K) and, with ``record_currents``, the input current of every Leaky
    (name -> (T, N, ...)): the quantity a folding pass must not change. ``spike_totals``, when given, gains
    the number of spikes of every Leaky (name -> int, added to what it holds)."""
    steps = num_steps or graph.num_steps
    n = len(raw_inputs)
    x = raw_inputs.astype(np.float64) * graph.input_scale
    per_step = graph.encoding == "stream"
    if per_step:
        x = x[:, :steps].transpose(1, 0, 2, 3, 4).reshape(steps * n, *x.shape[2:])
    currents = {}
    for layer in graph.layers:
        if isinstance(layer, Leaky):
            cur = x.reshape(steps, n, *x.shape[1:]) if per_step else np.broadcast_to(x, (steps, *x.shape))
            currents[layer.name] = cur
            beta = min(max(layer.beta, 0.0), 1.0)
            alpha = None if layer.alpha is None else min(max(layer.alpha, 0.0), 1.0)
            mem = np.zeros(cur.shape[1:])
            syn = np.zeros(cur.shape[1:])
            spikes = np.empty(cur.shape)
            for t in range(steps):
                current = cur[t]
                if layer.recurrent is not None:  # the layer's own spikes of the previous step (0 at t = 0)
                    current = current + apply_stateless(layer.recurrent, spikes[t - 1] if t else 0 * cur[t])
                if (
                    alpha is not None
                ):  # snnTorch's Synaptic: the current first, the membrane reads the new one
                    syn = alpha * syn + current
                drive = current if alpha is None else syn
                reset = mem > layer.threshold
                if layer.reset == "subtract":
                    mem = beta * mem + drive - reset * layer.threshold
                else:
                    mem = beta * np.where(reset, 0.0, mem) + drive
                spikes[t] = mem > layer.threshold
            if spike_totals is not None:
                spike_totals[layer.name] = spike_totals.get(layer.name, 0) + int(spikes.sum())
            x = spikes.reshape(steps * n, *cur.shape[2:])
            per_step = True
        else:
            x = apply_stateless(layer, x)
    counts = x.reshape(steps, n, -1).sum(axis=0)
    return (counts, currents) if record_currents else counts
