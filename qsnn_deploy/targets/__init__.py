"""Code generators, one sub-package per target. Each target runs its design-rule checks before writing."""

from __future__ import annotations

from pathlib import Path

import click

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.graph import Graph

TARGETS = ("c",)


def generate(
    graph: Graph,
    target: str = "c",
    out: Path | str = "out",
    prefix: str = "qsnn",
    *,
    board: str = "mps2-an386",
) -> list[Path]:
    """Check ``graph`` against ``target``'s design rules, then write its files to ``out``; returns the paths.

    Nothing is written when a rule fails (DesignRuleError names the rule)."""
    if target != "c":
        raise DesignRuleError("known_target", f"unknown target {target!r}; choose one of {TARGETS}")
    from qsnn_deploy.targets.c import checks, render

    stages = checks.run_checks(graph, prefix, board)
    files = render.render_files(graph, stages, prefix)
    return render.write_files(files, Path(out))


def generate_from_cli(model: Path, target: str, out: Path, prefix: str) -> list[Path]:
    """``qsnn-deploy codegen``: load the IR, check, render, and list what was written."""
    from qsnn_deploy.ir.io import load_graph

    graph = load_graph(model)
    paths = generate(graph, target, out, prefix)
    for path in paths:
        click.echo(f"wrote {path} ({path.stat().st_size} bytes)")
    return paths
