"""maxpool2d: its fields, range rule and step semantics (docs/ir/ops.md#maxpool2d, docs/ir/ranges.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qsnn_deploy.ir.ops.base import Bounds, OpRange, Shape, WindowPool, _freeze, _tensor, as_bounds


@dataclass(frozen=True, eq=False)
class MaxPool2d(WindowPool):
    """Non-overlapping max pooling of integer accumulators, per channel a max or a min:
    ``y[c,i,j] = sign[c] * max_{u,v < k} sign[c] * x[c, i*k+u, j*k+v]`` with ``sign[c]`` in {1, -1}.

    The float model pools ``scale[c] * x``; where that scale is negative the float maximum is the integer
    minimum, so the exporter writes ``sign[c] = -1`` there. Rows and columns that do not fill a window are
    dropped (floor), as ``torch.max_pool2d`` does. Exact: the output is one of the inputs.
    """

    kind: ClassVar[str] = "maxpool2d"
    since: ClassVar[int] = 2
    folds_into_synapse: ClassVar[bool] = False  # a max does not move into weights
    summed_area: ClassVar[int] = 1  # one output is one input
    name: str
    sign: np.ndarray = _tensor()  # (C,) int8, each 1 (max) or -1 (min)
    kernel: int = 2

    def __post_init__(self) -> None:
        _freeze(self, "sign", np.int8)

    def check(self, in_shape: Shape) -> None:
        super().check(in_shape)
        if self.sign.shape != (in_shape[0],) or not np.isin(self.sign, (-1, 1)).all():
            self._fail(f"sign must hold {in_shape[0]} values, each 1 (max) or -1 (min)")

    def reference(self, x: np.ndarray, state: np.ndarray | None = None) -> tuple[np.ndarray, None]:
        sign = self.sign.astype(np.int64).reshape(1, -1, 1, 1, 1, 1)
        return (self.windows(x) * sign).max(axis=(3, 5)) * sign[..., 0, 0], None

    def bounds(self, in_shape: Shape, lo: Bounds, hi: Bounds) -> tuple[Bounds, Bounds, OpRange]:
        """The output is one of the window's inputs: each channel keeps its input interval. Nothing is summed,
        so there is no declared type to fit."""
        lo_o, hi_o = as_bounds(int(v) for v in lo), as_bounds(int(v) for v in hi)
        peak = max(max(abs(v) for v in lo_o), max(abs(v) for v in hi_o))
        return lo_o, hi_o, OpRange(self.name, self.kind, tuple(lo_o), tuple(hi_o), peak, None)
