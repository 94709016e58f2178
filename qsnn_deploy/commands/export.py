"""``qsnn-deploy export``: parse the command's options, export (api.py), save atomically, print a summary."""

from __future__ import annotations

from pathlib import Path

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.export.api import (
    CLI_CHECK_SAMPLES,
    ExportResult,
    export_builder,
    export_checkpoint,
)
from qsnn_deploy.ir import metadata as ir_metadata
from qsnn_deploy.ir.graph import written_version
from qsnn_deploy.ir.io import save_graph

__all__ = ["export_from_cli"]


_STEPS_FROM = {
    "option": "from --num-steps",
    "checkpoint": "as trained, recorded in the checkpoint",
    "preset": "the preset's; the checkpoint records none, pass --num-steps to choose",
}


def export_from_cli(
    checkpoint: Path,
    *,
    state_bits: int,
    out: Path,
    bits: int = 4,
    arch: str = "auto",
    beta: float | None = None,
    threshold: float | None = None,
    num_steps: int | None = None,
    builder: str | None = None,
    input_shape: str | None = None,
    encoding: str | None = None,
    input_scale: float | None = None,
    dataset: str | None = None,
    data_dir: Path | None = None,
    limit: int | None = None,
) -> ExportResult:
    import click

    from qsnn_deploy.data.paths import dataset_folders
    from qsnn_deploy.export.builder import parse_input_shape
    from qsnn_deploy.models.checkpoint import finite_option
    from qsnn_deploy.outputs import refuse_outputs_over_inputs

    folders = [(f"the {dataset} dataset folder", f) for f in dataset_folders(dataset, data_dir)]
    refuse_outputs_over_inputs([("--out", out)], [("the checkpoint", checkpoint)], folders)
    for name, value in (("beta", beta), ("threshold", threshold), ("input-scale", input_scale)):
        finite_option(name, value)
    if input_scale is not None and input_scale <= 0:
        raise QsnnError(f"--input-scale must be > 0, got {input_scale}")
    if dataset is None and (data_dir is not None or limit is not None):
        raise QsnnError("--data-dir and --limit choose the check samples of --dataset; pass --dataset too")
    if dataset is not None and limit is None:
        limit = CLI_CHECK_SAMPLES
    if builder is None:
        builder_only = {"--input-shape": input_shape, "--encoding": encoding, "--input-scale": input_scale}
        given = [name for name, value in builder_only.items() if value is not None]
        if given:
            raise QsnnError(f"{', '.join(given)} describe the input of a --builder model; pass --builder too")
        result = export_checkpoint(
            checkpoint,
            bits=bits,
            state_bits=state_bits,
            arch=arch,
            beta=beta,
            threshold=threshold,
            num_steps=num_steps,
            dataset=dataset,
            data_dir=data_dir,
            limit=limit,
        )
    else:
        if arch != "auto" or beta is not None or threshold is not None:
            raise QsnnError("--arch, --beta and --threshold read the paper's checkpoints; not with --builder")
        if num_steps is None:
            raise QsnnError(f"--builder {builder}: pass --num-steps (a state_dict records no time steps)")
        result = export_builder(
            checkpoint,
            builder,
            num_steps=num_steps,
            input_shape=parse_input_shape(input_shape),
            encoding=encoding,
            input_scale=input_scale,
            state_bits=state_bits,
            dataset=dataset,
            data_dir=data_dir,
            limit=limit,
        )
    save_graph(result.graph, out)
    g = result.graph
    click.echo(
        f"wrote {out}: IR v{written_version(g.ops)}, {len(g.ops)} ops, input {g.input.shape} {g.input.encoding}, "
        f"{g.num_steps} steps ({_STEPS_FROM.get(g.metadata.get('num_steps_from'), 'given by the caller')})"
    )
    click.echo(f"folding passes: {', '.join(dict.fromkeys(result.passes))}")
    for op in g.lif_layers():
        info = ir_metadata.lif_layer(g.metadata, op.name)
        click.echo(
            f"  {op.name}: threshold {op.threshold} ({op.state_type}), decay {op.decay_multiplier}/2^{op.decay_shift} "
            f"(beta {info.beta:.6g} -> {info.beta_quantized:.6g})"
        )
    check = result.check
    click.echo(
        f"check on {result.check_on}: predictions agree {check['prediction_agreement']:.1%}, "
        f"output spike counts agree {check['count_agreement']:.1%}"
    )
    if result.random_check:
        click.echo(
            "note: the check used random probe inputs, not data: a layer it finds silent may spike on real "
            "samples; check on real samples with --dataset NAME"
        )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    return result
