"""Export entry points: a qsnn-deploy checkpoint, a paper state_dict, or an in-memory model -> integer IR.

Steps: torch modules -> float layers (handlers.py) -> folding passes to a fixed point (passes/) -> integer
IR (quantize.py) -> check against the float model on a few inputs (fidelity.py) -> atomic write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from qsnn_deploy.errors import QsnnError, UnsupportedLayerError
from qsnn_deploy.export import handlers
from qsnn_deploy.export.float_graph import (
    AvgPool,
    FloatGraph,
    Identity,
    MaxPool,
)
from qsnn_deploy.export.inference import layer_name
from qsnn_deploy.export.passes import PROBE_STEPS, fold
from qsnn_deploy.export.quantize import QuantOptions, to_ir
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.io import check_graph
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
    "layer_name",
    "load_for_export",
    "qsnn_layers",
]


@dataclass
class ExportResult:
    graph: Graph
    passes: list[str]
    warnings: list[str] = field(default_factory=list)
    check: dict | None = None  # float-vs-integer agreement on the check inputs (fidelity.compare)
    model: nn.Module | None = None  # the float model the graph was exported from (eval mode)
    check_on: str = ""  # what the check ran on, e.g. "8 random probe inputs" or "100 mnist test samples"

    @property
    def random_check(self) -> bool:
        """Whether the check ran on random probes, whose silent-layer verdicts may be false."""
        return self.check_on.endswith(RANDOM_PROBES)


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


def recurrent_qsnn_layers(model: nn.Module) -> list:
    """The float layers of the recurrent preset's :class:`~qsnn_deploy.models.recurrent.RecurrentQSNN`:
    ``fc1 -> lif1 (RLeaky, recurrent lif1.recurrent) [-> fch2 -> lifh2 ...] -> fc2 -> lif2``."""
    from qsnn_deploy.models.recurrent import module_names

    return [
        layer for name in module_names(model.config) for layer in handlers.convert(name, getattr(model, name))
    ]


RANDOM_PROBES = "random probe inputs"
CLI_CHECK_SAMPLES = 100  # export --dataset without --limit: enough to see a layer spike, seconds to run
NO_DATA_HINT = "check on real samples with --dataset NAME (in Python: check_inputs=)"


def sequential_layers(model: nn.Sequential, input_shape: tuple[int, int, int] | None = None) -> list:
    """The float layers of an ``nn.Sequential``; raises the first problem in the order ``check_exportable``
    lists them: a layer no handler takes, a Leaky that hands a tuple on, then (given ``input_shape``) the
    first layer torch cannot run or would compute differently from the IR (:mod:`.sequential`)."""
    from qsnn_deploy.export.sequential import structure_problems, trace_problems

    layers = []
    for name, module in model.named_children():
        layers += handlers.convert(layer_name(name), module)
    problems = structure_problems(model)
    if not problems and input_shape is not None:
        problems = trace_problems(model, tuple(input_shape))
    if problems:
        raise UnsupportedLayerError(problems[0])
    return layers


def probe_inputs(
    shape: tuple[int, int, int],
    encoding: str,
    num_steps: int,
    n: int = 4,
    seed: int = 0,
    scale: float = 1.0,
) -> np.ndarray:
    """Deterministic inputs for the drift checks of the folding passes (any values in the input range do) and
    for export's check without data. Static: uniform pixels. Stream: 10% of the inputs carry ``2 / scale``
    units (clipped to 1..255): 2 events a bin at scale 1 (event counts), a full pixel at scale 1/255 (a row of
    sequential MNIST: 2 units would be 2/255 of a pixel, a current too small for any layer to spike on)."""
    rng = np.random.default_rng(seed)
    if encoding == "static":
        return rng.integers(0, 256, (n, *shape)).astype(np.uint8)
    value = int(np.clip(round(2.0 / scale), 1, 255)) if scale > 0 else 2
    return (rng.random((n, num_steps, *shape)) < 0.1).astype(np.uint8) * np.uint8(value)


def fit_inputs(raw: np.ndarray, shape: tuple[int, int, int], encoding: str, what: str) -> np.ndarray:
    """``raw`` samples as the model's input: static (N, C, H, W) or stream (N, T, C, H, W). A flat model input
    reads image frames flattened in C, H, W order, as ``simulate`` does (:func:`qsnn_deploy.data.frames.
    fit_frames`); another layout or element count is one line naming both shapes."""
    from qsnn_deploy.data.frames import fit_frames

    axes = 4 if encoding == "static" else 5
    if raw.ndim != axes:
        raise QsnnError(
            f"{what} gives {raw.ndim}-axis samples, the model takes {encoding} inputs "
            f"({'(N, C, H, W)' if axes == 4 else '(N, T, C, H, W)'}): pass a dataset of that kind"
        )
    return fit_frames(raw, tuple(shape), what)


def dataset_inputs(
    dataset: str, *, num_steps: int, data_dir: Path | None, limit: int | None
) -> tuple[np.ndarray, str]:
    """(inputs, label) for the export check: the first ``limit`` samples of ``dataset``'s test split."""
    from qsnn_deploy.data import load_dataset

    if limit is not None and limit < 1:
        raise QsnnError(f"--limit must be >= 1, got {limit}")
    ds = load_dataset(dataset, "test", data_dir=data_dir, limit=limit, num_steps=num_steps).as_frames()
    return ds.inputs, f"{len(ds)} {dataset} test samples"


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
    check_on: str | None = None,
) -> ExportResult:
    """Export an in-memory model: our ``QSNN``, or an ``nn.Sequential`` of Brevitas layers, ``nn.AvgPool2d``,
    ``nn.BatchNorm2d``, ``nn.Dropout``, ``nn.Flatten`` and snnTorch ``Leaky(init_hidden=True)`` (then
    ``input_shape``, ``input_scale`` and ``encoding`` are required).

    The float model and the integer simulator are compared on ``check_inputs`` (``check_on`` says what they
    are, e.g. "100 mnist test samples"), by default on 8 random probe inputs, whose silent-layer warnings
    may be false."""
    from qsnn_deploy.export import fidelity
    from qsnn_deploy.ir.plan import layer_pattern_violations
    from qsnn_deploy.models.qsnn import QSNN
    from qsnn_deploy.models.recurrent import RecurrentQSNN

    model = model.eval()
    if isinstance(model, RecurrentQSNN):  # one row of features per step: a stream of (F, 1, 1) frames
        cfg = model.config
        input_shape = input_shape or (cfg.input_hw[1], 1, 1)
        encoding = encoding or "stream"
        input_scale = input_scale if input_scale is not None else 1 / 255
        layers = recurrent_qsnn_layers(model)
    elif isinstance(model, QSNN):
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
        layers = sequential_layers(model, tuple(input_shape))
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
    # every limit and per-sample budget of a .qsnn (ir/limits.py) before the fidelity check runs the model
    graph = check_graph(Graph(graph.input, graph.ops, graph.num_steps, meta))
    # No target builds a graph outside the layer pattern: refuse it here, as check_exportable does.
    problems = layer_pattern_violations(graph)
    if problems:
        raise UnsupportedLayerError(problems[0])
    result = ExportResult(graph, applied, warnings, model=model)
    if check_inputs is None:
        inputs = probe_inputs(fg.input_shape, encoding, num_steps, n=8, scale=float(input_scale))
        result.check_on = f"{len(inputs)} {RANDOM_PROBES}"
    else:
        inputs = fit_inputs(np.asarray(check_inputs), fg.input_shape, encoding, check_on or "check_inputs")
        result.check_on = check_on or f"{len(inputs)} given inputs"
    result.check = fidelity.compare(model, graph, inputs, num_steps=min(num_steps, graph.num_steps))
    maybe = f" (may be false: {NO_DATA_HINT})" if result.random_check else ""
    result.warnings += [
        f"{name}: never spikes on the {result.check_on}{maybe}" for name in result.check["silent_layers"]
    ]
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
    dataset: str | None = None,
    data_dir: Path | None = None,
    limit: int | None = None,
) -> ExportResult:
    """Export a checkpoint file. The IR's time steps: ``num_steps`` if given, else the steps the checkpoint
    records it was trained with, else the dataset preset's (a paper state_dict records none). ``dataset``
    (with ``data_dir`` and ``limit``): run the float-vs-integer check on its first test samples."""
    from qsnn_deploy.models.checkpoint import load_model
    from qsnn_deploy.models.presets import get_preset

    if num_steps is not None and num_steps < 1:
        raise QsnnError(f"--num-steps must be >= 1, got {num_steps}")
    checkpoint = Path(checkpoint)
    model, config, trained_steps = load_model(
        checkpoint, bits=bits, arch=arch, beta=beta, threshold=threshold
    )
    made_for = network.dataset_of(config)
    if num_steps is not None:
        steps, steps_from = int(num_steps), "option"
    elif trained_steps:
        steps, steps_from = trained_steps, "checkpoint"
    else:
        steps, steps_from = (get_preset(made_for).train.num_steps if made_for else 100), "preset"
    metadata = {
        "source": {"checkpoint": str(checkpoint.resolve()), "sha256": file_sha256(checkpoint), "arch": arch},
        "model_config": config.to_dict(),
        "dataset": made_for,
        "num_steps_from": steps_from,
    }
    check_on = None
    if dataset is not None:
        check_inputs, check_on = dataset_inputs(dataset, num_steps=steps, data_dir=data_dir, limit=limit)
    result = export_model(
        model,
        num_steps=steps,
        state_bits=state_bits,
        check_inputs=check_inputs,
        metadata=metadata,
        check_on=check_on,
    )
    if dataset is not None and made_for is not None and dataset != made_for:
        result.warnings.append(f"the check ran on {dataset}, but the model was made for {made_for}")
    return result


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
    dataset: str | None = None,
    data_dir: Path | None = None,
    limit: int | None = None,
) -> ExportResult:
    """Export the model ``builder`` ("MODULE:FUNCTION") builds, with the weights-only state_dict at
    ``checkpoint`` (:mod:`qsnn_deploy.export.builder`: imports the user's module, never unpickles one).
    ``dataset`` (with ``data_dir`` and ``limit``): run the float-vs-integer check on its first test samples
    and record it in the IR, so that ``simulate`` uses it by default."""
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
    check_on = None
    if dataset is not None:
        check_inputs, check_on = dataset_inputs(dataset, num_steps=num_steps, data_dir=data_dir, limit=limit)
        metadata["dataset"] = metadata.get("dataset") or dataset
    return export_model(
        model,
        num_steps=num_steps,
        state_bits=state_bits,
        input_shape=input_shape,
        input_scale=input_scale,
        encoding=encoding,
        check_inputs=check_inputs,
        metadata=metadata,
        check_on=check_on,
    )
