"""Run ``qsnn_deploy.cli.main`` in-process, exactly as the console script calls it (one-line errors included),
without paying for a new interpreter per command."""

from __future__ import annotations

import sys

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
