"""sumpool2d: its fields, range rule and step semantics (docs/ir/ops.md#sumpool2d, docs/ir/ranges.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qsnn_deploy.ir.ops.base import Bounds, OpRange, Shape, WindowPool, _itype, as_bounds
from qsnn_deploy.ir.types import INT32, IntType


@dataclass(frozen=True, eq=False)
class SumPool2d(WindowPool):
    """Non-overlapping sum pooling: ``y[c,i,j] = sum_{u,v < k} x[c, i*k+u, j*k+v]``.

    Rows and columns that do not fill a window are dropped (floor), as ``torch.avg_pool2d`` does; the 1/k²
    of average pooling is folded into the next Requantize.
    """

    kind: ClassVar[str] = "sumpool2d"
    declared_field: ClassVar[str | None] = "acc_type"
    folds_into_synapse: ClassVar[bool] = True  # linear: before a conv or linear it moves into the weights
    name: str
    kernel: int = 2
    acc_type: IntType = _itype(default=INT32)

    @property
    def summed_area(self) -> int:
        """How many values of its input one output adds up."""
        return self.kernel * self.kernel

    def reference(self, x: np.ndarray, state: np.ndarray | None = None) -> tuple[np.ndarray, None]:
        return self.windows(x).sum(axis=(3, 5)), None

    def bounds(self, in_shape: Shape, lo: Bounds, hi: Bounds) -> tuple[Bounds, Bounds, OpRange]:
        """``k²`` terms of one channel's interval; a partial sum of ``m ≤ k²`` of them lies between
        ``k²·min(lo, 0)`` and ``k²·max(hi, 0)``."""
        k2 = self.kernel * self.kernel
        lo_o, hi_o = as_bounds(int(v) * k2 for v in lo), as_bounds(int(v) * k2 for v in hi)
        peak = max(max(abs(v) for v in lo_o), max(abs(v) for v in hi_o))
        partial_lo = tuple(min(int(v), 0) * k2 for v in lo)
        partial_hi = tuple(max(int(v), 0) * k2 for v in hi)
        rng = OpRange(
            self.name, self.kind, tuple(lo_o), tuple(hi_o), peak, self.acc_type, "", partial_lo, partial_hi
        )
        return lo_o, hi_o, rng
