"""linear: its fields, range rule and step semantics (docs/ir/ops.md#linear, docs/ir/ranges.md)."""

from __future__ import annotations

import math
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
class Linear(Op):
    """Fully connected layer on the flattened input (C, H, W order, as ``torch.flatten``), no bias.

    ``y[o] = sum_i W[o,i] * flatten(x)[i]``, exact in ``acc_type``.
    """

    kind: ClassVar[str] = "linear"
    declared_field: ClassVar[str | None] = "acc_type"
    role: ClassVar[str] = "synapse"
    layer_kind: ClassVar[str] = "linear"
    takes_pool: ClassVar[bool] = False  # its output is a vector
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

    def macs(self, in_shape: Shape, out_shape: Shape) -> int:
        return math.prod(out_shape) * math.prod(in_shape)

    def fanout(self, in_shape: Shape) -> np.ndarray:
        """Accumulations one nonzero input element causes: every output, for each input element."""
        return np.full(math.prod(in_shape), self.weight.shape[0], dtype=np.int64).reshape(in_shape)

    def fold_input_pool(self, k: int, in_shape: Shape) -> Linear:
        """This linear on a ``k x k`` sum pool's output, as one linear on the unpooled ``(C, H, W)`` map (ir/plan.py
        ``fold_sum_pool``): ``W'[o, c, y, x] = W[o, c, y // k, x // k]`` inside the kept windows, 0 on the rows
        and columns the pool drops; always exact."""
        c, h, w = in_shape
        hp, wp = h // k, w // k
        grid = self.weight.reshape(len(self.weight), c, hp, wp)
        weight = np.zeros((len(self.weight), c, h, w), dtype=np.int8)
        weight[:, :, : hp * k, : wp * k] = np.repeat(np.repeat(grid, k, axis=2), k, axis=3)
        return Linear(self.name, weight.reshape(len(self.weight), -1), self.weight_type, self.acc_type)

    def input_pool_problem(self, pool_name: str, k: int, in_shape: Shape) -> str | None:
        return None  # the dropped rows and columns get weight 0

    def reference(self, x: np.ndarray, state: np.ndarray | None = None) -> tuple[np.ndarray, None]:
        flat = x.reshape(len(x), -1).astype(np.int64)
        return flat @ self.weight.astype(np.int64).T, None  # integer matmul: exact, no BLAS

    def bounds(self, in_shape: Shape, lo: Bounds, hi: Bounds) -> tuple[Bounds, Bounds, OpRange]:
        """Channel ``c``'s interval applies to its ``H·W`` elements of the flattened input (C order)."""
        per = int(np.prod(in_shape[1:])) if len(in_shape) > 1 else 1
        return weighted_sum_range(self, self.weight, np.repeat(lo, per), np.repeat(hi, per), self.acc_type)
