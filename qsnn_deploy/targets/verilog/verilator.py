"""The Verilog target's main executor: the generated RTL compiled by Verilator with the C++ testbench
(templates/verilog/tb/tb_verilator.cpp), every layer's spikes and membranes of every step recorded in full,
and the clock cycles of every inference."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.make_paths import plain_folder, plain_work
from qsnn_deploy.targets.verilog.render import rtl_files
from qsnn_deploy.targets.verilog.settings import verilog_settings
from qsnn_deploy.verify.harness import HarnessRunner
from qsnn_deploy.verify.record import Record
from qsnn_deploy.verify.tools import require_tool, run_tool

LINT_FLAGS = ["--lint-only", "-Wall"]


def sources(model_dir: Path, prefix: str, arch: str = "layered") -> list[str]:
    """The synthesizable sources of an organisation (``--option arch``), top level first."""
    return [str(model_dir / f"{prefix}_top.v"), *(str(model_dir / name) for name in rtl_files(arch))]


def lint(
    model_dir: Path, prefix: str, top: str | None = None, arch: str = "layered"
) -> subprocess.CompletedProcess:
    """``verilator --lint-only -Wall`` on the generated design (raises ToolchainError on any warning)."""
    files = sources(model_dir, prefix, arch)
    if top == f"{prefix}_synth":
        files.insert(0, str(model_dir / f"{prefix}_synth.v"))
    cmd = [require_tool("verilator"), *LINT_FLAGS, "--top-module", top or f"{prefix}_top", *files]
    return run_tool(cmd, "verilator --lint-only -Wall")


def build_verilator(model_dir: Path, work: Path, prefix: str, jobs: int = 2, arch: str = "layered") -> Path:
    """Compile the design and the C++ testbench into ``work/obj_dir/tb``. Verilator's build is make, which
    splits a path at its spaces: the model folder is reached through a plain link (make_paths.py)."""
    obj = plain_work(work) / "obj_dir"
    src = plain_folder(model_dir, work, "model-src")
    cmd = [
        require_tool("verilator"), "--cc", "--exe", "--build", "-O3", "-j", str(jobs), "--x-assign", "fast",
        "--x-initial", "fast", "--top-module", f"{prefix}_top", "-Mdir", str(obj), "-o", "tb",
        "-CFLAGS", f"-O2 -I{src}", *sources(src, prefix, arch), str(src / "tb_verilator.cpp"),
    ]  # fmt: skip
    run_tool(cmd, "building the Verilator testbench", timeout=1800)
    return obj / "tb"


CYCLES = "cycles.bin"  # the testbench's clock cycles per sample, little-endian uint64, after the record


@dataclass
class VerilatorRunner(HarnessRunner):
    cycles: np.ndarray | None = field(default=None, init=False)  # per sample, of the last run

    def run(self, inputs: np.ndarray, steps: int) -> Record:
        record = super().run(inputs, steps)
        self.cycles = np.fromfile(self.path(CYCLES), dtype="<u8").astype(np.int64)
        if len(self.cycles) != len(inputs):
            raise VerificationError(
                f"the testbench reported cycles of {len(self.cycles)} samples, expected {len(inputs)}"
            )
        return record


class VerilatorExecutor:
    """Settings (``--option``, verilog/settings.py): ``jobs``."""

    name = "verilator"
    description = (
        "the RTL compiled by Verilator with a C++ testbench; every layer in full, cycles per inference"
    )

    def build(self, model: CheckedModel, model_dir: Path, work: Path) -> VerilatorRunner:
        settings = verilog_settings(model.options)
        exe = build_verilator(Path(model_dir), Path(work), settings.prefix, settings.jobs, settings.arch)
        # $readmemh opens the memory images relative to the working folder: run in the model's folder
        return VerilatorRunner(
            exe,
            Path(work),
            model.graph,
            model.layers,
            "the Verilator testbench",
            extra=(CYCLES,),
            cwd=Path(model_dir),
        )
