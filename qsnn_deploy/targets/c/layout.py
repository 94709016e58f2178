"""How the C target lays a layer out in memory: weight order and packing, buffer sizes.

The design rules (rules.py), the renderer and the cost report all read these, so they cannot disagree.
"""

from __future__ import annotations

import numpy as np

from qsnn_deploy.ir.ops import Conv2d, Linear
from qsnn_deploy.ir.plan import Layer


def is_packed(layer: Layer) -> bool:
    """Weights of 2..4 bits are packed two per byte; wider ones take a byte each."""
    return layer.op.weight_type.bits <= 4


def input_major(op: Conv2d | Linear) -> np.ndarray:
    """Weights flattened so that the weights of one input element are contiguous (see qsnn_runtime.h):
    conv (O, C, kh, kw) -> (C, kh, kw, O); linear (O, I) -> (I, O)."""
    w = op.weight.astype(np.int64)
    w = w.transpose(1, 2, 3, 0) if w.ndim == 4 else w.T
    return np.ascontiguousarray(w).reshape(-1)


def pack_weights(values: np.ndarray, packed: bool) -> bytes:
    """4-bit packing: element 2k in the low nibble, 2k+1 in the high nibble (odd count: high nibble 0).
    Unpacked: one two's-complement byte per weight."""
    v = values.astype(np.int64)
    if not packed:
        return bytes((v & 0xFF).astype(np.uint8).tolist())
    nib = (v & 0xF).astype(np.uint8)
    if len(nib) % 2:
        nib = np.append(nib, np.uint8(0))
    return bytes((nib[0::2] | (nib[1::2] << 4)).astype(np.uint8).tolist())


def weight_bytes(layer: Layer) -> int:
    n = int(layer.op.weight.size)
    return (n + 1) // 2 if is_packed(layer) else n


def acc_elements(layers: tuple[Layer, ...], static: bool) -> int:
    """Scratch accumulators: the largest layer computed per step (a static first layer has its own cache)."""
    per_step = layers[1:] if static else layers
    return max((layer.neurons for layer in per_step), default=1)


def state_bytes(layers: tuple[Layer, ...], static: bool) -> int:
    """sizeof(<prefix>_state_t) before padding: scratch, static cache, membranes, spikes, counts."""
    acc = acc_elements(layers, static) * 4
    cache = layers[0].neurons * 4 if static else 0
    mems = sum(layer.neurons * layer.state_bits // 8 for layer in layers)
    spikes = sum(layer.neurons for layer in layers)
    counts = layers[-1].neurons * 2 + len(layers) * 4
    return acc + cache + mems + spikes + counts
