"""Helpers shared by the toolchain tests: a missing compiler or emulator skips the test locally, and fails it
when QSNN_REQUIRE_TOOLCHAINS=1 (CI)."""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRED = os.environ.get("QSNN_REQUIRE_TOOLCHAINS") == "1"
WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Werror"]


def require_tools(*tools: str) -> None:
    """Skip (or, with QSNN_REQUIRE_TOOLCHAINS=1, fail) unless every tool is on PATH."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    reason = f"missing toolchain: {', '.join(missing)}"
    if REQUIRED:
        pytest.fail(f"{reason} (QSNN_REQUIRE_TOOLCHAINS=1 makes toolchains mandatory)")
    pytest.skip(reason)


def require_hls() -> None:
    """g++ and the ap_types headers (the hls4ml wheel): skip locally, fail under QSNN_REQUIRE_TOOLCHAINS=1."""
    from qsnn_deploy.errors import ToolchainError
    from qsnn_deploy.targets.hls.csim import ap_types_dir

    require_tools("g++")
    try:
        ap_types_dir()
    except ToolchainError as exc:
        if REQUIRED:
            pytest.fail(f"{exc} (QSNN_REQUIRE_TOOLCHAINS=1 makes toolchains mandatory)")
        pytest.skip(str(exc))
