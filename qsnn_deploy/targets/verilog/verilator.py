"""The Verilog target's main executor: the generated RTL compiled by Verilator with the C++ testbench
(templates/verilog/tb/tb_verilator.cpp), every layer's spikes and membranes of every step recorded in full,
and the clock cycles of every inference."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.build_cache import build_key, cache_folder, cached_build
from qsnn_deploy.targets.make_paths import plain_folder, plain_work
from qsnn_deploy.targets.precompiled import shared_header
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
    """Compile the design and the C++ testbench into ``work/obj_dir/tb``: Verilator writes the C++ and its
    makefile, make builds them, as ``verilator --build`` does. Verilator's build is make, which splits a path at
    its spaces: the model folder is reached through a plain link (make_paths.py). The testbench finds
    tb_config.h beside itself (a quoted include), so no flag names the model folder and Verilator's runtime
    objects compile the same for every design.

    With ``$QSNN_BUILD_CACHE`` (build_cache.py) the executable is shared between builds of the same files, the
    runtime objects (verilated.o and the like) between all designs, and verilated.h is parsed once, as a
    precompiled header (precompiled.py)."""
    obj = plain_work(work) / "obj_dir"
    src = plain_folder(model_dir, work, "model-src")
    verilate, makefile = verilate_command(src, obj, prefix, arch), make_command(obj, prefix)
    # Verilator's make compiles the C++ it writes with its configured compiler, g++ where it is installed
    tools = [[verilate[0], "--version"], *([[cxx, "--version"]] if (cxx := shutil.which("g++")) else [])]

    def build() -> None:
        obj.mkdir(parents=True, exist_ok=True)
        run_tool(verilate, "verilating the design", timeout=1800)
        _share_runtime_objects(makefile, obj, tools)
        header = _shared_verilated_header(makefile, obj, tools)
        run_tool(
            [*makefile, *(opt_vars(header) if header else []), "-j", str(jobs)],
            "building the Verilator testbench",
            timeout=1800,
        )

    def key() -> str:  # the number of make's jobs changes no byte of the executable, nor does the header
        return build_key(
            "verilator", [*verilate, *makefile], inputs={"src": src}, scratch={"obj": obj}, tools=tools
        )

    return cached_build(obj / "tb", key, "verilator", build)


def verilate_command(src: Path, obj: Path, prefix: str, arch: str) -> list[str]:
    """Verilator writing the C++ of the design in ``src``, of its testbench and their makefile into ``obj``."""
    return [
        require_tool("verilator"), "--cc", "--exe", "-O3", "--x-assign", "fast", "--x-initial", "fast",
        "--top-module", f"{prefix}_top", "-Mdir", str(obj), "-o", "tb",
        *sources(src, prefix, arch), str(src / "tb_verilator.cpp"),
    ]  # fmt: skip


# g++'s optimisation of the design's and the testbench's C++ (make's OPT_FAST and OPT_SLOW; the runtime objects
# keep Verilator's OPT_GLOBAL). -O1 instead of Verilator's -Os: a small design's C++ compiles in 2.6 s of g++
# instead of 3.0, and the bundled MNIST design (lanes=16) runs no slower (0.21 s per image against 0.34, one
# run each); -O0 compiles in 1.1 s but runs 1.5 s per image.
OPT = "-O1"


def make_command(obj: Path, prefix: str) -> list[str]:
    """make on the makefile Verilator wrote into ``obj`` (targets to add)."""
    return [
        require_tool("make"), "--no-print-directory", "-C", str(obj), "-f", f"V{prefix}_top.mk",
        *opt_vars(None),
    ]  # fmt: skip


def opt_vars(header: Path | None) -> list[str]:
    """make's optimisation variables, with ``-include header`` (the precompiled verilated.h) where there is one
    (given after make_command's, they take its place)."""
    include = f" -include {header}" if header else ""
    return [f"OPT_FAST={OPT}{include}", f"OPT_SLOW={OPT}{include}"]


def _shared_verilated_header(makefile: list[str], obj: Path, tools: list[list[str]]) -> Path | None:
    """verilated.h precompiled in the build cache with the flags make compiles the design's C++ with (None
    without a cache, or where the cache's path has white space, which make's variables cannot carry)."""
    folder = cache_folder()
    if folder is None or any(c.isspace() for c in str(folder)):
        return None
    report = "qsnn-flags: ; @echo $(CXX) $(CXXFLAGS) $(CPPFLAGS) $(OPT_FAST)"
    flags = run_tool([*makefile, "-s", "--eval", report, "qsnn-flags"], "reading Verilator's makefile").stdout
    # -MMD would write a dependency file beside the header in the cache; it does not change the compile
    flags = [flag for flag in shlex.split(flags) if flag not in ("-MMD", "-MP")]
    return shared_header("verilated", '#include "verilated.h"\n', flags, tools, cwd=obj)


def runtime_recipes(makefile: list[str]) -> dict[str, list[str]]:
    """Verilator's runtime objects (its makefile's VK_GLOBAL_OBJS: verilated.o and the like), each with the
    commands make would run to compile it (``make -n -B``)."""
    report = "qsnn-runtime-objects: ; @echo $(VK_GLOBAL_OBJS)"
    what = "reading Verilator's makefile"
    names = run_tool([*makefile, "-s", "--eval", report, "qsnn-runtime-objects"], what).stdout.split()
    return {name: run_tool([*makefile, "-n", "-B", name], what).stdout.splitlines() for name in names}


def _share_runtime_objects(makefile: list[str], obj: Path, tools: list[list[str]]) -> None:
    """With a build cache, put Verilator's runtime objects into ``obj`` from the cache, each keyed by the
    commands that compile it, so that make finds them made."""
    if cache_folder() is None:
        return  # make builds them with the rest
    for name, recipe in runtime_recipes(makefile).items():

        def key(recipe: list[str] = recipe) -> str:
            return build_key("verilator-runtime", recipe, inputs={}, scratch={"obj": obj}, tools=tools)

        def build(name: str = name) -> None:
            run_tool([*makefile, name], f"compiling Verilator's {name}", timeout=1800)

        cached_build(obj / name, key, "verilator-runtime", build)


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
