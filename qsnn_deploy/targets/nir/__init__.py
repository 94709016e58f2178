"""The NIR target: the network as a NIR graph (``model.nir``, HDF5) for other neuromorphic tools.

The mapping lives in qsnn_deploy/interop/nir_export.py (docs/targets/nir.md). NIR has float semantics, so no
executor here can be held to the simulator bit for bit: the target writes files for other tools and ``verify``
says so. The ``nir`` package is imported only when a model is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qsnn_deploy.interop.conventions import DEFAULT_DT
from qsnn_deploy.targets import register
from qsnn_deploy.targets.base import CheckedModel, RuleInput, TargetOptions, TargetSpec, rule
from qsnn_deploy.targets.nir.ops import OPS
from qsnn_deploy.targets.options import number

MODEL_FILE = "model.nir"


@dataclass(frozen=True)
class NirSettings(TargetOptions):
    dt: float = number(
        DEFAULT_DT, "the time step in seconds: the NIR time constants are multiples of it", codegen=True,
        what="a time step in seconds",
    )  # fmt: skip


def time_step(options: TargetOptions) -> float:
    """``--option dt`` in seconds, as ``check_model`` read it (finite and above 0)."""
    if not isinstance(options, NirSettings):
        raise TypeError(f"expected the NIR target's checked settings, got {type(options).__name__}")
    return options.dt


@rule("time_step")
def time_step_rule(inp: RuleInput) -> list[str]:
    """``--option dt`` is checked before anything is rendered or written: a finite number above 0 (its option,
    whose errors this rule's name carries too) that gives every LIF finite NIR parameters (``tau = dt / (1 - beta)``, ``r = tau / dt``,
    an IF's ``r = 1 / dt``: interop/nir_export.py), so dt=1e308 or 1e-310 cannot write tau or r = inf."""
    dt = time_step(inp.options)
    problems = []
    for layer in inp.layers:
        decay = layer.lif.decay
        with np.errstate(over="ignore", divide="ignore"):
            tau = np.float64(dt) / np.float64(1.0 - decay) if decay < 1.0 else None
            written = {"r": np.float64(1.0) / np.float64(dt)} if tau is None else {"tau": tau, "r": tau / dt}
        bad = [f"{field} = {value}" for field, value in written.items() if not np.isfinite(value)]
        if bad:
            problems.append(f"{layer.lif.name!r} {', '.join(bad)}")
    if not problems:
        return []
    return [
        f"--option dt={dt:g} gives LIF parameters that are not finite ({'; '.join(problems)}); "
        "give a time step nearer the network's own (seconds, e.g. 1e-4)"
    ]


def render(model: CheckedModel, out: Path) -> list[Path]:
    from qsnn_deploy.interop.nir_export import write_nir

    return [write_nir(model.graph, Path(out) / MODEL_FILE, time_step(model.options))]


TARGET = register(
    TargetSpec(
        name="nir",
        description="NIR graph (model.nir) for other neuromorphic tools; float semantics, no executor",
        rules=(time_step_rule,),
        executors={},
        render=render,
        settings=NirSettings,
        ops=OPS,
        settings_rule="time_step",  # a bad dt is refused under the name of the rule that checks the dt
    )
)
