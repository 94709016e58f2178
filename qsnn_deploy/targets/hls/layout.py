"""How the HLS target lays a layer out: weight ROM rows, ap_int widths from the range analysis.

The design rules (rules.py), the renderer and the cycle estimate (cost.py) all read these, so they cannot
disagree. Widths are the smallest that hold every value the range analysis allows (docs/ir/ranges.md), so the
generated arithmetic is exact and no wider than it must be.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from qsnn_deploy.ir.ops import Op, Recurrent
from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.ir.ranges import OpRange
from qsnn_deploy.ir.types import bits_for_range
from qsnn_deploy.targets.base import separate_pool
from qsnn_deploy.targets.hls.ops import OPS


def is_packed(layer: Layer) -> bool:
    """Weights of 2..4 bits are packed two per byte; wider ones take a byte each."""
    return layer.op.weight_type.bits <= 4


def taps(layer: Layer) -> int:
    """ROM rows: one per (input channel, kernel row, kernel column) of a conv, one per input of a linear."""
    w = layer.op.weight
    return int(np.prod(w.shape[1:]))  # a conv's C*kh*kw, a linear's inputs


def kernel_taps(layer: Layer) -> int:
    """The taps one input event walks: ``ceil(KH / STRIDE) * ceil(KW / STRIDE)`` of a conv (those congruent to
    the event's coordinate modulo the stride; KH * KW at stride 1), 1 for a linear."""
    op = layer.op
    if layer.kind != "conv":
        return 1
    kh, kw = op.weight.shape[2:]
    return int(-(-kh // op.stride) * -(-kw // op.stride))


def row_bytes(layer: Layer) -> int:
    o = int(layer.op.weight.shape[0])
    return (o + 1) // 2 if is_packed(layer) else o


def rom_rows(layer: Layer) -> np.ndarray:
    """(taps, row_bytes) uint8: row t holds the O weights that input tap t meets (conv (O, C, KH, KW) ->
    (C*KH*KW, O); linear (O, F) -> (F, O)), packed: weight 2k in the low nibble of byte k, 2k+1 in the high
    nibble (an odd O leaves the last high nibble 0); else one two's-complement byte each."""
    w = layer.op.weight.astype(np.int64)
    rows = (w.transpose(1, 2, 3, 0) if w.ndim == 4 else w.T).reshape(taps(layer), -1)
    return pack_rows(rows, is_packed(layer))


def pack_rows(rows: np.ndarray, packed: bool) -> np.ndarray:
    """ROM bytes of int64 weight rows: two's-complement bytes, or (``packed``) weight 2k in the low nibble of
    byte k and 2k+1 in the high one (an odd row length leaves the last high nibble 0)."""
    if not packed:
        return (rows & 0xFF).astype(np.uint8)
    nib = rows & 0xF
    if nib.shape[1] % 2:
        nib = np.concatenate([nib, np.zeros((nib.shape[0], 1), dtype=np.int64)], axis=1)
    return (nib[:, 0::2] | (nib[:, 1::2] << 4)).astype(np.uint8)


def in_size(layer: Layer) -> int:
    return int(np.prod(layer.in_shape))


def positions(layer: Layer) -> int:
    """Neurons per output channel (OH * OW; 1 for a vector)."""
    return layer.per_channel


@dataclass(frozen=True)
class LayerWidths:
    """Bits of every ap_int a layer uses (all signed)."""

    acc: int  # accumulator: any partial sum of the conv (with its fused pool) or linear
    mult: int  # the requantize multipliers
    prod: int  # x * multiplier + bias + rounding
    cur: int  # the requantize output and the LIF's input current (after a recurrent or synaptic op)
    mem: int  # the membrane: the state type where it can saturate, else the analysis' bound
    lif: int  # every intermediate of the LIF update

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def max_pooled(layer: Layer) -> bool:
    """A max pool follows the conv: the conv fills its full map, then the ``maxpool`` kernel pools it."""
    return separate_pool(layer, OPS)


def conv_positions(layer: Layer) -> int:
    """Accumulator positions the conv kernel writes: the pooled ones, or the full conv map before a max pool."""
    return int(np.prod(layer.conv_shape[1:])) if max_pooled(layer) else layer.per_channel


def acc_peak(layer: Layer, ranges: Mapping[str, OpRange]) -> int:
    """The largest accumulator magnitude: the conv's peak partial sum times the conv outputs summed into one."""
    return ranges[layer.op.name].peak * layer.summed_area


def layer_widths(layer: Layer, ranges: Mapping[str, OpRange]) -> LayerWidths:
    """Widths from the range analysis. A fused sum pool adds up ``k * k`` conv sums, so the accumulator holds
    ``k^2`` times the conv's peak; under a max pool it holds one conv output, and so does the pooled value
    (``Layer.summed_area``; the shared ``accumulator_width`` rule bounds the same quantity)."""
    peak = acc_peak(layer, ranges)
    lif = ranges[layer.lif.name]
    mult = layer.rq.multiplier
    cur = current_bits(layer, ranges)
    mem = bits_for_range(min(lif.lo), max(lif.hi))
    # u = d + i - r * threshold with |d| <= |v| + 1, |i| < 2^(cur-1), threshold < 2^(state-1): two bits more
    # than the widest of the three holds it; the decay product is widened by ap_int's own result type.
    lif_bits = max(mem, cur, layer.state_bits) + 2
    return LayerWidths(
        acc=bits_for_range(-peak, peak),
        mult=bits_for_range(int(mult.min()), int(mult.max())),
        prod=max(ranges[layer.rq.name].peak_bits, 2),
        cur=cur,
        mem=mem,
        lif=lif_bits,
    )


def saturates(layer: Layer, ranges: Mapping[str, OpRange]) -> bool:
    """Whether the LIF's clamp can act (the analysis notes it); elsewhere it is the identity and omitted."""
    return bool(ranges[layer.lif.name].note)


def current_ops(layer: Layer) -> tuple[Op, ...]:
    """The ops between the requantize and the LIF (IR version 3): the recurrent sum, then the synaptic current."""
    return tuple(op for op in (layer.recurrent, layer.current) if op is not None)


def current_bits(layer: Layer, ranges: Mapping[str, OpRange]) -> int:
    """``cur_t``: the requantize's output, and the recurrent sum and synaptic current that follow it (the
    per-step current arrays hold each in turn)."""
    spans = [ranges[op.name] for op in (layer.rq, *current_ops(layer))]
    return bits_for_range(min(min(r.lo) for r in spans), max(max(r.hi) for r in spans))


@dataclass(frozen=True)
class RecurrentWidths:
    """Bits of a recurrent op's ap_ints (all signed)."""

    acc: int  # W @ s: any partial sum of the weights of the previous step's spikes
    mult: int  # its multipliers
    prod: int  # a * multiplier + rounding, and the feed-forward current added to its rescaled value

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def recurrent_rom(op: Recurrent) -> np.ndarray:
    """The recurrent ROM, laid out like a linear's (``weight[to, from]``: row ``from`` holds the N weights its
    spike meets, packed two 4-bit weights per byte where the type allows)."""
    return pack_rows(op.weight.astype(np.int64).T, op.weight_type.bits <= 4)


def recurrent_widths(layer: Layer, ranges: Mapping[str, OpRange]) -> RecurrentWidths:
    """From the range analysis: the weights' sums bound every partial sum of the spikes' (0/1) weighted sum,
    whatever the order; the op's ``peak`` bounds ``a * m + h``."""
    op = layer.recurrent
    assert op is not None
    w = op.weight.astype(np.int64)
    lo, hi = int(np.minimum(w, 0).sum(axis=1).min()), int(np.maximum(w, 0).sum(axis=1).max())
    peak = ranges[op.name].peak
    return RecurrentWidths(
        acc=bits_for_range(lo, hi),
        mult=bits_for_range(int(op.multiplier.min()), int(op.multiplier.max())),
        prod=max(bits_for_range(-peak, peak), current_bits(layer, ranges)) + 1,
    )


@dataclass(frozen=True)
class SynapticWidths:
    """Bits of a synaptic current's ap_ints (signed)."""

    state: int  # the current: its state type where it can saturate, else the analysis' bound
    sum: int  # the decayed current plus the input, before the clamp

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def synaptic_widths(layer: Layer, ranges: Mapping[str, OpRange]) -> SynapticWidths:
    """|decayed| <= |current| (a decay in [0, 1] rounded to the nearest integer), and the input fits ``cur_t``:
    one bit more than the wider of the two holds their sum."""
    op = layer.current
    assert op is not None
    rng = ranges[op.name]
    state = bits_for_range(min(rng.lo), max(rng.hi))
    return SynapticWidths(state=state, sum=max(state, current_bits(layer, ranges)) + 1)


def synaptic_saturates(layer: Layer, ranges: Mapping[str, OpRange]) -> bool:
    """Whether the synaptic clamp can act (the analysis notes it); elsewhere it is the identity and omitted."""
    return layer.current is not None and bool(ranges[layer.current.name].note)
