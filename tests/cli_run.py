"""Run ``qsnn_deploy.cli.main`` in-process, exactly as the console script calls it (one-line errors included),
without paying for a new interpreter per command."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from qsnn_deploy.cli import main


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: object
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``qsnn-deploy ARGS``. An exception that ``main`` lets through (a
    traceback for a user) propagates and fails the calling test."""
    monkeypatch.setattr(sys, "argv", ["qsnn-deploy", *map(str, args)])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def error_lines(err: str) -> list[str]:
    """The lines of ``err`` that report an error (click's "Error: ..." or our "error: ...")."""
    return [line for line in err.splitlines() if line.lower().startswith("error")]


@dataclass(frozen=True)
class CliResult:
    """What ``subprocess.run(..., capture_output=True, text=True)`` would give for ``qsnn-deploy ARGS``."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: object, env: dict[str, str] | None = None, cwd: Path | None = None) -> CliResult:
    """``qsnn-deploy ARGS`` in this process, with ``env`` set over the environment and ``cwd`` as the working
    folder for the call: the same exit code and output as the console script, without a new interpreter and
    its torch import (about 2.5 CPU s a call). Python warnings go to ``stderr`` as a real run prints them. An
    exception that ``main`` lets through propagates and fails the calling test (a real run would print a
    traceback). The console script itself is run as a process by the demo and wheel tests."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["qsnn-deploy", *map(str, args)]
    code = 0
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(sys, "argv", argv))
        stack.enter_context(mock.patch.dict(os.environ, env or {}))
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("default")
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return CliResult(code, out.getvalue(), err.getvalue())
