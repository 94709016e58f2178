"""conv2d: its fields, range rule and step semantics (docs/ir/ops.md#conv2d, docs/ir/ranges.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qsnn_deploy.ir.ops.base import (
    Bounds,
    Op,
    OpRange,
    Shape,
    _check_weight,
    _freeze,
    _itype,
    _tensor,
    weighted_sum_range,
)
from qsnn_deploy.ir.types import INT32, IntType


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

    def reference(self, x: np.ndarray, state: np.ndarray | None = None) -> tuple[np.ndarray, None]:
        p = self.padding
        xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (p, p), (p, p)))
        kh, kw = self.weight.shape[2:]
        ho, wo = self.out_shape(x.shape[1:])[1:]
        # windows[n, c, i, j, u, v] = xp[n, c, i*stride + u, j*stride + v]
        windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
        windows = windows[:, :, :: self.stride, :: self.stride][:, :, :ho, :wo]
        return np.einsum("ncijuv,ocuv->noij", windows, self.weight.astype(np.int64)), None

    def bounds(self, in_shape: Shape, lo: Bounds, hi: Bounds) -> tuple[Bounds, Bounds, OpRange]:
        """Every window term is ``W[o,c,u,v] * x`` with ``x`` in its channel's interval; zero padding adds the
        value 0 to that interval (every input type contains 0)."""
        kh, kw = self.weight.shape[2:]
        lo_j = np.repeat(np.minimum(lo, 0) if self.padding else lo, kh * kw)
        hi_j = np.repeat(np.maximum(hi, 0) if self.padding else hi, kh * kw)
        return weighted_sum_range(self, self.weight, lo_j, hi_j, self.acc_type)
