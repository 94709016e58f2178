"""One pure NumPy kernel per IR op: the executable form of docs/ir/ops.md.

Kernels take a leading batch axis ``N`` (samples, or samples x steps for stateless ops). Integer results are
exact: where float BLAS is used, ``exact_float_dtype`` proves every partial sum is an integer the float type
represents exactly (below 2**24 for float32, 2**53 for float64), so the float result *is* the integer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, MaxPool2d, Recurrent, Requantize, SumPool2d, Synaptic
from qsnn_deploy.sim import compiled

CHUNK_ELEMENTS = 1 << 19  # im2col buffer per chunk, in elements: small enough to stay in cache


def exact_float_dtype(weight: np.ndarray, max_abs_input: int) -> type | None:
    """float32 or float64 when every partial sum of weight . x is exactly representable, else None."""
    worst = int(np.abs(weight.reshape(weight.shape[0], -1).astype(np.int64)).sum(axis=1).max()) * int(
        max_abs_input
    )
    if worst < 2**24:
        return np.float32
    if worst < 2**53:
        return np.float64
    return None


Epilogue = Callable[[np.ndarray, np.ndarray], None]
"""``epilogue(res, out)``: store the int64 values of an exact GEMM result ``res`` (rows, O) into ``out``, an int64
(rows, O) view of the kernel's result, so that each chunk is written once, straight where it belongs."""


def _to_int64(res: np.ndarray, out: np.ndarray) -> None:
    np.copyto(out, res, casting="unsafe")  # exact: every value of res is an integer its type represents


class _ExactMatmul:
    """a (M, K) integers times w2 (O, K)^T, exactly: float BLAS when ``exact_float_dtype`` allows, else int64.
    The weights are converted once, not once per chunk."""

    def __init__(self, w2: np.ndarray, max_abs_input: int):
        self.dtype = exact_float_dtype(w2, max_abs_input) or np.int64
        self.wt = np.ascontiguousarray(w2.astype(self.dtype).T)

    def __call__(self, a: np.ndarray) -> np.ndarray:
        return a.astype(self.dtype, copy=False) @ self.wt


def conv2d_weights(
    weight: np.ndarray,
    stride: int,
    padding: int,
    x: np.ndarray,
    max_abs_input: int,
    *,
    epilogue: Epilogue | None = None,
    channels_last: bool = False,
) -> np.ndarray:
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw); returns int64 (N, O, Ho, Wo).
    With ``channels_last``, x is (N, H, W, C) and the result (N, Ho, Wo, O).

    Strided convs go through space-to-depth first: with blocks of s x s pixels stacked into channels, a
    stride-s conv becomes a stride-1 conv with a ceil(k/s) kernel, so each im2col slice is a long contiguous
    run (Wo * s * s * C values) instead of a gather of C-value pieces: the copy runs at memory speed.

    ``epilogue`` stores each chunk's exact GEMM result (rows, O), channel last, as int64 values into the result
    (default: the conversion to int64); the executor fuses a requantize there, while the chunk is in cache."""
    epilogue = epilogue or _to_int64
    if not channels_last:
        x = x.transpose(0, 2, 3, 1)
    n, h, w, c = x.shape
    o, _, kh, kw = weight.shape
    s = stride
    if padding:
        x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
        h, w = h + 2 * padding, w + 2 * padding
    ho, wo = (h - kh) // s + 1, (w - kw) // s + 1
    bh, bw = -(-kh // s), -(-kw // s)  # kernel size in blocks
    # Zero taps pad the kernel to whole blocks; the input is cropped or zero-padded to the rows they reach.
    wpad = np.zeros((o, c, bh * s, bw * s), dtype=np.int64)
    wpad[:, :, :kh, :kw] = weight
    hs, ws = s * (ho - 1 + bh), s * (wo - 1 + bw)
    x = x[:, :hs, :ws]
    if x.shape[1] < hs or x.shape[2] < ws:
        x = np.pad(x, ((0, 0), (0, hs - x.shape[1]), (0, ws - x.shape[2]), (0, 0)))
    # Weight columns ordered (block row, block col, row in block, col in block, channel).
    w2 = wpad.reshape(o, c, bh, s, bw, s).transpose(0, 2, 4, 3, 5, 1).reshape(o, -1)
    matmul = _ExactMatmul(w2, max_abs_input)
    out = np.empty((n, ho, wo, o), dtype=np.int64)
    depth = s * s * c
    step = max(1, CHUNK_ELEMENTS // (ho * wo * bh * bw * depth))
    buffer = np.empty((min(step, n), ho, wo, bh, bw, depth), dtype=matmul.dtype)
    for start in range(0, n, step):
        xs = x[start : start + step]
        m = len(xs)
        # (m, hs, ws, C) -> (m, hs/s, ws/s, s, s, C) -> (m, hb, wb, s*s*C), converted once to the GEMM dtype.
        blocks = xs.reshape(m, hs // s, s, ws // s, s, c).transpose(0, 1, 3, 2, 4, 5)
        blocks = np.ascontiguousarray(blocks, dtype=matmul.dtype).reshape(m, hs // s, ws // s, depth)
        cols = buffer[:m]
        for p in range(bh):
            for q in range(bw):
                cols[:, :, :, p, q, :] = blocks[:, p : p + ho, q : q + wo, :]
        epilogue(matmul(cols.reshape(-1, bh * bw * depth)), out[start : start + step].reshape(-1, o))
    return out if channels_last else out.transpose(0, 3, 1, 2)


def conv2d(x: np.ndarray, op: Conv2d, max_abs_input: int) -> np.ndarray:
    return conv2d_weights(op.weight, op.stride, op.padding, x, max_abs_input)


def box_sum_dtype(dtype: np.dtype, bound: int) -> type:
    """The type for box sums up to ``bound``: for unsigned inputs (spikes, pixels) the narrowest unsigned type
    at least as wide as the input's that holds the bound, else int64."""
    if np.issubdtype(dtype, np.unsignedinteger):
        for candidate in (np.uint8, np.uint16, np.uint32):
            if np.dtype(candidate).itemsize >= dtype.itemsize and bound <= np.iinfo(candidate).max:
                return candidate
    return np.int64


