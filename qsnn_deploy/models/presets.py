"""Model configurations and training recipes of the paper's QSNNs (AICAS 2022, jeshraghian/QSNNs).

``PRESETS[name]`` holds a :class:`Preset` = (:class:`ModelConfig`, :class:`TrainPreset`) for ``mnist``,
``fmnist``, ``dvs`` (the paper's tuned values), ``nmnist`` (our choice: the DVS recipe on 34x34x2 input with
10 classes, no BatchNorm, batch 128 and a 10-epoch cosine period like MNIST; see docs/training.md) and
``smnist`` (our choice: the recurrent network of :mod:`qsnn_deploy.models.recurrent` on sequential MNIST).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from qsnn_deploy.errors import CheckpointError, QsnnError

MAX_RECURRENT_LAYERS = 8  # a checkpoint's stack depth is checked before a layer is built


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`~qsnn_deploy.models.qsnn.QSNN` (no weights).

    ``bits=None`` builds the float variant (plain ``nn.Conv2d``/``nn.Linear``). ``pooling``: the 2x2 pool after
    each conv, ``"avg"`` (the paper's) or ``"max"`` (the snnTorch tutorial's). ``recurrent_hidden`` set: the
    recurrent network of :mod:`qsnn_deploy.models.recurrent` of that hidden width instead, with ``input_hw`` =
    (steps, features per step), and ``recurrent_layers`` such hidden layers stacked; the conv fields are then
    unused.
    """

    arch: str
    bits: int | None
    beta: float
    threshold: float
    slope: float
    dropout: float
    batch_norm: bool
    num_classes: int
    in_channels: int
    input_hw: tuple[int, int]
    conv1_channels: int = 16
    conv2_channels: int = 64
    reset: str = "subtract"
    pooling: str = "avg"
    recurrent_hidden: int | None = None
    # one weight scale per output neuron instead of one per layer (Brevitas weight_scaling_per_output_channel;
    # the recurrent network only): the IR's requantize and recurrent multipliers are per channel already
    per_channel: bool = False
    # hidden RLeaky layers stacked one after the other (the recurrent network only; 1 = the smnist preset)
    recurrent_layers: int = 1
    # beta and threshold of every hidden RLeaky are trained (snnTorch learn_beta/learn_threshold): still one
    # value each per layer, as the IR's LIF carries them (the recurrent network only)
    learn_neurons: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types only (safe for ``torch.load(weights_only=True)`` and JSON). ``pooling`` is written
        only when it is not the default, so an average-pooled model's config (and the fingerprint of a graph
        exported from it) is what it was before max pooling existed, and older readers still load it."""
        d = dataclasses.asdict(self)
        d["input_hw"] = [int(v) for v in self.input_hw]
        if self.pooling == "avg":
            del d["pooling"]
        if self.recurrent_hidden is None:  # the same rule: the conv QSNNs' configs are what they were
            del d["recurrent_hidden"]
        if not self.per_channel:
            del d["per_channel"]
        if self.recurrent_layers == 1:
            del d["recurrent_layers"]
        if not self.learn_neurons:
            del d["learn_neurons"]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(
                f"model config has unknown fields {unknown}; written by a newer qsnn-deploy?"
            )
        missing = sorted(f.name for f in dataclasses.fields(cls) if f.name not in data and _required(f))
        if missing:
            raise CheckpointError(f"model config lacks fields {missing}; the checkpoint is incomplete")
        kwargs = dict(data)
        hw = data["input_hw"]
        if not isinstance(hw, (list, tuple)) or len(hw) != 2:
            raise CheckpointError(f"model config field 'input_hw' must be two integers, got {hw!r}")
        kwargs["input_hw"] = tuple(_size("input_hw", v) for v in hw)
        for name in ("num_classes", "in_channels", "conv1_channels", "conv2_channels"):
            kwargs[name] = _size(name, kwargs[name]) if name in kwargs else getattr(cls, name)
        if kwargs.get("recurrent_hidden") is not None:
            kwargs["recurrent_hidden"] = _size("recurrent_hidden", kwargs["recurrent_hidden"])
        layers = kwargs.get("recurrent_layers", 1)
        if isinstance(layers, bool) or not isinstance(layers, int) or not 1 <= layers <= MAX_RECURRENT_LAYERS:
            raise CheckpointError(
                f"model config field 'recurrent_layers' must be an integer 1 to {MAX_RECURRENT_LAYERS}, "
                f"got {layers!r}"
            )
        _check_activations(kwargs)
        bits = kwargs["bits"]
        if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16):
            raise CheckpointError(
                f"model config field 'bits' must be null or an integer 1 to 16, got {bits!r}"
            )
        if not isinstance(kwargs.get("learn_neurons", False), bool):
            raise CheckpointError(
                f"model config field 'learn_neurons' must be true or false, got {kwargs['learn_neurons']!r}"
            )
        if not isinstance(kwargs.get("per_channel", False), bool):
            raise CheckpointError(
                f"model config field 'per_channel' must be true or false, got {kwargs['per_channel']!r}"
            )
        if not isinstance(kwargs["batch_norm"], bool):
            raise CheckpointError(
                f"model config field 'batch_norm' must be true or false, got {kwargs['batch_norm']!r}"
            )
        for name in ("beta", "threshold", "slope", "dropout"):
            value = kwargs[name]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise CheckpointError(f"model config field {name!r} must be a finite number, got {value!r}")
        return cls(**kwargs)

    def with_bits(self, bits: int | None) -> ModelConfig:
        """The same network with another weight width (``None`` or 0 = float)."""
        return dataclasses.replace(self, bits=bits or None)


def _size(name: str, value: Any) -> int:
    """A size a config records: a whole number from 1 to the IR's ``MAX_DIM`` (checked when the checkpoint is
    read, before a tensor of that size is allocated)."""
    from qsnn_deploy.ir.limits import MAX_DIM

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CheckpointError(f"model config field {name!r} must be an integer, got {value!r}")
    if value != int(value) or not 1 <= value <= MAX_DIM:
        raise CheckpointError(
            f"model config field {name!r} must be an integer from 1 to {MAX_DIM}, got {value!r}"
        )
    return int(value)


def _check_activations(kwargs: dict[str, Any]) -> None:
    """The largest activation (a conv's output) and the last layer's weights within the IR's limits."""
    from qsnn_deploy.ir.limits import MAX_ACTIVATION_ELEMENTS, MAX_TENSOR_ELEMENTS

    h, w = kwargs["input_hw"]
    widest = max(kwargs["in_channels"], kwargs["conv1_channels"], kwargs["conv2_channels"])
    fc = kwargs["num_classes"] * kwargs["conv2_channels"] * (h // 4) * (w // 4)
    if widest * h * w > MAX_ACTIVATION_ELEMENTS or fc > MAX_TENSOR_ELEMENTS:
        raise CheckpointError(
            f"model config input_hw {h}x{w} with {widest} channels and {kwargs['num_classes']} classes is larger "
            f"than the IR's limits ({MAX_ACTIVATION_ELEMENTS} values per activation, {MAX_TENSOR_ELEMENTS} per "
            "weight tensor); the file is damaged or not a qsnn-deploy model"
        )


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


@dataclass(frozen=True)
class TrainPreset:
    """Training recipe. ``t_max`` is in iterations (the LR schedule is stepped every iteration).

    ``grad_clip``: max global gradient norm (None = off); ``weight_clip``: clamp every weight to
    [-weight_clip, weight_clip] after each optimizer step (None = off). ``patience``: early-stopping
    patience in epochs on test accuracy. ``loss``: ``"mse_count"`` (the paper's ``mse_count_loss`` with
    ``correct_rate``/``incorrect_rate``) or ``"ce_count"`` (cross-entropy of the output spike counts).
    """

    lr: float
    batch: int
    num_steps: int
    t_max: int
    epochs: int
    patience: int
    grad_clip: float | None = None
    weight_clip: float | None = None
    adam_betas: tuple[float, float] = (0.9, 0.999)
    correct_rate: float = 0.8
    incorrect_rate: float = 0.2
    loss: str = "mse_count"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["adam_betas"] = [float(v) for v in self.adam_betas]
        if self.loss == "mse_count":  # written only when not the paper's, so older readers still load it
            del d["loss"]
        return d


@dataclass(frozen=True)
class Preset:
    model: ModelConfig
    train: TrainPreset = field(repr=False)


PRESETS: dict[str, Preset] = {
    "mnist": Preset(
        ModelConfig(
            arch="qsnn-mnist",
            bits=4,
            beta=0.994,
            threshold=2.915,
            slope=13.84,
            dropout=0.003168,
            batch_norm=True,
            num_classes=10,
            in_channels=1,
            input_hw=(28, 28),
            conv2_channels=64,
        ),
        TrainPreset(lr=5.4e-3, batch=128, num_steps=100, t_max=4690, epochs=10, patience=3),
    ),
    "fmnist": Preset(
        ModelConfig(
            arch="qsnn-fmnist",
            bits=4,
            beta=0.974,
            threshold=2.473,
            slope=5.5565,
            dropout=0.073556,
            batch_norm=True,
            num_classes=10,
            in_channels=1,
            input_hw=(28, 28),
            conv2_channels=64,
        ),
        TrainPreset(lr=2.908e-3, batch=128, num_steps=100, t_max=4690, epochs=10, patience=3),
    ),
    "dvs": Preset(
        ModelConfig(
            arch="qsnn-dvs",
            bits=4,
            beta=0.614,
            threshold=0.427,
            slope=4.413,
            dropout=0.203,
            batch_norm=False,
            num_classes=11,
            in_channels=2,
            input_hw=(32, 32),
            conv2_channels=32,
        ),
        TrainPreset(
            lr=2.634e-3,
            batch=16,
            num_steps=100,
            t_max=735,
            epochs=50,
            patience=10,
            grad_clip=1.0,
            weight_clip=1.0,
        ),
    ),
    # Our choice (not in the paper): the DVS recipe, 34x34 N-MNIST sensor, 10 classes, no BN, 64 conv2 channels;
    # 100 steps of 3 ms cover the ~300 ms recordings; batch 128 and T_max = 10 epochs of 60000 samples.
    "nmnist": Preset(
        ModelConfig(
            arch="qsnn-nmnist",
            bits=4,
            beta=0.614,
            threshold=0.427,
            slope=4.413,
            dropout=0.203,
            batch_norm=False,
            num_classes=10,
            in_channels=2,
            input_hw=(34, 34),
            conv2_channels=64,
        ),
        TrainPreset(
            lr=2.634e-3,
            batch=128,
            num_steps=100,
            t_max=4690,
            epochs=10,
            patience=3,
            grad_clip=1.0,
            weight_clip=1.0,
        ),
    ),
    # Our choice (issue 25, not in the paper): sequential MNIST, one 28-pixel row per step for 28 steps, into a
    # recurrent layer of 256 RLeaky neurons (4-bit recurrent QuantLinear), then 10 Leaky outputs; cross-entropy
    # of the output spike counts; T_max = the whole run (50 epochs of 469 batches), so the LR anneals to ~0.
    "smnist": Preset(
        ModelConfig(
            arch="qsnn-smnist",
            bits=4,
            beta=0.95,
            threshold=1.0,
            slope=10.0,
            dropout=0.0,
            batch_norm=False,
            num_classes=10,
            in_channels=1,
            input_hw=(28, 28),
            recurrent_hidden=256,
        ),
        TrainPreset(
            lr=2e-3,
            batch=128,
            num_steps=28,
            t_max=23450,
            epochs=50,
            patience=0,
            grad_clip=1.0,
            loss="ce_count",
        ),
    ),
}

# ``--arch`` names of the paper's raw state_dicts -> preset.
SEED_ARCHS: dict[str, str] = {"seed-mnist": "mnist", "seed-fmnist": "fmnist", "seed-dvs": "dvs"}


def get_preset(name: str) -> Preset:
    """The preset of a dataset name (mnist|fmnist|nmnist|dvs)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise QsnnError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def model_config(name: str, bits: int | None = 4) -> ModelConfig:
    """The preset's model config with the given weight width (``None``/0 = float)."""
    return get_preset(name).model.with_bits(bits)
