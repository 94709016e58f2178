"""The HLS target's executor ``csim``: C simulation of the generated project, as Vitis HLS's csim_design
does it, with g++ on this machine: the top function and the testbench compiled against the Xilinx ap_types
headers (from the hls4ml wheel, found at run time, never copied into this repository), run on the binary
vector file; every LIF layer of every step recorded in full."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from qsnn_deploy.errors import ToolchainError
from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.build_cache import build_key, cached_build
from qsnn_deploy.targets.hls.settings import hls_settings
from qsnn_deploy.targets.precompiled import shared_header
from qsnn_deploy.verify.harness import HarnessRunner
from qsnn_deploy.verify.tools import require_tool, run_tool

INSTALL_HINT = "pip install hls4ml (its wheel ships the Xilinx ap_types headers)"
# Our own code compiles with the full warning set. The switches in FOREIGN serve code that is not ours: g++
# does not know Vitis' `#pragma HLS` (it ignores them), and the ap_types headers construct every ap_int through
# a default constructor that leaves its value uninitialised before clearing the unused bits (g++ -O2 reports
# that from inlined code, where -isystem cannot silence it) and use ints in boolean context. The last switch lets
# clang++ (``--option cxx=clang++``) pass over the one g++-only name; g++ ignores unknown -Wno- switches.
WARNINGS = ["-std=c++14", "-Wall", "-Wextra", "-Werror"]
# Vitis names a loop after its label (in its reports and in directives), so every loop has one: g++ calls them
# unused labels.
HLS_LABELS = ["-Wno-unused-label"]
FOREIGN = [
    "-Wno-unknown-pragmas",
    "-Wno-uninitialized",
    "-Wno-maybe-uninitialized",
    "-Wno-int-in-bool-context",
    "-Wno-unknown-warning-option",
]


# what the generated code includes first (qsnn_top.h, qsnn_hls.h)
AP_TYPES_HEADER = "#include <ap_int.h>\n#include <hls_stream.h>\n"


def ap_types_dir() -> Path:
    """The folder holding ap_int.h and hls_stream.h inside the installed hls4ml package; ToolchainError with
    the install command when it is missing."""
    spec = importlib.util.find_spec("hls4ml")
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec is not None else []
    for root in roots:
        for header in sorted(root.rglob("ap_int.h")):
            if (header.parent / "hls_stream.h").is_file():
                return header.parent
    where = "not installed" if not roots else f"installed at {roots[0]} without ap_int.h and hls_stream.h"
    raise ToolchainError(f"the Xilinx ap_types headers are missing (hls4ml {where}); {INSTALL_HINT}")


def build_csim(
    model_dir: Path, exe: Path, *, cxx: str = "g++", prefix: str = "qsnn", extra: list[str] | None = None
) -> Path:
    """Compile the top function and the testbench with ``cxx`` and the warning set above."""
    compiler = require_tool(cxx)
    ap_types = ap_types_dir()
    flags = [compiler, *WARNINGS, *HLS_LABELS, *FOREIGN, "-O2", "-isystem", str(ap_types), *(extra or [])]
    # with a build cache, the ap_types headers (half of the build) are parsed once per cache (precompiled.py)
    header = shared_header("ap_types", AP_TYPES_HEADER, flags, [[compiler, "--version"]])
    cmd = [*flags, f"-I{model_dir}", *(["-include", str(header)] if header else [])]
    cmd += [str(model_dir / f"{prefix}_top.cpp"), str(model_dir / f"{prefix}_tb.cpp"), "-o", str(exe)]

    def key() -> str:
        inputs = {"model": Path(model_dir), "ap_types": ap_types}
        tools = [[compiler, "--version"]]
        return build_key("csim", cmd, inputs=inputs, scratch={"exe": Path(exe)}, tools=tools)

    return cached_build(exe, key, "csim", lambda: run_tool(cmd, f"compiling the HLS C simulation with {cxx}"))


class CsimExecutor:
    """Settings (``--option``, hls/settings.py): ``cxx``."""

    name = "csim"
    description = "C simulation: the HLS top function and testbench compiled with g++ on the ap_types headers"

    def build(self, model: CheckedModel, model_dir: Path, work: Path) -> HarnessRunner:
        exe = build_csim(
            model_dir,
            work / "csim",
            cxx=hls_settings(model.options).cxx,
            prefix=model.options.prefix,
            extra=["-DQSNN_HLS_RECORD"],
        )
        return HarnessRunner(
            exe, work, model.graph, model.layers, "the HLS C simulation", who="the HLS testbench"
        )
