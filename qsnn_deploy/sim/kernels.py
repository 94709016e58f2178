"""One pure NumPy kernel per IR op: the executable form of docs/ir/ops.md.

Kernels take a leading batch axis ``N`` (samples, or samples x steps for stateless ops). Integer results are
exact: where float BLAS is used, ``exact_float_dtype`` proves every partial sum is an integer the float type
represents exactly (below 2**24 for float32, 2**53 for float64), so the float result *is* the integer.
"""

from __future__ import annotations

import numpy as np

from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, Requantize, SumPool2d

CHUNK_ELEMENTS = 1 << 20  # im2col buffer per chunk, in elements: small enough to stay in cache


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


def _matmul_exact(a: np.ndarray, w2: np.ndarray, max_abs_input: int) -> np.ndarray:
    """a (M, K) integers times w2 (O, K)^T, exactly, as int64."""
    dtype = exact_float_dtype(w2, max_abs_input)
    if dtype is None:
        return a.astype(np.int64) @ w2.astype(np.int64).T
    out = a.astype(dtype, copy=False) @ w2.astype(dtype).T
    return out.astype(np.int64)


def conv2d_weights(
    weight: np.ndarray, stride: int, padding: int, x: np.ndarray, max_abs_input: int
) -> np.ndarray:
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw); returns int64 (N, O, Ho, Wo).

    Strided convs go through space-to-depth first: with blocks of s x s pixels stacked into channels, a
    stride-s conv becomes a stride-1 conv with a ceil(k/s) kernel, so each im2col slice is a long contiguous
    run (Wo * s * s * C values) instead of a gather of C-value pieces: the copy runs at memory speed."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    s = stride
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        h, w = h + 2 * padding, w + 2 * padding
    ho, wo = (h - kh) // s + 1, (w - kw) // s + 1
    bh, bw = -(-kh // s), -(-kw // s)  # kernel size in blocks
    # Zero taps pad the kernel to whole blocks; the input is cropped or zero-padded to the rows they reach.
    wpad = np.zeros((o, c, bh * s, bw * s), dtype=np.int64)
    wpad[:, :, :kh, :kw] = weight
    hs, ws = s * (ho - 1 + bh), s * (wo - 1 + bw)
    x = x[:, :, :hs, :ws]
    if x.shape[2] < hs or x.shape[3] < ws:
        x = np.pad(x, ((0, 0), (0, 0), (0, hs - x.shape[2]), (0, ws - x.shape[3])))
    # Weight columns ordered (block row, block col, row in block, col in block, channel).
    w2 = wpad.reshape(o, c, bh, s, bw, s).transpose(0, 2, 4, 3, 5, 1).reshape(o, -1)
    dtype = exact_float_dtype(w2, max_abs_input) or np.int64
    out = np.empty((n, o, ho, wo), dtype=np.int64)
    depth = s * s * c
    step = max(1, CHUNK_ELEMENTS // (ho * wo * bh * bw * depth))
    buffer = np.empty((min(step, n), ho, wo, bh, bw, depth), dtype=dtype)
    for start in range(0, n, step):
        xs = x[start : start + step]
        m = len(xs)
        # (m, C, hs, ws) -> (m, hs/s, ws/s, s, s, C) -> (m, hb, wb, s*s*C), converted once to the GEMM dtype.
        blocks = xs.reshape(m, c, hs // s, s, ws // s, s).transpose(0, 2, 4, 3, 5, 1)
        blocks = np.ascontiguousarray(blocks, dtype=dtype).reshape(m, hs // s, ws // s, depth)
        cols = buffer[:m]
        for p in range(bh):
            for q in range(bw):
                cols[:, :, :, p, q, :] = blocks[:, p : p + ho, q : q + wo, :]
        res = _matmul_exact(cols.reshape(-1, bh * bw * depth), w2, max_abs_input)  # (m*Ho*Wo, O)
        out[start : start + step] = res.reshape(m, ho, wo, o).transpose(0, 3, 1, 2)
    return out


def conv2d(x: np.ndarray, op: Conv2d, max_abs_input: int) -> np.ndarray:
    return conv2d_weights(op.weight, op.stride, op.padding, x, max_abs_input)


def pooled_conv_weights(weight: np.ndarray, k: int) -> np.ndarray:
    """Weights of the conv that equals a stride-1 conv followed by k x k sum pooling (stride k).

    sumpool(conv(x, W))[i, j] = sum_{p,q} W'[p, q] x[k i + p, k j + q] with W' = W full-convolved with a k x k
    block of ones; exact in integers, and k**2 fewer output positions than the two ops apart."""
    o, c, kh, kw = weight.shape
    fused = np.zeros((o, c, kh + k - 1, kw + k - 1), dtype=np.int64)
    for a in range(k):
        for b in range(k):
            fused[:, :, a : a + kh, b : b + kw] += weight
    return fused


def sumpool2d(x: np.ndarray, op: SumPool2d) -> np.ndarray:
    n, c, h, w = x.shape
    k = op.kernel
    ho, wo = h // k, w // k
    x = x[:, :, : ho * k, : wo * k].astype(np.int64, copy=False)
    return x.reshape(n, c, ho, k, wo, k).sum(axis=(3, 5))


def linear(x: np.ndarray, op: Linear, max_abs_input: int) -> np.ndarray:
    return _matmul_exact(x.reshape(x.shape[0], -1), op.weight, max_abs_input)


def requantize(x: np.ndarray, op: Requantize) -> np.ndarray:
    """(x * m + b + 2**(s-1)) >> s per channel (axis 1 of a batched tensor); round half up, exact in int64."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = op.multiplier.reshape(shape)
    b = op.bias.reshape(shape)
    rounding = (1 << (op.shift - 1)) if op.shift else 0
    return (x.astype(np.int64) * m + b + rounding) >> op.shift


def lif_step(
    v: np.ndarray, current: np.ndarray, op: LIF, saturate: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """One time step of a LIF layer (docs/ir/ops.md#lif); ``v`` (int64) is updated in place.

    Returns (v, spikes). ``saturate=False`` skips the clamp, allowed only where the range analysis proves the
    membrane cannot leave the state type (then the clamp is the identity)."""
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


def lif_scan(
    currents: np.ndarray,
    op: LIF,
    *,
    static: bool = False,
    num_steps: int | None = None,
    record: bool = False,
    saturate: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run a LIF layer over time from a zero membrane.

    ``currents``: (T, N, ...) int64, or (N, ...) with ``static=True`` (the same current every step, then
    ``num_steps`` is required). Returns spikes (T, N, ...) uint8 and, with ``record``, membranes (T, N, ...)."""
    steps = num_steps if static else currents.shape[0]
    shape = currents.shape if static else currents.shape[1:]
    v = np.zeros(shape, dtype=np.int64)
    spikes = np.empty((steps, *shape), dtype=np.uint8)
    membranes = np.empty((steps, *shape), dtype=op.state_type_numpy()) if record else None
    for t in range(steps):
        v, s = lif_step(v, currents if static else currents[t], op, saturate)
        spikes[t] = s
        if membranes is not None:
            membranes[t] = v
    return spikes, membranes
