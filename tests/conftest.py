"""Shared fixtures. ``data_dir``: the real datasets root from ``$QSNN_DATA_DIR``; tests that need it skip
when it is unset, unless ``QSNN_REQUIRE_DATA=1`` (CI) makes a missing data dir a failure.

Every run shares the executables it builds (Verilator, HLS csim, host gcc) through one build cache
(qsnn_deploy/targets/build_cache.py): when ``$QSNN_BUILD_CACHE`` is unset (run-tests.sh sets it), the
controlling process makes a fresh folder for the run before its xdist workers start, so they inherit it, and
removes it at the end; the summary says how many builds the cache saved. ``QSNN_BUILD_CACHE=`` (set, empty)
runs without a cache, every build as it was before the cache existed.

The run hands out its longest test files first (LONG_FILES, below), so that both workers stay busy to the end."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# build_cache.ENV_VAR, named here so that this file imports no part of the package
ENV_VAR = "QSNN_BUILD_CACHE"

_made_cache: Path | None = None  # the folder this process made for the run, removed when it ends


def pytest_configure(config: pytest.Config) -> None:
    global _made_cache
    if hasattr(config, "workerinput") or ENV_VAR in os.environ:
        return  # an xdist worker (it inherited the controller's folder), or the caller's folder (empty: none)
    _made_cache = Path(tempfile.mkdtemp(prefix="qsnn-build-cache-"))
    os.environ[ENV_VAR] = str(_made_cache)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _made_cache
    if _made_cache is not None:
        shutil.rmtree(_made_cache, ignore_errors=True)
        os.environ.pop(ENV_VAR, None)
        _made_cache = None


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """One line: builds made and builds copied from the cache (its log.txt, written by every worker)."""
    log = Path(os.environ.get(ENV_VAR, "")) / "log.txt"
    if hasattr(config, "workerinput") or not os.environ.get(ENV_VAR) or not log.is_file():
        return
    events = [line.split()[:2] for line in log.read_text().splitlines()]
    kinds = sorted({kind for _, kind in events})
    counts = ", ".join(
        f"{kind} {sum(e == ['miss', kind] for e in events)} built / {sum(e == ['hit', kind] for e in events)} reused"
        for kind in kinds
    )
    terminalreporter.write_line(f"build cache ({os.environ[ENV_VAR]}): {counts}")


# The test files that take longest (seconds of test time on an idle 2-core machine, `--durations`, 2026-12-07),
# longest first. The run hands them to its workers before the rest (longest first is what keeps two workers
# busy to the end): pytest-xdist gives out whole files in collection order once run-tests.sh turns off its own
# order, by number of tests, which put these few-test, long files last and left one worker running them alone.
LONG_FILES = (
    "e2e/test_verilog.py",  # 70
    "e2e/test_verilog_serial.py",  # 52
    "e2e/test_examples.py",  # 50
    "e2e/test_c_codegen.py",  # 45
    "e2e/test_wheel.py",  # 38
    "e2e/test_verilog_fold.py",  # 36
    "e2e/test_verilog_neurons.py",  # 36
    "e2e/test_hls_neurons.py",  # 32
    "e2e/test_hls_codegen.py",  # 25
    "e2e/test_event_pipeline.py",  # 20
    "e2e/test_precompiled_headers.py",  # 19
    "e2e/test_verilog_stride.py",  # 18
    "e2e/test_codegen_hardening.py",  # 15
    "e2e/test_c_neurons.py",  # 14
    "e2e/test_verilog_maxpool.py",  # 14
    "e2e/test_ddp.py",  # 13
)


def file_rank(nodeid: str) -> int:
    """Where a test's file comes in the run: its place in LONG_FILES, or after them all."""
    path = nodeid.split("::")[0].removeprefix("tests/")
    return LONG_FILES.index(path) if path in LONG_FILES else len(LONG_FILES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: file_rank(item.nodeid))  # stable: every other file keeps its order


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
