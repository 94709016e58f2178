"""The serial organisation of the Verilog target (``--option arch=serial``, docs/targets/verilog.md#serial): one
engine (templates/verilog/rtl/qsnn_serial.v) walks the layers in turn with one store (the weights, then the
membranes two per word), one accumulator memory and one neuron unit shared by every layer. This module lays the
layers out in those memories and gives the engine's parameters, the table of per-layer constants the top level
holds, and the memory images. Widths are the widest layer's (the per-layer ones come from
``layout.layer_params``, the range analysis); a value that fits a narrower width fits a wider one, so the
arithmetic stays exact. With ``fold``, a conv's fused sum pool is folded into its kernel (``layout.fold_kernel``):
fewer operations per input spike, weights as wide as the folded sums need (every layer's word then holds weights
of that width)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.ir.types import bits_for_range
from qsnn_deploy.targets.verilog.layout import (
    WEIGHT_BITS,
    LayerParams,
    addr_width,
    fold_kernel,
    hex_lines,
    weight_image,
)
from qsnn_deploy.targets.verilog.parts import PARTS, blocks_for
from qsnn_deploy.targets.verilog.settings import SERIAL_DEFAULT_LANES

WORD_BITS = 16  # one SPRAM word
NEURON_LAT = 5  # qsnn_sneuron's latency (its contract)
SPRAM_WORDS = 16384  # one iCE40 UP5K SPRAM: 16K x 16
SPRAMS = 4
SPRAM_MEMORIES = ("store",)  # the qsnn_spram instance: SPRAM on the UP5K, block RAM elsewhere
# the testbenches hold a load unit in 64 bits: a wider weight word is sent as several units
LOAD_UNIT_BYTES = 8


@dataclass(frozen=True)
class SerialLayer:
    """One row of the layer table (the d_* inputs of qsnn_serial), and where the layer lives in the memories."""

    index: int
    desc: str
    fields: dict[str, int]  # d_<name> -> value (non-negative, fits its width)


@dataclass(frozen=True)
class SerialDesign:
    lanes: int
    params: dict[str, int]  # qsnn_serial's integer parameters
    widths: dict[str, int]  # d_<name> -> width in bits
    layers: tuple[SerialLayer, ...]
    weight_words: tuple[int, ...]
    rq_words: tuple[int, ...]
    rq_width: int
    wide: tuple[LayerParams, ...] = ()  # per layer: the parameters its weight image is laid out with

    @property
    def word_bytes(self) -> int:
        """Bytes of one weight word on the load stream."""
        return -(-self.params["WB"] * self.lanes // 8)

    @property
    def load_bytes(self) -> int:
        """Bytes of one load unit (a line of the weights image): the word, or the largest part of it of at most
        8 bytes that divides it."""
        return max(b for b in range(1, LOAD_UNIT_BYTES + 1) if self.word_bytes % b == 0)

    def load_units(self) -> list[int]:
        """The load stream as units of ``load_bytes`` bytes, low byte first (a weight word's low unit first)."""
        per, bits = self.word_bytes // self.load_bytes, 8 * self.load_bytes
        return [(w >> (bits * k)) & ((1 << bits) - 1) for w in self.weight_words for k in range(per)]

    def memories(self) -> dict[str, tuple[int, int]]:
        """name -> (width, depth) of the engine's memories."""
        p = self.params
        return {
            "store": (p["SW"], p["S_DEPTH"]),
            "acc": (self.lanes * p["ACC_W"], p["ACC_DEPTH"]),
            "requant": (self.rq_width, p["RQ_DEPTH"]),
            "bitmap": (1, p["B_DEPTH"]),
            "flags": (1, p["F_DEPTH"]),
        }

    def sprams(self) -> int:
        """iCE40 UP5K SPRAM blocks the single-port store takes (16K words of 16 bits each)."""
        return sum(
            -(-width // WORD_BITS) * -(-depth // SPRAM_WORDS)
            for name, (width, depth) in self.memories().items()
            if name in SPRAM_MEMORIES
        )


@dataclass(frozen=True)
class Placement:
    """Where a layer starts in the shared memories (the sizes of the layers before it), and the smallest
    shifts of all layers (a layer's shifts are held relative to them)."""

    acc: int = 0
    w: int = 0
    rq: int = 0
    m: int = 0
    sh_min: int = 0
    dsh_min: int = 0


def _phase_words(p: LayerParams) -> int:
    """Folded: the weight words of one column phase (every channel's folded taps, layout.weight_image's
    order ``(((ry*2^L + rx)*C + c)*FKH + a)*FKW + b``); unfolded: 0 (one phase)."""
    return p.IN_C * p.FKH * p.FKW * p.GROUPS if p.FOLD else 0


def _pad_phase(p: LayerParams) -> int:
    return p.PAD & ((1 << p.POOL_LOG2) - 1) if p.FOLD else 0


# The layer table, one row per d_<name> input of qsnn_serial: its width (an engine parameter, at least 1 bit;
# None: one bit) and its value for a layer (its parameters as its weights are laid out, ``design``'s
# ``wide``: lanes, groups, folding; and its placement).
LAYER_TABLE: tuple[tuple[str, str | None, Callable[[LayerParams, Placement], int]], ...] = (
    ("c_last", "CW", lambda p, at: p.IN_C - 1),
    ("ty_last", "TW", lambda p, at: p.IN_H - 1 + p.PAD),
    ("tx_last", "TW", lambda p, at: p.IN_W - 1 + p.PAD),
    ("pad", "TW", lambda p, at: p.PAD),
    ("fold", None, lambda p, at: p.FOLD),
    ("o0", "TW", lambda p, at: p.PAD >> p.POOL_LOG2 if p.FOLD else p.PAD),
    ("kh_last", "KW_W", lambda p, at: p.FKH - 1),
    ("kw_last", "KW_W", lambda p, at: p.FKW - 1),
    ("pool_mask", "PM_W", lambda p, at: (1 << p.POOL_LOG2) - 1),
    ("ohp", "TW", lambda p, at: p.OUT_H if p.FOLD else p.OUT_H << p.POOL_LOG2),
    ("owp", "TW", lambda p, at: p.OUT_W if p.FOLD else p.OUT_W << p.POOL_LOG2),
    ("g_last", "G_W", lambda p, at: p.GROUPS - 1),
    ("g", "ACC_AW", lambda p, at: p.GROUPS),
    ("owg", "ACC_AW", lambda p, at: p.OUT_W * p.GROUPS),
    ("row0", "ACC_AW", lambda p, at: (p.PAD >> p.POOL_LOG2) * p.OUT_W * p.GROUPS),
    ("col0", "ACC_AW", lambda p, at: (p.PAD >> p.POOL_LOG2) * p.GROUPS),
    ("acc_base", "ACC_AW", lambda p, at: at.acc),
    ("w_base", "W_AW", lambda p, at: at.w),
    ("wc", "W_AW", lambda p, at: p.FKH * p.FKW * p.GROUPS),
    ("wkw", "W_AW", lambda p, at: p.FKW * p.GROUPS),
    ("wg", "W_AW", lambda p, at: p.GROUPS),
    ("wpx", "W_AW", lambda p, at: _phase_words(p)),
    ("wpy", "W_AW", lambda p, at: _phase_words(p) << p.POOL_LOG2),
    ("wx0", "W_AW", lambda p, at: _pad_phase(p) * _phase_words(p)),
    ("wy0", "W_AW", lambda p, at: (_pad_phase(p) * _phase_words(p)) << p.POOL_LOG2),
    ("skip", None, lambda p, at: int(p.linear and p.index > 0)),
    ("w16", "W_AW", lambda p, at: 16 * p.FKH * p.FKW * p.GROUPS),
    ("pos_last", "P_W", lambda p, at: p.OUT_H * p.OUT_W - 1),
    ("oc_last", "OC_W", lambda p, at: p.OC - 1),
    ("hw", "N_AW", lambda p, at: p.OUT_H * p.OUT_W),
    ("rq_base", "RQ_AW", lambda p, at: at.rq),
    ("m_base", "S_AW", lambda p, at: at.m),
    ("thresh", "STATE_W", lambda p, at: p.THRESH),
    ("dmult", "DM_W", lambda p, at: p.DECAY_MULT),
    ("shift_rel", "SH_LV", lambda p, at: p.SHIFT - at.sh_min),
    ("dshift_rel", "DSH_LV", lambda p, at: p.DECAY_SHIFT - at.dsh_min),
    ("reset_zero", None, lambda p, at: p.RESET_ZERO),
    ("sat", None, lambda p, at: p.SATURATE),
    ("smax", "STATE_W", lambda p, at: (1 << (p.STATE_W - 1)) - 1),
)


def _folded_bits(layer: Layer, p: LayerParams) -> int:
    """Bits of the layer's folded weights (the sums ``fold_kernel`` gives), at least the IR's 4."""
    sums = fold_kernel(layer.op.weight, p.POOL_LOG2)
    return max(WEIGHT_BITS, bits_for_range(int(sums.min()), int(sums.max())))


def design(
    layers: tuple[Layer, ...],
    params: list[LayerParams],
    lanes: int = SERIAL_DEFAULT_LANES,
    fold: bool = False,
) -> SerialDesign:
    """Lay the layers (with their ``layout.layer_params`` at any lanes) out for the serial engine, ``lanes``
    output channels per operation; ``fold``: every conv with a fused sum pool walks its folded kernel."""
    folds = [fold and not p.linear and p.POOL_LOG2 > 0 for p in params]
    wb = max([WEIGHT_BITS] + [_folded_bits(lay, p) for lay, p, f in zip(layers, params, folds) if f])
    wide = [
        dataclasses.replace(p, LANES=lanes, GROUPS=-(-p.OC // lanes), FOLD=int(f), W_BITS=wb)
        for p, f in zip(params, folds)
    ]
    acc_words = [p.OUT_H * p.OUT_W * p.GROUPS for p in wide]
    w_words = [p.taps * p.GROUPS for p in wide]
    neurons = [p.neurons for p in params]
    pairs = [-(-n // 2) for n in neurons]  # the membranes, two per store word
    shifts = [p.SHIFT for p in params]
    dshifts = [p.DECAY_SHIFT for p in params]
    sh_min, dsh_min = min(shifts), min(dshifts)
    sh_lv = (max(shifts) - sh_min).bit_length()
    dsh_lv = (max(dshifts) - dsh_min).bit_length()
    state_w = max(p.STATE_W for p in params)
    # the requantize ROM's address is at least the channel counter's width (qsnn_serial adds the counter to the
    # layer's base, OC_W bits), and its depth fills that address width (Verilator wants an index as wide as the
    # memory's depth needs): a network of 1 or 2 channels in all gets a padded ROM
    rq_channels = sum(p.OC for p in params)
    oc_w = max(addr_width(max(p.OC for p in params)), (lanes - 1).bit_length())
    rq_depth = max(rq_channels, (1 << (oc_w - 1)) + 1) if oc_w > addr_width(rq_channels) else rq_channels
    w_depth = sum(w_words)
    totals = {
        "ACC_DEPTH": sum(acc_words),
        "W_DEPTH": w_depth,
        "S_DEPTH": w_depth + sum(pairs),
        "RQ_DEPTH": rq_depth,
        "M_DEPTH": sum(pairs),
        "B_DEPTH": max([1] + neurons[:-1]),
    }
    pool_w = max([1] + [p.POOL_LOG2 for p in params])
    most_pos = max(
        max(p.IN_H - 1 + p.PAD, p.IN_W - 1 + p.PAD, p.OUT_H << p.POOL_LOG2, p.OUT_W << p.POOL_LOG2)
        for p in params
    )
    most_kernel = max(max(p.FKH, p.FKW) for p in wide)
    tw = max(most_pos.bit_length(), (most_kernel - 1).bit_length(), pool_w) + 1
    engine = {
        "NUM_LAYERS": len(params),
        "LANES": lanes,
        "LANE_W": (lanes - 1).bit_length(),
        "LW": addr_width(len(params)),
        "NUM_CLASSES": neurons[-1],
        "CLASS_W": addr_width(neurons[-1]),
        "STEPS_W": 16,
        "CW": addr_width(max(p.IN_C for p in params)),
        "TW": tw,
        "KW_W": addr_width(most_kernel),
        "G_W": addr_width(max(p.GROUPS for p in wide)),
        "PM_W": pool_w,
        "WB": wb,
        "ACC_W": max(p.ACC_W for p in params),
        "ACC_AW": addr_width(totals["ACC_DEPTH"]),
        "W_AW": addr_width(w_depth),
        "SW": max(wb * lanes, 2 * state_w),
        "S_AW": addr_width(totals["S_DEPTH"]),
        "RQ_AW": addr_width(totals["RQ_DEPTH"]),
        "B_AW": addr_width(totals["B_DEPTH"]),
        # the group flags: one per 16 bitmap bits (qsnn_serial keeps the bitmap address at least 5 bits wide)
        "F_AW": max(addr_width(totals["B_DEPTH"]), 5) - 4,
        "F_DEPTH": 1 << (max(addr_width(totals["B_DEPTH"]), 5) - 4),
        "P_W": addr_width(max(p.OUT_H * p.OUT_W for p in params)),
        "OC_W": oc_w,  # the channel counter's low bits are the lane
        "N_AW": addr_width(max(neurons)),
        "MUL_W": max(p.MUL_W for p in params),
        "BIAS_W": max(p.BIAS_W for p in params),
        # x*m + b + 2^(s-1) of every layer, and room for the widest shift plus the current
        "PROD_W": max(max(p.PROD_W for p in params), max(shifts) + max(p.CUR_W for p in params) + 1),
        "CUR_W": max(p.CUR_W for p in params),
        "STATE_W": state_w,
        "DM_W": max(p.DM_W for p in params),
        "SH_MIN": sh_min,
        "SH_LV": sh_lv,
        "DSH_MIN": dsh_min,
        "DSH_LV": dsh_lv,
        "SATURATE": int(any(p.SATURATE for p in params)),
        "NEURON_LAT": NEURON_LAT,
        **totals,
    }
    widths = {name: 1 if width is None else max(1, engine[width]) for name, width, _ in LAYER_TABLE}
    rows = []
    place = Placement(m=w_depth, sh_min=sh_min, dsh_min=dsh_min)
    for p, aw, ww, mp in zip(wide, acc_words, w_words, pairs):
        # address arithmetic is modulo 2^width: a base or stride equal to 2^width is 0 there
        fields = {name: value(p, place) & ((1 << widths[name]) - 1) for name, _, value in LAYER_TABLE}
        rows.append(SerialLayer(p.index, p.desc, fields))
        place = dataclasses.replace(
            place, acc=place.acc + aw, w=place.w + ww, rq=place.rq + p.OC, m=place.m + mp
        )
    weight_words: list[int] = []
    for layer, p in zip(layers, wide):
        weight_words += [int(line, 16) for line in weight_image(layer, p).split()]
    mul_w, bias_w = engine["MUL_W"], engine["BIAS_W"]
    rq_words = [
        ((int(b) & ((1 << bias_w) - 1)) << mul_w) | (int(m) & ((1 << mul_w) - 1))
        for layer in layers
        for m, b in zip(layer.rq.multiplier.tolist(), layer.rq.bias.tolist())
    ]
    rq_words += [0] * (rq_depth - rq_channels)
    return SerialDesign(
        lanes, engine, widths, tuple(rows), tuple(weight_words), tuple(rq_words), mul_w + bias_w, tuple(wide)
    )


def serial_block_estimate(d: SerialDesign, part: str) -> int:
    """Block RAMs of the design on ``part``: the accumulators, the requantize ROM and the bitmap; the weights and
    the membranes too, except on the UP5K, where they are SPRAM (``SerialDesign.sprams``)."""
    spram = SPRAM_MEMORIES if part == "up5k" else ()
    return sum(
        blocks_for(width, depth, part, name == "requant")
        for name, (width, depth) in d.memories().items()
        if name not in spram
    )


def serial_dsp_estimate(d: SerialDesign, part: str) -> int:
    """Multiplier blocks of the one neuron unit: the requantize ACC_W x MUL_W and the decay STATE_W x (DM_W + 1)
    multiplies in DSP-sized pieces (an upper bound: Yosys packs the MNIST model's unit into 6 SB_MAC16)."""
    bits, p = PARTS[part]["dsp_bits"], d.params
    return -(-p["ACC_W"] // bits) * -(-p["MUL_W"] // bits) + -(-p["STATE_W"] // bits) * -(
        -(p["DM_W"] + 1) // bits
    )


def weight_hex(d: SerialDesign) -> str:
    """The load stream, one unit per line: the weight words (lane l of a word in bits WB*l+WB-1..WB*l), each
    one unit unless it is wider than 8 bytes, sent over the input stream after reset, low byte first."""
    return hex_lines(d.load_units(), 8 * d.load_bytes)


def rq_hex(d: SerialDesign) -> str:
    """The requantize ROM: channel k of all layers in order (layer L's at d_rq_base), {bias, multiplier}."""
    return hex_lines(list(d.rq_words), d.rq_width)


__all__ = [
    "NEURON_LAT",
    "SPRAMS",
    "SerialDesign",
    "SerialLayer",
    "design",
    "rq_hex",
    "serial_block_estimate",
    "serial_dsp_estimate",
    "weight_hex",
]
