"""The NIR target: the network as a NIR graph (``model.nir``, HDF5) for other neuromorphic tools.

The mapping lives in qsnn_deploy/interop/nir_export.py (docs/targets/nir.md). NIR has float semantics, so no
executor here can be held to the simulator bit for bit: the target writes files for other tools and ``verify``
says so. The ``nir`` package is imported only when a model is rendered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qsnn_deploy.targets import register
from qsnn_deploy.targets.base import CheckedModel

MODEL_FILE = "model.nir"


class NirTarget:
    name = "nir"
    description = "NIR graph (model.nir) for other neuromorphic tools; float semantics, no executor"
    rules = ()
    codegen_options = ("dt",)
    executors: dict = {}

    def render(self, model: CheckedModel, out: Path) -> list[Path]:
        from qsnn_deploy.interop.conventions import DEFAULT_DT
        from qsnn_deploy.interop.nir_export import write_nir

        dt = model.options.get("dt", str(DEFAULT_DT))
        try:
            step = float(dt)
        except ValueError:
            step = -1.0
        if not step > 0:
            from qsnn_deploy.errors import QsnnError

            raise QsnnError(f"--option dt={dt!r}: give the time step in seconds, a positive number")
        return [write_nir(model.graph, Path(out) / MODEL_FILE, step)]

    def cost_report(self, model: CheckedModel, inputs: Any, steps: int, work: Path, **kwargs: Any) -> Any:
        return None

    def format_cost(self, report: Any) -> str:
        return "the nir target has no cost report"


TARGET = register(NirTarget())
