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
