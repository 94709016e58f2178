"""The serial engine's shared neuron unit (templates/verilog/rtl/qsnn_sneuron.v) under Icarus against the ops'
own reference (Requantize then LIF), vector by vector. One run serves several "layers" in turn, as the serial
engine does: the per-layer inputs (threshold, decay multiplier, shifts, reset mode, saturation and its bound)
change between blocks of vectors, after the pipeline has drained (the module's contract). The vectors aim at
what whole networks rarely meet: rounding ties of the requantize and the decay at negative values (the RTL
rounds half up with a carry in), shifts of 0, membranes at and around the threshold and the state type's
limits and past them (saturation of int8, int16 and int32 states inside a wider register), both resets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.ir.ops import LIF, Requantize
from qsnn_deploy.ir.types import IntType
from qsnn_deploy.paths import templates_dir
from qsnn_deploy.verify.tools import require_tool, run_tool
from tests.toolchains import require_tools
from tests.verilog_checks import assert_unit_outputs, negative_ties, write_hex

LATENCY = 5  # cycles from an input to its v_new / spike (the module's contract)
BLOCK = 500  # vectors per layer
RTL = templates_dir() / "verilog" / "rtl" / "qsnn_sneuron.v"
PORTS = (
    "acc",
    "mult",
    "bias",
    "v",
    "thresh",
    "dmult",
    "shift_rel",
    "dshift_rel",
    "reset_zero",
    "sat_en",
    "smax",
)

TESTBENCH = """
`timescale 1ns/1ps
module tb;
    parameter integer N = 1, ACC_W = 1, MUL_W = 1, BIAS_W = 1, PROD_W = 1, CUR_W = 1, STATE_W = 8, DM_W = 1;
    parameter integer SH_MIN = 0, SH_LV = 0, DSH_MIN = 0, DSH_LV = 0, SATURATE = 0, LATENCY = 5;
    localparam integer SHR_W = (SH_LV > 0) ? SH_LV : 1;
    localparam integer DSHR_W = (DSH_LV > 0) ? DSH_LV : 1;
    reg clk = 1'b0;
    reg [ACC_W-1:0] acc_mem [0:N-1];
    reg [MUL_W-1:0] mult_mem [0:N-1];
    reg [BIAS_W-1:0] bias_mem [0:N-1];
    reg [STATE_W-1:0] v_mem [0:N-1];
    reg [STATE_W-1:0] thresh_mem [0:N-1];
    reg [DM_W-1:0] dmult_mem [0:N-1];
    reg [SHR_W-1:0] shift_rel_mem [0:N-1];
    reg [DSHR_W-1:0] dshift_rel_mem [0:N-1];
    reg [0:0] reset_zero_mem [0:N-1];
    reg [0:0] sat_en_mem [0:N-1];
    reg [STATE_W-1:0] smax_mem [0:N-1];
    reg [ACC_W-1:0] acc;
    reg [MUL_W-1:0] mult;
    reg [BIAS_W-1:0] bias;
    reg [STATE_W-1:0] v, thresh, smax;
    reg [DM_W-1:0] dmult;
    reg [SHR_W-1:0] shift_rel;
    reg [DSHR_W-1:0] dshift_rel;
    reg reset_zero, sat_en;
    wire [STATE_W-1:0] v_new;
    wire spike;
    integer k, f;
    qsnn_sneuron #(.ACC_W(ACC_W), .MUL_W(MUL_W), .BIAS_W(BIAS_W), .PROD_W(PROD_W), .CUR_W(CUR_W),
        .STATE_W(STATE_W), .DM_W(DM_W), .SH_MIN(SH_MIN), .SH_LV(SH_LV), .DSH_MIN(DSH_MIN), .DSH_LV(DSH_LV),
        .SATURATE(SATURATE)
    ) dut (.clk(clk), .acc(acc), .mult(mult), .bias(bias), .v(v), .thresh(thresh), .dmult(dmult),
        .shift_rel(shift_rel), .dshift_rel(dshift_rel), .reset_zero(reset_zero), .sat_en(sat_en), .smax(smax),
        .v_new(v_new), .spike(spike));
    always #5 clk = ~clk;
    initial begin
        $readmemh("acc.hex", acc_mem);
        $readmemh("mult.hex", mult_mem);
        $readmemh("bias.hex", bias_mem);
        $readmemh("v.hex", v_mem);
        $readmemh("thresh.hex", thresh_mem);
        $readmemh("dmult.hex", dmult_mem);
        $readmemh("shift_rel.hex", shift_rel_mem);
        $readmemh("dshift_rel.hex", dshift_rel_mem);
        $readmemh("reset_zero.hex", reset_zero_mem);
        $readmemh("sat_en.hex", sat_en_mem);
        $readmemh("smax.hex", smax_mem);
        f = $fopen("out.txt", "w");
        for (k = 0; k < N + LATENCY; k = k + 1) begin
            @(negedge clk);
            if (k >= LATENCY) $fwrite(f, "%0d %0d\\n", $signed(v_new), spike);  // cycle k - LATENCY's
            acc = acc_mem[k % N];
            mult = mult_mem[k % N];
            bias = bias_mem[k % N];
            v = v_mem[k % N];
            thresh = thresh_mem[k % N];
            dmult = dmult_mem[k % N];
            shift_rel = shift_rel_mem[k % N];
            dshift_rel = dshift_rel_mem[k % N];
            reset_zero = reset_zero_mem[k % N];
            sat_en = sat_en_mem[k % N];
            smax = smax_mem[k % N];
        end
        $fclose(f);
        $finish;
    end
endmodule
"""


@dataclass(frozen=True)
class Layer:
    """One layer's constants, as the engine would set them: shifts, decay, reset, threshold, state type."""

    shift: int
    decay_multiplier: int
    decay_shift: int
    reset: str
    saturate: bool
    state_bits: int
    threshold: int


@dataclass(frozen=True)
class Unit:
    """The module's parameters (port widths, shift ranges) and the layers it serves in one run. ``span``: the
    magnitudes of x*m + b the vectors aim at (a power of 2 times 2^shift, so every current fits CUR_W)."""

    acc_w: int
    mul_w: int
    bias_w: int
    cur_w: int
    state_w: int
    dm_w: int
    sh_min: int
    sh_lv: int
    dsh_min: int
    dsh_lv: int
    saturate: bool
    layers: tuple[Layer, ...]

    @property
    def prod_w(self) -> int:
        return max(self.acc_w + self.mul_w, self.bias_w) + 2

    def params(self, n: int) -> dict[str, int]:
        return {
            "N": n, "ACC_W": self.acc_w, "MUL_W": self.mul_w, "BIAS_W": self.bias_w, "PROD_W": self.prod_w,
            "CUR_W": self.cur_w, "STATE_W": self.state_w, "DM_W": self.dm_w, "SH_MIN": self.sh_min,
            "SH_LV": self.sh_lv, "DSH_MIN": self.dsh_min, "DSH_LV": self.dsh_lv,
            "SATURATE": int(self.saturate), "LATENCY": LATENCY,
        }  # fmt: skip


# small operands: ties and saturation come up often; shifts of 0; int8/int16/int32 states in 32 and 16 bits
SMALL = dict(acc_w=8, mul_w=6, bias_w=10, cur_w=15, dm_w=4, sh_min=0, sh_lv=2, dsh_min=0, dsh_lv=2)
UNITS = {
    "state32-saturate": Unit(**SMALL, state_w=32, saturate=True, layers=(
        Layer(0, 1, 0, "subtract", True, 8, 20),
        Layer(3, 5, 3, "zero", True, 8, 30),
        Layer(2, 3, 2, "subtract", False, 32, 1000),
        Layer(1, 8, 3, "zero", True, 32, 5),  # no leak: m = 2^s
        Layer(3, 7, 3, "subtract", True, 8, 1),
        Layer(2, 0, 1, "zero", False, 16, 50),  # no memory: m = 0
        Layer(1, 4, 2, "subtract", True, 32, (1 << 31) - 1),  # threshold at the state type's max
    )),
    "state16-saturate": Unit(**SMALL, state_w=16, saturate=True, layers=(
        Layer(2, 1, 1, "zero", True, 8, 9),
        Layer(0, 4, 2, "subtract", True, 16, 127),
        Layer(0, 8, 3, "subtract", True, 16, 30000),
        Layer(1, 1, 0, "subtract", False, 8, 100),
        Layer(2, 5, 3, "zero", True, 8, 127),
    )),
    # the bundled MNIST model's widths and shift ranges, no saturation (SATURATE = 0)
    "mnist-widths": Unit(acc_w=18, mul_w=32, bias_w=44, cur_w=25, state_w=32, dm_w=16, sh_min=17, sh_lv=3,
                         dsh_min=16, dsh_lv=0, saturate=False, layers=(
        Layer(17, 58982, 16, "subtract", False, 32, 1 << 20),
        Layer(24, 65535, 16, "zero", False, 32, 12345),
        Layer(20, 1, 16, "subtract", False, 16, 300),
        Layer(22, 32768, 16, "subtract", False, 32, 7),
    )),
}  # fmt: skip


def _signed(rng: np.random.Generator, bits: int, n: int) -> np.ndarray:
    return rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=n, dtype=np.int64)


def _layer_vectors(unit: Unit, layer: Layer, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """BLOCK vectors for one layer and what the ops make of them: random operands, x*m + b kept to currents
    that fit CUR_W (and, where the layer does not saturate, to a quarter of its state type's range); membranes
    of the layer's state type, a third within 2 of the threshold or of the type's limits; for shifts past 4, a
    quarter of x*m + b and of the membranes moved onto a rounding tie (random values rarely land on one).
    Where the layer does not saturate, only the vectors whose update fits the state (the range analysis
    proves that it does there)."""
    n = 8 * BLOCK
    state = IntType(layer.state_bits)
    # |x*m + b| < 2^(shift + cur_w - 2): the current fits CUR_W bits with room for the rounding; where the
    # layer does not saturate, the current of at most a quarter of the state type's range, so that most
    # updates fit
    cur_bits = unit.cur_w - 2 if layer.saturate else min(unit.cur_w, layer.state_bits) - 2
    p_bits = min(layer.shift + cur_bits, unit.acc_w + unit.mul_w - 1)
    acc_bits = min(unit.acc_w, max(2, p_bits // 2))
    acc = _signed(rng, acc_bits, n)
    mult = _signed(rng, max(2, min(unit.mul_w, p_bits - acc_bits + 1)), n)
    bias = _signed(rng, min(unit.bias_w, p_bits), n) // 2
    if layer.shift > 4:  # random values rarely land on a tie: move a quarter of them onto one
        p = acc * mult + bias
        tie = rng.random(n) < 0.25
        bias = np.where(tie, bias - p % (1 << layer.shift) + (1 << (layer.shift - 1)), bias)
    near = rng.choice([layer.threshold, state.min, state.max], size=n) + rng.integers(-2, 3, size=n)
    v = np.where(
        rng.random(n) < 1 / 3, np.clip(near, state.min, state.max), _signed(rng, layer.state_bits, n)
    )
    m, ds = layer.decay_multiplier, layer.decay_shift
    zeros = (m & -m).bit_length() - 1  # m = odd * 2^zeros
    if ds > 4 and m and zeros < ds:  # likewise for the decay: v*m = 2^(ds-1) modulo 2^ds
        period = 1 << (ds - zeros)
        tie_v = (1 << (ds - 1 - zeros)) * pow(m >> zeros, -1, period) % period
        moved = v - v % period + tie_v
        v = np.where((rng.random(n) < 0.25) & (moved <= state.max), moved, v)
    rq = Requantize("rq", multiplier=mult, bias=bias, shift=layer.shift, out_type=IntType(unit.cur_w))
    lif = LIF("lif", threshold=layer.threshold, decay_multiplier=layer.decay_multiplier,
              decay_shift=layer.decay_shift, reset=layer.reset, state_type=state)  # fmt: skip
    rq.check((n,))
    lif.check((n,))
    current = rq.reference(acc.reshape(1, -1))[0].reshape(-1)  # one channel per vector
    assert np.abs(current).max() < 1 << (unit.cur_w - 1)
    spike, membrane = lif.reference(current, v)
    keep = np.ones(n, dtype=bool) if layer.saturate else (state.min < membrane) & (membrane < state.max)
    assert keep.sum() >= BLOCK
    vec = {"acc": acc, "mult": mult, "bias": bias, "v": v, "spike": spike, "membrane": membrane}
    vec = {name: values[keep][:BLOCK] for name, values in vec.items()}
    # what this test is for: rounding ties at negative values in the requantize and in the decay
    reset = (vec["v"] > layer.threshold) & (layer.reset == "zero")
    rounded = ((vec["acc"] * vec["mult"] + vec["bias"], layer.shift),
               (np.where(reset, 0, vec["v"]) * layer.decay_multiplier, layer.decay_shift))  # fmt: skip
    for value, k in rounded:  # -1: nothing rounds (a shift of 0, a no-leak decay with multiplier 2^k)
        ties = negative_ties(value, k)
        assert ties == -1 or ties >= 10, f"too few negative ties for {layer} to mean something"
    if layer.saturate:
        assert (np.abs(vec["membrane"]) >= state.max).sum() >= 10, f"{layer} never saturates"
    per_layer = {
        "thresh": layer.threshold, "dmult": layer.decay_multiplier, "shift_rel": layer.shift - unit.sh_min,
        "dshift_rel": layer.decay_shift - unit.dsh_min, "reset_zero": int(layer.reset == "zero"),
        "sat_en": int(layer.saturate), "smax": state.max,
    }  # fmt: skip
    for name, value in per_layer.items():
        vec[name] = np.full(BLOCK, value, dtype=np.int64)
    return vec


def _stream(unit: Unit, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The cycle-by-cycle inputs of all layers in turn, LATENCY - 1 idle cycles after each layer's last vector
    (the per-layer inputs held, the per-neuron ones 0), and which cycles carry a vector."""
    rng = np.random.default_rng(seed)
    blocks, valid = [], []
    for layer in unit.layers:
        vec = _layer_vectors(unit, layer, rng)
        idle = {name: np.full(LATENCY - 1, vec[name][0] if name not in ("acc", "mult", "bias", "v") else 0)
                for name in vec}  # fmt: skip
        blocks += [vec, idle]
        valid += [np.ones(BLOCK, dtype=bool), np.zeros(LATENCY - 1, dtype=bool)]
    stream = {name: np.concatenate([block[name] for block in blocks]) for name in blocks[0]}
    return stream, np.concatenate(valid)


@pytest.mark.parametrize("name", UNITS)
def test_sneuron_matches_the_ops(name: str, tmp_path: Path) -> None:
    require_tools("iverilog", "vvp")
    unit = UNITS[name]
    stream, valid = _stream(unit, list(UNITS).index(name))
    assert all(0 <= layer.shift - unit.sh_min < 1 << max(unit.sh_lv, 1) for layer in unit.layers)
    assert all(0 <= layer.decay_shift - unit.dsh_min < 1 << max(unit.dsh_lv, 1) for layer in unit.layers)
    widths = {
        "acc": unit.acc_w, "mult": unit.mul_w, "bias": unit.bias_w, "v": unit.state_w, "thresh": unit.state_w,
        "dmult": unit.dm_w, "shift_rel": max(unit.sh_lv, 1), "dshift_rel": max(unit.dsh_lv, 1),
        "reset_zero": 1, "sat_en": 1, "smax": unit.state_w,
    }  # fmt: skip
    for port in PORTS:
        write_hex(tmp_path / f"{port}.hex", stream[port], widths[port])
    (tmp_path / "tb.v").write_text(TESTBENCH)
    n = valid.size
    params = [f"-Ptb.{key}={value}" for key, value in unit.params(n).items()]
    sources = [str(tmp_path / "tb.v"), str(RTL)]
    iverilog = [require_tool("iverilog"), "-g2005", "-Wall", "-Wno-timescale", "-s", "tb", *params]
    run_tool([*iverilog, "-o", str(tmp_path / "tb.vvp"), *sources], "iverilog", cwd=tmp_path)
    run_tool([require_tool("vvp"), "-n", str(tmp_path / "tb.vvp")], "the neuron testbench", cwd=tmp_path)
    want = {key: values[valid] for key, values in stream.items()}
    assert want["spike"].any() and not want["spike"].all()
    assert_unit_outputs(tmp_path / "out.txt", want, valid)


@pytest.mark.parametrize("name", UNITS)
def test_sneuron_lints_clean(name: str) -> None:
    require_tools("verilator")
    params = [
        f"-G{key}={value}" for key, value in UNITS[name].params(1).items() if key not in ("N", "LATENCY")
    ]
    run_tool([require_tool("verilator"), "--lint-only", "-Wall", *params, str(RTL)], "verilator --lint-only")