def pooled_conv(
    weight: np.ndarray,
    k: int,
    x: np.ndarray,
    max_abs_input: int,
    *,
    epilogue: Epilogue | None = None,
    channels_last: bool = False,
) -> np.ndarray:
    """k x k sum pooling (stride k) of a stride-1, unpadded conv of x (N, C, H, W) with weight (O, C, kh, kw);
    int64 (N, O, Ho, Wo). With ``channels_last``, x is (N, H, W, C) and the result (N, Ho, Wo, O).

    Pooling the conv's output equals convolving a k x k box sum of the input at stride k:

        sum_{a,b<k} sum_{p,q} W[p,q] x[k i + a + p, k j + b + q] = sum_{p,q} W[p,q] B[k i + p, k j + q],
        B[y, z] = sum_{a,b<k} x[y + a, z + b],

    an exact integer identity. The GEMM then has kh*kw*C columns, against (kh+k-1)*(kw+k-1)*C for a conv with
    the pool folded into its kernel (400 against 576 for the paper's 5x5 conv and 2x2 pool), and the
    box sums of binary spikes (0..k*k) still fit uint8. The im2col copies whole kernel rows (kw*C contiguous
    values of the channels-last box sums) through one strided view per chunk."""
    epilogue = epilogue or _to_int64
    if not channels_last:
        x = x.transpose(0, 2, 3, 1)
    n, h, w, c = x.shape
    o, _, kh, kw = weight.shape
    hb, wb = h - k + 1, w - k + 1  # box sums
    ho, wo = (h - kh + 1) // k, (w - kw + 1) // k
    if ho < 1 or wo < 1:
        raise ValueError(f"a {kh}x{kw} conv with {k}x{k} pooling needs a larger input than {h}x{w}")
    box_bound = k * k * int(max_abs_input)
    matmul = _ExactMatmul(weight.transpose(0, 2, 3, 1).reshape(o, -1), box_bound)  # columns (p, q, c)
    sum_dtype = box_sum_dtype(x.dtype, box_bound)
    out = np.empty((n, ho, wo, o), dtype=np.int64)
    step = max(1, CHUNK_ELEMENTS // (ho * wo * kh * kw * c))
    buffer = np.empty((min(step, n), ho, wo, kh, kw * c), dtype=matmul.dtype)
    item = buffer.itemsize
    for start in range(0, n, step):
        xs = np.ascontiguousarray(x[start : start + step], dtype=sum_dtype)
        m = len(xs)
        rows = xs[:, :hb]  # box sum along rows, then along columns, channels last
        for a in range(1, k):
            rows = rows + xs[:, a : a + hb]
        box = rows[:, :, :wb]
        for b in range(1, k):
            box = box + rows[:, :, b : b + wb]
        box = np.ascontiguousarray(box, dtype=matmul.dtype)  # (m, hb, wb, c)
        windows = np.lib.stride_tricks.as_strided(
            box,
            shape=(m, ho, wo, kh, kw * c),
            strides=(hb * wb * c * item, k * wb * c * item, k * c * item, wb * c * item, item),
            writeable=False,
        )
        cols = buffer[:m]
        np.copyto(cols, windows)
        epilogue(matmul(cols.reshape(m * ho * wo, -1)), out[start : start + step].reshape(-1, o))
    return out if channels_last else out.transpose(0, 3, 1, 2)


def sumpool2d(x: np.ndarray, op: SumPool2d, *, channels_last: bool = False) -> np.ndarray:
    k = op.kernel
    if channels_last:
        n, h, w, c = x.shape
        ho, wo = h // k, w // k
        x = x[:, : ho * k, : wo * k].astype(np.int64, copy=False)
        return x.reshape(n, ho, k, wo, k, c).sum(axis=(2, 4))
    n, c, h, w = x.shape
    ho, wo = h // k, w // k
    x = x[:, :, : ho * k, : wo * k].astype(np.int64, copy=False)
    return x.reshape(n, c, ho, k, wo, k).sum(axis=(3, 5))


def maxpool2d(x: np.ndarray, op: MaxPool2d) -> np.ndarray:
    """Channels-last max (or, where ``op.sign`` is -1, min) over non-overlapping k x k windows: the sign
    flips the channel, the max picks, the sign flips it back (exact: every value is an input value)."""
    k = op.kernel
    n, h, w, c = x.shape
    ho, wo = h // k, w // k
    sign = op.sign.astype(np.int64)
    blocks = x[:, : ho * k, : wo * k].astype(np.int64, copy=False).reshape(n, ho, k, wo, k, c)
    if (sign == 1).all():
        return blocks.max(axis=(2, 4))
    return (blocks * sign).max(axis=(2, 4)) * sign


def linear(
    x: np.ndarray,
    op: Linear,
    max_abs_input: int,
    *,
    epilogue: Epilogue | None = None,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """x (N, ...) flattened times weight^T: int64 (N, O), or what ``epilogue`` stores of the exact GEMM result.
    ``weight`` replaces ``op.weight`` (the executor passes its columns reordered for channels-last inputs)."""
    weight = op.weight if weight is None else weight
    x = x.reshape(x.shape[0], -1)
    res = np.empty((len(x), weight.shape[0]), dtype=np.int64)
    matmul = _ExactMatmul(weight, max_abs_input)
    step = max(1, CHUNK_ELEMENTS // max(1, x.shape[1]))
    for start in range(0, len(x), step):  # chunks keep the float copy of x and the result in cache
        (epilogue or _to_int64)(matmul(x[start : start + step]), res[start : start + step])
    return res


def requantize(x: np.ndarray, op: Requantize, *, channels_last: bool = False) -> np.ndarray:
    """(x * m + b + 2**(s-1)) >> s per channel (axis 1 of a batched tensor, or the last axis with
    ``channels_last``); round half up, exact in int64."""
    shape = (-1,) if channels_last else (1, -1) + (1,) * (x.ndim - 2)
    out = x.astype(np.int64)  # a fresh array: the ops below work in place
    return requantize_inplace(out, op.multiplier.reshape(shape), _requant_offset(op).reshape(shape), op.shift)


def _requant_offset(op: Requantize) -> np.ndarray:
    """b + 2**(s-1) (round half up) as one per-channel constant: one pass fewer per value."""
    return op.bias.astype(np.int64) + ((1 << (op.shift - 1)) if op.shift else 0)


def requantize_inplace(x: np.ndarray, multiplier: np.ndarray, offset: np.ndarray, shift: int) -> np.ndarray:
    """``requantize`` on an int64 array, overwriting it; multiplier/offset broadcast against x. The range
    analysis (executor.check_no_overflow) has proved x * m + offset fits 64 bits."""
    np.multiply(x, multiplier, out=x)
    np.add(x, offset, out=x)
    np.right_shift(x, shift, out=x)
    return x


def lif_step(
    v: np.ndarray, current: np.ndarray, op: LIF, saturate: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """One time step of a LIF layer (docs/ir/ops.md#lif); ``v`` (int64) is updated in place.

    Returns (v, spikes). ``saturate=False`` skips the clamp, allowed only where the range analysis proves the
    membrane cannot leave the state type (then the clamp is the identity). A literal transcription, used by the
    reference simulator; ``lif_scan`` computes the same thing faster."""
    reset = v > op.threshold
    if op.reset == "zero":
        v[reset] = 0
    np.multiply(v, op.decay_multiplier, out=v)
    if op.decay_shift:
        v += 1 << (op.decay_shift - 1)
        np.right_shift(v, op.decay_shift, out=v)
    v += current
    if op.reset == "subtract":
        np.subtract(v, op.threshold, out=v, where=reset)
    if saturate:
        np.clip(v, op.state_type.min, op.state_type.max, out=v)
    return v, v > op.threshold


# --- LIF scan -------------------------------------------------------------------------------------------------
#
# The step of docs/ir/ops.md is  u = ((v' * m + h) >> s) + i - r * th  (r = v > th; v' = v, or 0 where r for the
# zero reset). Adding a multiple of 2**s before an arithmetic right shift by s adds exactly that multiple after it
# (floor((a + k * 2**s) / 2**s) = floor(a / 2**s) + k for integers), so
#
#     u = (v' * m + P - r * (th << s)) >> s        with the "prepared current"  P = (i << s) + h,
#
# one multiply, two adds and one shift per step instead of six passes and a masked subtract (numpy's ``where=``
# loops are ~20x slower than plain ones). The spike output of a step is the reset mask r of the next one, so the
# comparison is done once. Valid while every intermediate fits int64: see ``lif_prepared_fits``.


def lif_prepared_fits(op: LIF, max_abs_current: int) -> bool:
    """True when |v' * m| + |P| + th * 2**s < 2**63 for any membrane of the state type and |i| <= the bound."""
    s = op.decay_shift
    v = 1 << (op.state_type.bits - 1)
    worst = v * op.decay_multiplier + ((int(max_abs_current) + op.threshold) << s) + (1 << s)
    return worst < 2**63


def lif_prepare(current: np.ndarray, op: LIF) -> np.ndarray:
    """P = (i << s) + h, in place on an int64 array (its caller owns it)."""
    if op.decay_shift:
        np.left_shift(current, op.decay_shift, out=current)
        current += 1 << (op.decay_shift - 1)
    return current


def lif_scan(
    currents: np.ndarray,
    op: LIF,
    *,
    static: bool = False,
    num_steps: int | None = None,
    record: bool = False,
    saturate: bool = True,
    state: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run a LIF layer over time.

    ``currents``: (T, N, ...) int64, or (N, ...) with ``static=True`` (the same current every step, then
    ``num_steps`` is required). ``state``: the membrane before the first step, int64 of one step's shape,
    updated in place to the membrane after the last step, so that a long run can be scanned in pieces; None
    starts from zero. Returns spikes (T, N, ...) uint8 and, with ``record``, membranes (T, N, ...)."""
    peak = int(np.abs(currents).max()) if currents.size else 0
    if not lif_prepared_fits(op, peak):
        return _lif_scan_literal(currents, op, static, num_steps, record, saturate, state)
    prepared = lif_prepare(currents.astype(np.int64), op)  # astype copies: the caller's array stays intact
    return lif_scan_prepared(
        prepared, op, static=static, num_steps=num_steps, record=record, saturate=saturate, state=state
    )


LIF_BLOCK = 1 << 15
"""Neurons scanned together over all steps: the membrane, its two scratch arrays and the block's current stay
in a 1 MiB L2 cache (256 KiB each) instead of streaming from L3 at every step. Measured on the bundled model's
first layer (128 samples, 294,912 neurons, 100 steps, one core): 58-76 ms in blocks of 2**15 or 2**16
against 71-167 ms in one piece."""


def lif_scan_prepared(
    prepared: np.ndarray,
    op: LIF,
    *,
    static: bool = False,
    num_steps: int | None = None,
    record: bool = False,
    saturate: bool = True,
    state: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``lif_scan`` on prepared currents P = (i << s) + h (``lif_prepare``); the caller has checked
    ``lif_prepared_fits``. Neurons are independent, so the scan runs block by block of ``LIF_BLOCK``
    neurons, each block over all steps; compiled (sim/compiled.py) where that is chosen."""
    steps = num_steps if static else prepared.shape[0]
    shape = prepared.shape if static else prepared.shape[1:]
    v = np.zeros(shape, dtype=np.int64) if state is None else state  # updated in place: the state carries
    spikes = np.empty((steps, *shape), dtype=np.uint8)
    membranes = np.empty((steps, *shape), dtype=op.state_type_numpy()) if record else None
    neurons = int(np.prod(shape))
    contiguous = v.flags.c_contiguous and prepared.flags.c_contiguous  # else flat views would be copies
    if contiguous and compiled.use(neurons * steps):
        compiled.lif_scan_prepared(prepared, op, static, steps, saturate, v, spikes, membranes)
        return spikes, membranes
    if not contiguous:
        _scan_block(prepared, op, static, steps, saturate, v, spikes, membranes)
        return spikes, membranes
    flat_p = prepared.reshape(-1) if static else prepared.reshape(steps, -1)
    flat_v, flat_s = v.reshape(-1), spikes.reshape(steps, -1)
    flat_m = membranes.reshape(steps, -1) if membranes is not None else None
    for b in range(0, neurons, LIF_BLOCK):
        block = slice(b, b + LIF_BLOCK)
        _scan_block(
            flat_p[block] if static else flat_p[:, block],
            op, static, steps, saturate, flat_v[block], flat_s[:, block],
            flat_m[:, block] if flat_m is not None else None,
        )  # fmt: skip
    return spikes, membranes


def _scan_block(prepared, op: LIF, static: bool, steps: int, saturate: bool, v, spikes, membranes) -> None:
    """The prepared scan of some neurons: ``v`` (their membranes) updated in place, ``spikes[t]`` and
    ``membranes[t]`` (views of the caller's arrays) written at every step."""
    s, m = op.decay_shift, op.decay_multiplier
    reset_amount = op.threshold << s
    acc = np.empty(v.shape, dtype=np.int64)
    tmp = np.empty(v.shape, dtype=np.int64)
    fired = v > op.threshold  # r of the first step: computed from the membrane before it (zero: none)
    for t in range(steps):
        if op.reset == "zero":
            np.multiply(fired, v, out=tmp)  # v where r, else 0
            np.subtract(v, tmp, out=v)  # v' = 0 where r
        np.multiply(v, m, out=acc)
        np.add(acc, prepared if static else prepared[t], out=acc)
        if op.reset == "subtract":
            np.multiply(fired, reset_amount, out=tmp)
            np.subtract(acc, tmp, out=acc)
        np.right_shift(acc, s, out=v)
        if saturate:
            np.clip(v, op.state_type.min, op.state_type.max, out=v)
        fired = spikes[t].view(bool)
        np.greater(v, op.threshold, out=fired)
        if membranes is not None:
            membranes[t] = v


def _lif_scan_literal(currents, op, static, num_steps, record, saturate, state):
    """The step-by-step form, for the (unusual) LIFs whose prepared form could overflow int64."""
    steps = num_steps if static else currents.shape[0]
    shape = currents.shape if static else currents.shape[1:]
    v = np.zeros(shape, dtype=np.int64) if state is None else state
    spikes = np.empty((steps, *shape), dtype=np.uint8)
    membranes = np.empty((steps, *shape), dtype=op.state_type_numpy()) if record else None
    for t in range(steps):
        v, s = lif_step(v, currents if static else currents[t], op, saturate)
        spikes[t] = s
        if membranes is not None:
            membranes[t] = v
    return spikes, membranes


def synaptic_scan(
    inputs: np.ndarray,
    op: Synaptic,
    *,
    static: bool = False,
    num_steps: int | None = None,
    saturate: bool = True,
    state: np.ndarray | None = None,
) -> np.ndarray:
    """Run a synaptic current over time: ``i = saturate(((i * m + h) >> s) + x)`` at every step
    (docs/ir/ops.md#synaptic).

    ``inputs``: (T, N, ...) int64, or (N, ...) with ``static=True`` (the same input every step; then
    ``num_steps`` is required). ``state``: the current before the first step, updated in place to the current
    after the last, as ``lif_scan``'s. ``saturate``: the range analysis says the current can reach its type's
    bounds (without it the clip is a no-op and skipped). Returns the current of every step, (T, N, ...) int64.
    Exact in int64: |i * m| < 2^31 * 2^31."""
    steps = num_steps if static else inputs.shape[0]
    shape = inputs.shape if static else inputs.shape[1:]
    s, m = op.decay_shift, op.decay_multiplier
    h = (1 << (s - 1)) if s else 0
    i = np.zeros(shape, dtype=np.int64) if state is None else state
    out = np.empty((steps, *shape), dtype=np.int64)
    for t in range(steps):
        np.multiply(i, m, out=i)
        np.add(i, h, out=i)
        np.right_shift(i, s, out=i)
        np.add(i, inputs if static else inputs[t], out=i)
        if saturate:
            np.clip(i, op.state_type.min, op.state_type.max, out=i)
        out[t] = i
    return out


def recurrent_layer_scan(
    inputs: np.ndarray,
    rec: Recurrent,
    synaptic: Synaptic | None,
    lif: LIF,
    states: list[np.ndarray],
    *,
    static: bool = False,
    num_steps: int | None = None,
    record: bool = False,
    saturating: frozenset[str] = frozenset(),
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """A recurrent layer over time, one step at a time (docs/ir/ops.md#recurrent): at step t the current is
    ``x[t] + ((W @ s[t-1]) * m + h) >> shift``, then the synaptic current (if any), then the LIF.

    ``inputs``: the feed-forward current, (T, N, F) int64, or (N, F) with ``static=True``. ``states``: the
    recurrent op's spikes of the previous step, [the synaptic current,] the membrane, int64 (N, F) each, updated
    in place so that a long run can be scanned in pieces. The spikes times the weights are summed in float32:
    exact, because every partial sum is an integer of magnitude at most F * 128 <= 2**19 < 2**24. Returns spikes
    (T, N, F) uint8, with ``record`` membranes (T, N, F) in the LIF's state type and synaptic currents (T, N, F)
    int64 (None without a synaptic op), and the recurrent events of each sample (N,) int64: the spikes of the
    previous step it read, each of which adds one weight column of F accumulations."""
    steps = num_steps if static else inputs.shape[0]
    shape = inputs.shape if static else inputs.shape[1:]
    previous, *current_state, v = states
    weight_t = rec.weight.astype(np.float32).T  # (from, to): spikes (N, from) @ weight_t
    multiplier = rec.multiplier.astype(np.int64)
    h = (1 << (rec.shift - 1)) if rec.shift else 0
    spikes = np.empty((steps, *shape), dtype=np.uint8)
    membranes = np.empty((steps, *shape), dtype=lif.state_type_numpy()) if record else None
    currents = np.empty((steps, *shape), dtype=np.int64) if record and synaptic is not None else None
    events = np.zeros(len(previous), dtype=np.int64)
    for t in range(steps):
        events += previous.sum(axis=1, dtype=np.int64)
        acc = (previous.astype(np.float32) @ weight_t).astype(np.int64)
        current = np.right_shift(acc * multiplier + h, rec.shift)
        current += inputs if static else inputs[t]
        if synaptic is not None:
            i = current_state[0]
            step = synaptic_scan(current, synaptic, static=True, num_steps=1, state=i,
                                 saturate=synaptic.name in saturating)  # fmt: skip
            current = step[0]
            if currents is not None:
                currents[t] = current
        _, fired = lif_step(v, current, lif, saturate=lif.name in saturating)
        spikes[t] = fired
        previous[...] = fired
        if membranes is not None:
            membranes[t] = v
    return spikes, membranes, currents, events
