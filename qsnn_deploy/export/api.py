"""Export entry points: a qsnn-deploy checkpoint, a paper state_dict, or an in-memory model -> integer IR.

Steps: torch modules -> float layers (handlers.py) -> folding passes to a fixed point (passes/) -> integer
IR (quantize.py) -> check against the float model on a few inputs (fidelity.py) -> atomic write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from qsnn_deploy.errors import QsnnError, UnsupportedLayerError
from qsnn_deploy.export import handlers
from qsnn_deploy.export.float_graph import (
    AvgPool,
    BatchNorm,
    FloatGraph,
    Identity,
    IntConv,
    IntLinear,
    MaxPool,
)
from qsnn_deploy.export.passes import PROBE_STEPS, fold
from qsnn_deploy.export.quantize import QuantOptions, to_ir
from qsnn_deploy.ir import metadata as ir_metadata
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.ranges import overflow_sites
from qsnn_deploy.models import network
from qsnn_deploy.models.network import DATASET_OF_ARCH, STREAM_ARCHS
from qsnn_deploy.models.provenance import file_sha256

__all__ = [
    "DATASET_OF_ARCH",
    "STREAM_ARCHS",
    "ExportResult",
    "export_checkpoint",
    "export_model",
    "load_for_export",
    "qsnn_layers",
]


@dataclass
class ExportResult:
    graph: Graph
    passes: list[str]
    warnings: list[str] = field(default_factory=list)
    check: dict | None = None  # float-vs-integer agreement on the probe inputs (fidelity.compare)
    model: nn.Module | None = None  # the float model the graph was exported from (eval mode)


def qsnn_layers(model: nn.Module) -> list:
    """The paper network's float layers in the order of :func:`qsnn_deploy.models.network.layers` (its pooling
    and flattening are functional, not modules)."""
    layers = []
    for layer in network.layers(model.config):
        if layer.kind == "avgpool":
            layers.append(AvgPool(layer.name, layer.kernel))
        elif layer.kind == "maxpool":
            layers.append(MaxPool(layer.name, layer.kernel))
        elif layer.kind == "flatten":
            layers.append(Identity(layer.name, "Flatten"))
        else:
            layers += handlers.convert(layer.name, getattr(model, layer.name))
    return layers


def layer_name(name: str) -> str:
    """An IR op name from a module name: targets derive identifiers from it, so keep it one
    (``0`` -> ``layer0``, ``block.conv`` -> ``block_conv``)."""
    safe = re.sub(r"\W", "_", name)
    return f"layer{safe}" if not safe or safe[0].isdigit() else safe


def sequential_layers(model: nn.Sequential) -> list:
    layers = []
    for name, module in model.named_children():
        layers += handlers.convert(layer_name(name), module)
    # A BatchNorm ahead of every weighted layer acts on the raw input; no pass can move its offset into the
    # integer chain (input_scale would move the input scale across it and change the function).
    for layer in layers:
        if isinstance(layer, (IntConv, IntLinear)):
            break
        if isinstance(layer, BatchNorm):
            raise UnsupportedLayerError(
                f"layer {layer.name!r}: a BatchNorm before the first QuantConv2d/QuantLinear is not supported; "
                "normalise the input in the data pipeline or put the BatchNorm after a weighted layer"
            )
    return layers


def probe_inputs(
    shape: tuple[int, int, int], encoding: str, num_steps: int, n: int = 4, seed: int = 0
) -> np.ndarray:
    """Deterministic inputs for the drift checks of the folding passes (any values in the input range do)."""
    rng = np.random.default_rng(seed)
    if encoding == "static":
        return rng.integers(0, 256, (n, *shape)).astype(np.uint8)
    return (rng.random((n, num_steps, *shape)) < 0.1).astype(np.uint8) * 2


def export_model(
    model: nn.Module,
    *,
    num_steps: int,
    state_bits: int = 32,
    input_shape: tuple[int, int, int] | None = None,
    input_scale: float | None = None,
    encoding: str | None = None,
    check_inputs: np.ndarray | None = None,
    metadata: dict | None = None,
) -> ExportResult:
    """Export an in-memory model: our ``QSNN``, or an ``nn.Sequential`` of Brevitas layers, ``nn.AvgPool2d``,
    ``nn.BatchNorm2d``, ``nn.Dropout``, ``nn.Flatten`` and snnTorch ``Leaky(init_hidden=True)`` (then
    ``input_shape``, ``input_scale`` and ``encoding`` are required)."""
    from qsnn_deploy.export import fidelity
    from qsnn_deploy.models.qsnn import QSNN

    model = model.eval()
    if isinstance(model, QSNN):
        cfg = model.config
        input_shape = input_shape or (cfg.in_channels, *cfg.input_hw)
        encoding = encoding or network.input_encoding(cfg)
        input_scale = input_scale if input_scale is not None else network.input_scale(cfg)
        layers = qsnn_layers(model)
    elif isinstance(model, nn.Sequential):
        if input_shape is None or input_scale is None or encoding is None:
            raise UnsupportedLayerError(
                "exporting an nn.Sequential needs input_shape, input_scale and encoding"
            )
        layers = sequential_layers(model)
    else:
        raise UnsupportedLayerError(
            f"cannot export a {type(model).__name__}: pass a qsnn-deploy QSNN or an nn.Sequential of supported layers"
        )
    fg = FloatGraph(tuple(layers), tuple(input_shape), float(input_scale), encoding, int(num_steps))
    folded, applied = fold(fg, probe_inputs(fg.input_shape, encoding, PROBE_STEPS))
    graph, layer_meta, warnings = to_ir(folded, input_scale, QuantOptions(state_bits=state_bits))
    meta = dict(metadata or {})
    meta["lif_layers"] = layer_meta
    meta["state_bits"] = state_bits
    meta["saturation_sites"] = overflow_sites(graph)
    graph = Graph(graph.input, graph.ops, graph.num_steps, meta).validate()
    result = ExportResult(graph, applied, warnings, model=model)
    inputs = (
        check_inputs if check_inputs is not None else probe_inputs(fg.input_shape, encoding, num_steps, n=8)
    )
    result.check = fidelity.compare(model, graph, inputs, num_steps=min(num_steps, graph.num_steps))
    result.warnings += [f"{name}: never spikes on the check inputs" for name in result.check["silent_layers"]]
    return result


def load_for_export(
    checkpoint: Path,
    *,
    bits: int,
    arch: str = "auto",
    beta: float | None = None,
    threshold: float | None = None,
):
    """(model, config) from a qsnn-deploy checkpoint (arch auto) or a paper state_dict (seed-*)."""
    from qsnn_deploy.models.checkpoint import load_model

    model, config, _ = load_model(checkpoint, bits=bits, arch=arch, beta=beta, threshold=threshold)
    return model, config


def export_checkpoint(
    checkpoint: Path,
    *,
    bits: int = 4,
    state_bits: int = 32,
    arch: str = "auto",
    beta: float | None = None,
    threshold: float | None = None,
    num_steps: int | None = None,
    check_inputs: np.ndarray | None = None,
) -> ExportResult:
    """Export a checkpoint file. The IR's time steps: ``num_steps`` if given, else the steps the checkpoint
    records it was trained with, else the dataset preset's (a paper state_dict records none)."""
    from qsnn_deploy.models.checkpoint import load_model
    from qsnn_deploy.models.presets import get_preset

    if num_steps is not None and num_steps < 1:
        raise QsnnError(f"--num-steps must be >= 1, got {num_steps}")
    checkpoint = Path(checkpoint)
    model, config, trained_steps = load_model(
        checkpoint, bits=bits, arch=arch, beta=beta, threshold=threshold
    )
    dataset = network.dataset_of(config)
    if num_steps is not None:
        steps, steps_from = int(num_steps), "option"
    elif trained_steps:
        steps, steps_from = trained_steps, "checkpoint"
    else:
        steps, steps_from = (get_preset(dataset).train.num_steps if dataset else 100), "preset"
    metadata = {
        "source": {"checkpoint": str(checkpoint.resolve()), "sha256": file_sha256(checkpoint), "arch": arch},
        "model_config": config.to_dict(),
        "dataset": dataset,
        "num_steps_from": steps_from,
    }
    return export_model(
        model, num_steps=steps, state_bits=state_bits, check_inputs=check_inputs, metadata=metadata
    )


