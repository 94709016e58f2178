"""lif: its fields, range rule (the membrane bound) and step semantics (docs/ir/ops.md#lif,
docs/ir/ranges.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qsnn_deploy.ir.limits import MAX_DECAY_MULTIPLIER
from qsnn_deploy.ir.ops.base import Bounds, FieldLimit, Op, OpRange, Shape, _itype
from qsnn_deploy.ir.types import INT32, IntType

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
    role: ClassVar[str] = "neuron"
    stateful: ClassVar[bool] = True
    follows: ClassVar[tuple[str, ...]] = ("requantize", "recurrent", "synaptic")
    name: str
    threshold: int = 1
    decay_multiplier: int = 1
    decay_shift: int = 0
    reset: str = "subtract"
    state_type: IntType = _itype(default=INT32)

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def field_limits(self) -> list[FieldLimit]:
        return [
            ("threshold", self.threshold, 1, (1 << 31) - 1),
            ("decay_shift", self.decay_shift, 0, 31),
            ("decay_multiplier", self.decay_multiplier, 0, MAX_DECAY_MULTIPLIER),
        ]

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

    def reference(self, x: np.ndarray, state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``x``: the input current; ``state``: the membrane left by the previous step (None: all 0).
        Returns the spikes (0/1, int64) and the new membrane (int64), the six steps of the spec in order."""
        current = x.astype(np.int64)
        v = np.zeros_like(current) if state is None else state.astype(np.int64)
        fired = v > self.threshold  # 1. reset flag, from the previous membrane
        kept = np.where(fired, 0, v) if self.reset == "zero" else v  # 2.
        h = (1 << (self.decay_shift - 1)) if self.decay_shift else 0
        decayed = np.right_shift(kept * self.decay_multiplier + h, self.decay_shift)  # 3. round half up
        update = decayed + current  # 4.
        if self.reset == "subtract":
            update = update - fired * self.threshold
        membrane = np.clip(update, self.state_type.min, self.state_type.max)  # 5. saturate
        spikes = (membrane > self.threshold).astype(np.int64)  # 6. strictly greater
        return spikes, membrane

    def bounds(self, in_shape: Shape, lo: Bounds, hi: Bounds) -> tuple[Bounds, Bounds, OpRange]:
        """The membrane stays within ``±lif_membrane_bound`` of the largest current magnitude; where that
        bound exceeds the state type (or there is no leak), the layer can saturate and its range is the whole
        state type. The output spikes are in [0, 1]."""
        current_peak = max(max(abs(int(v)) for v in lo), max(abs(int(v)) for v in hi))
        bound = lif_membrane_bound(self, current_peak)
        st = self.state_type
        if bound is None or bound > st.max or -bound < st.min:
            note = f"membrane can saturate: bound {'unbounded (no leak)' if bound is None else bound} exceeds {st}"
            peak = st.max if bound is None else bound
        else:
            note, peak = "", bound
        m_lo, m_hi = (st.min, st.max) if note else (-bound, bound)
        channels = len(lo)
        rng = OpRange(
            self.name, self.kind, (m_lo,) * channels, (m_hi,) * channels, peak, st, note, saturates=True
        )
        return np.zeros(channels, dtype=object), np.ones(channels, dtype=object), rng


def lif_membrane_bound(op: LIF, current_peak: int) -> int | None:
    """A bound B with |v| <= B at every step for any input current of magnitude <= current_peak; None when the
    decay is 1 (no leak) and the membrane is unbounded. |d - decay*v| <= 1/2 gives |u| <= decay*B + 1/2 + I + th,
    which stays <= B when B >= (I + th + 1) / (1 - decay)."""
    one = 1 << op.decay_shift
    if op.decay_multiplier >= one:
        return None
    num = (current_peak + op.threshold + 1) * one
    den = one - op.decay_multiplier
    return -(-num // den)
