"""The serial organisation of the Verilog target (``--option arch=serial``, docs/targets/verilog.md#serial): one
engine (templates/verilog/rtl/qsnn_serial.v) walks the layers in turn with one weight memory, one accumulator
memory, one membrane memory and one neuron unit shared by every layer. This module lays the layers out in those
memories and gives the engine's parameters, the table of per-layer constants the top level holds, and the memory
images. Widths are the widest layer's (the per-layer ones come from ``layout.layer_params``, the range analysis);
a value that fits a narrower width fits a wider one, so the arithmetic stays exact."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.targets.verilog.layout import LayerParams, addr_width, hex_lines, weight_image
from qsnn_deploy.targets.verilog.parts import PARTS, blocks_for
from qsnn_deploy.targets.verilog.settings import SERIAL_DEFAULT_LANES

WORD_BITS = 16  # one SPRAM word
NEURON_LAT = 5  # qsnn_sneuron's latency (its contract)
SPRAM_WORDS = 16384  # one iCE40 UP5K SPRAM: 16K x 16
SPRAMS = 4
SPRAM_MEMORIES = ("weights", "membranes")  # the qsnn_spram instances: SPRAM on the UP5K, block RAM elsewhere


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

    def memories(self) -> dict[str, tuple[int, int]]:
        """name -> (width, depth) of the engine's memories."""
        p = self.params
        return {
            "weights": (4 * self.lanes, p["W_DEPTH"]),
            "membranes": (p["STATE_W"], p["M_DEPTH"]),
            "acc": (self.lanes * p["ACC_W"], p["ACC_DEPTH"]),
            "requant": (self.rq_width, p["RQ_DEPTH"]),
            "bitmap": (1, p["B_DEPTH"]),
        }

    def sprams(self) -> int:
        """iCE40 UP5K SPRAM blocks the single-port memories take (16K words of 16 bits each)."""
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


# The layer table, one row per d_<name> input of qsnn_serial: its width (an engine parameter, at least 1 bit;
# None: one bit) and its value for a layer (its parameters, its channel groups, its placement).
LAYER_TABLE: tuple[tuple[str, str | None, Callable[[LayerParams, int, Placement], int]], ...] = (
    ("c_last", "CW", lambda p, g, at: p.IN_C - 1),
    ("ty_last", "TW", lambda p, g, at: p.IN_H - 1 + p.PAD),
    ("tx_last", "TW", lambda p, g, at: p.IN_W - 1 + p.PAD),
    ("pad", "TW", lambda p, g, at: p.PAD),
    ("kh_last", "KW_W", lambda p, g, at: p.KH - 1),
    ("kw_last", "KW_W", lambda p, g, at: p.KW - 1),
    ("pool_mask", "PM_W", lambda p, g, at: (1 << p.POOL_LOG2) - 1),
    ("ohp", "TW", lambda p, g, at: p.OUT_H << p.POOL_LOG2),
    ("owp", "TW", lambda p, g, at: p.OUT_W << p.POOL_LOG2),
    ("g_last", "G_W", lambda p, g, at: g - 1),
    ("g", "ACC_AW", lambda p, g, at: g),
    ("owg", "ACC_AW", lambda p, g, at: p.OUT_W * g),
    ("row0", "ACC_AW", lambda p, g, at: (p.PAD >> p.POOL_LOG2) * p.OUT_W * g),
    ("col0", "ACC_AW", lambda p, g, at: (p.PAD >> p.POOL_LOG2) * g),
    ("acc_base", "ACC_AW", lambda p, g, at: at.acc),
    ("w_base", "W_AW", lambda p, g, at: at.w),
    ("wc", "W_AW", lambda p, g, at: p.KH * p.KW * g),
    ("wkw", "W_AW", lambda p, g, at: p.KW * g),
    ("wg", "W_AW", lambda p, g, at: g),
    ("pos_last", "P_W", lambda p, g, at: p.OUT_H * p.OUT_W - 1),
    ("oc_last", "OC_W", lambda p, g, at: p.OC - 1),
    ("hw", "N_AW", lambda p, g, at: p.OUT_H * p.OUT_W),
    ("rq_base", "RQ_AW", lambda p, g, at: at.rq),
    ("m_base", "M_AW", lambda p, g, at: at.m),
    ("thresh", "STATE_W", lambda p, g, at: p.THRESH),
    ("dmult", "DM_W", lambda p, g, at: p.DECAY_MULT),
    ("shift_rel", "SH_LV", lambda p, g, at: p.SHIFT - at.sh_min),
    ("dshift_rel", "DSH_LV", lambda p, g, at: p.DECAY_SHIFT - at.dsh_min),
    ("reset_zero", None, lambda p, g, at: p.RESET_ZERO),
    ("sat", None, lambda p, g, at: p.SATURATE),
    ("smax", "STATE_W", lambda p, g, at: (1 << (p.STATE_W - 1)) - 1),
)


