"""Static range analysis: the interval every value of every op can take, for any input in the input type.

Conservative and exact in integers (Python ints, no overflow). The exporter uses it to pick widths and
membrane scales; targets use it to check that their arithmetic cannot overflow; the simulator uses it to know
when float BLAS is exact. See docs/ir/ranges.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qsnn_deploy.ir.graph import Graph, InputSpec
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, Op, Requantize, SumPool2d
from qsnn_deploy.ir.types import IntType, bits_for_range


@dataclass(frozen=True)
class OpRange:
    """Bounds of one op. ``lo``/``hi`` are per output channel (axis 0); ``peak`` is the largest magnitude of
    any intermediate (a partial sum, the multiply of a Requantize, the update of a LIF)."""

    name: str
    kind: str
    lo: tuple[int, ...]
    hi: tuple[int, ...]
    peak: int
    declared: IntType | None
    note: str = ""

    @property
    def bits(self) -> int:
        return bits_for_range(min(self.lo), max(self.hi))

    @property
    def peak_bits(self) -> int:
        return bits_for_range(-self.peak, self.peak)

    @property
    def fits(self) -> bool:
        return self.declared is None or (
            self.declared.min <= min(self.lo) and max(self.hi) <= self.declared.max
        )


def _weighted_bounds(weight: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[list[int], list[int], int]:
    """Bounds of sum_j w[o, j] * x[j] for x[j] in [lo[j], hi[j]], and the largest sum of |w*x| (any partial sum)."""
    w = weight.reshape(weight.shape[0], -1)
    biggest = max(abs(int(v)) for v in (*lo, *hi)) if len(lo) else 0
    if int(np.abs(w).max(initial=0)) * biggest * max(1, w.shape[1]) < 2**62:
        # Every product and sum fits int64: the vectorised form is exact and ~100x faster than Python ints.
        w64 = w.astype(np.int64)
        a, b = w64 * np.asarray(hi, dtype=np.int64), w64 * np.asarray(lo, dtype=np.int64)
        hi_o = np.maximum(a, b).sum(axis=1)
        lo_o = np.minimum(a, b).sum(axis=1)
        peak = int(np.maximum(np.abs(a), np.abs(b)).sum(axis=1).max(initial=0))
        return [int(v) for v in lo_o], [int(v) for v in hi_o], peak
    w = w.astype(object)
    lo_o, hi_o, peak = [], [], 0
    for row in w:
        pos = [(a * int(h), a * int(low)) for a, low, h in zip(row, lo, hi)]
        hi_o.append(sum(max(p) for p in pos))
        lo_o.append(sum(min(p) for p in pos))
        peak = max(peak, sum(max(abs(p[0]), abs(p[1])) for p in pos))
    return lo_o, hi_o, peak


def _requant(x: int, m: int, b: int, s: int) -> int:
    return (x * m + b + ((1 << (s - 1)) if s else 0)) >> s


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


def analyse(graph: Graph) -> list[OpRange]:
    """Interval of every op's output (per channel) given the input type's full range."""
    return analyse_ops(graph.input, graph.ops)


def analyse_ops(spec: InputSpec, ops: Sequence[Op]) -> list[OpRange]:
    """``analyse`` for a chain that need not be a complete graph yet (the exporter builds one op at a time)."""
    c = spec.shape[0]
    lo = np.full(c, spec.dtype.min, dtype=object)
    hi = np.full(c, spec.dtype.max, dtype=object)
    shape = tuple(spec.shape)
    results: list[OpRange] = []
    for op in ops:
        out_shape = op.out_shape(shape)
        lo, hi, rng = _step(op, shape, lo, hi)
        results.append(rng)
        shape = out_shape
    return results


def _step(op: Op, shape: tuple, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, OpRange]:
    if isinstance(op, Conv2d):
        kh, kw = op.weight.shape[2:]
        # Zero padding adds the value 0 to the window; every input type here contains 0.
        lo_j = np.repeat(np.minimum(lo, 0) if op.padding else lo, kh * kw)
        hi_j = np.repeat(np.maximum(hi, 0) if op.padding else hi, kh * kw)
        lo_o, hi_o, peak = _weighted_bounds(op.weight, lo_j, hi_j)
        rng = OpRange(op.name, op.kind, tuple(lo_o), tuple(hi_o), peak, op.acc_type)
    elif isinstance(op, Linear):
        per = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        lo_o, hi_o, peak = _weighted_bounds(op.weight, np.repeat(lo, per), np.repeat(hi, per))
        rng = OpRange(op.name, op.kind, tuple(lo_o), tuple(hi_o), peak, op.acc_type)
    elif isinstance(op, SumPool2d):
        k2 = op.kernel * op.kernel
        lo_o, hi_o = [int(v) * k2 for v in lo], [int(v) * k2 for v in hi]
        peak = max(max(abs(v) for v in lo_o), max(abs(v) for v in hi_o))
        rng = OpRange(op.name, op.kind, tuple(lo_o), tuple(hi_o), peak, op.acc_type)
    elif isinstance(op, Requantize):
        lo_o, hi_o, peak = [], [], 0
        for ch, (m, b) in enumerate(zip(op.multiplier.tolist(), op.bias.tolist())):
            a, z = _requant(int(lo[ch]), m, b, op.shift), _requant(int(hi[ch]), m, b, op.shift)
            lo_o.append(min(a, z))
            hi_o.append(max(a, z))
            peak = max(
                peak,
                abs(int(lo[ch]) * m) + abs(b) + (1 << op.shift),
                abs(int(hi[ch]) * m) + abs(b) + (1 << op.shift),
            )
        rng = OpRange(op.name, op.kind, tuple(lo_o), tuple(hi_o), peak, op.out_type)
    elif isinstance(op, LIF):
        current_peak = max(max(abs(int(v)) for v in lo), max(abs(int(v)) for v in hi))
        bound = lif_membrane_bound(op, current_peak)
        st = op.state_type
        if bound is None or bound > st.max or -bound < st.min:
            note = f"membrane can saturate: bound {'unbounded (no leak)' if bound is None else bound} exceeds {st}"
            peak = st.max if bound is None else bound
        else:
            note, peak = "", bound
        # Reported lo/hi are the membrane's; the output spikes are 0/1.
        m_lo, m_hi = (st.min, st.max) if note else (-bound, bound)
        channels = len(lo)
        rng = OpRange(op.name, op.kind, (m_lo,) * channels, (m_hi,) * channels, peak, st, note)
        return np.zeros(channels, dtype=object), np.ones(channels, dtype=object), rng
    else:  # pragma: no cover - graph validation rejects unknown ops first
        raise TypeError(f"no range rule for {type(op).__name__}")
    return np.array(rng.lo, dtype=object), np.array(rng.hi, dtype=object), rng


def overflow_sites(graph: Graph) -> list[str]:
    """Human-readable list of every place where a value can leave its declared type (empty when none)."""
    sites = []
    for rng in analyse(graph):
        if rng.kind == "lif":
            if rng.note:
                sites.append(f"{rng.name}: {rng.note}")
        elif not rng.fits:
            sites.append(f"{rng.name}: values in [{min(rng.lo)}, {max(rng.hi)}] exceed {rng.declared}")
        if rng.kind == "requantize" and rng.peak_bits > 64:
            sites.append(f"{rng.name}: the multiply needs {rng.peak_bits} bits (more than 64)")
    return sites
