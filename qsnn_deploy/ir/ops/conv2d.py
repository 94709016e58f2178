"""conv2d: its fields, range rule and step semantics (docs/ir/ops.md#conv2d, docs/ir/ranges.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qsnn_deploy.ir.limits import MAX_DIM, MAX_KERNEL, MAX_PADDING, MAX_STRIDE
from qsnn_deploy.ir.ops.base import (
    Bounds,
    FieldLimit,
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
    declared_field: ClassVar[str | None] = "acc_type"
    role: ClassVar[str] = "synapse"
    layer_kind: ClassVar[str] = "conv"  # the name targets give a layer this op starts
    takes_pool: ClassVar[bool] = True  # a pool may follow it inside its layer (a map, not a vector)
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

    def field_limits(self) -> list[FieldLimit]:
        limits = [("stride", self.stride, 1, MAX_STRIDE), ("padding", self.padding, 0, MAX_PADDING)]
        if self.weight.ndim == 4:
            o, _, kh, kw = (int(v) for v in self.weight.shape)
            limits = [("kernel height", kh, 1, MAX_KERNEL), ("kernel width", kw, 1, MAX_KERNEL),
                      ("output channels", o, 1, MAX_DIM), *limits]  # fmt: skip
        return limits

    def macs(self, in_shape: Shape, out_shape: Shape) -> int:
        return math.prod(out_shape) * math.prod(int(v) for v in self.weight.shape[1:])

    def scratch_values(self, in_shape: Shape, out_shape: Shape) -> int:
        """The largest of the output, the zero-padded input and the im2col matrix of one frame
        (sim/kernels.conv2d_weights pads the kernel to whole stride blocks: ceil(k/s) blocks of s x s pixels
        per axis)."""
        c, h, w = in_shape
        _, ho, wo = out_shape
        kh, kw = int(self.weight.shape[2]), int(self.weight.shape[3])
        s, p = self.stride, self.padding
        padded = c * (h + 2 * p) * (w + 2 * p)
        columns = ho * wo * -(-kh // s) * -(-kw // s) * s * s * c
        return max(math.prod(out_shape), padded, columns)

    def fanout(self, in_shape: Shape) -> np.ndarray:
        """Accumulations one nonzero input element causes, (C, H, W): the synaptic-operation counts."""
        c, h, w = in_shape
        o, _, kh, kw = self.weight.shape
        ho, wo = self.out_shape(in_shape)[1:]

        def cover(size: int, k: int, n_out: int) -> np.ndarray:
            pos = np.arange(size) + self.padding
            return np.array(
                [sum(1 for i in range(n_out) if 0 <= p - i * self.stride < k) for p in pos], dtype=np.int64
            )

        per = np.outer(cover(h, kh, ho), cover(w, kw, wo))
        return np.broadcast_to(per * o, (c, h, w)).copy()

    def fold_input_pool(self, k: int, in_shape: Shape) -> Conv2d:
        """This conv on a ``k x k`` sum pool's output, as one conv on the unpooled map (ir/plan.py
        ``fold_sum_pool``): kernel ``K*k``, stride ``S*k``, padding ``P*k``, ``W'[o,c,dy*k+u,dx*k+v] =
        W[o,c,dy,dx]``."""
        weight = np.repeat(np.repeat(self.weight, k, axis=2), k, axis=3)
        return Conv2d(self.name, weight, self.weight_type, self.stride * k, self.padding * k, self.acc_type)

    def input_pool_problem(self, pool_name: str, k: int, in_shape: Shape) -> str | None:
        """Why a ``k x k`` sum pool on an ``in_shape`` map cannot fold into this conv (None when it can): the
        rows and columns the pool drops must never be read, which padding would."""
        _, h, w = in_shape
        if self.padding and (h % k or w % k):
            return (
                f"sumpool2d {pool_name!r} (k={k}) drops rows or columns of its {h}x{w} input and conv2d "
                f"{self.name!r} pads (padding {self.padding}), so the pool cannot fold into the conv exactly; "
                f"make the map's height and width multiples of {k} or drop the conv's padding"
            )
        return None

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
