"""recurrent: all-to-all recurrent weights from a layer's own spikes of the previous step, their fields, range
rule and step semantics (docs/ir/ops.md#recurrent, docs/ir/ranges.md). New in IR version 3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qsnn_deploy.ir.limits import MAX_DIM
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
    as_bounds,
)
from qsnn_deploy.ir.ops.requantize import requantize_int
from qsnn_deploy.ir.types import INT32, IntType


@dataclass(frozen=True, eq=False)
class Recurrent(Op):
    """The recurrent input of a layer of ``N`` neurons: its own spikes of the previous step ``s`` (0 before the
    first step), through an ``N x N`` integer weight, rescaled to the membrane's units and added to the
    feed-forward current ``x`` (the requantize's output):

    ``a = W @ s``, ``y[c] = x[c] + ((a[c] * multiplier[c] + h) >> shift)`` with ``h = 2**(shift-1)`` (0 when the
    shift is 0). ``s`` are the spikes of the ``lif`` this op feeds (the next ``lif`` in the graph, at most a
    ``synaptic`` between them): snnTorch's ``RLeaky``/``RSynaptic`` with ``all_to_all=True``. ``a`` is exact in
    int32 (|a| <= N * 2**7 <= 2**19) and the product in int64 (< 2**51); ``y`` fits ``out_type`` (range
    analysis)."""

    kind: ClassVar[str] = "recurrent"
    role: ClassVar[str] = "feedback"
    since: ClassVar[int] = 3
    stateful: ClassVar[bool] = True  # the spikes of the previous step
    declared_field: ClassVar[str | None] = "out_type"
    follows: ClassVar[tuple[str, ...]] = ("requantize",)
    name: str
    weight: np.ndarray = _tensor()  # (N, N), int8 storage: weight[to, from]
    multiplier: np.ndarray = _tensor()  # (N,) int64 storage, values within int32
    weight_type: IntType = _itype(default=IntType(4))
    shift: int = 0
    out_type: IntType = _itype(default=INT32)

    def __post_init__(self) -> None:
        _freeze(self, "weight", np.int8)
        _freeze(self, "multiplier", np.int64)

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def field_limits(self) -> list[FieldLimit]:
        limits = [("shift", self.shift, 0, 62)]
        if self.weight.ndim == 2:
            limits.append(("neurons", int(self.weight.shape[0]), 1, MAX_DIM))
        return limits

    def check(self, in_shape: Shape) -> None:
        n = self.weight.shape[0] if self.weight.ndim == 2 else -1
        if self.weight.ndim != 2 or self.weight.shape[1] != n:
            self._fail(f"weight must be square (N, N), got shape {self.weight.shape}")
        _check_weight(self, self.weight, self.weight_type)
        if self.multiplier.shape != (n,) or not INT32.contains(self.multiplier):
            self._fail(f"multiplier must hold {n} values that fit int32")
        if not 0 <= self.shift <= 62:
            self._fail(f"shift must be in [0, 62], got {self.shift}")
        if tuple(in_shape) != (n,):
            self._fail(f"takes the current of a vector layer of {n} neurons, got shape {in_shape}")

    def macs(self, in_shape: Shape, out_shape: Shape) -> int:
        return int(self.weight.size)

    def recurrent_current(self, spikes: np.ndarray) -> np.ndarray:
        """``(W @ s * m + h) >> shift`` for a batch of spike vectors ``(B, N)``: int64 ``(B, N)``."""
        acc = spikes.astype(np.int64) @ self.weight.astype(np.int64).T
        h = (1 << (self.shift - 1)) if self.shift else 0
        return np.right_shift(acc * self.multiplier.astype(np.int64) + h, self.shift)

    def reference(self, x: np.ndarray, state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``x``: the feed-forward current ``(B, N)``; ``state``: the spikes of this layer's lif at the previous
        step (None: none yet). Returns ``y`` and the state unchanged: the graph's step hands the lif's new
        spikes back (``Graph.feedback``)."""
        spikes = np.zeros(x.shape, dtype=np.int64) if state is None else state
        return x.astype(np.int64) + self.recurrent_current(spikes), spikes

    def recurrent_bounds(self) -> tuple[list[int], list[int]]:
        """Per neuron, the smallest and largest recurrent current for spikes in {0, 1}: the sums of its
        negative and of its positive weights, rescaled (the rescale is monotone in the sum)."""
        w = self.weight.astype(np.int64)
        neg, pos = np.minimum(w, 0).sum(axis=1), np.maximum(w, 0).sum(axis=1)
        lo, hi = [], []
        for c, m in enumerate(self.multiplier.tolist()):
            a, b = (
                requantize_int(int(neg[c]), m, 0, self.shift),
                requantize_int(int(pos[c]), m, 0, self.shift),
            )
            lo.append(min(a, b))
            hi.append(max(a, b))
        return lo, hi

    def bounds(self, in_shape: Shape, lo: Bounds, hi: Bounds) -> tuple[Bounds, Bounds, OpRange]:
        """``y = x + r`` with ``x`` in its interval and ``r`` in ``recurrent_bounds``; ``peak`` bounds the
        product ``a * m + h`` (below 2**51 by the field limits)."""
        r_lo, r_hi = self.recurrent_bounds()
        lo_o = as_bounds(int(a) + b for a, b in zip(lo, r_lo))
        hi_o = as_bounds(int(a) + b for a, b in zip(hi, r_hi))
        w = np.abs(self.weight.astype(np.int64)).sum(axis=1)
        m = np.abs(self.multiplier.astype(np.int64))
        peak = int((w * m).max(initial=0)) + (1 << self.shift)
        rng = OpRange(self.name, self.kind, tuple(lo_o), tuple(hi_o), peak, self.out_type)
        return lo_o, hi_o, rng