def design(
    layers: tuple[Layer, ...], params: list[LayerParams], lanes: int = SERIAL_DEFAULT_LANES
) -> SerialDesign:
    """Lay the layers (with their ``layout.layer_params`` at any lanes) out for the serial engine, ``lanes``
    output channels per operation."""
    gs = [-(-p.OC // lanes) for p in params]
    acc_words = [p.OUT_H * p.OUT_W * g for p, g in zip(params, gs)]
    w_words = [p.IN_C * p.KH * p.KW * g for p, g in zip(params, gs)]
    neurons = [p.neurons for p in params]
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
    totals = {
        "ACC_DEPTH": sum(acc_words),
        "W_DEPTH": sum(w_words),
        "RQ_DEPTH": rq_depth,
        "M_DEPTH": sum(neurons),
        "B_DEPTH": max([1] + neurons[:-1]),
    }
    pool_w = max([1] + [p.POOL_LOG2 for p in params])
    most_pos = max(
        max(p.IN_H - 1 + p.PAD, p.IN_W - 1 + p.PAD, p.OUT_H << p.POOL_LOG2, p.OUT_W << p.POOL_LOG2)
        for p in params
    )
    most_kernel = max(max(p.KH, p.KW) for p in params)
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
        "G_W": addr_width(max(gs)),
        "PM_W": pool_w,
        "ACC_W": max(p.ACC_W for p in params),
        "ACC_AW": addr_width(totals["ACC_DEPTH"]),
        "W_AW": addr_width(totals["W_DEPTH"]),
        "RQ_AW": addr_width(totals["RQ_DEPTH"]),
        "M_AW": addr_width(totals["M_DEPTH"]),
        "B_AW": addr_width(totals["B_DEPTH"]),
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
    place = Placement(sh_min=sh_min, dsh_min=dsh_min)
    for p, g, aw, ww in zip(params, gs, acc_words, w_words):
        # address arithmetic is modulo 2^width: a base or stride equal to 2^width is 0 there
        fields = {name: value(p, g, place) & ((1 << widths[name]) - 1) for name, _, value in LAYER_TABLE}
        rows.append(SerialLayer(p.index, p.desc, fields))
        place = dataclasses.replace(
            place, acc=place.acc + aw, w=place.w + ww, rq=place.rq + p.OC, m=place.m + p.neurons
        )
    weight_words: list[int] = []
    for layer, p, g in zip(layers, params, gs):
        wide = dataclasses.replace(p, LANES=lanes, GROUPS=g, FOLD=0, W_BITS=4)
        weight_words += [int(line, 16) for line in weight_image(layer, wide).split()]
    mul_w, bias_w = engine["MUL_W"], engine["BIAS_W"]
    rq_words = [
        ((int(b) & ((1 << bias_w) - 1)) << mul_w) | (int(m) & ((1 << mul_w) - 1))
        for layer in layers
        for m, b in zip(layer.rq.multiplier.tolist(), layer.rq.bias.tolist())
    ]
    rq_words += [0] * (rq_depth - rq_channels)
    return SerialDesign(
        lanes, engine, widths, tuple(rows), tuple(weight_words), tuple(rq_words), mul_w + bias_w
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
    """The weight words, one per line (lane l of a word in bits 4l+3..4l), sent over the input stream after
    reset, low byte first."""
    return hex_lines(list(d.weight_words), 4 * d.lanes)


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
