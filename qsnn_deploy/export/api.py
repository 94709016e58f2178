"""Export entry points: a qsnn-deploy checkpoint, a paper state_dict, or an in-memory model -> integer IR.

Steps: torch modules -> float layers (handlers.py) -> folding passes to a fixed point (passes/) -> integer
IR (quantize.py) -> check against the float model on a few inputs (fidelity.py) -> atomic write.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from qsnn_deploy.errors import CheckpointError, UnsupportedLayerError
from qsnn_deploy.export import handlers
from qsnn_deploy.export.float_graph import AvgPool, BatchNorm, FloatGraph, Identity, IntConv, IntLinear
from qsnn_deploy.export.passes import PROBE_STEPS, fold
from qsnn_deploy.export.quantize import QuantOptions, to_ir
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.ranges import overflow_sites

# Dataset of each architecture: how its inputs are encoded (docs/datasets.md).
STREAM_ARCHS = ("qsnn-dvs", "qsnn-nmnist")
DATASET_OF_ARCH = {"qsnn-mnist": "mnist", "qsnn-fmnist": "fmnist", "qsnn-dvs": "dvs", "qsnn-nmnist": "nmnist"}


@dataclass
class ExportResult:
    graph: Graph
    passes: list[str]
    warnings: list[str] = field(default_factory=list)
    check: dict | None = None  # float-vs-integer agreement on the probe inputs (fidelity.compare)
    model: nn.Module | None = None  # the float model the graph was exported from (eval mode)


def qsnn_layers(model: nn.Module) -> list:
    """The paper network's layers in execution order (its pooling is functional, not a module)."""
    bn = [getattr(model, f"conv{i}_bn", None) for i in (1, 2)]
    layers = handlers.convert("conv1", model.conv1) + [AvgPool("pool1", 2)]
    layers += handlers.convert("conv1_bn", bn[0]) if bn[0] is not None else []
    layers += handlers.convert("lif1", model.lif1)
    layers += handlers.convert("conv2", model.conv2) + [AvgPool("pool2", 2)]
    layers += handlers.convert("conv2_bn", bn[1]) if bn[1] is not None else []
    layers += handlers.convert("lif2", model.lif2)
    layers += [Identity("flatten", "Flatten")] + handlers.convert("fc1", model.fc1)
    layers += handlers.convert("dropout", model.dropout) + handlers.convert("lif3", model.lif3)
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
        stream = cfg.arch in STREAM_ARCHS
        input_shape = input_shape or (cfg.in_channels, *cfg.input_hw)
        encoding = encoding or ("stream" if stream else "static")
        input_scale = input_scale if input_scale is not None else (1.0 if stream else 1 / 255)
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_for_export(
    checkpoint: Path,
    *,
    bits: int,
    arch: str = "auto",
    beta: float | None = None,
    threshold: float | None = None,
):
    """(model, config) from a qsnn-deploy checkpoint (arch auto) or a paper state_dict (seed-*)."""
    model, config, _ = _load_with_steps(checkpoint, bits=bits, arch=arch, beta=beta, threshold=threshold)
    return model, config


def _load_with_steps(checkpoint: Path, *, bits: int, arch: str, beta: float | None, threshold: float | None):
    """(model, config, trained steps or None): one read of the file. A qsnn-deploy checkpoint records the time
    steps it was trained with, and the IR runs the network as it was trained; a paper state_dict does not."""
    from qsnn_deploy.models.checkpoint import load_checkpoint, load_seed_state_dict

    if arch != "auto":
        model, config = load_seed_state_dict(checkpoint, arch, bits=bits, beta=beta, threshold=threshold)
        return model, config, None
    if beta is not None or threshold is not None:
        raise CheckpointError(
            "--beta/--threshold override the presets of --arch seed-*; a qsnn-deploy checkpoint carries its own"
        )
    model, config, info = load_checkpoint(checkpoint)
    if config.bits is None:
        raise CheckpointError(
            f"{checkpoint} holds a float model; the integer IR needs a model trained with --bits"
        )
    if config.bits != bits:
        raise CheckpointError(
            f"{checkpoint} was trained with {config.bits}-bit weights; pass --bits {config.bits}"
        )
    steps = (info.get("metrics") or {}).get("num_steps") or (info.get("train") or {}).get("num_steps")
    return model, config, int(steps) if steps else None


def export_checkpoint(
    checkpoint: Path,
    *,
    bits: int = 4,
    state_bits: int = 32,
    arch: str = "auto",
    beta: float | None = None,
    threshold: float | None = None,
    check_inputs: np.ndarray | None = None,
) -> ExportResult:
    from qsnn_deploy.models.presets import get_preset

    checkpoint = Path(checkpoint)
    model, config, trained_steps = _load_with_steps(
        checkpoint, bits=bits, arch=arch, beta=beta, threshold=threshold
    )
    dataset = DATASET_OF_ARCH.get(config.arch)
    num_steps = trained_steps or (get_preset(dataset).train.num_steps if dataset else 100)
    metadata = {
        "source": {"checkpoint": str(checkpoint.resolve()), "sha256": _sha256(checkpoint), "arch": arch},
        "model_config": config.to_dict(),
        "dataset": dataset,
    }
    return export_model(
        model, num_steps=num_steps, state_bits=state_bits, check_inputs=check_inputs, metadata=metadata
    )


def export_from_cli(
    checkpoint: Path, *, bits: int, state_bits: int, arch: str, beta, threshold, out: Path
) -> ExportResult:
    import click

    result = export_checkpoint(
        checkpoint, bits=bits, state_bits=state_bits, arch=arch, beta=beta, threshold=threshold
    )
    save_graph(result.graph, out)
    g = result.graph
    click.echo(
        f"wrote {out}: IR v{g.version}, {len(g.ops)} ops, input {g.input.shape} {g.input.encoding}, {g.num_steps} steps"
    )
    click.echo(f"folding passes: {', '.join(dict.fromkeys(result.passes))}")
    for op in g.lif_layers():
        meta = g.metadata["lif_layers"][op.name]
        click.echo(
            f"  {op.name}: threshold {op.threshold} ({op.state_type}), decay {op.decay_multiplier}/2^{op.decay_shift} "
            f"(beta {meta['beta']:.6g} -> {meta['beta_quantized']:.6g})"
        )
    check = result.check
    click.echo(
        f"check on {check['samples']} probe inputs: predictions agree {check['prediction_agreement']:.1%}, "
        f"output spike counts agree {check['count_agreement']:.1%}"
    )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    return result
