"""The graph executor: runs an IR graph on a batch of samples, layer by layer over all time steps.

Stateless ops act on every (step, sample) frame at once; a LIF op scans its steps. This order computes exactly
what the step-by-step semantics of docs/ir/ops.md define, because no op feeds back. Ops before the first LIF
see a static input only once per sample, not once per step. A stride-1 conv followed by sum pooling runs as one
strided conv over box sums of its input (kernels.pooled_conv), an exact integer identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qsnn_deploy.errors import IRValidationError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, Requantize, SumPool2d
from qsnn_deploy.ir.ranges import OpRange, analyse
from qsnn_deploy.sim import kernels


@dataclass
class SimResult:
    """Outputs of a simulation of N samples over T steps."""

    output_spikes: np.ndarray  # (N, T, K) uint8
    counts: np.ndarray  # (N, K) int64 spike counts
    predictions: np.ndarray  # (N,) argmax of counts, lowest index on ties
    spike_counts: dict[str, np.ndarray] = field(default_factory=dict)  # LIF name -> (N,) total spikes
    synops: dict[str, np.ndarray] = field(default_factory=dict)  # conv/linear name -> (N,) accumulations
    layer_spikes: dict[str, np.ndarray] = field(default_factory=dict)  # with record: (N, T, ...) uint8
    layer_membranes: dict[str, np.ndarray] = field(default_factory=dict)  # with record: (N, T, ...)
    neurons: dict[str, int] = field(default_factory=dict)  # LIF name -> neurons in the layer
    num_steps: int = 0

    def firing_rates(self) -> dict[str, float]:
        """Mean spikes per neuron per step, per LIF layer."""
        n = len(self.predictions)
        return {
            k: float(v.sum()) / max(1, n * self.neurons[k] * self.num_steps)
            for k, v in self.spike_counts.items()
        }


def check_no_overflow(graph: Graph) -> set[str]:
    """Refuse a graph whose declared accumulator or output types could overflow (the spec requires exactness
    there; only LIF membranes saturate, by definition). Returns the LIF layers whose membrane can saturate."""
    return _checked_ranges(graph)[0]


def _checked_ranges(graph: Graph) -> tuple[set[str], dict[str, OpRange]]:
    """``check_no_overflow`` plus every op's range, by name (the fused kernels use them to prove exactness)."""
    can_saturate = set()
    ranges = {}
    for rng in analyse(graph):
        ranges[rng.name] = rng
        if rng.kind == "lif" and rng.note:
            can_saturate.add(rng.name)
        if rng.kind != "lif" and not rng.fits:
            raise IRValidationError(
                f"{rng.kind} {rng.name!r}: values can reach [{min(rng.lo)}, {max(rng.hi)}], beyond its declared "
                f"{rng.declared}; re-export to get wider types"
            )
        if rng.kind == "requantize" and rng.peak_bits > 64:
            raise IRValidationError(
                f"requantize {rng.name!r}: the multiply needs {rng.peak_bits} bits (> 64)"
            )
    return can_saturate, ranges


def fanout(op: Conv2d | Linear, in_shape: tuple[int, ...]) -> np.ndarray:
    """Accumulations one nonzero input element causes: (C, H, W) for conv, (features,) for linear."""
    if isinstance(op, Linear):
        return np.full(int(np.prod(in_shape)), op.weight.shape[0], dtype=np.int64).reshape(in_shape)
    c, h, w = in_shape
    o, _, kh, kw = op.weight.shape
    ho, wo = op.out_shape(in_shape)[1:]

    def cover(size: int, k: int, n_out: int) -> np.ndarray:
        pos = np.arange(size) + op.padding
        return np.array(
            [sum(1 for i in range(n_out) if 0 <= p - i * op.stride < k) for p in pos], dtype=np.int64
        )

    per = np.outer(cover(h, kh, ho), cover(w, kw, wo))
    return np.broadcast_to(per * o, (c, h, w)).copy()


