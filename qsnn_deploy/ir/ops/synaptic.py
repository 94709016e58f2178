"""synaptic: a current-based synapse's state, its fields, range rule and step semantics
(docs/ir/ops.md#synaptic, docs/ir/ranges.md). New in IR version 3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qsnn_deploy.ir.limits import MAX_DECAY_MULTIPLIER
from qsnn_deploy.ir.ops.base import Bounds, FieldLimit, Op, OpRange, Shape, _itype
from qsnn_deploy.ir.types import INT32, IntType


@dataclass(frozen=True, eq=False)
class Synaptic(Op):
    """A synaptic current with integer state, one per input element, between a requantize and its LIF.

    At every step, with ``i`` the current from the previous step (0 before the first) and ``x`` the input
    (the requantize's output): ``d = (i * decay_multiplier + h) >> decay_shift`` with ``h = 2**(decay_shift-1)``
    (0 when the shift is 0), rounding half up like the LIF's decay; ``i_new = saturate(d + x, state_type)``.
    Output: ``i_new``, the current the LIF integrates at this same step (snnTorch ``Synaptic``'s order:
    ``syn = alpha*syn + input`` first, then ``mem = beta*mem + syn - reset``). The current is never reset.
    """

    kind: ClassVar[str] = "synaptic"
    role: ClassVar[str] = "current"
    since: ClassVar[int] = 3
    stateful: ClassVar[bool] = True
    declared_field: ClassVar[str | None] = "state_type"
    follows: ClassVar[tuple[str, ...]] = ("requantize", "recurrent")
    name: str
    decay_multiplier: int = 0
    decay_shift: int = 0
    state_type: IntType = _itype(default=INT32)

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def field_limits(self) -> list[FieldLimit]:
        return [
            ("decay_shift", self.decay_shift, 0, 31),
            ("decay_multiplier", self.decay_multiplier, 0, MAX_DECAY_MULTIPLIER),
        ]

    def check(self, in_shape: Shape) -> None:
        if not self.state_type.signed or self.state_type.bits not in (8, 16, 32):
            self._fail(f"state type must be int8, int16 or int32, got {self.state_type}")
        if not 0 <= self.decay_shift <= 31 or not 0 <= self.decay_multiplier <= (1 << self.decay_shift):
            self._fail(
                f"decay must be multiplier/2**shift in [0, 1] with shift <= 31, got "
                f"{self.decay_multiplier}/2**{self.decay_shift}"
            )

    @property
    def decay(self) -> float:
        return self.decay_multiplier / (1 << self.decay_shift)

    def state_type_numpy(self) -> type:
        return {8: np.int8, 16: np.int16, 32: np.int32}[self.state_type.bits]

    def reference(self, x: np.ndarray, state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``x``: the input; ``state``: the current left by the previous step (None: all 0). Returns the new
        current twice: as the output and as the state (int64)."""
        i = np.zeros(x.shape, dtype=np.int64) if state is None else state.astype(np.int64)
        h = (1 << (self.decay_shift - 1)) if self.decay_shift else 0
        decayed = np.right_shift(i * self.decay_multiplier + h, self.decay_shift)  # round half up
        current = np.clip(decayed + x.astype(np.int64), self.state_type.min, self.state_type.max)
        return current, current

    def bounds(self, in_shape: Shape, lo: Bounds, hi: Bounds) -> tuple[Bounds, Bounds, OpRange]:
        """The current stays within ``±synaptic_bound`` of the largest input magnitude (the LIF's rule without a
        threshold); where that exceeds the state type (or there is no decay), it can saturate and its range is
        the whole state type."""
        peak_in = max(max(abs(int(v)) for v in lo), max(abs(int(v)) for v in hi))
        bound = synaptic_bound(self, peak_in)
        st = self.state_type
        channels = len(lo)
        if bound is None or bound > st.max:
            note = f"current can saturate: bound {'unbounded (no decay)' if bound is None else bound} exceeds {st}"
            c_lo, c_hi, peak = st.min, st.max, st.max if bound is None else bound
        else:
            note, c_lo, c_hi, peak = "", -bound, bound, bound
        rng = OpRange(
            self.name, self.kind, (c_lo,) * channels, (c_hi,) * channels, peak, st, note, saturates=True
        )
        out = np.array([c_lo] * channels, dtype=object), np.array([c_hi] * channels, dtype=object)
        return out[0], out[1], rng


def synaptic_bound(op: Synaptic, input_peak: int) -> int | None:
    """A bound B with |i| <= B at every step for inputs of magnitude <= ``input_peak``; None when the decay is 1
    (the current is unbounded). |d - alpha*i| <= 1/2 gives |i_new| <= alpha*B + 1/2 + X, which stays <= B when
    B >= (X + 1) / (1 - alpha)."""
    one = 1 << op.decay_shift
    if op.decay_multiplier >= one:
        return None
    return -(-(input_peak + 1) * one // (one - op.decay_multiplier))
