"""Running external tools (compilers, emulators, simulators) with typed errors.

A tool runs in its own process group, and however the run ends early (a time-out, Ctrl-C, or SIGTERM, which
the command line turns into an exception: cli.main), the whole group gets SIGTERM first, so that compilers
remove their own temporary files (gcc's ``cc*.s`` in $TMPDIR) and make the half-built target, and SIGKILL
only if it has not ended within ``GRACE_SECONDS``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

from qsnn_deploy.errors import ToolchainError, ToolTimeout


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainError(
            f"{name} not found on PATH; install it (Debian: bash scripts/setup.sh installs every toolchain)"
        )
    return path


GRACE_SECONDS = 5.0
TAIL_CHARS = 3000  # of a failed or timed-out tool's output, in its error


def _end_group(proc: subprocess.Popen) -> str:
    """SIGTERM to ``proc``'s process group, then SIGKILL after ``GRACE_SECONDS``; waits for ``proc`` and returns
    what it had written (stdout, then stderr)."""
    for sig, wait in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            stdout, stderr = proc.communicate(timeout=wait)
            return (stdout or "") + (stderr or "")
        except subprocess.TimeoutExpired:
            continue
    return ""  # pragma: no cover - communicate() without a timeout returns


def run_tool(
    cmd: list[str], what: str, timeout: float = 600, log: Path | None = None, **kwargs
) -> subprocess.CompletedProcess:
    """Run ``cmd``; its output, or a ToolchainError (a ToolTimeout past ``timeout`` seconds) with its last output.
    ``log``: the tool writes its output (stdout and stderr, interleaved) to that file as it runs, so that a long
    run can be followed; the result's ``stdout`` is then the file's text and ``stderr`` is empty."""
    # with a log, the child writes straight to the file's descriptor: it grows as the tool runs
    sink = open(log, "w") if log is not None else contextlib.nullcontext()
    with (
        sink,
        subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE if log is None else sink,
            stderr=subprocess.PIPE if log is None else subprocess.STDOUT,
            text=True,
            process_group=0,
            **kwargs,
        ) as child,
    ):
        try:
            stdout, stderr = child.communicate(timeout=timeout)  # (None, None) with a log
        except subprocess.TimeoutExpired:
            # what it wrote until then says how far it got (nextpnr: the arcs it still had to route)
            written = _end_group(child)
            tail = (written if log is None else Path(log).read_text(errors="replace"))[-TAIL_CHARS:]
            last = f"\nits last output:\n{tail}" if tail.strip() else ""
            raise ToolTimeout(f"{what} timed out after {timeout} s: {' '.join(cmd)}{last}") from None
        except BaseException:  # Ctrl-C, SIGTERM (cli.main), any error: no tool outlives the command
            _end_group(child)
            raise
    if log is not None:
        stdout, stderr = Path(log).read_text(errors="replace"), ""
    proc = subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-TAIL_CHARS:]
        raise ToolchainError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc
