"""``qsnn-deploy import``: import a NIR graph (interop/nir_import.py), save it atomically, and print what was
decided, checked and found, with every registered target's verdict on the graph: "buildable" or the reason. A
graph no target can build is still written, with a warning line saying so."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.interop.nir_door import node_label
from qsnn_deploy.interop.nir_import import ImportResult, import_nir
from qsnn_deploy.ir.graph import written_version
from qsnn_deploy.targets.buildable import target_verdicts

__all__ = ["import_from_cli", "report", "target_verdicts"]

# What only the quantizing import reads: --exact takes every integer, shape, step count and width from the file.
QUANTIZING_OPTIONS = ("bits", "num_steps", "encoding", "input_scale", "dt", "convention", "input_shape",
                      "reset", "state_bits", "data_dir", "limit")  # fmt: skip


def import_from_cli(path: Path, out: Path, **options) -> ImportResult:
    """``qsnn-deploy import``: import, save atomically, print what was decided, checked and found."""
    from qsnn_deploy.data.paths import dataset_folders
    from qsnn_deploy.export.builder import parse_input_shape
    from qsnn_deploy.ir.io import save_graph
    from qsnn_deploy.outputs import refuse_outputs_over_inputs

    dataset = options.get("dataset")
    folders = [
        (f"the {dataset} dataset folder", f) for f in dataset_folders(dataset, options.get("data_dir"))
    ]
    refuse_outputs_over_inputs([("--out", out)], [("the NIR file", path)], folders)
    if options.pop("exact", False):
        return import_exact_from_cli(path, out, dataset)
    shape = options.pop("input_shape", None)
    options["input_shape"] = parse_input_shape(shape) if isinstance(shape, str) else shape
    result = import_nir(path, **options)
    verdicts = target_verdicts(result.graph)
    save_graph(result.graph, out)
    report(result, verdicts, out, options.get("bits", 4))
    return result


def _given_on_command_line(names: tuple[str, ...]) -> list[str]:
    """The options of ``names`` the user typed (not left at their defaults), as ``--flag`` names."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return []
    return [
        f"--{n.replace('_', '-')}"
        for n in names
        if ctx.get_parameter_source(n) not in (None, ParameterSource.DEFAULT)
    ]


def import_exact_from_cli(path: Path, out: Path, dataset: str | None) -> ImportResult:
    """``qsnn-deploy import --exact``: the IR graph a NIR file qsnn-deploy wrote holds, every integer as written
    (interop/nir_exact.py), saved with the targets' verdicts; an option of the quantizing import is refused."""
    from qsnn_deploy.interop.nir_exact import import_exact
    from qsnn_deploy.ir.io import save_graph

    given = _given_on_command_line(QUANTIZING_OPTIONS)
    if given:
        raise QsnnError(
            f"--exact takes the graph's integers, widths, steps and input from the file; drop {', '.join(given)}"
        )
    graph = import_exact(path, dataset)
    verdicts = target_verdicts(graph)
    save_graph(graph, out)
    click.echo(f"exact: the IR graph qsnn-deploy wrote into {path.name}, every integer from its metadata")
    click.echo(
        f"wrote {out}: IR v{written_version(graph.ops)}, {len(graph.ops)} ops, input {graph.input.shape} "
        f"{graph.input.encoding}, {graph.num_steps} steps; recurrent layers: "
        f"{', '.join(graph.feedback()) or 'none'}"
    )
    _verdict_lines(verdicts, out)
    return ImportResult(graph, [])


def report(result: ImportResult, verdicts: dict[str, str | None], out: Path, bits: int) -> None:
    """The import's summary on the terminal (``verdicts``: :func:`target_verdicts` of the graph); warnings on
    stderr."""
    s, g, check = result.settings, result.graph, result.check
    click.echo(f"convention: {s.convention} ({s.convention_from})")
    click.echo(f"dt: {s.dt:g} ({s.dt_from})")
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(
        f"wrote {out}: IR v{written_version(g.ops)}, {len(g.ops)} ops, input {g.input.shape} {g.input.encoding}, "
        f"{g.num_steps} steps, {bits}-bit weights (per tensor)"
    )
    originals = g.metadata.get("nir_import", {}).get("nodes", {})
    for op in g.lif_layers():
        click.echo(
            f"  {node_label(op.name, originals)}: threshold {op.threshold} ({op.state_type}), decay "
            f"{op.decay_multiplier}/2^{op.decay_shift}, reset {op.reset}"
        )
    if "dataset" in check:
        click.echo(
            f"check on {check['samples']} {check['dataset']} test samples: float accuracy "
            f"{check['nir_float_accuracy']:.1%} (the graph's weights), {check['float_accuracy']:.1%} (weights at "
            f"{bits} bits); integer accuracy {check['int_accuracy']:.1%}; integer and float at {bits} bits "
            f"predict alike on {check['prediction_agreement']:.1%}"
        )
    else:
        click.echo(
            f"check on {check['samples']} probe inputs: predictions agree with the float graph "
            f"{check['prediction_agreement']:.1%}, output spike counts {check['count_agreement']:.1%}"
        )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    _verdict_lines(verdicts, out)


def _verdict_lines(verdicts: dict[str, str | None], out: Path) -> None:
    """One line per target verdict, then a warning when no target can build the graph."""
    by_reason: dict[str | None, list[str]] = {}
    for name, reason in verdicts.items():
        by_reason.setdefault(reason, []).append(name)
    for reason, names in by_reason.items():  # one line per verdict: a shared layer rule fails every target
        click.echo(f"target {', '.join(names)}: {'buildable' if reason is None else reason}")
    if verdicts and all(reason is not None for reason in verdicts.values()):
        click.echo(
            f"warning: no registered target can build {out} (reasons above); it was written for inspection "
            "and simulation only",
            err=True,
        )
