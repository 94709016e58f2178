"""A tool stopped at its time limit (verify/tools.run_tool) raises ToolTimeout, a ToolchainError whose first line
names the tool and the limit, followed by what the tool had written by then: for a place and route that never
finishes, how far it got."""

from __future__ import annotations

import sys

import pytest

from qsnn_deploy.errors import ToolchainError, ToolTimeout
from qsnn_deploy.verify.tools import TAIL_CHARS, run_tool

SLOW = "import sys, time; print('routed', flush=True); print('arcs left: 51458', file=sys.stderr, flush=True); time.sleep(60)"


def test_a_timed_out_tool_says_what_it_had_written() -> None:
    with pytest.raises(ToolTimeout) as caught:
        run_tool([sys.executable, "-c", SLOW], "slow tool", timeout=1)
    first, *rest = str(caught.value).splitlines()
    assert first.startswith("slow tool timed out after 1 s: ")
    assert rest == ["its last output:", "routed", "arcs left: 51458"]
    assert isinstance(caught.value, ToolchainError)  # callers that catch a toolchain error still catch it


def test_a_silent_timed_out_tool_and_a_long_output() -> None:
    with pytest.raises(ToolTimeout) as caught:
        run_tool([sys.executable, "-c", "import time; time.sleep(60)"], "quiet tool", timeout=1)
    assert str(caught.value).splitlines()[1:] == []
    noisy = f"print('x' * {3 * TAIL_CHARS}, flush=True); import time; time.sleep(60)"
    with pytest.raises(ToolTimeout) as caught:
        run_tool([sys.executable, "-c", noisy], "noisy tool", timeout=1)
    assert len(str(caught.value).split("its last output:\n", 1)[1]) == TAIL_CHARS


def test_a_logged_tool_writes_its_file_as_it_runs(tmp_path) -> None:
    """``log=``: the output goes to the file while the tool runs (a long place and route can be followed); the
    result holds it, and a time-out's message ends with its tail."""
    log = tmp_path / "pnr.log"
    done = run_tool(
        [sys.executable, "-c", "import sys; print('a'); print('b', file=sys.stderr)"], "t", log=log
    )
    assert sorted(done.stdout.split()) == ["a", "b"] and done.stderr == "" and log.read_text() == done.stdout
    with pytest.raises(ToolTimeout) as caught:
        run_tool([sys.executable, "-c", SLOW], "slow tool", timeout=1, log=log)
    assert str(caught.value).splitlines()[1:] == ["its last output:", "routed", "arcs left: 51458"]
    assert log.read_text().splitlines() == ["routed", "arcs left: 51458"]
    with pytest.raises(ToolchainError, match="exit 3"):
        run_tool([sys.executable, "-c", "print('bad'); raise SystemExit(3)"], "t", log=log)
    assert log.read_text() == "bad\n"
