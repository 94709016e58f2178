"""The C target: C99 for microcontrollers on a hand-written runtime (templates/c/runtime/).

rules.py (design rules), layout.py (weight order, packing, buffer sizes), render.py (templates), host.py and
cortex_m.py (the executors ``verify`` runs: gcc on this machine, or the firmware under QEMU), report.py (flash,
RAM and instruction counts). docs/targets/c.md describes the generated API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qsnn_deploy.targets import register
from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.c import render as _render
from qsnn_deploy.targets.c.cortex_m import CortexMExecutor
from qsnn_deploy.targets.c.host import HostExecutor
from qsnn_deploy.targets.c.rules import RULES
from qsnn_deploy.targets.c.settings import CSettings, c_settings


class CTarget:
    name = "c"
    description = "C99 for microcontrollers and hosts (hand-written runtime + generated data and calls)"
    rules = RULES
    pools = ("sumpool2d", "maxpool2d")
    settings = CSettings  # board (recorded); cc, sanitize, dense, baseline: build settings, never recorded
    executors = {"host": HostExecutor(), "cortex-m": CortexMExecutor()}

    derived_names = staticmethod(_render.derived_names)  # checked by the shared rule (targets/names.py)

    def render(self, model: CheckedModel, out: Path) -> list[Path]:
        return _render.render(model, out)

    def cost_report(self, model: CheckedModel, inputs: Any, steps: int, work: Path, **kwargs: Any):
        from qsnn_deploy.targets.c.report import cost_report

        return cost_report(model, inputs, steps, work, baseline=c_settings(model.options).baseline, **kwargs)

    def format_cost(self, report: Any) -> str:
        from qsnn_deploy.targets.c.report import format_report

        return format_report(report)


TARGET = register(CTarget())
