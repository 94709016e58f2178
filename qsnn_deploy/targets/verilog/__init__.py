"""The Verilog target: synthesizable Verilog-2005 RTL of an event-driven accelerator, bit-exact with the
simulator.

layout.py (per-layer parameters, exact widths from the range analysis, memory images, block-RAM estimates),
rules.py (design rules), render.py (RTL library + templates), verilator.py and icarus.py (the executors
``verify`` runs), report.py (Yosys synthesis and nextpnr Fmax for ECP5 and iCE40, cycles from the testbench).
docs/targets/verilog.md describes the interface, memory map and parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qsnn_deploy.targets import register
from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.verilog import render as _render
from qsnn_deploy.targets.verilog.icarus import IcarusExecutor
from qsnn_deploy.targets.verilog.rules import RULES
from qsnn_deploy.targets.verilog.settings import VerilogSettings
from qsnn_deploy.targets.verilog.verilator import VerilatorExecutor


class VerilogTarget:
    name = "verilog"
    description = (
        "synthesizable Verilog RTL (event-driven, bit-exact; Verilator/Icarus simulation, Yosys/nextpnr)"
    )
    pools = ("sumpool2d", "maxpool2d")  # the shared rule pool_supported refuses any other pool
    rules = RULES
    settings = (
        VerilogSettings  # arch, lanes, neurons, fold, part (recorded); jobs, parts, synth: never recorded
    )
    executors = {"verilator": VerilatorExecutor(), "icarus": IcarusExecutor()}

    derived_names = staticmethod(_render.derived_names)  # checked by the shared rule (targets/names.py)

    def render(self, model: CheckedModel, out: Path) -> list[Path]:
        return _render.render(model, out)

    def cost_report(self, model: CheckedModel, inputs: Any, steps: int, work: Path, **kwargs: Any):
        from qsnn_deploy.targets.verilog.report import cost_report

        return cost_report(model, inputs, steps, work, **kwargs)

    def format_cost(self, report: Any) -> str:
        from qsnn_deploy.targets.verilog.report import format_report

        return format_report(report)


TARGET = register(VerilogTarget())
