"""Compiled forms of the simulator's two hottest kernels, used where numba is installed (the ``fast`` extra).

* ``lif_scan_prepared``: ``kernels.lif_scan_prepared`` as one loop per block of neurons over all steps, the
  membranes in the L1 cache, instead of six NumPy passes per step.
* ``binary_conv``: a conv (stride 1, any padding, a fused k x k sum pool) of binary spikes, event-driven: each
  spike adds its weights to the outputs it reaches, instead of a dense GEMM over mostly-zero columns;
  ``binary_conv_lif``: the same conv with each frame's prepared currents going straight into the LIF after it.

All compute exactly the integers of the NumPy kernels, which define them (docs/ir/ops.md); the tests hold
every spike, membrane and accumulator equal (tests/unit/test_sim_compiled.py), and the simulator's fast path
stays held to the literal int64 reference (sim/reference.py) with either. ``QSNN_SIM_KERNELS`` chooses:
``auto`` (the default: compiled where numba is installed, for calls of at least ``MIN_WORK`` values, and a
conv only where the cost model below expects it to be faster), ``numba`` (wherever a compiled kernel applies;
an error without numba: the tests use it) or ``numpy`` (never).

Why the threshold: importing numba and loading the cached machine code take about a second per process, more
than a small simulation takes in NumPy.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from qsnn_deploy.errors import IRValidationError

MODE_VARIABLE = "QSNN_SIM_KERNELS"
MODES = ("auto", "numba", "numpy")
MIN_WORK = 1 << 21
"""Values a call touches (neurons x steps for a LIF scan, input elements for a conv) from which ``auto``
compiles: a few milliseconds of NumPy work, so that a run of such calls repays numba's import and cache load
(about a second per process, measured here). The bundled MNIST model's layers at 50 steps and 64 samples per
batch touch 3.3 M (lif2) to 7.4 M values (lif1, conv2); its 10-neuron output layer stays NumPy."""
TABLE_LIMIT_BYTES = 1 << 23
"""The largest weight table ``binary_conv`` builds: beyond it, the rows stop fitting in the caches and the GEMM
is faster."""
# The cost model that picks the event-driven conv or the GEMM, in nanoseconds, measured on the bundled model's
# conv2 (one core of the 2-core CI machine, numba 0.68): reading one input value for a spike, adding one row of
# weights (a fixed part and a part per value), and one GEMM multiply-add with its im2col and box sums. It only
# decides the speed: both give the same integers. At 5.5% firing conv2 costs about 7 against 11 microseconds per
# frame; fc1 (10 outputs) stays a GEMM.
SCAN_NS = 0.3
ROW_NS = 20.0
ROW_VALUE_NS = 0.03
GEMM_MAC_NS = 0.027


def mode() -> str:
    value = os.environ.get(MODE_VARIABLE, "auto")
    if value not in MODES:
        raise IRValidationError(f"{MODE_VARIABLE}={value!r}: expected one of {', '.join(MODES)}")
    return value


def use(work: int, pays: bool = True) -> bool:
    """Whether a kernel call touching ``work`` values runs compiled: with ``numba`` always (where a compiled
    kernel applies at all), with ``auto`` where numba is installed, ``work`` is at least ``MIN_WORK`` and the
    cost model says it ``pays``."""
    chosen = mode()
    if chosen == "numpy" or (chosen == "auto" and (work < MIN_WORK or not pays)):
        return False
    if _loops() is None:
        if chosen == "numba":
            raise IRValidationError(
                f"{MODE_VARIABLE}=numba, but numba is not installed (pip install 'qsnn-deploy[fast]')"
            )
        return False
    return True


@functools.cache
def _loops():
    """sim/_numba_kernels.py, or None without numba."""
    try:
        from qsnn_deploy.sim import _numba_kernels
    except ImportError:
        return None
    return _numba_kernels


def binary_conv_table(weight: np.ndarray, pool: int, padding: int, width: int) -> np.ndarray | None:
    """The weights ``binary_conv`` adds per spike, or None where they need more than ``TABLE_LIMIT_BYTES``.

    A stride-1 conv (O, C, kh, kw) followed by a k x k sum pool is a stride-k conv with the (kh+k-1, kw+k-1)
    kernel ``folded`` (the sum of the k*k shifted copies: an exact integer identity). ``table[a, u, c]`` holds,
    for a spike in channel ``c`` at padded column ``u``, the folded weights of kernel row ``a`` for every
    pooled output column X (``folded[a, u - k X, c]``, zero where that column is out of the kernel's reach),
    output channels last: one contiguous row per output row the spike reaches. The dtype is the narrowest that
    holds every partial sum of binary inputs (the largest sum of |folded| over one output channel)."""
    o, c, kh, kw = weight.shape
    fh, fw = kh + pool - 1, kw + pool - 1
    cols = width + 2 * padding
    wo = (cols - kw + 1) // pool
    folded = np.zeros((fh, fw, c, o), dtype=np.int64)
    taps = weight.astype(np.int64).transpose(2, 3, 1, 0)  # (kh, kw, C, O)
    for a in range(pool):
        for b in range(pool):
            folded[a : a + kh, b : b + kw] += taps
    bound = int(np.abs(folded).sum(axis=(0, 1, 2)).max())
    dtype = next(t for t in (np.int16, np.int32, np.int64) if bound <= np.iinfo(t).max)
    if fh * cols * c * wo * o * np.dtype(dtype).itemsize > TABLE_LIMIT_BYTES:
        return None
    table = np.zeros((fh, cols, c, wo, o), dtype=dtype)
    for u in range(cols):
        for out_x in range(wo):
            b = u - pool * out_x
            if 0 <= b < fw:
                table[:, u, :, out_x] = folded[:, b]
    return table.reshape(fh, cols, c, wo * o)


def binary_conv_pays(weight_shape, pool: int, padding: int, x_shape, spikes: int, inputs: int) -> bool:
    """Whether the event-driven conv of ``spikes`` spikes in ``x`` (frames, H, W, C) is cheaper than the GEMM,
    by the cost model above: every frame reads the ``inputs`` values (per sample) that can spike; a spike
    reaches ``ho * fh / (H + 2 padding)`` output rows on average (fewer at the edges), each a row of
    ``wo * fw / (W + 2 padding)`` output columns of O channels."""
    o, c, kh, kw = weight_shape
    frames, h, w, _ = x_shape
    fh, fw = kh + pool - 1, kw + pool - 1
    ho, wo = (h + 2 * padding - kh + 1) // pool, (w + 2 * padding - kw + 1) // pool
    rows = ho * fh / (h + 2 * padding)
    values = wo * fw / (w + 2 * padding) * o
    event = frames * inputs * SCAN_NS + spikes * rows * (ROW_NS + ROW_VALUE_NS * values)
    gemm = frames * ho * wo * kh * kw * c * o * GEMM_MAC_NS
    return event < gemm


def _lif_constants(op, saturate: bool) -> tuple[int, ...]:
    """The LIF's constants as the compiled step takes them: m, s, th, th << s (subtract reset, else 0), 1 for a
    zero reset (else 0), and the clamp's bounds (int64's own where the range analysis proved none is needed)."""
    info = np.iinfo(np.int64)
    lo, hi = (op.state_type.min, op.state_type.max) if saturate else (info.min, info.max)
    reset_amount = op.threshold << op.decay_shift if op.reset == "subtract" else 0
    zero = 1 if op.reset == "zero" else 0
    return op.decay_multiplier, op.decay_shift, op.threshold, reset_amount, zero, lo, hi


def lif_scan_prepared(prepared, op, static: bool, steps: int, saturate: bool, v, spikes, membranes) -> None:
    """``kernels.lif_scan_prepared`` on C-contiguous arrays: ``prepared`` (n...) if ``static`` else
    (steps, n...), ``v`` the membranes (updated in place), ``spikes`` (steps, n...) and ``membranes`` (the same
    shape, or None) written at every step."""
    n = v.size
    record = membranes is not None
    _loops().lif_scan(
        prepared.reshape(1 if static else steps, n),
        static,
        *_lif_constants(op, saturate),
        v.reshape(n),
        spikes.reshape(steps, n),
        membranes.reshape(steps, n) if record else np.empty((0, 0), dtype=np.int64),
        record,
    )


def _conv_args(x: np.ndarray, table: np.ndarray, weight_shape, pool: int, padding: int, epilogue, can_spike):
    """``(out_shape (Ho, Wo, O), the kernel's arguments from x to prepare_round)`` of ``binary_conv``: every
    input that can spike and reaches a kept output, decoded once per call (sample runs, flat index, padded row,
    column and channel, output rows and row span), and the epilogue's constants."""
    o, _, kh, kw = weight_shape
    frames, h, w, c = x.shape
    fh, fw = kh + pool - 1, kw + pool - 1
    ho, wo = (h + 2 * padding - kh + 1) // pool, (w + 2 * padding - kw + 1) // pool
    if can_spike is None:
        can_spike = np.ones((1, h * w * c), dtype=bool)
    samples = len(can_spike)
    sample, flat = np.nonzero(can_spike)  # sample-major: each sample's inputs are one run
    chans, pixel = flat % c, flat // c
    rows, cols = pixel // w + padding, pixel % w + padding
    y_lo, y_hi = np.maximum(0, (rows - fh + pool) // pool), np.minimum(ho - 1, rows // pool)
    x_lo, x_hi = np.maximum(0, (cols - fw + pool) // pool), np.minimum(wo - 1, cols // pool)
    reach = (y_lo <= y_hi) & (x_lo <= x_hi)  # inputs that reach no kept output are never read
    sample, flat, chans, rows, cols, y_lo, y_hi, x_lo, x_hi = (
        a[reach] for a in (sample, flat, chans, rows, cols, y_lo, y_hi, x_lo, x_hi)
    )
    offsets = np.searchsorted(sample, np.arange(samples + 1))
    if epilogue is None:  # the identity: (sum * 1 + 0) >> 0, then (value << 0) + 0
        multiplier, offset, shift, lif = np.ones(o, np.int64), np.zeros(o, np.int64), 0, None
    else:
        multiplier, offset, shift, lif = epilogue.multiplier, epilogue.offset, epilogue.shift, epilogue.lif
    prepare_shift = lif.decay_shift if lif is not None else 0
    prepare_round = (1 << (prepare_shift - 1)) if prepare_shift else 0  # kernels.lif_prepare's h
    args = (
        np.ascontiguousarray(x).reshape(frames, -1), table, pool, samples, offsets, flat, rows, cols, chans,
        y_lo, y_hi, x_lo * o, (x_hi + 1) * o,
        np.ascontiguousarray(multiplier, dtype=np.int64), np.ascontiguousarray(offset, dtype=np.int64),
        shift, prepare_shift, prepare_round,
    )  # fmt: skip
    return (ho, wo, o), args


NO_LIF = (0, 0, 0, 0, 0, 0, 0)


def binary_conv(
    x: np.ndarray, table: np.ndarray, weight_shape, pool: int, padding: int, epilogue, can_spike=None
) -> np.ndarray:
    """Conv (stride 1, ``padding``) then k x k sum pool of binary ``x`` (F, H, W, C), channels last, through
    ``epilogue`` (a plan.FusedEpilogue, or None for the sums themselves): int64 (F, Ho, Wo, O). ``table`` from
    ``binary_conv_table``. ``can_spike``: (samples, H * W * C) bool, the inputs of each sample that can be
    nonzero (frame f belongs to sample ``f % samples``: the executor's step-major frames); None: any input of
    any frame."""
    out_shape, args = _conv_args(x, table, weight_shape, pool, padding, epilogue, can_spike)
    out = np.empty((len(x), int(np.prod(out_shape))), dtype=np.int64)
    no_state = np.empty((0, 0), dtype=np.int64)
    _loops().binary_conv(*args, out, False, NO_LIF, no_state, no_state.astype(np.uint8), no_state, False)
    return out.reshape(len(x), *out_shape)


def binary_conv_lif(
    x: np.ndarray, table: np.ndarray, weight_shape, pool: int, padding: int, epilogue, can_spike,
    saturate: bool, v: np.ndarray, record: bool,
) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
    """``binary_conv`` into the LIF whose input ``epilogue`` prepares (``epilogue.lif``), frame by frame: each
    frame's prepared currents go straight into that LIF's step (the scan's own ``_lif_row``) for the frame's
    sample, whose membranes ``v`` (samples, neurons) int64 are updated in place. Frames are step-major, so each
    sample's steps come in order. Returns the spikes (F, neurons) uint8 and, with ``record``, the membranes
    (F, neurons) in the LIF's state type (else None): what ``kernels.lif_scan_prepared`` gives on the
    prepared currents ``binary_conv`` would have returned."""
    op = epilogue.lif
    out_shape, args = _conv_args(x, table, weight_shape, pool, padding, epilogue, can_spike)
    neurons = int(np.prod(out_shape))
    spikes = np.empty((len(x), neurons), dtype=np.uint8)
    membranes = np.empty((len(x), neurons), dtype=op.state_type_numpy()) if record else None
    no_out = np.empty((0, neurons), dtype=np.int64)
    _loops().binary_conv(
        *args, no_out, True, _lif_constants(op, saturate), v.reshape(len(v), neurons), spikes,
        membranes if record else np.empty((0, 0), dtype=np.int64), record,
    )  # fmt: skip
    return spikes, membranes