def simulate(
    graph: Graph,
    inputs: np.ndarray,
    num_steps: int | None = None,
    *,
    record: bool = False,
    batch_size: int = 64,
    progress=None,
) -> SimResult:
    """Run ``graph`` on ``inputs``: (N, C, H, W) for a static input, (N, T', C, H, W) with T' >= steps for a
    stream. ``progress``: optional callable receiving the number of samples finished per batch."""
    graph.validate()
    can_saturate, ranges = _checked_ranges(graph)
    steps = num_steps or graph.num_steps
    stream = graph.input.encoding == "stream"
    if inputs.ndim != (5 if stream else 4) or tuple(inputs.shape[-3:]) != tuple(graph.input.shape):
        raise IRValidationError(
            f"inputs of shape {inputs.shape} do not fit the graph's input {graph.input.shape}"
        )
    if stream and inputs.shape[1] < steps:
        raise IRValidationError(f"the stream has {inputs.shape[1]} steps, fewer than the {steps} asked for")
    if not graph.input.dtype.contains(inputs):
        raise IRValidationError(f"input values leave the input type {graph.input.dtype}")
    parts = [
        _run_batch(graph, inputs[s : s + batch_size], steps, record, progress, can_saturate, ranges)
        for s in range(0, len(inputs), batch_size)
    ]
    return concat_results(parts, steps)


def _fused_epilogue(
    ops: tuple, i: int, ranges: dict[str, OpRange]
) -> tuple[kernels.Epilogue | None, int, LIF | None]:
    """The ops after a conv/linear (its sum pool already consumed) at ``ops[i]`` that run inside its GEMM
    epilogue, on each chunk while it is in cache: a Requantize, then the ``lif_prepare`` of a LIF after it.

    Returns (epilogue or None, how many ops it consumed, the LIF whose input is now prepared or None). Exact:
    the same int64 operations as kernels.requantize / lif_prepare, on the same integers (the GEMM result is the
    exact accumulator); the range analysis proves the requantize fits 64 bits (check_no_overflow) and
    ``lif_prepared_fits`` is checked on the requantize's proven output range."""
    rq = ops[i] if i < len(ops) and isinstance(ops[i], Requantize) else None
    if rq is None:
        return None, 0, None
    mult = rq.multiplier.astype(np.int64)  # channel last in the GEMM result: plain broadcasting
    offset = kernels._requant_offset(rq)
    lif = ops[i + 1] if i + 1 < len(ops) and isinstance(ops[i + 1], LIF) else None
    if lif is not None:
        peak = max(max(abs(v) for v in ranges[rq.name].lo), max(abs(v) for v in ranges[rq.name].hi))
        if not kernels.lif_prepared_fits(lif, peak):
            lif = None

    # A float GEMM result times the multiplier is computed in float64 and stored as int64 in one pass, where
    # every product is an integer below 2**53 (then exact): the accumulator's proven range times |m|.
    acc = ranges[ops[i - 1].name]
    acc_peak = max(max(abs(v) for v in acc.lo), max(abs(v) for v in acc.hi))
    float_multiply = acc_peak * int(np.abs(mult).max()) < 2**53
    mult_float = mult.astype(np.float64)

    def epilogue(res: np.ndarray) -> np.ndarray:
        if float_multiply and res.dtype.kind == "f":
            z = np.empty(res.shape, dtype=np.int64)
            np.multiply(res, mult_float, out=z, casting="unsafe")
            np.add(z, offset, out=z)
            np.right_shift(z, rq.shift, out=z)
        else:
            z = kernels.requantize_inplace(res.astype(np.int64), mult, offset, rq.shift)
        return kernels.lif_prepare(z, lif) if lif is not None else z

    return epilogue, 1, lif


def _hwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The executor's layout of an IR shape: (C, H, W) is held channels last, (H, W, C); others as they are."""
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else tuple(shape)


