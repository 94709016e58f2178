"""One neuron lane of the Verilog target (templates/verilog/rtl/qsnn_neuron.v) under Icarus against the ops'
own reference (Requantize then LIF), vector by vector, at widths small enough that what the whole-network tests
rarely meet comes up thousands of times: rounding ties of both the requantize and the decay at negative values
(the RTL rounds half up with a carry in, not by adding 2^(s-1)), membranes at the threshold, at the state
type's limits and past them (saturation), both resets, shifts of 0 and a decay of 1."""

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

VECTORS = 4000
LATENCY = 5  # cycles from an input to its v_new / spike (the module's contract)

TESTBENCH = """
`timescale 1ns/1ps
module tb;
    parameter integer N = 1, ACC_W = 1, MUL_W = 1, BIAS_W = 1, PROD_W = 1, SHIFT = 0, CUR_W = 1, STATE_W = 8;
    parameter integer DM_W = 1, DECAY_SHIFT = 0, RESET_ZERO = 0, SATURATE = 0, LATENCY = 4;
    parameter [31:0] THRESH = 32'd1;
    parameter [32:0] DECAY_MULT = 33'd1;
    reg clk = 1'b0;
    reg [ACC_W-1:0] acc_mem [0:N-1];
    reg [MUL_W-1:0] mult_mem [0:N-1];
    reg [BIAS_W-1:0] bias_mem [0:N-1];
    reg [STATE_W-1:0] v_mem [0:N-1];
    reg [ACC_W-1:0] acc;
    reg [MUL_W-1:0] mult;
    reg [BIAS_W-1:0] bias;
    reg [STATE_W-1:0] v;
    wire [STATE_W-1:0] v_new;
    wire spike;
    integer k, f;
    qsnn_neuron #(.ACC_W(ACC_W), .MUL_W(MUL_W), .BIAS_W(BIAS_W), .PROD_W(PROD_W), .SHIFT(SHIFT), .CUR_W(CUR_W),
        .STATE_W(STATE_W), .THRESH(THRESH), .DECAY_MULT(DECAY_MULT), .DM_W(DM_W), .DECAY_SHIFT(DECAY_SHIFT),
        .RESET_ZERO(RESET_ZERO), .SATURATE(SATURATE)
    ) dut (.clk(clk), .acc(acc), .mult(mult), .bias(bias), .v(v), .v_new(v_new), .spike(spike));
    always #5 clk = ~clk;
    initial begin
        $readmemh("acc.hex", acc_mem);
        $readmemh("mult.hex", mult_mem);
        $readmemh("bias.hex", bias_mem);
        $readmemh("v.hex", v_mem);
        f = $fopen("out.txt", "w");
        for (k = 0; k < N + LATENCY; k = k + 1) begin
            @(negedge clk);
            if (k >= LATENCY) $fwrite(f, "%0d %0d\\n", $signed(v_new), spike);  // vector k - LATENCY
            acc = acc_mem[k % N];
            mult = mult_mem[k % N];
            bias = bias_mem[k % N];
            v = v_mem[k % N];
        end
        $fclose(f);
        $finish;
    end
endmodule
"""


@dataclass(frozen=True)
class Case:
    """One lane's parameters: the requantize shift, the LIF's decay, reset and threshold, port widths."""

    shift: int
    decay_multiplier: int
    decay_shift: int
    reset: str
    saturate: bool
    threshold: int = 20
    acc_w: int = 6
    mul_w: int = 5
    bias_w: int = 6
    state_w: int = 8  # STATE_W, and the LIF's state type is int8

    @property
    def cur_w(self) -> int:  # every current the vectors give fits (checked below)
        return self.acc_w + self.mul_w - self.shift + 1

    def params(self) -> dict[str, int]:
        return {
            "N": VECTORS, "ACC_W": self.acc_w, "MUL_W": self.mul_w, "BIAS_W": self.bias_w,
            "PROD_W": max(self.acc_w + self.mul_w + 2, self.shift + self.cur_w), "SHIFT": self.shift,
            "CUR_W": self.cur_w, "STATE_W": self.state_w, "THRESH": self.threshold,
            "DECAY_MULT": self.decay_multiplier,
            "DM_W": max(1, self.decay_multiplier.bit_length(), self.decay_shift), "DECAY_SHIFT": self.decay_shift,
            "RESET_ZERO": int(self.reset == "zero"), "SATURATE": int(self.saturate), "LATENCY": LATENCY,
        }  # fmt: skip


