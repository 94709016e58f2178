"""requantize: its fields, range rule and step semantics (docs/ir/ops.md#requantize, docs/ir/ranges.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qsnn_deploy.ir.ops.base import (
    Bounds,
    FieldLimit,
    Op,
    OpRange,
    Shape,
    _freeze,
    _itype,
    _tensor,
    as_bounds,
)
from qsnn_deploy.ir.types import INT32, IntType


def requantize_int(x: int, multiplier: int, bias: int, shift: int) -> int:
    """``(x * multiplier + bias + r) >> shift`` on Python ints (``>>`` floors, as the spec's)."""
    return (x * multiplier + bias + ((1 << (shift - 1)) if shift else 0)) >> shift


@dataclass(frozen=True, eq=False)
class Requantize(Op):
    """Per-channel affine rescale to the membrane's integer scale, rounding half up.

    ``y[c,...] = (x[c,...] * multiplier[c] + bias[c] + r) >> shift`` with ``r = 2**(shift-1)`` (0 when
    shift is 0) and ``>>`` the arithmetic (flooring) shift. Intermediates are exact (at most 64 bits by the
    range analysis); ``y`` fits ``out_type``. Channel ``c`` is axis 0 of the activation. A negative multiplier
    carries a BatchNorm with negative gamma.
    """

    kind: ClassVar[str] = "requantize"
    declared_field: ClassVar[str | None] = "out_type"
    role: ClassVar[str] = "requantize"
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

    def field_limits(self) -> list[FieldLimit]:
        return [("shift", self.shift, 0, 62)]

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

    def reference(self, x: np.ndarray, state: np.ndarray | None = None) -> tuple[np.ndarray, None]:
        per_channel = (1, -1) + (1,) * (x.ndim - 2)  # channel = axis 1 of the batch
        m = self.multiplier.astype(np.int64).reshape(per_channel)
        b = self.bias.astype(np.int64).reshape(per_channel)
        r = (1 << (self.shift - 1)) if self.shift else 0
        return np.right_shift(x.astype(np.int64) * m + b + r, self.shift), None  # arithmetic: floors

    def bounds(self, in_shape: Shape, lo: Bounds, hi: Bounds) -> tuple[Bounds, Bounds, OpRange]:
        """``y`` is monotone in ``x`` (non-decreasing for ``m ≥ 0``, non-increasing for ``m < 0``), so the ends
        of the input interval give the ends of the output's; the multiply is bounded by
        ``max(|lo·m|, |hi·m|) + |b| + 2^s``."""
        lo_o, hi_o, peak = [], [], 0
        for ch, (m, b) in enumerate(zip(self.multiplier.tolist(), self.bias.tolist())):
            a = requantize_int(int(lo[ch]), m, b, self.shift)
            z = requantize_int(int(hi[ch]), m, b, self.shift)
            lo_o.append(min(a, z))
            hi_o.append(max(a, z))
            peak = max(
                peak,
                abs(int(lo[ch]) * m) + abs(b) + (1 << self.shift),
                abs(int(hi[ch]) * m) + abs(b) + (1 << self.shift),
            )
        rng = OpRange(self.name, self.kind, tuple(lo_o), tuple(hi_o), peak, self.out_type)
        return as_bounds(lo_o), as_bounds(hi_o), rng
