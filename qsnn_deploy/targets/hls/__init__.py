"""The HLS target: Vitis-HLS-style C++ on the Xilinx ap_types, bit-exact in C simulation.

rules.py (design rules), layout.py (ROM rows, ap_int widths from the range analysis, settings), render.py
(templates/hls/: a hand-written kernel header plus thin templates for the data, the top function, the
testbench and the Tcl script of the vendor flow), csim.py (the executor ``verify`` runs: g++ C simulation),
cost.py (a static estimate of cycles per inference). docs/targets/hls.md describes the project.
"""

from __future__ import annotations

from qsnn_deploy.targets import register
from qsnn_deploy.targets.base import TargetSpec, lazy
from qsnn_deploy.targets.hls import render as _render
from qsnn_deploy.targets.hls.csim import CsimExecutor
from qsnn_deploy.targets.hls.ops import OPS
from qsnn_deploy.targets.hls.rules import RULES
from qsnn_deploy.targets.hls.settings import HlsSettings

TARGET = register(
    TargetSpec(
        name="hls",
        description=(
            "HLS C++ for Vitis HLS (ap_int types from the range analysis, AXI-Stream top, C simulation)"
        ),
        rules=RULES,
        executors={"csim": CsimExecutor()},
        render=_render.render,
        # part, clock_mhz (the Tcl script's, recorded); cxx: csim's compiler, never recorded
        settings=HlsSettings,
        derived_names=_render.derived_names,
        ops=OPS,
        cost_report=lazy("qsnn_deploy.targets.hls.cost", "target_cost_report"),
        format_cost=lazy("qsnn_deploy.targets.hls.cost", "format_report"),
    )
)
