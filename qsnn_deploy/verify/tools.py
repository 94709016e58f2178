"""Running external tools (compilers, emulators, simulators) with typed errors."""

from __future__ import annotations

import shutil
import subprocess

from qsnn_deploy.errors import ToolchainError


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainError(
            f"{name} not found on PATH; install it (Debian: bash scripts/setup.sh installs every toolchain)"
        )
    return path


def run_tool(cmd: list[str], what: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(f"{what} timed out after {timeout} s: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise ToolchainError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc
