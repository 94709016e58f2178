"""What every IR op shares: the ``Op`` base class, the field markers the file format reads (``_tensor``,
``_itype``), and ``OpRange``, the record an op's range rule returns.

An op module holds, side by side, one op's dataclass (fields, shape and field checks), its range rule
(``bounds``, the rule of docs/ir/ranges.md) and its step semantics (``reference``, the rule of docs/ir/ops.md in
plain int64 NumPy). Adding an op means one module here (and its line in ``OP_TYPES``), plus one registered
implementation per executor that runs it (docs/targets/README.md, "Adding an op").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from qsnn_deploy.errors import IRValidationError
from qsnn_deploy.ir.limits import MAX_KERNEL
from qsnn_deploy.ir.types import IntType, bits_for_range

Shape = tuple[int, ...]


def _tensor(**kwargs):
    return field(metadata={"kind": "tensor"}, **kwargs)


def _itype(**kwargs):
    return field(metadata={"kind": "itype"}, **kwargs)


def _freeze(op: object, name: str, dtype: type) -> None:
    """Store a read-only copy in the storage dtype; a value the dtype cannot hold is an error, not a wrap."""
    value = np.asarray(getattr(op, name))
    arr = np.array(value, dtype=dtype, copy=True)
    if value.dtype.kind not in "iubf" or not np.array_equal(arr, value):
        raise IRValidationError(
            f"{getattr(op, 'kind', type(op).__name__)} {getattr(op, 'name', '?')!r}: tensor {name!r} must hold "
            f"integers that fit {np.dtype(dtype).name} (got {value.dtype})"
        )
    arr.setflags(write=False)
    object.__setattr__(op, name, arr)


@dataclass(frozen=True)
class OpRange:
    """Bounds of one op, in the integer units of the value bounded (accumulator units for conv2d, sumpool2d
    and linear; membrane LSBs for requantize outputs and lif membranes; a requantize's ``peak`` bounds its
    product before the shift, ``2**shift`` times finer). See docs/ir/ranges.md.

    ``lo``/``hi`` are per output channel (axis 0); for a LIF they bound its membrane (its spikes are 0/1).
    ``peak`` is the largest magnitude of any intermediate (a partial sum, the multiply of a Requantize, the
    update of a LIF). ``partial_lo``/``partial_hi``, for the ops that sum (conv2d, sumpool2d, linear), bound
    every partial sum of each output channel in any summation order; None for the others."""

    name: str
    kind: str
    lo: tuple[int, ...]
    hi: tuple[int, ...]
    peak: int
    declared: IntType | None
    note: str = ""
    partial_lo: tuple[int, ...] | None = None
    partial_hi: tuple[int, ...] | None = None
    saturates: bool = False  # its state saturates by definition (lif, synaptic): ``note`` says when it can

    @property
    def span(self) -> tuple[int, int]:
        """The smallest and largest value the declared type must hold: outputs and, where the op sums,
        every partial sum."""
        lo, hi = min(self.lo), max(self.hi)
        if self.partial_lo is not None and self.partial_hi is not None:
            lo, hi = min(lo, min(self.partial_lo)), max(hi, max(self.partial_hi))
        return lo, hi

    @property
    def bits(self) -> int:
        return bits_for_range(*self.span)

    @property
    def peak_bits(self) -> int:
        return bits_for_range(-self.peak, self.peak)

    @property
    def fits(self) -> bool:
        lo, hi = self.span
        return self.declared is None or (self.declared.min <= lo and hi <= self.declared.max)

    def overflows(self) -> list[str]:
        """Why values of this op can leave their declared type (outputs or partial sums), or the 64 bits of a
        requantize multiply; empty when the op is exact. A LIF is never listed: its membrane saturates by
        definition (``note`` says when it can), nor a synaptic current."""
        if self.saturates:
            return []
        problems = []
        lo, hi = min(self.lo), max(self.hi)
        if self.declared is not None and not self.fits:
            if self.declared.min <= lo and hi <= self.declared.max:
                p_lo, p_hi = self.span
                problems.append(
                    f"partial sums can reach [{p_lo}, {p_hi}] (outputs [{lo}, {hi}]), beyond its declared "
                    f"{self.declared}"
                )
            else:
                problems.append(f"values can reach [{lo}, {hi}], beyond its declared {self.declared}")
        if self.kind == "requantize" and self.peak_bits > 64:
            problems.append(f"the multiply needs {self.peak_bits} bits (more than 64)")
        return problems


Bounds = np.ndarray  # per-channel interval ends of an activation: Python ints in an object array


ROLES = ("synapse", "pool", "requantize", "feedback", "current", "neuron")
"""The place an op takes in a layer (docs/ir/graph.md):
``[pool] synapse [pool] requantize [feedback] [current] neuron``.
The layer plan (ir/plan.py) groups ops by role alone, so a new op of an existing role needs no edit there."""

FieldLimit = tuple[str, int, int, int]  # (field, value, smallest allowed, largest allowed)


class Op:
    """Common behaviour of IR operations.

    What the rest of the code base asks of an op is asked here, answered in the op's own module: its ``role``
    in a layer, the IR version that introduced it (``since``), whether it keeps state between steps, the limits
    its fields must respect (``field_limits``), the multiply-accumulates it costs (``macs``) and the largest
    temporary array a simulator needs for it (``scratch_values``). Nothing outside ir/ops/ tests an op's
    class: targets look an op up by ``kind`` in their registration tables."""

    kind: ClassVar[str]
    role: ClassVar[str]
    # The IR version that introduced the op (ir/io.py writes the lowest version that holds a graph's ops).
    since: ClassVar[int] = 1
    stateful: ClassVar[bool] = False  # carries state from one step to the next (lif, synaptic)
    # The field declaring the type of its values, which the exporter narrows (acc_type, out_type), if any.
    declared_field: ClassVar[str | None] = None
    # The kinds one of which must come right before it (the op that gives it its input current).
    follows: ClassVar[tuple[str, ...]] = ()
    name: str

    def field_limits(self) -> list[FieldLimit]:
        """Each scalar field with the range ir/limits.py allows it (checked before any shape or value)."""
        return []

    def macs(self, in_shape: Shape, out_shape: Shape) -> int:
        """Multiply-accumulates of one step (0 for ops that do not multiply by weights)."""
        return 0

    def scratch_values(self, in_shape: Shape, out_shape: Shape) -> int:
        """The largest array a step materialises: the output, or more where the op unfolds its input."""
        return math.prod(out_shape)

    def out_shape(self, in_shape: Shape) -> Shape:
        raise NotImplementedError

    def check(self, in_shape: Shape) -> None:
        """Raise IRValidationError when this op cannot take an input of ``in_shape``."""

    def reference(
        self, x: np.ndarray, state: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """One step of docs/ir/ops.md on a batch: ``x`` int64 ``(N, *in_shape)``; returns the output, int64
        ``(N, *out_shape)``, and the state after the step (None for stateless ops). ``state`` is the state
        before the step (None: the initial state). Plain int64 NumPy, no float; exact for every graph the
        range analysis accepts."""
        raise NotImplementedError

    def bounds(self, in_shape: Shape, lo: Bounds, hi: Bounds) -> tuple[Bounds, Bounds, OpRange]:
        """The range rule of docs/ir/ranges.md: given per-channel bounds ``lo``/``hi`` of the input (of
        shape ``in_shape``), the per-channel bounds of the output and this op's ``OpRange``."""
        raise NotImplementedError

    def _fail(self, message: str) -> None:
        raise IRValidationError(f"{self.kind} {self.name!r}: {message}")

    def tensors(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("kind") == "tensor"}

    def same_as(self, other: object) -> bool:
        """Structural equality (dataclass equality is disabled because of the arrays)."""
        if type(other) is not type(self):
            return False
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray):
                if a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True


def _check_weight(op: Op, weight: np.ndarray, weight_type: IntType) -> None:
    if not weight_type.signed or not 2 <= weight_type.bits <= 8:
        op._fail(f"weight type must be int2..int8, got {weight_type}")
    if not weight_type.contains(weight):
        op._fail(
            f"weights span [{int(weight.min())}, {int(weight.max())}], outside {weight_type} "
            f"[{weight_type.min}, {weight_type.max}]"
        )


def as_bounds(values) -> Bounds:
    """Per-channel bounds as Python ints (no overflow in the analysis)."""
    return np.array([int(v) for v in values], dtype=object)


def weighted_sum_range(
    op: Op, weight: np.ndarray, lo: np.ndarray, hi: np.ndarray, declared: IntType
) -> tuple[Bounds, Bounds, OpRange]:
    """The range of ``y[o] = sum_j w[o, j] * x[j]`` for ``x[j]`` in ``[lo[j], hi[j]]``.

    Each term ``w*x`` lies in ``[t_lo, t_hi] = [min(w*lo, w*hi), max(w*lo, w*hi)]``. The output lies in
    ``[sum t_lo, sum t_hi]``. A partial sum (any subset of the terms, in any order, starting from 0) lies in
    ``[sum min(t_lo, 0), sum max(t_hi, 0)]``, which is wider when an input interval excludes 0 and weights
    of both signs meet it: then a running sum can pass outside the final interval. ``peak`` is the largest
    ``sum max(|w*lo|, |w*hi|)`` over ``o``, a bound on the magnitude of both."""
    w = weight.reshape(weight.shape[0], -1)
    biggest = max(abs(int(v)) for v in (*lo, *hi)) if len(lo) else 0
    if int(np.abs(w).max(initial=0)) * biggest * max(1, w.shape[1]) < 2**62:
        # Every product and sum fits int64: the vectorised form is exact and ~100x faster than Python ints.
        w64 = w.astype(np.int64)
        a, b = w64 * np.asarray(hi, dtype=np.int64), w64 * np.asarray(lo, dtype=np.int64)
        t_lo, t_hi = np.minimum(a, b), np.maximum(a, b)
        peak = int(np.maximum(np.abs(a), np.abs(b)).sum(axis=1).max(initial=0))
    else:
        w = w.astype(object)
        a, b = w * np.asarray(hi, dtype=object), w * np.asarray(lo, dtype=object)
        t_lo, t_hi = np.where(a < b, a, b), np.where(a < b, b, a)
        peak = max((sum(max(abs(p), abs(q)) for p, q in zip(ra, rb)) for ra, rb in zip(a, b)), default=0)
    zero = np.zeros_like(t_lo)
    lo_o, hi_o = as_bounds(t_lo.sum(axis=1)), as_bounds(t_hi.sum(axis=1))
    p_lo = as_bounds(np.where(t_lo < zero, t_lo, zero).sum(axis=1))
    p_hi = as_bounds(np.where(t_hi > zero, t_hi, zero).sum(axis=1))
    rng = OpRange(op.name, op.kind, tuple(lo_o), tuple(hi_o), peak, declared, "", tuple(p_lo), tuple(p_hi))
    return lo_o, hi_o, rng


class WindowPool(Op):
    """What the pooling ops share: non-overlapping ``kernel x kernel`` windows, rows and columns that do not
    fill a window dropped (floor), as torch's pooling does."""

    role: ClassVar[str] = "pool"
    kernel: int

    def field_limits(self) -> list[FieldLimit]:
        return [("kernel", self.kernel, 1, MAX_KERNEL)]

    def out_shape(self, in_shape: Shape) -> Shape:
        c, h, w = in_shape
        return (c, h // self.kernel, w // self.kernel)

    def check(self, in_shape: Shape) -> None:
        if self.kernel < 1:
            self._fail(f"kernel must be >= 1, got {self.kernel}")
        if len(in_shape) != 3 or min(in_shape[1:]) < self.kernel:
            self._fail(f"needs a (C, H, W) input with H, W >= {self.kernel}, got {in_shape}")

    def windows(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) -> (N, C, Ho, k, Wo, k) int64 blocks of the kept windows."""
        k = self.kernel
        n, c, h, w = x.shape
        ho, wo = h // k, w // k
        return x[:, :, : ho * k, : wo * k].astype(np.int64).reshape(n, c, ho, k, wo, k)
