"""The C target: C99 for microcontrollers on a hand-written runtime (templates/c/runtime/).

rules.py (design rules), layout.py (weight order, packing, buffer sizes), render.py (templates), host.py and
cortex_m.py (the executors ``verify`` runs: gcc on this machine, or the firmware under QEMU), report.py (flash,
RAM and instruction counts). docs/targets/c.md describes the generated API.
"""

from __future__ import annotations

from qsnn_deploy.targets import register
from qsnn_deploy.targets.base import TargetSpec, lazy
from qsnn_deploy.targets.c import render as _render
from qsnn_deploy.targets.c.cortex_m import CortexMExecutor
from qsnn_deploy.targets.c.host import HostExecutor
from qsnn_deploy.targets.c.ops import OPS
from qsnn_deploy.targets.c.rules import RULES
from qsnn_deploy.targets.c.settings import CSettings

TARGET = register(
    TargetSpec(
        name="c",
        description="C99 for microcontrollers and hosts (hand-written runtime + generated data and calls)",
        rules=RULES,
        executors={"host": HostExecutor(), "cortex-m": CortexMExecutor()},
        render=_render.render,
        settings=CSettings,  # board (recorded); cc, sanitize, dense, baseline: build settings, never recorded
        derived_names=_render.derived_names,
        ops=OPS,
        cost_report=lazy("qsnn_deploy.targets.c.report", "target_cost_report"),
        format_cost=lazy("qsnn_deploy.targets.c.report", "format_report"),
    )
)