CASES = {
    "subtract-saturate": Case(2, 5, 3, "subtract", True),
    "zero-saturate": Case(3, 3, 2, "zero", True),
    "subtract-exact": Case(1, 7, 3, "subtract", False),
    "zero-exact": Case(2, 1, 1, "zero", False, threshold=9),
    "no-shifts": Case(0, 1, 0, "subtract", True, threshold=100),
    "no-leak": Case(4, 16, 4, "subtract", True, threshold=1),
}


def _signed(rng: np.random.Generator, bits: int, n: int) -> np.ndarray:
    return rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=n, dtype=np.int64)


def _vectors(case: Case, seed: int) -> dict[str, np.ndarray]:
    """Random accumulators, multipliers and biases; random membranes, a third of them within 2 of the threshold
    or of the int8 limits; and what the ops make of them. Where the lane does not saturate, only the vectors
    whose update fits the state (the range analysis proves that it does there)."""
    rng = np.random.default_rng(seed)
    n = 2 * VECTORS
    lo, hi = -(1 << (case.state_w - 1)), (1 << (case.state_w - 1)) - 1
    near = np.clip(rng.choice([case.threshold, lo, hi], size=n) + rng.integers(-2, 3, size=n), lo, hi)
    vec = {
        "acc": _signed(rng, case.acc_w, n), "mult": _signed(rng, case.mul_w, n),
        "bias": _signed(rng, case.bias_w, n),
        "v": np.where(rng.random(n) < 1 / 3, near, _signed(rng, case.state_w, n)),
    }  # fmt: skip
    rq = Requantize("rq", multiplier=vec["mult"], bias=vec["bias"], shift=case.shift, out_type=IntType(32))
    lif = LIF("lif", threshold=case.threshold, decay_multiplier=case.decay_multiplier,
              decay_shift=case.decay_shift, reset=case.reset, state_type=IntType(case.state_w))  # fmt: skip
    current = rq.reference(vec["acc"].reshape(1, -1))[0].reshape(-1)  # one channel per vector
    assert np.abs(current).max() < 1 << (case.cur_w - 1)
    vec["spike"], vec["membrane"] = lif.reference(current, vec["v"])
    keep = np.ones(n, dtype=bool) if case.saturate else (lo < vec["membrane"]) & (vec["membrane"] < hi)
    assert keep.sum() >= VECTORS
    return {name: values[keep][:VECTORS] for name, values in vec.items()}


@pytest.mark.parametrize("name", CASES)
def test_neuron_matches_the_ops(name: str, tmp_path: Path) -> None:
    require_tools("iverilog", "vvp")
    case = CASES[name]
    vec = _vectors(case, list(CASES).index(name))
    # what this test is for: rounding ties at negative values in the requantize and in the decay, saturation
    reset = (vec["v"] > case.threshold) & (case.reset == "zero")
    rounded = ((vec["acc"] * vec["mult"] + vec["bias"], case.shift),
               (np.where(reset, 0, vec["v"]) * case.decay_multiplier, case.decay_shift))  # fmt: skip
    for value, k in rounded:  # -1: nothing rounds (a shift of 0, a no-leak decay with multiplier 2^k)
        ties = negative_ties(value, k)
        assert ties == -1 or ties >= 50, "too few negative ties for the test to mean something"
    assert vec["spike"].any() and not vec["spike"].all()
    if case.saturate:
        assert (np.abs(vec["membrane"]) >= (1 << (case.state_w - 1)) - 1).sum() >= 20

    widths = {"acc": case.acc_w, "mult": case.mul_w, "bias": case.bias_w, "v": case.state_w}
    for port, bits in widths.items():
        write_hex(tmp_path / f"{port}.hex", vec[port], bits)
    (tmp_path / "tb.v").write_text(TESTBENCH)
    rtl = [templates_dir() / "verilog" / "rtl" / name for name in ("qsnn_neuron.v", "qsnn_mul.v")]
    params = [f"-Ptb.{key}={value}" for key, value in case.params().items()]
    run_tool([require_tool("iverilog"), "-g2005", "-Wall", "-Wno-timescale", "-s", "tb", *params,
              "-o", str(tmp_path / "tb.vvp"), str(tmp_path / "tb.v"), *map(str, rtl)], "iverilog", cwd=tmp_path)  # fmt: skip
    run_tool([require_tool("vvp"), "-n", str(tmp_path / "tb.vvp")], "the neuron testbench", cwd=tmp_path)
    assert_unit_outputs(tmp_path / "out.txt", vec, np.ones(VECTORS, dtype=bool))
