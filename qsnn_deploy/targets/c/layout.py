"""How the C target lays a layer out in memory: weight order and packing, buffer sizes.

The design rules (rules.py), the renderer and the cost report all read these, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from qsnn_deploy.ir.ops import Conv2d, Linear, Op, OpRange
from qsnn_deploy.ir.ops.lif import lif_membrane_bound
from qsnn_deploy.ir.ops.synaptic import synaptic_bound
from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.targets.base import separate_pool
from qsnn_deploy.targets.c.ops import OPS

LANE_MAX = 0xFFFF  # a 16-bit lane of qsnn_conv_spikes_lif
NIBBLE_MAX = 15  # an offset-binary 4-bit weight, w + 8
# Channel j of a group of 8 -> (byte, high nibble) in its word (qsnn_runtime.h, "Fast kernels").
GROUP_SLOTS = tuple((b, j >= 4) for j, b in enumerate((0, 2, 1, 3, 0, 2, 1, 3)))


@dataclass(frozen=True)
class LayerKernels:
    """Which fast kernels a layer may use, each proven from the layer plan and the range analysis (the
    preconditions in qsnn_runtime.h, "Fast kernels")."""

    lif_fast: bool  # qsnn_lif_fast: int32 LIF arithmetic without saturation
    conv_fused: bool  # qsnn_conv_spikes_lif: spike conv + pool + requantize + LIF in one pass
    events_max: int  # list entries of one output position (the scratch qsnn_conv_spikes_lif needs)
    synaptic_fast: bool = False  # qsnn_synaptic_fast: the synaptic current in int32 without saturation


def lif_fast_ok(layer: Layer, ranges: Mapping[str, OpRange]) -> bool:
    """The LIF update never saturates and every intermediate stays within the state type: the membrane bound
    of the range analysis (ops/lif.py, lif_membrane_bound, which bounds decay(v) + I and its reset too) for the
    largest current the requantize can produce; the decay is a multiply by m < 2^s with 1 <= s <= 31."""
    lif = layer.lif
    if not (1 <= lif.decay_shift <= 31 and 0 <= lif.decay_multiplier < (1 << lif.decay_shift)):
        return False
    if not 0 <= lif.threshold <= lif.state_type.max:
        return False
    cur = ranges[lif_input(layer).name]
    peak = max(max(abs(int(v)) for v in cur.lo), max(abs(int(v)) for v in cur.hi))
    bound = lif_membrane_bound(lif, peak)
    return bound is not None and bound <= lif.state_type.max and -bound >= lif.state_type.min


def synaptic_fast_ok(layer: Layer, ranges: Mapping[str, OpRange]) -> bool:
    """The layer's synaptic current never saturates: its bound (ops/synaptic.py, synaptic_bound, which bounds
    the decayed current plus the input) for the largest input the op before it can produce is within the
    state type; the decay is a multiply by m < 2^s with 1 <= s <= 31 (the LIF's fast decay)."""
    syn = layer.current
    if syn is None or not (1 <= syn.decay_shift <= 31 and 0 <= syn.decay_multiplier < (1 << syn.decay_shift)):
        return False
    source = ranges[(layer.recurrent or layer.rq).name]
    peak = max(max(abs(int(v)) for v in source.lo), max(abs(int(v)) for v in source.hi))
    bound = synaptic_bound(syn, peak)
    return bound is not None and bound <= syn.state_type.max


def lif_input(layer: Layer) -> Op:
    """The op whose output is the LIF's current: the synaptic current, else the recurrent sum, else the
    requantize."""
    return layer.current or layer.recurrent or layer.rq


def current_ops(layer: Layer) -> bool:
    """The layer has a recurrent input or a synaptic current between its requantize and its LIF."""
    return layer.recurrent is not None or layer.current is not None


def conv_fused_events(layer: Layer) -> int:
    """Entries of one output position's weight-row list: every (input channel, tap, pooling position)."""
    kh, kw = layer.op.weight.shape[2:]
    return int(layer.op.weight.shape[1] * kh * kw * layer.pool_kernel**2)


def conv_fused_ok(layer: Layer, ranges: Mapping[str, OpRange]) -> bool:
    """qsnn_conv_spikes_lif's preconditions: a conv after a LIF (0/1 inputs), stride 1, 4-bit weights, output
    channels in groups of 8, input rows and columns with padding on both sides and the pooled window within
    32-bit bitmaps, every lane sum and list entry within 16 bits, the requantize as one 64-bit product shifted
    by 1..31 to an int32 current, and a fast LIF."""
    op = layer.op
    if layer.index == 0 or layer.kind != "conv" or not is_packed(layer) or op.stride != 1:
        return False
    if current_ops(layer):  # the fused pass has no current state
        return False
    if max_pooled(layer):  # a max does not distribute over the kernel's sums
        return False
    out_c, in_c, kh, kw = op.weight.shape
    in_h, in_w = layer.in_shape[1:]
    if out_c % 8 or max(in_w, in_h) + 2 * op.padding > 32 or layer.pool_kernel + max(kh, kw) - 1 > 32:
        return False
    events = conv_fused_events(layer)
    if events * NIBBLE_MAX > LANE_MAX or in_c * kh * kw * (out_c // 8) > 0xFFFF:
        return False
    if not 1 <= layer.rq.shift <= 31 or len(layer.rq.multiplier) not in (1, out_c):
        return False
    return lif_fast_ok(layer, ranges)


def max_pooled(layer: Layer) -> bool:
    """A max pool follows the conv: the conv computes its full map, then qsnn_maxpool pools it."""
    return separate_pool(layer, OPS)


def conv_map_elements(layer: Layer) -> int:
    """The conv's output before pooling, (conv_h, conv_w, O) accumulators."""
    return int(np.prod(layer.conv_shape))


def layer_kernels(layer: Layer, ranges: Mapping[str, OpRange]) -> LayerKernels:
    fused = conv_fused_ok(layer, ranges)
    return LayerKernels(
        lif_fast_ok(layer, ranges),
        fused,
        conv_fused_events(layer) if fused else 0,
        synaptic_fast_ok(layer, ranges),
    )


def pack_groups(op: Conv2d) -> list[int]:
    """qsnn_conv_spikes_lif's weights: for each kernel row (c, kh, kw), for each group of 8 output channels, one
    uint32 of offset-binary nibbles (w + 8) placed by GROUP_SLOTS; with an odd number of groups, one zero word
    after the last row (the kernel reads groups in pairs)."""
    w = op.weight.astype(np.int64).transpose(1, 2, 3, 0).reshape(-1, op.weight.shape[0]) + 8
    words = np.zeros((w.shape[0], w.shape[1] // 8), dtype=np.uint64)
    for j, (byte, high) in enumerate(GROUP_SLOTS):
        words |= w[:, j::8].astype(np.uint64) << np.uint64(8 * byte + (4 if high else 0))
    flat = [int(x) for x in words.reshape(-1)]
    return flat + [0] if words.shape[1] % 2 else flat


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


def acc_elements(layers: tuple[Layer, ...], static: bool, fused: tuple[bool, ...] | None = None) -> int:
    """Scratch accumulators: the largest layer computed per step (a static first layer has its own cache);
    with ``fused`` (per layer), the layers of qsnn_conv_spikes_lif need none (a static first layer with a
    recurrent or synaptic op writes its step's current there, from its cache). A max-pooled layer (never fused)
    needs its whole conv map, a static first one too (its conv runs in the scratch once per sample)."""
    fused = fused or (False,) * len(layers)
    needs = [
        conv_map_elements(layer) if max_pooled(layer) else layer.neurons
        for layer, f in zip(layers, fused)
        if max_pooled(layer) or not (f or (static and layer.index == 0 and not current_ops(layer)))
    ]
    return max(needs, default=1)


def channel_events(layer: Layer) -> int:
    """List entries of one input channel at one output position (kh * kw * pool^2): the least list
    qsnn_conv_spikes_lif can sum a position with, one channel at a time."""
    kh, kw = layer.op.weight.shape[2:]
    return int(kh * kw * layer.pool_kernel**2)


def fused_scratch(
    layers: tuple[Layer, ...], kernels: tuple[LayerKernels, ...], lean: bool = False
) -> tuple[int, int]:
    """(row bitmap words, list entries) qsnn_conv_spikes_lif needs, the largest over the fused layers: the
    bitmaps of the input rows and windows and a whole position's list, or with ``lean`` no bitmaps and one input
    channel's list (the kernel then cuts rows out of the spike bits and sums a position in parts)."""
    fused = [(lay, k) for lay, k in zip(layers, kernels) if k.conv_fused]
    rows = [0 if lean else lay.in_shape[0] * (lay.in_shape[1] + lay.out_shape[2]) for lay, _ in fused]
    events = [channel_events(lay) if lean else k.events_max for lay, k in fused]
    return max(rows, default=0), max(events, default=0)


def streams_first_layer(layers: tuple[Layer, ...], static: bool, lean: bool) -> bool:
    """With ``lean``, a static first conv (sum pool or none, no current state) is computed again every step
    from the frame by qsnn_conv_u8_lif, instead of caching its current (4 bytes a neuron) for the sample."""
    first = layers[0]
    return lean and static and first.kind == "conv" and not max_pooled(first) and not current_ops(first)


def spike_words(layer: Layer) -> int:
    """uint32 words of a layer's spike bits (qsnn_runtime.h, "Spikes are bits")."""
    return (layer.neurons + 31) // 32


def scratch_elements(
    layers: tuple[Layer, ...], static: bool, fused: tuple[bool, ...] | None, streamed: bool
) -> int:
    """Scratch accumulators of the state (acc_elements); a streamed first layer needs one position's channels."""
    acc = acc_elements(layers, static, fused)
    return max(acc, int(layers[0].op.weight.shape[0])) if streamed else acc


def recurrent_scratch(layers: tuple[Layer, ...]) -> int:
    """Int32 scratch of qsnn_recurrent_add: the largest recurrent layer's neurons (0 without one)."""
    return max((layer.neurons for layer in layers if layer.recurrent is not None), default=0)


def state_bytes(
    layers: tuple[Layer, ...],
    static: bool,
    kernels: tuple[LayerKernels, ...] | None = None,
    lean: bool = False,
) -> int:
    """sizeof(<prefix>_state_t) before padding: scratch, static cache (or the frame pointer of a streamed first
    layer), membranes, spike bits, counts, synaptic currents and the recurrent scratch (with the fast kernels
    when ``kernels`` is given; ``lean``: the layout for small RAM, see streams_first_layer and fused_scratch)."""
    streamed = streams_first_layer(layers, static, lean)
    if kernels is None:
        acc = scratch_elements(layers, static, None, streamed) * 4
    else:
        fused = tuple(k.conv_fused for k in kernels)
        rows, events = fused_scratch(layers, kernels, lean)
        acc = scratch_elements(layers, static, fused, streamed) * 4 + rows * 4 + events * 2
    cache = (4 if streamed else layers[0].neurons * 4) if static else 0
    mems = sum(layer.neurons * layer.state_bits // 8 for layer in layers)
    spikes = sum(spike_words(layer) * 4 for layer in layers)
    counts = layers[-1].neurons * 2 + len(layers) * 4
    currents = sum(layer.neurons * 4 for layer in layers if layer.current is not None)
    return acc + cache + mems + spikes + counts + currents + recurrent_scratch(layers) * 4
