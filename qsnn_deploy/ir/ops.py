"""The IR's operations: one frozen dataclass each, its integer semantics in the docstring.

docs/ir/ops.md is the normative text; the docstrings repeat the equation so a reader of the code need not
switch files. Arrays are stored read-only. Every op knows its output shape and checks its own fields; the
graph checks that ops fit together.

Activations are integer tensors without a batch axis here: ``(C, H, W)`` for maps, ``(N,)`` for vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from qsnn_deploy.errors import IRValidationError
from qsnn_deploy.ir.types import INT32, IntType

Shape = tuple[int, ...]


def _tensor(**kwargs):
    return field(metadata={"kind": "tensor"}, **kwargs)


def _itype(**kwargs):
    return field(metadata={"kind": "itype"}, **kwargs)


def _freeze(op: object, name: str, dtype: type) -> None:
    """Store a read-only copy in the storage dtype; a value the dtype cannot hold is an error, not a wrap."""
    value = np.asarray(getattr(op, name))
    arr = np.array(value, dtype=dtype, copy=True)
    if value.dtype.kind not in "iubf" or not np.array_equal(arr, value):
        raise IRValidationError(
            f"{getattr(op, 'kind', type(op).__name__)} {getattr(op, 'name', '?')!r}: tensor {name!r} must hold "
            f"integers that fit {np.dtype(dtype).name} (got {value.dtype})"
        )
    arr.setflags(write=False)
    object.__setattr__(op, name, arr)


class Op:
    """Common behaviour of IR operations."""

    kind: ClassVar[str]
    name: str

    def out_shape(self, in_shape: Shape) -> Shape:
        raise NotImplementedError

    def check(self, in_shape: Shape) -> None:
        """Raise IRValidationError when this op cannot take an input of ``in_shape``."""

    def _fail(self, message: str) -> None:
        raise IRValidationError(f"{self.kind} {self.name!r}: {message}")

    def tensors(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("kind") == "tensor"}

    def same_as(self, other: object) -> bool:
        """Structural equality (dataclass equality is disabled because of the arrays)."""
        if type(other) is not type(self):
            return False
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray):
                if a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True


def _check_weight(op: Op, weight: np.ndarray, weight_type: IntType) -> None:
    if not weight_type.signed or not 2 <= weight_type.bits <= 8:
        op._fail(f"weight type must be int2..int8, got {weight_type}")
    if not weight_type.contains(weight):
        op._fail(
            f"weights span [{int(weight.min())}, {int(weight.max())}], outside {weight_type} "
            f"[{weight_type.min}, {weight_type.max}]"
        )


@dataclass(frozen=True, eq=False)
class Conv2d(Op):
    """2-D convolution (cross-correlation) of an integer map with integer weights, no bias.

    ``y[o,i,j] = sum_{c,u,v} W[o,c,u,v] * xp[c, i*stride+u, j*stride+v]`` where ``xp`` is ``x`` zero-padded by
    ``padding`` on each side. Exact: every partial sum fits ``acc_type`` (checked by the range analysis).
    """

    kind: ClassVar[str] = "conv2d"
    name: str
    weight: np.ndarray = _tensor()  # (out_channels, in_channels, kh, kw), int8 storage
    weight_type: IntType = _itype(default=IntType(4))
    stride: int = 1
    padding: int = 0
    acc_type: IntType = _itype(default=INT32)

    def __post_init__(self) -> None:
        _freeze(self, "weight", np.int8)

    def out_shape(self, in_shape: Shape) -> Shape:
        c, h, w = in_shape
        o, _, kh, kw = self.weight.shape
        return (
            o,
            (h + 2 * self.padding - kh) // self.stride + 1,
            (w + 2 * self.padding - kw) // self.stride + 1,
        )

    def check(self, in_shape: Shape) -> None:
        if self.weight.ndim != 4:
            self._fail(f"weight must be 4-D (O, C, kh, kw), got shape {self.weight.shape}")
        _check_weight(self, self.weight, self.weight_type)
        if self.stride < 1 or self.padding < 0:
            self._fail(f"stride must be >= 1 and padding >= 0, got {self.stride}, {self.padding}")
        if len(in_shape) != 3 or in_shape[0] != self.weight.shape[1]:
            self._fail(f"expects a ({self.weight.shape[1]}, H, W) input, got {in_shape}")
        if min(self.out_shape(in_shape)[1:]) < 1:
            self._fail(f"kernel {self.weight.shape[2:]} does not fit input {in_shape}")


@dataclass(frozen=True, eq=False)
class SumPool2d(Op):
    """Non-overlapping sum pooling: ``y[c,i,j] = sum_{u,v < k} x[c, i*k+u, j*k+v]``.

    Rows and columns that do not fill a window are dropped (floor), as ``torch.avg_pool2d`` does; the 1/k²
    of average pooling is folded into the next Requantize.
    """

    kind: ClassVar[str] = "sumpool2d"
    name: str
    kernel: int = 2
    acc_type: IntType = _itype(default=INT32)

    def out_shape(self, in_shape: Shape) -> Shape:
        c, h, w = in_shape
        return (c, h // self.kernel, w // self.kernel)

    def check(self, in_shape: Shape) -> None:
        if self.kernel < 1:
            self._fail(f"kernel must be >= 1, got {self.kernel}")
        if len(in_shape) != 3 or min(in_shape[1:]) < self.kernel:
            self._fail(f"needs a (C, H, W) input with H, W >= {self.kernel}, got {in_shape}")


@dataclass(frozen=True, eq=False)
class Linear(Op):
    """Fully connected layer on the flattened input (C, H, W order, as ``torch.flatten``), no bias.

    ``y[o] = sum_i W[o,i] * flatten(x)[i]``, exact in ``acc_type``.
    """

    kind: ClassVar[str] = "linear"
    name: str
    weight: np.ndarray = _tensor()  # (out_features, in_features), int8 storage
    weight_type: IntType = _itype(default=IntType(4))
    acc_type: IntType = _itype(default=INT32)

    def __post_init__(self) -> None:
        _freeze(self, "weight", np.int8)

    def out_shape(self, in_shape: Shape) -> Shape:
        return (self.weight.shape[0],)

    def check(self, in_shape: Shape) -> None:
        if self.weight.ndim != 2:
            self._fail(f"weight must be 2-D (out, in), got shape {self.weight.shape}")
        _check_weight(self, self.weight, self.weight_type)
        if int(np.prod(in_shape)) != self.weight.shape[1]:
            self._fail(
                f"expects {self.weight.shape[1]} inputs, got shape {in_shape} ({int(np.prod(in_shape))})"
            )


@dataclass(frozen=True, eq=False)
class Requantize(Op):
    """Per-channel affine rescale to the membrane's integer scale, rounding half up.

    ``y[c,...] = (x[c,...] * multiplier[c] + bias[c] + r) >> shift`` with ``r = 2**(shift-1)`` (0 when
    shift is 0) and ``>>`` the arithmetic (flooring) shift. Intermediates are exact (at most 64 bits by the
    range analysis); ``y`` fits ``out_type``. Channel ``c`` is axis 0 of the activation. A negative multiplier
    carries a BatchNorm with negative gamma.
    """

    kind: ClassVar[str] = "requantize"
    name: str
    multiplier: np.ndarray = _tensor()  # (C,) int64 storage, values within int32
    bias: np.ndarray = _tensor()  # (C,) int64
    shift: int = 0
    out_type: IntType = _itype(default=INT32)

    def __post_init__(self) -> None:
        _freeze(self, "multiplier", np.int64)
        _freeze(self, "bias", np.int64)

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def check(self, in_shape: Shape) -> None:
        if self.multiplier.ndim != 1 or self.multiplier.shape != self.bias.shape:
            self._fail(
                f"multiplier and bias must be 1-D of equal length, got {self.multiplier.shape}, {self.bias.shape}"
            )
        if not INT32.contains(self.multiplier):
            self._fail("multipliers must fit int32")
        if not 0 <= self.shift <= 62:
            self._fail(f"shift must be in [0, 62], got {self.shift}")
        if len(in_shape) < 1 or in_shape[0] != self.multiplier.shape[0]:
            self._fail(f"has {self.multiplier.shape[0]} channels but the input has shape {in_shape}")


RESET_MODES = ("subtract", "zero")


@dataclass(frozen=True, eq=False)
class LIF(Op):
    """Leaky integrate-and-fire neurons with integer state, one per input element.

    At every step, with ``v`` the membrane from the previous step (0 before the first):
    ``r = v > threshold``; ``d = (v' * decay_multiplier + h) >> decay_shift`` with ``v' = v`` (subtract) or
    ``v' = 0 if r else v`` (zero), ``h = 2**(decay_shift-1)`` (0 when the shift is 0);
    ``u = d + i - r*threshold`` (subtract) or ``u = d + i`` (zero);
    ``v_new = saturate(u, state_type)``; ``spike = v_new > threshold``. Output: spikes in {0, 1}.
    """

    kind: ClassVar[str] = "lif"
    name: str
    threshold: int = 1
    decay_multiplier: int = 1
    decay_shift: int = 0
    reset: str = "subtract"
    state_type: IntType = _itype(default=INT32)

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def check(self, in_shape: Shape) -> None:
        if self.reset not in RESET_MODES:
            self._fail(f"reset must be one of {RESET_MODES}, got {self.reset!r}")
        if not self.state_type.signed or self.state_type.bits not in (8, 16, 32):
            self._fail(f"state type must be int8, int16 or int32, got {self.state_type}")
        if not 0 < self.threshold <= self.state_type.max:
            self._fail(f"threshold {self.threshold} must be positive and fit {self.state_type}")
        if not 0 <= self.decay_shift <= 31 or not 0 <= self.decay_multiplier <= (1 << self.decay_shift):
            self._fail(
                f"decay must be multiplier/2**shift in [0, 1] with shift <= 31, got "
                f"{self.decay_multiplier}/2**{self.decay_shift}"
            )

    def state_type_numpy(self) -> type:
        return {8: np.int8, 16: np.int16, 32: np.int32}[self.state_type.bits]

    @property
    def decay(self) -> float:
        return self.decay_multiplier / (1 << self.decay_shift)


OP_TYPES: dict[str, type[Op]] = {cls.kind: cls for cls in (Conv2d, SumPool2d, Linear, Requantize, LIF)}
