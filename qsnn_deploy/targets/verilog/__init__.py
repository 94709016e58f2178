"""The Verilog target: synthesizable Verilog-2005 RTL of an event-driven accelerator, bit-exact with the
simulator.

layout.py (per-layer parameters, exact widths from the range analysis, memory images), settings.py (the
options and what they mean for the layers), parts.py (the FPGA parts, block-RAM and DSP estimates), serial.py
(the serial organisation), rules.py (design rules), render.py (RTL library + templates), verilator.py and
icarus.py (the executors ``verify`` runs), report.py (Yosys synthesis and nextpnr Fmax for ECP5 and iCE40,
cycles from the testbench).
docs/targets/verilog.md describes the interface, memory map and parameters.
"""

from __future__ import annotations

from qsnn_deploy.targets import register
from qsnn_deploy.targets.base import TargetSpec, lazy
from qsnn_deploy.targets.verilog import render as _render
from qsnn_deploy.targets.verilog.icarus import IcarusExecutor
from qsnn_deploy.targets.verilog.ops import OPS
from qsnn_deploy.targets.verilog.rules import RULES
from qsnn_deploy.targets.verilog.settings import VerilogSettings
from qsnn_deploy.targets.verilog.verilator import VerilatorExecutor

TARGET = register(
    TargetSpec(
        name="verilog",
        description=(
            "synthesizable Verilog RTL (event-driven, bit-exact; Verilator/Icarus simulation, Yosys/nextpnr)"
        ),
        rules=RULES,
        executors={"verilator": VerilatorExecutor(), "icarus": IcarusExecutor()},
        render=_render.render,
        # arch, lanes, neurons, fold, part (recorded); jobs, parts, synth: never recorded
        settings=VerilogSettings,
        derived_names=_render.derived_names,
        ops=OPS,
        cost_report=lazy("qsnn_deploy.targets.verilog.report", "cost_report"),
        format_cost=lazy("qsnn_deploy.targets.verilog.report", "format_report"),
    )
)
