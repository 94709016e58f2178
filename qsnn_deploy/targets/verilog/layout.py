"""What the Verilog target builds for each layer: module parameters (geometry, lanes, exact widths from the
range analysis) and memory images. Rules, renderer and report all read these; what the options mean for them is
settings.py's (``params_for``), what a part holds parts.py's.

Widths (docs/targets/verilog.md#widths): ``ACC_W`` holds every partial sum of the synapse with its fused pool
(the conv's ``peak`` times the area a sum pool adds up, ``Layer.summed_area``: 1 under a max pool, whose
accumulators each hold one conv output); ``PROD_W`` the requantize's ``x*m + b + 2^(s-1)`` (its ``peak``);
``CUR_W`` the current; ``STATE_W`` the membrane: the LIF's proven range, or its full state type where the range
analysis says it can saturate (then the RTL clamps).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from qsnn_deploy.ir.ops import OpRange
from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.ir.types import bits_for_range
from qsnn_deploy.targets.base import separate_pool
from qsnn_deploy.targets.verilog.ops import OPS
from qsnn_deploy.targets.verilog.parts import SHALLOW_DEPTH

MAX_LANES = 256  # the largest lanes or neurons value of a layer
WEIGHT_BITS = 4  # the weight ROMs hold 4-bit two's-complement nibbles


def addr_width(n: int) -> int:
    """Verilog ``(n > 1) ? $clog2(n) : 1``: the width of an index below ``n``."""
    return max(1, (n - 1).bit_length())


def lanes_for(channels: int, lanes: int) -> int:
    """Output channels per cycle of a layer: ``lanes`` (a power of two), at most the channels rounded up to a
    power of two."""
    return min(lanes, 1 << (channels - 1).bit_length())


@dataclass(frozen=True)
class LayerParams:
    """The parameters of one ``qsnn_layer`` instance (names as in templates/verilog/rtl/qsnn_layer.v)."""

    index: int
    name: str
    desc: str
    linear: bool
    IN_C: int
    IN_H: int
    IN_W: int
    VAL_W: int
    OC: int
    KH: int
    KW: int
    PAD: int
    OUT_H: int
    OUT_W: int
    POOL_LOG2: int
    # 1: a maxpool2d (the accumulators hold the conv map, the neuron phase pools), 0: a sumpool2d or none
    MAX_POOL: int
    LANES: int
    NLANES: int  # neurons per cycle in the neuron phase
    IN_NL: int  # spike-mask bits of an incoming event (the layer before's NLANES; 1 for the first layer)
    MASK_STRIDE: int  # input channel step per mask bit
    GROUPS: int
    ACC_W: int
    MUL_W: int
    BIAS_W: int
    PROD_W: int
    SHIFT: int
    CUR_W: int
    STATE_W: int
    THRESH: int
    DECAY_MULT: int
    DM_W: int
    DECAY_SHIFT: int
    RESET_ZERO: int
    SATURATE: int
    KEEP_ACC: int
    NEXT_FLAT: int
    weight_file: str
    rq_file: str
    # 1: the fused sum pool is folded into the kernel (fold_kernel): one operation per pooled output reached
    FOLD: int = 0
    W_BITS: int = WEIGHT_BITS  # bits of one weight in the ROM: 4, or what the folded sums need
    STRIDE_LOG2: int = 0  # conv stride 2^STRIDE_LOG2 (conv_geometry_supported: a power of two; never folded)
    # a synaptic current (IR version 3): its state width (the op's state type) and decay
    SYN: int = 0
    SYN_W: int = 1
    SYN_MULT: int = 0
    SYN_SHIFT: int = 0
    # recurrent weights (IR version 3): ROM weight bits, exact sum and multiplier widths, the rescale's shift
    REC: int = 0
    REC_WB: int = WEIGHT_BITS
    RACC_W: int = 1
    RMUL_W: int = 1
    RSHIFT: int = 0
    rec_weight_file: str = ""
    rec_mult_file: str = ""

    @property
    def rec_stride(self) -> int:
        """Words per event in the recurrent weight ROM: the blocks rounded up to a power of two (2^NBW)."""
        return 1 << addr_width(self.blocks)

    @property
    def TR_W(self) -> int:
        """Bits of one traced neuron: its membrane, under a synaptic current {current, membrane}."""
        return self.STATE_W + (self.SYN_W if self.SYN else 0)

    @property
    def neurons(self) -> int:
        return self.OC * self.OUT_H * self.OUT_W

    @property
    def CW(self) -> int:
        return addr_width(self.IN_C)

    @property
    def YW(self) -> int:
        return addr_width(self.IN_H)

    @property
    def XW(self) -> int:
        return addr_width(self.IN_W)

    @property
    def N_AW(self) -> int:
        return addr_width(self.neurons)

    @property
    def EC_W(self) -> int:
        return self.N_AW if self.NEXT_FLAT else addr_width(self.OC)

    @property
    def EY_W(self) -> int:
        return 1 if self.NEXT_FLAT else addr_width(self.OUT_H)

    @property
    def EX_W(self) -> int:
        return 1 if self.NEXT_FLAT else addr_width(self.OUT_W)

    @property
    def blocks(self) -> int:
        """Channel blocks of NLANES (the neuron phase's steps per position)."""
        return -(-self.OC // self.NLANES)

    @property
    def acc_positions(self) -> int:
        """Accumulator positions: the pooled map, or under a max pool the conv map its windows cover."""
        return self.OUT_H * self.OUT_W << (2 * self.POOL_LOG2 if self.MAX_POOL else 0)

    @property
    def FORWARD(self) -> int:
        """1: the accumulate pipeline forwards the word written right ahead. Consecutive operations hit one word
        only in a linear layer (one word per group) and at neighbouring taps of an unfolded sum pool window;
        elsewhere (0) a rare repeat waits two cycles instead."""
        return int(self.linear or (self.POOL_LOG2 > 0 and not self.MAX_POOL and not self.FOLD))

    @property
    def ACC_VALID(self) -> int:
        """1: accumulator words carry a valid bit that a clear resets: a LUT RAM of at most SHALLOW_DEPTH words,
        where one more bit costs nothing and saves the write port's LANES x ACC_W zero multiplexer."""
        return int(self.acc_positions * self.GROUPS <= SHALLOW_DEPTH)

    @property
    def OVERLAP(self) -> int:
        """1: the acc phase of step t+1 can run while the neuron phase of step t reads the accumulators (valid
        bits in flip-flops, each word read once; not under a max pool, whose windows are read word by word)."""
        return int(self.ACC_VALID and not self.MAX_POOL)

    @property
    def HOLD(self) -> int:
        """Accumulator words an OVERLAP layer's neuron phase holds in flip-flops: the one it works on and up to
        three read ahead, released to the next step's acc phase that much earlier (where it takes a word
        over more than one cycle: NLANES < LANES). Measured on the bundled MNIST model's lif2 (16 words,
        32 cycles each): 4 words cut about 70 cycles per step of waiting in conv2's accumulation."""
        words = self.acc_positions * self.GROUPS
        return min(4, words) if self.OVERLAP and self.NLANES < self.LANES else 1

    @property
    def FKH(self) -> int:
        """Kernel rows the tap walk visits: KH, or folded, the pooled rows one input row reaches at most."""
        return folded_taps(self.KH, self.POOL_LOG2) if self.FOLD else self.KH

    @property
    def FKW(self) -> int:
        return folded_taps(self.KW, self.POOL_LOG2) if self.FOLD else self.KW

    @property
    def taps(self) -> int:
        """Weight ROM rows per group: input taps, times the pool's phases when folded."""
        phases = 1 << (2 * self.POOL_LOG2) if self.FOLD else 1
        return phases * self.IN_C * self.FKH * self.FKW

    def memories(self) -> dict[str, tuple[int, int]]:
        """name -> (width, depth) of every memory of the layer."""
        queue_w = self.IN_NL + self.VAL_W + self.CW + self.YW + self.XW
        return {
            "queue": (queue_w, self.IN_C * self.IN_H * self.IN_W),
            "acc": (self.LANES * self.ACC_W + self.ACC_VALID, self.acc_positions * self.GROUPS),
            "weights": (self.LANES * self.W_BITS, self.taps * self.GROUPS),
            "requant": (self.NLANES * (self.MUL_W + self.BIAS_W + self.MAX_POOL), self.blocks),
            "membranes": (self.NLANES * self.STATE_W, self.OUT_H * self.OUT_W * self.blocks),
            **self.current_memories(),
        }

    def current_memories(self) -> dict[str, tuple[int, int]]:
        """The synaptic currents' memory and the recurrent ROMs, where the layer has them (the recurrent sums
        and pending events are flip-flops)."""
        found = {}
        if self.SYN:
            found["currents"] = (self.NLANES * self.SYN_W, self.OUT_H * self.OUT_W * self.blocks)
        if self.REC:
            found["rec_weights"] = (self.NLANES * self.REC_WB, self.OC * self.rec_stride)
            found["rec_mults"] = (self.NLANES * self.RMUL_W, self.blocks)
        return found


def folded_taps(kernel: int, pool_log2: int) -> int:
    """Pooled rows (or columns) one input reaches through a ``kernel``-tap conv and a 2^L pool, at most."""
    return ((kernel + (1 << pool_log2) - 2) >> pool_log2) + 1


def fold_kernel(weight: np.ndarray, pool_log2: int) -> np.ndarray:
    """The kernel of a stride-1 conv with a fused 2^L x 2^L sum pool, seen from one input element: an input at
    padded coordinate t (row; columns alike) with phase r = t mod 2^L reaches pooled output q - a (q = t >> L)
    through the conv taps k in [r + a*2^L - (2^L - 1), r + a*2^L], the sum of their weights. Returns
    [r_y, r_x, C, FKH, FKW, OC] int64: folded[ry, rx, c, a, b, o] = sum of weight[o, c, kh, kw] over those taps.
    Integer sums, so accumulating them gives exactly the pooled sums of the conv outputs."""
    oc, ic, kh, kw = weight.shape
    pk = 1 << pool_log2
    fkh, fkw = folded_taps(kh, pool_log2), folded_taps(kw, pool_log2)
    w = weight.astype(np.int64).transpose(1, 2, 3, 0)  # [C, KH, KW, OC]
    out = np.zeros((pk, pk, ic, fkh, fkw, oc), dtype=np.int64)
    for ry in range(pk):
        for a in range(fkh):
            rows = [k for k in range(ry + a * pk - (pk - 1), ry + a * pk + 1) if 0 <= k < kh]
            for rx in range(pk):
                for b in range(fkw):
                    cols = [k for k in range(rx + b * pk - (pk - 1), rx + b * pk + 1) if 0 <= k < kw]
                    if rows and cols:
                        out[ry, rx, :, a, b, :] = w[:, rows][:, :, cols].sum(axis=(1, 2))
    return out


def layer_params(
    layers: tuple[Layer, ...],
    ranges: Mapping[str, OpRange],
    lanes: tuple[int, ...],
    static: bool,
    prefix: str,
    neurons: tuple[int, ...] | None = None,
    fold: bool = False,
) -> list[LayerParams]:
    out: list[LayerParams] = []
    for layer in layers:
        op, rq, lif = layer.op, layer.rq, layer.lif
        conv = layer.kind == "conv"
        first = layer.index == 0
        val_w = 8 if first else 1
        if conv:
            in_c, in_h, in_w = layer.in_shape
            kh, kw, pad = int(op.weight.shape[2]), int(op.weight.shape[3]), op.padding
            out_h, out_w = layer.out_shape[1], layer.out_shape[2]
            stride_log2 = op.stride.bit_length() - 1
        else:
            in_c, in_h, in_w, kh, kw, pad, out_h, out_w = int(np.prod(layer.in_shape)), 1, 1, 1, 1, 0, 1, 1
            stride_log2 = 0
        oc = layer.channels
        ln = lanes_for(oc, lanes[layer.index])
        nl = min(ln, (neurons or (1,) * len(layers))[layer.index])
        prev = out[-1] if out else None
        in_nl = prev.NLANES if prev else 1
        # a linear layer after a map takes flat indices: the producer's lane j is index + j * (its H*W)
        stride = prev.OUT_H * prev.OUT_W if (prev and not conv) else 1
        pool_log2 = layer.pool_kernel.bit_length() - 1
        max_pool = separate_pool(layer, OPS)
        # fold_kernel is the stride-1 identity: a strided conv keeps its fused sum pool unfolded
        folded = fold and conv and pool_log2 > 0 and not max_pool and stride_log2 == 0
        w_bits = WEIGHT_BITS
        if folded:
            sums = fold_kernel(op.weight, pool_log2)
            w_bits = max(WEIGHT_BITS, bits_for_range(int(sums.min()), int(sums.max())))
        partial = ranges[op.name].peak * layer.summed_area
        # one product (uint8 x W_BITS-bit weight: VAL_W + W_BITS + 1 bits in the RTL), plus a bit to extend
        term_bits = val_w + w_bits + 2 if val_w > 1 else w_bits + 1
        acc_w = max(bits_for_range(-partial, partial), term_bits)
        mult, bias = rq.multiplier.astype(object), rq.bias.astype(object)
        mul_w = max(2, bits_for_range(min(mult), max(mult)))
        bias_w = max(2, bits_for_range(min(bias), max(bias)))
        cur_w = max(2, ranges[rq.name].bits)
        prod_w = max(ranges[rq.name].peak_bits, rq.shift + cur_w, acc_w + 1, mul_w + 1, bias_w + 1)
        lif_rng = ranges[lif.name]
        saturate = bool(lif_rng.note)
        state_w = lif.state_type.bits if saturate else max(lif_rng.bits, lif.threshold.bit_length() + 1)
        nxt = layers[layer.index + 1] if layer.index + 1 < len(layers) else None
        desc = f"{op.kind} {op.name} {layer.in_shape} -> {layer.conv_shape}"
        if layer.pool is not None:
            desc += f", {layer.pool.kind} {layer.pool.name} k={layer.pool_kernel} -> {layer.out_shape}"
        desc += f", requantize {rq.name}, lif {lif.name} ({layer.neurons} neurons)"
        out.append(
            LayerParams(
                index=layer.index, name=lif.name, desc=desc, linear=not conv,
                IN_C=in_c, IN_H=in_h, IN_W=in_w, VAL_W=val_w, OC=oc, KH=kh, KW=kw, PAD=pad, OUT_H=out_h,
                OUT_W=out_w, POOL_LOG2=pool_log2, MAX_POOL=int(max_pool), LANES=ln, NLANES=nl, IN_NL=in_nl,
                MASK_STRIDE=stride, GROUPS=-(-oc // ln),
                ACC_W=acc_w, MUL_W=mul_w, BIAS_W=bias_w, PROD_W=prod_w, SHIFT=rq.shift, CUR_W=cur_w,
                STATE_W=state_w, THRESH=lif.threshold, DECAY_MULT=lif.decay_multiplier,
                DM_W=max(1, lif.decay_multiplier.bit_length(), lif.decay_shift), DECAY_SHIFT=lif.decay_shift,
                RESET_ZERO=int(lif.reset == "zero"), SATURATE=int(saturate), KEEP_ACC=int(static and first),
                NEXT_FLAT=int(nxt is not None and nxt.kind != "conv"),
                weight_file=f"{prefix}_{op.name}_w.hex", rq_file=f"{prefix}_{rq.name}_rq.hex",
                FOLD=int(folded), W_BITS=w_bits, STRIDE_LOG2=stride_log2,
                **current_params(layer), **recurrent_params(layer, prefix),
            )
        )  # fmt: skip
    return out


def current_params(layer: Layer) -> dict[str, int]:
    """The synaptic current's parameters (qsnn_layer SYN_*), none without one."""
    syn = layer.current
    if syn is None:
        return {}
    return {
        "SYN": 1,
        "SYN_W": syn.state_type.bits,
        "SYN_MULT": syn.decay_multiplier,
        "SYN_SHIFT": syn.decay_shift,
    }


def recurrent_params(layer: Layer, prefix: str) -> dict[str, int | str]:
    """The recurrent input's parameters (qsnn_layer REC_*, RACC_W, RMUL_W, RSHIFT), none without one. RACC_W
    holds every partial sum of a neuron's weights (the sums of its negative and of its positive weights
    bound them), RMUL_W the multipliers."""
    rec = layer.recurrent
    if rec is None:
        return {}
    w = rec.weight.astype(np.int64)
    neg, pos = int(np.minimum(w, 0).sum(axis=1).min()), int(np.maximum(w, 0).sum(axis=1).max())
    mult = rec.multiplier.astype(object)
    return {
        "REC": 1,
        "REC_WB": rec.weight_type.bits,
        "RACC_W": max(bits_for_range(neg, pos), rec.weight_type.bits + 1),
        "RMUL_W": max(2, bits_for_range(min(mult), max(mult))),
        "RSHIFT": rec.shift,
        "rec_weight_file": f"{prefix}_{rec.name}_rw.hex",
        "rec_mult_file": f"{prefix}_{rec.name}_rm.hex",
    }


def hex_lines(words: list[int], width: int) -> str:
    digits = max(1, -(-width // 4))
    return "".join(f"{w:0{digits}x}\n" for w in words)


def weight_image(layer: Layer, p: LayerParams) -> str:
    """$readmemh image of the weight ROM: word ``tap * GROUPS + g`` holds the weights of output channels
    ``g*LANES .. g*LANES+LANES-1`` for input tap ``tap`` (conv: ``(c*KH + kh)*KW + kw``; linear: the input
    feature), channel ``g*LANES + l`` in nibble ``l`` (bits 4l+3..4l), two's complement; padding lanes are 0."""
    w = layer.op.weight.astype(np.int64)
    if p.FOLD:  # word ((((ry*2^L + rx)*C + c)*FKH + a)*FKW + b)*GROUPS + g, W_BITS per lane
        taps = fold_kernel(w, p.POOL_LOG2).reshape(-1, p.OC)
    else:
        taps = w.transpose(1, 2, 3, 0).reshape(-1, p.OC) if w.ndim == 4 else w.T
    padded = np.zeros((taps.shape[0], p.GROUPS * p.LANES), dtype=np.int64)
    padded[:, : p.OC] = taps
    fields = (padded & ((1 << p.W_BITS) - 1)).reshape(-1, p.LANES)
    words = [sum(int(n) << (p.W_BITS * i) for i, n in enumerate(row)) for row in fields]
    return hex_lines(words, p.LANES * p.W_BITS)


def requant_image(layer: Layer, p: LayerParams) -> str:
    """$readmemh image of the requantize ROM: word ``b`` holds channels ``b*NLANES .. +NLANES-1``, channel
    ``b*NLANES + j`` in bits ``j*RQ_W +: RQ_W`` as {bias (BIAS_W bits), multiplier (MUL_W)}, under a max pool
    {min (1 where the pool's sign is -1), bias, multiplier} (``RQ_W`` = MUL_W + BIAS_W + MAX_POOL); channels
    past OC are 0."""
    rq_w = p.MUL_W + p.BIAS_W + p.MAX_POOL
    signs = layer.pool.sign.tolist() if p.MAX_POOL else [1] * p.OC  # type: ignore[union-attr]
    pairs = list(zip(layer.rq.multiplier.tolist(), layer.rq.bias.tolist(), signs))
    pairs += [(0, 0, 1)] * (p.blocks * p.NLANES - len(pairs))
    words = []
    for b in range(p.blocks):
        word = 0
        for j, (m, bias, sign) in enumerate(pairs[b * p.NLANES : (b + 1) * p.NLANES]):
            lane = ((int(bias) & ((1 << p.BIAS_W) - 1)) << p.MUL_W) | (int(m) & ((1 << p.MUL_W) - 1))
            lane |= int(sign < 0) << (p.MUL_W + p.BIAS_W)
            word |= lane << (j * rq_w)
        words.append(word)
    return hex_lines(words, p.NLANES * rq_w)


def recurrent_weight_image(layer: Layer, p: LayerParams) -> str:
    """$readmemh image of the recurrent weight ROM: word ``j * rec_stride + b`` holds the weights from neuron
    ``j`` (row ``j`` of the transposed weight, the event of its spike) to neurons ``b*NLANES .. +NLANES-1``,
    neuron ``b*NLANES + l`` in bits ``REC_WB*l +: REC_WB``, two's complement; padding lanes and the words past
    the blocks of an event are 0."""
    w = layer.recurrent.weight.astype(np.int64)  # type: ignore[union-attr]  # weight[to, from]
    padded = np.zeros((p.OC, p.rec_stride * p.NLANES), dtype=np.int64)
    padded[:, : p.OC] = w.T
    fields = (padded & ((1 << p.REC_WB) - 1)).reshape(-1, p.NLANES)
    words = [sum(int(n) << (p.REC_WB * i) for i, n in enumerate(row)) for row in fields]
    return hex_lines(words, p.NLANES * p.REC_WB)


def recurrent_mult_image(layer: Layer, p: LayerParams) -> str:
    """$readmemh image of the recurrent multiplier ROM: word ``b`` holds neurons ``b*NLANES .. +NLANES-1``,
    neuron ``b*NLANES + l`` in bits ``RMUL_W*l +: RMUL_W``, two's complement; padding lanes are 0."""
    m = [int(v) for v in layer.recurrent.multiplier.tolist()]  # type: ignore[union-attr]
    m += [0] * (p.blocks * p.NLANES - len(m))
    mask = (1 << p.RMUL_W) - 1
    words = [
        sum((m[b * p.NLANES + i] & mask) << (p.RMUL_W * i) for i in range(p.NLANES)) for b in range(p.blocks)
    ]
    return hex_lines(words, p.NLANES * p.RMUL_W)
