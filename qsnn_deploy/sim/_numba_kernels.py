"""The numba-compiled loops behind sim/compiled.py. Imported only by it, and only when numba is installed:
importing this module imports numba.

Every function takes plain arrays and integers (the op's constants unpacked by compiled.py) and computes exactly
the integers of its NumPy counterpart in sim/kernels.py. The innermost loops run over one contiguous row each
(``_lif_row``, ``_add_row``): LLVM vectorises those, where loops over computed flat offsets stayed scalar
(measured, numba 0.68: 60 against 8 microseconds per frame of the bundled model's conv2 shape at 5.5% random
spikes).
"""

from __future__ import annotations

import numpy as np
from numba import njit

LIF_BLOCK = 1024
"""Neurons scanned together over all steps: their membranes stay in the L1 cache from one step to the next."""


@njit(nogil=True, boundscheck=False, cache=True)
def _lif_row(v, prepared, m, s, th, reset_amount, zero, lo, hi, spikes):
    """One step of the prepared LIF update (kernels._scan_block) for a row of neurons, in place on ``v``."""
    for j in range(v.shape[0]):
        x = v[j]
        fired = np.int64(x > th)  # the spike of the step before: the reset of this one
        x -= x * fired * zero  # zero reset: v' = 0 where it fired
        u = (x * m + prepared[j] - fired * reset_amount) >> s
        u = min(max(u, lo), hi)  # the identity where the caller passes the int64 bounds
        v[j] = u
        spikes[j] = np.uint8(u > th)


@njit(nogil=True, boundscheck=False, cache=True)
def lif_scan(prepared, static, m, s, th, reset_amount, zero, lo, hi, v, spikes, membranes, record):
    """``kernels.lif_scan_prepared`` over flat neurons: ``prepared`` (1 or T, n) int64 (one row when
    ``static``), ``v`` (n,) int64 updated in place, ``spikes`` (T, n) uint8 and, with ``record``,
    ``membranes`` (T, n) in the state type written at every step."""
    steps = spikes.shape[0]
    n = v.shape[0]
    for b0 in range(0, n, LIF_BLOCK):
        b1 = min(n, b0 + LIF_BLOCK)
        block = v[b0:b1]
        for t in range(steps):
            row = 0 if static else t
            _lif_row(block, prepared[row, b0:b1], m, s, th, reset_amount, zero, lo, hi, spikes[t, b0:b1])
            if record:
                membranes[t, b0:b1] = block


@njit(nogil=True, boundscheck=False, inline="always")
def _add_row(acc, weights):
    for i in range(acc.shape[0]):
        acc[i] += weights[i]


@njit(nogil=True, boundscheck=False, cache=True)
def binary_conv(
    x, table, k, samples, offsets, inputs, rows, cols, chans, y_lo, y_hi, lo, hi,
    multiplier, offset, shift, prepare_shift, prepare_round, out, fuse_lif, lif, v, spikes, membranes, record,
):  # fmt: skip
    """Event-driven conv of binary spikes ``x`` (F, n_in) (frames of sample ``f % samples``), stride ``k``
    over a kernel with the k x k sum pool folded in (``compiled.binary_conv_table``).

    Only the inputs that can spike are read: those of sample j are entries ``offsets[j]:offsets[j+1]``, each
    with its flat index into a frame (``inputs``), its padded row, column and channel, the output rows it
    reaches (``y_lo..y_hi``) and the span ``lo:hi`` of an output row's values it reaches. Every spike adds, for
    each output row it reaches, the table's row of its weights to that output row's accumulators (the table's
    dtype holds every partial sum). Each frame's sums then leave through the epilogue (plan.FusedEpilogue:
    ``(sum * m + offset) >> shift``, then ``(value << prepare_shift) + prepare_round``): into ``out``
    (F, ho * wo * O) int64, or with ``fuse_lif`` into the step of the LIF after it (``lif``: its constants as
    ``lif_scan`` takes them), on the frame's sample's membranes ``v[f % samples]``, writing ``spikes[f]`` and,
    with ``record``, ``membranes[f]``."""
    row = table.shape[3]
    per_pixel = multiplier.shape[0]
    acc = np.zeros(spikes.shape[1] if fuse_lif else out.shape[1], dtype=table.dtype)
    prepared = np.empty(per_pixel, dtype=np.int64)
    firing = np.empty(inputs.shape[0], dtype=np.int64)
    m, s, th, reset_amount, zero, clamp_lo, clamp_hi = lif
    for f in range(x.shape[0]):
        for i in range(acc.shape[0]):
            acc[i] = 0
        frame = x[f]
        j = f % samples
        count = 0
        for e in range(offsets[j], offsets[j + 1]):  # branch-free: a spike's entry is kept by counting it
            firing[count] = e
            count += frame[inputs[e]] != 0
        for q in range(count):
            e = firing[q]
            for out_y in range(y_lo[e], y_hi[e] + 1):
                base = out_y * row
                _add_row(
                    acc[base + lo[e] : base + hi[e]],
                    table[rows[e] - k * out_y, cols[e], chans[e], lo[e] : hi[e]],
                )
        for pixel in range(acc.shape[0] // per_pixel):
            a, b = pixel * per_pixel, (pixel + 1) * per_pixel
            if not fuse_lif:
                _epilogue_row(acc[a:b], multiplier, offset, shift, prepare_shift, prepare_round, out[f, a:b])
                continue
            _epilogue_row(acc[a:b], multiplier, offset, shift, prepare_shift, prepare_round, prepared)
            _lif_row(v[j, a:b], prepared, m, s, th, reset_amount, zero, clamp_lo, clamp_hi, spikes[f, a:b])
            if record:
                membranes[f, a:b] = v[j, a:b]


@njit(nogil=True, boundscheck=False, inline="always")
def _epilogue_row(sums, multiplier, offset, shift, prepare_shift, prepare_round, out):
    for o in range(sums.shape[0]):
        value = (np.int64(sums[o]) * multiplier[o] + offset[o]) >> shift
        out[o] = (value << prepare_shift) + prepare_round
