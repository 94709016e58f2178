"""The paper's QSNN layer layout, written once.

Every reader of the network takes its layers from here: the torch model (:mod:`qsnn_deploy.models.qsnn`)
builds its modules and runs its forwards from :func:`layers`, the exporter reads the modules in this order, the
float-vs-integer check names the LIF layers from it, and ``benchmarks/c_speed.py`` unrolls it for ONNX.

Per time step (the paper's reference code, jeshraghian/QSNNs)::

    conv1 -> pool1 -> [conv1_bn] -> lif1 -> conv2 -> pool2 -> [conv2_bn] -> lif2 -> flatten -> fc1 -> dropout -> lif3

The BatchNorms exist only where the config sets ``batch_norm``. A layer's ``name`` is the torch module
attribute (so the ``state_dict`` prefix) and the IR op name. This module imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from qsnn_deploy.models.presets import PRESETS, ModelConfig

POOLS = {"avg": "avgpool", "max": "maxpool"}  # ModelConfig.pooling -> the pool layers' kind
WEIGHTED = ("conv", "linear")
CONV_KERNEL = 5  # both convs: 5x5, stride 1, no padding, no bias
POOL_KERNEL = 2  # 2x2 pool after each conv: average (the paper's) or max (config.pooling)

# Dataset (= preset name) of each architecture, and how its inputs arrive (docs/datasets.md): a static image
# presented at every step (pixels, 1/255 per unit) or a stream of event-count frames (1 per unit).
DATASET_OF_ARCH: dict[str, str] = {preset.model.arch: name for name, preset in PRESETS.items()}
STREAM_DATASETS = ("nmnist", "dvs")
STREAM_ARCHS = tuple(arch for arch, dataset in DATASET_OF_ARCH.items() if dataset in STREAM_DATASETS)


@dataclass(frozen=True)
class Layer:
    """One layer of the per-step chain.

    ``in_size``/``out_size``: channels of a conv, features of a linear, channels of a BatchNorm (out only).
    ``kernel``: the conv's kernel size or the pool's window.
    """

    name: str
    kind: str
    in_size: int = 0
    out_size: int = 0
    kernel: int = 0


@dataclass(frozen=True)
class Stage:
    """One spiking layer as the fast forward runs it: ``flatten``? -> weighted -> ``pool``? -> ``batchnorm``?
    -> ``dropout``? -> ``lif``."""

    weighted: Layer
    lif: Layer
    flatten: Layer | None = None
    pool: Layer | None = None
    batchnorm: Layer | None = None
    dropout: Layer | None = None


def _pooled(size: int) -> int:
    return (size - (CONV_KERNEL - 1)) // POOL_KERNEL  # valid conv, then the pool (floor)


def flattened_features(config: ModelConfig) -> int:
    """Inputs of fc1: conv2's channels times the spatial size left after two conv + pool layers."""
    h, w = config.input_hw
    h, w = _pooled(_pooled(h)), _pooled(_pooled(w))
    if h < 1 or w < 1:
        raise ValueError(f"input_hw {config.input_hw} is too small for two 5x5 convs with 2x2 pooling")
    return config.conv2_channels * h * w


def layers(config: ModelConfig) -> tuple[Layer, ...]:
    """The network of ``config`` in execution order (one time step)."""
    c1, c2 = config.conv1_channels, config.conv2_channels
    if config.pooling not in POOLS:
        raise ValueError(f"pooling {config.pooling!r} is not supported; choose one of {sorted(POOLS)}")
    pool = POOLS[config.pooling]
    chain = [Layer("conv1", "conv", config.in_channels, c1, CONV_KERNEL), Layer("pool1", pool, kernel=2)]
    chain += [Layer("conv1_bn", "batchnorm", out_size=c1)] if config.batch_norm else []
    chain += [
        Layer("lif1", "lif"),
        Layer("conv2", "conv", c1, c2, CONV_KERNEL),
        Layer("pool2", pool, kernel=2),
    ]
    chain += [Layer("conv2_bn", "batchnorm", out_size=c2)] if config.batch_norm else []
    chain += [
        Layer("lif2", "lif"),
        Layer("flatten", "flatten"),
        Layer("fc1", "linear", flattened_features(config), config.num_classes),
        Layer("dropout", "dropout"),
        Layer("lif3", "lif"),
    ]
    return tuple(chain)


_STAGE_FIELD = {"conv": "weighted", "linear": "weighted", "avgpool": "pool", "maxpool": "pool"}
_STAGE_FIELD |= {"batchnorm": "batchnorm"}
_STAGE_FIELD |= {"flatten": "flatten", "dropout": "dropout"}


def stages(config: ModelConfig) -> tuple[Stage, ...]:
    """The layers grouped into spiking stages (each ends with its LIF)."""
    result, parts = [], {}
    for layer in layers(config):
        if layer.kind == "lif":
            result.append(Stage(lif=layer, **parts))
            parts = {}
        else:
            parts[_STAGE_FIELD[layer.kind]] = layer
    return tuple(result)


def lif_names(config: ModelConfig) -> tuple[str, ...]:
    """The LIF layers in order; the i-th (from 1) is recorded as ``cur{i}``, ``mem{i}``, ``spk{i}``."""
    return tuple(layer.name for layer in layers(config) if layer.kind == "lif")


def dataset_of(config: ModelConfig) -> str | None:
    """The dataset (and preset) this architecture was made for, or None for an unknown arch."""
    return DATASET_OF_ARCH.get(config.arch)


def input_encoding(config: ModelConfig) -> str:
    """``"stream"`` (a new event frame each step) or ``"static"`` (the same image every step)."""
    return "stream" if config.arch in STREAM_ARCHS else "static"


def input_scale(config: ModelConfig) -> float:
    """The real value of one input unit: 1 per event, 1/255 per pixel level."""
    return 1.0 if input_encoding(config) == "stream" else 1 / 255