def _to_ir_layout(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(..., H, W, C) -> (..., C, H, W) for an IR shape (C, H, W); other shapes unchanged."""
    return np.moveaxis(x, -1, -3) if len(shape) == 3 else x


def _run_batch(
    graph: Graph,
    x: np.ndarray,
    steps: int,
    record: bool,
    progress,
    can_saturate: set[str],
    ranges: dict[str, OpRange],
) -> SimResult:
    """One batch. Activations are held channels last, (frames, H, W, C): the GEMM results come out that way,
    the per-channel requantize broadcasts over the last axis, the box sums of ``kernels.pooled_conv`` read
    contiguous pixels, and no activation is ever transposed; a Linear after a conv gets its weight columns
    reordered instead. Recorded layers and the outputs are returned in the IR's (C, H, W) order."""
    n = len(x)
    stream = graph.input.encoding == "stream"
    if stream:
        # (n, T, C, H, W) -> (T*n, H, W, C): frames of step t are rows t*n .. t*n+n-1.
        cur = np.ascontiguousarray(x[:, :steps].transpose(1, 0, 3, 4, 2)).reshape(
            steps * n, *_hwc(x.shape[2:])
        )
    else:
        cur = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    per_step = stream  # False while the activations are one static frame per sample
    max_abs = max(abs(graph.input.dtype.min), abs(graph.input.dtype.max))
    result = SimResult(np.empty(0), np.empty(0), np.empty(0), num_steps=steps)
    shape = tuple(graph.input.shape)
    ops = graph.ops
    prepared_for = None  # the LIF whose prepared current (kernels.lif_prepare) ``cur`` holds
    spike_totals = None  # (n, neurons) spikes per neuron over all steps when ``cur`` is a LIF's output
    i = 0
    while i < len(ops):
        op = ops[i]
        out_shape = op.out_shape(shape)
        if i > 0:
            # The bound that makes float BLAS exact is that of this op's own input: spikes after a LIF, else
            # whatever the range analysis proves for the op before (a conv may follow a conv or a pool).
            prev = ops[i - 1]
            rng = ranges[prev.name]
            max_abs = 1 if isinstance(prev, LIF) else max(abs(min(rng.lo)), abs(max(rng.hi)))
        if isinstance(op, (Conv2d, Linear)):
            result.synops[op.name] = _synops(op, shape, cur, spike_totals, steps, n, per_step)
        if isinstance(op, Conv2d):
            nxt = ops[i + 1] if i + 1 < len(ops) else None
            pool = nxt.kernel if isinstance(nxt, SumPool2d) and op.stride == 1 and op.padding == 0 else 0
            weight = op.weight
            if pool:
                out_shape = nxt.out_shape(out_shape)
                i += 1
            if spike_totals is not None:
                cur, weight = _drop_silent_channels(cur, weight, spike_totals)
            epilogue, used, prepared_for = _fused_epilogue(ops, i + 1, ranges)
            if pool:
                cur = kernels.pooled_conv(weight, pool, cur, max_abs, epilogue=epilogue, channels_last=True)
            else:
                cur = kernels.conv2d_weights(
                    weight, op.stride, op.padding, cur, max_abs, epilogue=epilogue, channels_last=True
                )
            i += used
        elif isinstance(op, SumPool2d):
            cur = kernels.sumpool2d(cur, op, channels_last=True)
        elif isinstance(op, Linear):
            weight = op.weight
            if len(shape) == 3:  # columns in (C, H, W) order -> the (H, W, C) order of a channels-last input
                weight = weight.reshape(-1, *shape).transpose(0, 2, 3, 1).reshape(len(weight), -1)
            epilogue, used, prepared_for = _fused_epilogue(ops, i + 1, ranges)
            cur = kernels.linear(cur, op, max_abs, epilogue=epilogue, weight=weight)
            cur = cur.reshape(len(cur), *out_shape)
            i += used
        elif isinstance(op, Requantize):
            cur = kernels.requantize(cur, op, channels_last=True)
        elif isinstance(op, LIF):
            saturate = op.name in can_saturate
            held = _hwc(out_shape)
            currents = cur if not per_step else cur.reshape(steps, n, *held)
            args = dict(static=not per_step, num_steps=steps, record=record, saturate=saturate)
            if prepared_for is op:
                spikes, mems = kernels.lif_scan_prepared(currents, op, **args)
            else:
                spikes, mems = kernels.lif_scan(currents, op, **args)
            prepared_for = None
            per_step = True
            spike_totals = _spike_totals(spikes, steps, n)
            result.spike_counts[op.name] = spike_totals.sum(axis=1)
            result.neurons[op.name] = int(np.prod(out_shape))
            if record:
                result.layer_spikes[op.name] = _to_ir_layout(np.moveaxis(spikes, 0, 1), out_shape)
                result.layer_membranes[op.name] = _to_ir_layout(np.moveaxis(mems, 0, 1), out_shape)
            cur = spikes.reshape(steps * n, *held)
            shape = out_shape
            i += 1
            continue
        spike_totals = None
        shape = out_shape
        i += 1
    out = np.moveaxis(_to_ir_layout(cur.reshape(steps, n, *_hwc(shape)), shape).reshape(steps, n, -1), 0, 1)
    result.output_spikes = np.ascontiguousarray(out)
    result.counts = out.sum(axis=1, dtype=np.int64)
    result.predictions = np.argmax(result.counts, axis=1)  # numpy returns the first maximum: lowest index
    if progress is not None:
        progress(n)
    return result


def _drop_silent_channels(
    x: np.ndarray, weight: np.ndarray, spike_totals: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Remove the input channels that never spike in this batch, and their weights: a zero input adds exactly
    zero to every accumulator, so the conv result is unchanged and the GEMM is shorter (trained nets often have
    channels silent on a whole batch). ``x`` is channels last; ``spike_totals`` in the same (H, W, C) order."""
    c = x.shape[-1]
    keep = spike_totals.reshape(len(spike_totals), -1, c).any(axis=(0, 1))
    if keep.all():
        return x, weight
    if not keep.any():  # keep one channel: the conv still needs an input (all zeros)
        keep[0] = True
    return x[..., keep], weight[:, keep]


def _spike_totals(spikes: np.ndarray, steps: int, n: int) -> np.ndarray:
    """(n, neurons) int64 spike count of every neuron over the steps (one pass over the spike array)."""
    acc = np.uint16 if steps < 2**16 else np.int64  # counts <= steps: no wrap
    return spikes.reshape(steps, n, -1).sum(axis=0, dtype=acc).astype(np.int64)


def _synops(op, shape, cur, spike_totals, steps, n, per_step) -> np.ndarray:
    """Accumulations of ``op`` per sample: every nonzero input element times its fan-out (inputs and spike
    totals channels last, as the executor holds them)."""
    fan = fanout(op, shape)
    fan = (fan.transpose(1, 2, 0) if fan.ndim == 3 else fan).reshape(-1)
    if spike_totals is not None:  # binary input: nonzero elements = spikes, already counted per neuron
        return spike_totals @ fan
    # Counts times fan-outs stay far below 2**53: float64 BLAS is exact here and much faster than int64.
    active = (cur != 0).reshape(len(cur), -1).astype(np.float64)
    nonzero = (active @ fan.astype(np.float64)).astype(np.int64)
    return nonzero.reshape(steps, n).sum(axis=0) if per_step else nonzero


def concat_results(parts: list[SimResult], steps: int) -> SimResult:
    first = parts[0]

    def cat(get):
        return {k: np.concatenate([get(p)[k] for p in parts]) for k in get(first)}

    return SimResult(
        output_spikes=np.concatenate([p.output_spikes for p in parts]),
        counts=np.concatenate([p.counts for p in parts]),
        predictions=np.concatenate([p.predictions for p in parts]),
        spike_counts=cat(lambda p: p.spike_counts),
        synops=cat(lambda p: p.synops),
        layer_spikes=cat(lambda p: p.layer_spikes),
        layer_membranes=cat(lambda p: p.layer_membranes),
        neurons=dict(first.neurons),
        num_steps=steps,
    )
