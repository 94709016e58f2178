"""The HLS target: Vitis-HLS-style C++ on the Xilinx ap_types, bit-exact in C simulation.

rules.py (design rules), layout.py (ROM rows, ap_int widths from the range analysis, settings), render.py
(templates/hls/: a hand-written kernel header plus thin templates for the data, the top function, the
testbench and the Tcl script of the vendor flow), csim.py (the executor ``verify`` runs: g++ C simulation),
cost.py (a static estimate of cycles per inference). docs/targets/hls.md describes the project.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qsnn_deploy.targets import register
from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.hls import render as _render
from qsnn_deploy.targets.hls.csim import CsimExecutor
from qsnn_deploy.targets.hls.rules import RULES
from qsnn_deploy.targets.hls.settings import HlsSettings


class HlsTarget:
    name = "hls"
    description = "HLS C++ for Vitis HLS (ap_int types from the range analysis, AXI-Stream top, C simulation)"
    rules = RULES
    pools = ("sumpool2d", "maxpool2d")
    settings = (
        HlsSettings  # part, clock_mhz (the Tcl script's, recorded); cxx: csim's compiler, never recorded
    )
    executors = {"csim": CsimExecutor()}

    derived_names = staticmethod(_render.derived_names)  # checked by the shared rule (targets/names.py)

    def render(self, model: CheckedModel, out: Path) -> list[Path]:
        return _render.render(model, out)

    def cost_report(self, model: CheckedModel, inputs: Any, steps: int, work: Path, **kwargs: Any):
        from qsnn_deploy.targets.hls.cost import cost_report

        return cost_report(model, inputs, steps)

    def format_cost(self, report: Any) -> str:
        from qsnn_deploy.targets.hls.cost import format_report

        return format_report(report)


TARGET = register(HlsTarget())
