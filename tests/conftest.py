"""Shared fixtures. ``data_dir``: the real datasets root from ``$QSNN_DATA_DIR``; tests that need it skip
when it is unset, unless ``QSNN_REQUIRE_DATA=1`` (CI) makes a missing data dir a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Root of the real datasets (mnist/, fashion-mnist/, nmnist-small/, ...)."""
    value = os.environ.get("QSNN_DATA_DIR")
    if not value:
        reason = "QSNN_DATA_DIR is not set; point it at the datasets root (e.g. /work/shared/data)"
        if os.environ.get("QSNN_REQUIRE_DATA") == "1":
            pytest.fail(f"{reason} (QSNN_REQUIRE_DATA=1 makes this mandatory)")
        pytest.skip(reason)
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"QSNN_DATA_DIR={value} is not a directory")
    return path