def export_builder(
    checkpoint: Path,
    builder: str,
    *,
    num_steps: int,
    input_shape: tuple[int, int, int] | None = None,
    encoding: str | None = None,
    input_scale: float | None = None,
    state_bits: int = 32,
    check_inputs: np.ndarray | None = None,
) -> ExportResult:
    """Export the model ``builder`` ("MODULE:FUNCTION") builds, with the weights-only state_dict at
    ``checkpoint`` (:mod:`qsnn_deploy.export.builder`: imports the user's module, never unpickles one)."""
    from qsnn_deploy.export.builder import build_from_spec, default_input_scale, load_weights
    from qsnn_deploy.models.qsnn import QSNN

    checkpoint = Path(checkpoint)
    model = build_from_spec(builder)
    load_weights(model, checkpoint)
    if isinstance(model, QSNN):
        input_shape = input_shape or (model.config.in_channels, *model.config.input_hw)
        encoding = encoding or network.input_encoding(model.config)
    elif input_shape is None:
        raise QsnnError(f"--builder {builder} builds an {type(model).__name__}: pass --input-shape C,H,W")
    encoding = encoding or "static"
    if input_scale is None:
        input_scale = default_input_scale(encoding)
    metadata = {
        "source": {
            "checkpoint": str(checkpoint.resolve()),
            "sha256": file_sha256(checkpoint),
            "builder": builder,
        },
        "num_steps_from": "option",
    }
    if isinstance(model, QSNN):
        metadata["model_config"] = model.config.to_dict()
        metadata["dataset"] = network.dataset_of(model.config)
    return export_model(
        model,
        num_steps=num_steps,
        state_bits=state_bits,
        input_shape=input_shape,
        input_scale=input_scale,
        encoding=encoding,
        check_inputs=check_inputs,
        metadata=metadata,
    )


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
) -> ExportResult:
    import click

    from qsnn_deploy.export.builder import parse_input_shape
    from qsnn_deploy.models.checkpoint import finite_option

    for name, value in (("beta", beta), ("threshold", threshold), ("input-scale", input_scale)):
        finite_option(name, value)
    if input_scale is not None and input_scale <= 0:
        raise QsnnError(f"--input-scale must be > 0, got {input_scale}")
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
        )
    save_graph(result.graph, out)
    g = result.graph
    click.echo(
        f"wrote {out}: IR v{g.version}, {len(g.ops)} ops, input {g.input.shape} {g.input.encoding}, "
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
        f"check on {check['samples']} probe inputs: predictions agree {check['prediction_agreement']:.1%}, "
        f"output spike counts agree {check['count_agreement']:.1%}"
    )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    return result
