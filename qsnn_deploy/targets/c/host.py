"""The C target's host executor: the generated model compiled with the host harness (firmware/host/harness.c)
by gcc (or ``cc``), with the full warning set, optionally under ASan/UBSan; every layer recorded in full."""

from __future__ import annotations

import os
from pathlib import Path

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.paths import firmware_dir
from qsnn_deploy.targets.base import CheckedModel, TargetOptions
from qsnn_deploy.targets.build_cache import build_key, cache_folder, cached_build
from qsnn_deploy.targets.c.settings import c_settings
from qsnn_deploy.verify.harness import HarnessRunner
from qsnn_deploy.verify.tools import require_tool, run_tool

WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Werror"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]


def build_host(
    model_dir: Path, exe: Path, *, cc: str = "gcc", sanitize: bool = False, extra: list[str] | None = None
) -> Path:
    """Compile the host harness with the generated model (prefix qsnn) and the full warning set."""
    compiler = require_tool(cc)
    harness = firmware_dir() / "host" / "harness.c"
    flags = [cc, *WARNINGS, "-O2", *(SANITIZE if sanitize else []), *(extra or [])]
    tools = [[compiler, "--version"]]
    runtime = _shared_runtime_object(model_dir / "qsnn_runtime.c", Path(exe), flags, tools)
    cmd = [
        *flags,
        f"-I{model_dir}",
        str(harness),
        str(model_dir / "qsnn_model.c"),
        str(runtime),
        "-o",
        str(exe),
    ]

    def key() -> str:
        inputs = {"model": Path(model_dir), "harness": harness.parent}
        scratch = {"exe": Path(exe), "runtime": runtime}
        return build_key("host", cmd, inputs=inputs, scratch=scratch, tools=tools)

    return cached_build(exe, key, "host", lambda: run_tool(cmd, f"compiling the host harness with {cc}"))


def _shared_runtime_object(source: Path, exe: Path, flags: list[str], tools: list[list[str]]) -> Path:
    """The C runtime (the same file in every model folder, nine tenths of a build's compile) as an object
    compiled once per build cache with ``flags``; without a cache, ``source`` itself, compiled with the rest."""
    if cache_folder() is None:
        return source
    obj = exe.with_name(f"{exe.name}-qsnn_runtime.o")
    cmd = [*flags, "-c", str(source), "-o", str(obj)]

    def key() -> str:
        inputs = {"source": source, "header": source.with_name("qsnn_runtime.h")}
        return build_key("host-runtime", cmd, inputs=inputs, scratch={"obj": obj}, tools=tools)

    return cached_build(obj, key, "host-runtime", lambda: run_tool(cmd, "compiling the C runtime"))


# A sanitizer report fails a run whatever the program's exit status.
SANITIZER_REPORTS = ("runtime error", "Sanitizer")
SANITIZER_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "UBSAN_OPTIONS": "print_stacktrace=1"}


class HostExecutor:
    """Settings (``--option``, c/settings.py): ``cc``, ``sanitize``, ``dense``."""

    name = "host"
    description = "the generated C compiled for this machine (gcc) with the host harness; every layer in full"

    def describe(self, options: TargetOptions) -> str:
        """What ``build`` compiles with these settings, for verify's summary (a dense build is not the code
        the user ships)."""
        settings = c_settings(options)
        kernels = (
            "the dense baseline kernels (-DQSNN_DENSE_BASELINE), not the shipped event kernels"
            if settings.dense
            else "the generated code as shipped"
        )
        sanitize = " with ASan/UBSan" if settings.sanitize else ""
        return f"{kernels}, compiled by {settings.cc}{sanitize}"

    def build(self, model: CheckedModel, model_dir: Path, work: Path) -> HarnessRunner:
        settings = c_settings(model.options)
        extra = ["-DQSNN_RECORD"] + (["-DQSNN_DENSE_BASELINE"] if settings.dense else [])
        if model.options.prefix != "qsnn":
            raise VerificationError(
                f"the host harness is written for the prefix 'qsnn'; regenerate with --prefix qsnn to verify "
                f"(this folder uses {model.options.prefix!r})"
            )
        exe = build_host(model_dir, work / "harness", cc=settings.cc, sanitize=settings.sanitize, extra=extra)
        env = {**os.environ, **SANITIZER_ENV}
        return HarnessRunner(
            exe, work, model.graph, model.layers, "the host harness", env=env, refuse=SANITIZER_REPORTS
        )
