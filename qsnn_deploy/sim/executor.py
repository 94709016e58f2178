"""The graph executor: runs an IR graph on a batch of samples, layer by layer over all time steps.

Stateless ops act on every (step, sample) frame at once; a LIF op scans its steps. This order computes exactly
what the step-by-step semantics of docs/ir/ops.md define, because no op feeds back. Ops before the first LIF
see a static input only once per sample, not once per step. A stride-1 conv followed by sum pooling runs as one
strided conv over box sums of its input (kernels.pooled_conv), an exact integer identity.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from qsnn_deploy.errors import IRValidationError
from qsnn_deploy.ir import limits
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ranges import OpRange, analyse
from qsnn_deploy.sim import compiled, kernels
from qsnn_deploy.sim.plan import Stage, build_plan, hwc


@dataclass
class SimResult:
    """Outputs of a simulation of N samples over T steps."""

    output_spikes: np.ndarray  # (N, T, K) uint8
    counts: np.ndarray  # (N, K) int64 spike counts
    predictions: np.ndarray  # (N,) argmax of counts, lowest index on ties
    spike_counts: dict[str, np.ndarray] = field(default_factory=dict)  # LIF name -> (N,) total spikes
    synops: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # conv/linear/recurrent name -> (N,) accumulations
    layer_spikes: dict[str, np.ndarray] = field(default_factory=dict)  # with record: (N, T, ...) uint8
    layer_membranes: dict[str, np.ndarray] = field(default_factory=dict)  # with record: (N, T, ...)
    # with record: synaptic op name -> (N, T, ...) currents, in its state type
    layer_currents: dict[str, np.ndarray] = field(default_factory=dict)
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
        if rng.saturates and rng.note:
            can_saturate.add(rng.name)
        problems = rng.overflows()  # outputs, every partial sum, the requantize's 64-bit multiply
        if problems:
            raise IRValidationError(
                f"{rng.kind} {rng.name!r}: {'; '.join(problems)}; re-export to get wider types"
            )
    return can_saturate, ranges


def simulate(
    graph: Graph,
    inputs: np.ndarray,
    num_steps: int | None = None,
    *,
    record: bool = False,
    batch_size: int | None = None,
    progress=None,
    workers: int | None = None,
) -> SimResult:
    """Run ``graph`` on ``inputs``: (N, C, H, W) for a static input, (N, T', C, H, W) with T' >= steps for a
    stream. ``progress``: optional callable receiving the number of samples finished per batch.
    ``batch_size``: samples per batch at most; the batches are never larger than ``samples_per_batch`` allows,
    so memory stays within ``limits.MEMORY_BUDGET_BYTES`` for any graph inside the limits.

    ``workers``: batches simulated at the same time, each on its own thread with single-threaded BLAS
    (default: one per CPU, at most one per batch; 1 runs the batches in turn with BLAS on every CPU). The
    result does not depend on it: every batch is exact integer arithmetic on its own samples. Why threads:
    only the GEMMs use more than one core through BLAS; the LIF scans, box sums and requantize epilogues are
    single-threaded NumPy passes that release the GIL, so two batches side by side keep both cores busy
    (measured on 2 cores: 1.3-1.6 against 1.8-1.9 ms/sample)."""
    graph.validate()
    steps = num_steps or graph.num_steps
    limits.check_budget(graph, steps)  # --num-steps may ask more than the file's own steps
    can_saturate, ranges = _checked_ranges(graph)
    stream = graph.input.encoding == "stream"
    if inputs.ndim != (5 if stream else 4) or tuple(inputs.shape[-3:]) != tuple(graph.input.shape):
        raise IRValidationError(
            f"inputs of shape {inputs.shape} do not fit the graph's input {graph.input.shape}"
        )
    if stream and inputs.shape[1] < steps:
        raise IRValidationError(f"the stream has {inputs.shape[1]} steps, fewer than the {steps} asked for")
    if not graph.input.dtype.contains(inputs):
        raise IRValidationError(f"input values leave the input type {graph.input.dtype}")
    plan = build_plan(graph, can_saturate, ranges)
    workers = workers or available_cpus()
    fits = samples_per_batch(graph, steps, record=record, workers=workers)
    batch_size = min(batch_size or DEFAULT_BATCH, fits)
    starts = range(0, len(inputs), batch_size)
    workers = min(len(starts), workers)
    if progress is not None and workers > 1:
        progress = _serialised(progress)

    def run(start: int) -> SimResult:
        x = inputs[start : start + batch_size]
        return _run_batch(graph, plan, x, steps, record, progress, STREAM_ELEMENTS // workers)

    if workers <= 1:
        parts = [run(start) for start in starts]
    else:
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(run, starts))  # in input order
    return concat_results(parts, steps)


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _serialised(callback):
    lock = threading.Lock()

    def call(*args):
        with lock:
            callback(*args)

    return call


DEFAULT_BATCH = 64  # samples per batch when the memory budget allows it
STREAM_ELEMENTS = 1 << 25  # values of the largest activation of a time chunk, all workers together
LIVE_ARRAYS = 4
"""int64 arrays of the largest activation alive at once in a batch: a stage's input, its zero-padded copy and
its output; a LIF's input currents, their prepared copy and its spikes (sim/kernels.py)."""


def samples_per_batch(graph: Graph, steps: int, *, record: bool = False, workers: int = 1) -> int:
    """The most samples a batch may hold so that ``workers`` batches side by side stay within
    ``limits.MEMORY_BUDGET_BYTES`` (at least 1: ``limits.check_budget`` guarantees that one sample fits).

    Per sample: ``LIVE_ARRAYS`` int64 copies of the largest array of one step (time chunks are cut to keep
    this, see ``chunk_steps``), every LIF's int64 membrane, and the output spikes with their copies; with
    ``record``, every LIF neuron's spike and membrane at every step, at ``limits.RECORD_BYTES_PER_VALUE``
    (the simulator's record, the executor's and their comparison, as ``verify`` holds them)."""
    fp = limits.footprint(graph, steps)
    per_sample = 8 * LIVE_ARRAYS * fp.largest + 8 * fp.neurons + 3 * fp.classes * steps
    if record:
        per_sample += limits.RECORD_BYTES_PER_VALUE * fp.neuron_steps
    return max(1, limits.MEMORY_BUDGET_BYTES // max(1, workers) // per_sample)


def samples_per_record(graph: Graph, steps: int) -> int:
    """The most samples ``verify`` may check at once: their full records (simulator, executor, comparison)
    within ``limits.MEMORY_BUDGET_BYTES`` and the files its executors write for them within
    ``limits.TEMP_BUDGET_BYTES`` (at least 1)."""
    temp = limits.TEMP_BUDGET_BYTES // max(1, limits.footprint(graph, steps).temp_bytes)
    return max(1, min(samples_per_batch(graph, steps, record=True), temp))


def _to_ir_layout(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(..., H, W, C) -> (..., C, H, W) for an IR shape (C, H, W); other shapes unchanged."""
    return np.moveaxis(x, -1, -3) if len(shape) == 3 else x


def chunk_steps(stages: list[Stage], n: int, steps: int, values: int | None = None) -> int:
    """Steps per time chunk: as many as keep the largest activation of the batch within ``values`` (the
    executor gives each of its workers an equal share of ``STREAM_ELEMENTS``, 256 MiB of int64 in all), which
    bounds the memory of long runs (long event streams, large batches). Smaller chunks are not faster: measured
    on the bundled MNIST model, 2**19 values per chunk took 1.9x the time of a single chunk, 2**22 values 1.05x
    (more, smaller kernel calls)."""
    values = STREAM_ELEMENTS if values is None else values
    largest = max(int(np.prod(s.out_shape)) for s in stages)
    return max(1, min(steps, values // max(1, n * largest)))


def _run_batch(
    graph: Graph, plan: list[Stage], x: np.ndarray, steps: int, record: bool, progress, chunk_values: int
) -> SimResult:
    """One batch, in time chunks.

    A static input's stages before the first LIF run once per sample. The other stages run chunk by chunk of
    ``chunk_steps`` steps, each LIF carrying its membrane from one chunk to the next (kernels.lif_scan's
    ``state``): no op feeds back, so this computes exactly the step-by-step semantics of docs/ir/ops.md, in
    bounded memory. Activations are held channels last, (frames, H, W, C): GEMM results come out that way, the
    per-channel requantize broadcasts over the last axis, and the box sums of ``kernels.pooled_conv`` read
    contiguous pixels; recorded layers and outputs are returned in the IR's (C, H, W) order."""
    n = len(x)
    stream = graph.input.encoding == "stream"
    first_lif = next(k for k, s in enumerate(plan) if s.op.stateful)
    prefix, rest = ([], plan) if stream else (plan[:first_lif], plan[first_lif:])
    result = SimResult(np.empty(0), np.empty(0), np.empty(0), num_steps=steps)
    static = None
    if not stream:
        static = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        for stage in prefix:  # once per sample; their synops count once per inference
            static, _, _ = _run_stage(stage, static, None, result, n, 1, False, None, False)
    states: dict[str, np.ndarray] = {}
    outputs: list[np.ndarray] = []
    recorded: dict[str, dict[str, list[np.ndarray]]] = {"spikes": {}, "membranes": {}, "currents": {}}
    chunk = chunk_steps(plan, n, steps, chunk_values)
    for t0 in range(0, steps, chunk):
        tc = min(chunk, steps - t0)
        if stream:  # (n, tc, C, H, W) -> (tc*n, H, W, C): frames of step t are rows t*n .. t*n+n-1
            frames = x[:, t0 : t0 + tc].transpose(1, 0, 3, 4, 2)
            cur = np.ascontiguousarray(frames).reshape(tc * n, *frames.shape[2:])
        else:
            cur = static
        spike_totals = None
        per_step = stream
        k = 0
        while k < len(rest):
            stage = rest[k]
            following = rest[k + 1] if k + 1 < len(rest) else None
            fused = _run_conv_lif(stage, following, cur, spike_totals, result, n, tc, states, record)
            if fused is not None:  # the conv and the LIF after it, in one compiled pass
                (cur, spike_totals, values), stage, k = fused, following, k + 2
            else:
                cur, spike_totals, values = _run_stage(
                    stage, cur, spike_totals, result, n, tc, per_step, states, record
                )
                k += 1
            per_step = per_step or stage.op.stateful  # from the first state on, every step differs
            for table, name, held in values or ():  # with record: (tc, n, *held) per recorded quantity
                recorded[table].setdefault(name, []).append(_to_ir_layout(held, stage.out_shape))
        outputs.append(cur.reshape(tc, n, -1))
    out = np.concatenate(outputs).transpose(1, 0, 2)  # (n, T, K); the output layer is a vector
    result.output_spikes = np.ascontiguousarray(out)
    result.counts = out.sum(axis=1, dtype=np.int64)
    result.predictions = np.argmax(result.counts, axis=1)  # numpy returns the first maximum: lowest index
    state_types = {op.name: op.state_type_numpy() for op in graph.ops if op.role in ("current", "neuron")}
    tables = {
        "spikes": result.layer_spikes,
        "membranes": result.layer_membranes,
        "currents": result.layer_currents,
    }
    for table, chunks_by_name in recorded.items():
        for name, chunks in chunks_by_name.items():
            values = np.moveaxis(np.concatenate(chunks), 0, 1)  # (n, T, ...)
            tables[table][name] = (
                values if table == "spikes" else values.astype(state_types[name], copy=False)
            )
    if progress is not None:
        progress(n)
    return result


def _accumulate(table: dict[str, np.ndarray], name: str, values: np.ndarray) -> None:
    table[name] = table[name] + values if name in table else values


def _run_stage(
    stage: Stage, cur, spike_totals, result: SimResult, n: int, tc: int, per_step: bool, states, record
):
    """Run one stage on ``cur`` (tc*n frames, or n static frames when not ``per_step``). Returns the new
    activations; after a LIF, its spike totals per neuron over the chunk (else None); and with ``record``, what a
    stateful stage records: (table, op name, values (tc, n, *held)) with table "spikes", "membranes" or
    "currents" (else None)."""
    if stage.fanout is not None:  # a synapse: count its synaptic operations
        synops = _synops(stage.fanout, cur, spike_totals, tc, n, per_step)
        _accumulate(result.synops, stage.op.name, synops)
    run = STAGE_RUNNERS[stage.kind]
    if stage.op.stateful:
        return run(stage, cur, result, n, tc, per_step, states, record)
    return run(stage, cur, spike_totals), None, None


def _run_conv(stage: Stage, cur, spike_totals):
    weight = stage.weight
    if spike_totals is not None:
        if stage.op.stride == 1:
            events = _binary_conv(stage, cur, spike_totals)
            if events is not None:
                return events
        cur, weight = _drop_silent_channels(cur, weight, spike_totals)
    if stage.pool:
        return kernels.pooled_conv(
            weight, stage.pool, cur, stage.max_abs, epilogue=stage.epilogue, channels_last=True
        )
    op = stage.op
    return kernels.conv2d_weights(
        weight, op.stride, op.padding, cur, stage.max_abs, epilogue=stage.epilogue, channels_last=True
    )


def _run_linear(stage: Stage, cur, spike_totals):
    # Spikes in: a linear is a 1 x 1 conv of a 1 x 1 map with every input a channel.
    if spike_totals is not None:
        events = _binary_conv(stage, cur.reshape(len(cur), 1, 1, -1), spike_totals)
        if events is not None:
            return events.reshape(len(cur), *stage.out_shape)
    res = kernels.linear(cur, stage.op, stage.max_abs, epilogue=stage.epilogue, weight=stage.weight)
    return res.reshape(len(res), *stage.out_shape)


def _event_table(stage: Stage, x, spike_totals):
    """(table, can_spike) for the event-driven conv of binary spikes ``x`` (frames, H, W, C) by ``stage``
    (``Stage.event_geometry``, stride 1), where it is compiled and cheaper than the GEMM; else None.
    ``spike_totals`` (samples, H * W * C) says which inputs spike at all in the chunk: the others are never
    read."""
    weight, pool, padding, _ = stage.event_geometry
    can_spike = spike_totals > 0
    spikes = int(spike_totals.sum())  # every spike of the chunk is in x
    inputs = int(can_spike.sum()) // len(can_spike)
    pays = compiled.binary_conv_pays(weight.shape, pool, padding, x.shape, spikes, inputs)
    if not compiled.use(x.size, pays) or stage.event_table is None:
        return None
    return stage.event_table, can_spike


def _binary_conv(stage: Stage, x, spike_totals):
    """The event-driven conv (sim/compiled.py ``binary_conv``) with the stage's fused epilogue, or None."""
    chosen = _event_table(stage, x, spike_totals)
    if chosen is None:
        return None
    table, can_spike = chosen
    weight, pool, padding, _ = stage.event_geometry
    return compiled.binary_conv(x, table, weight.shape, pool, padding, stage.epilogue, can_spike)


def _run_conv_lif(
    conv: Stage, lif: Stage | None, cur, spike_totals, result: SimResult, n, tc, states, record
):
    """A stride-1 conv of spikes and the LIF whose input its epilogue prepares, in one compiled pass
    (sim/compiled.py ``binary_conv_lif``): the currents never reach memory. What ``_run_stage`` returns for the
    LIF, with the conv's synaptic operations counted; None where the pair does not run so."""
    if (
        spike_totals is None
        or conv.kind != "conv"
        or conv.op.stride != 1
        or lif is None
        or conv.epilogue is None
        or conv.epilogue.lif is not lif.op
    ):
        return None
    chosen = _event_table(conv, cur, spike_totals)
    if chosen is None:
        return None
    table, can_spike = chosen
    weight, pool, padding, _ = conv.event_geometry
    _accumulate(result.synops, conv.op.name, _synops(conv.fanout, cur, spike_totals, tc, n, True))
    held = hwc(lif.out_shape)
    state = states.setdefault(lif.op.name, np.zeros((n, *held), dtype=np.int64))
    spikes, membranes = compiled.binary_conv_lif(
        cur, table, weight.shape, pool, padding, conv.epilogue, can_spike, lif.saturate, state, record
    )
    if membranes is not None:
        membranes = membranes.reshape(tc, n, *held)
    return _lif_outputs(lif.op, spikes.reshape(tc, n, *held), membranes, result, n, tc, held, record)


def _run_synaptic(stage: Stage, cur, result: SimResult, n: int, tc: int, per_step: bool, states, record):
    """The synaptic current over the chunk's steps; returns the currents of every step, (tc*n, ...) int64."""
    held = hwc(stage.out_shape)
    inputs = cur.reshape(tc, n, *held) if per_step else cur
    state = states.setdefault(stage.op.name, np.zeros((n, *held), dtype=np.int64))
    currents = kernels.synaptic_scan(
        inputs, stage.op, static=not per_step, num_steps=tc, saturate=stage.saturate, state=state
    )
    return currents.reshape(tc * n, *held), None, [("currents", stage.op.name, currents)] if record else None


def _run_lif(stage: Stage, cur, result: SimResult, n: int, tc: int, per_step: bool, states, record):
    op = stage.op
    held = hwc(stage.out_shape)
    currents = cur.reshape(tc, n, *held) if per_step else cur
    state = states.setdefault(op.name, np.zeros((n, *held), dtype=np.int64))
    scan = kernels.lif_scan_prepared if stage.prepared_input else kernels.lif_scan
    spikes, mems = scan(
        currents,
        op,
        static=not per_step,
        num_steps=tc,
        record=record,
        saturate=stage.saturate,
        state=state,
    )
    return _lif_outputs(op, spikes, mems, result, n, tc, held, record)


def _lif_outputs(op, spikes, mems, result: SimResult, n: int, tc: int, held, record):
    """A LIF layer's spikes (tc, n, *held) as the next stage's input, its spike totals, and what it records."""
    totals = _spike_totals(spikes, tc, n)
    _accumulate(result.spike_counts, op.name, totals.sum(axis=1))
    result.neurons[op.name] = int(np.prod(held))
    values = (
        [("spikes", op.name, spikes.reshape(tc, n, *held)), ("membranes", op.name, mems)] if record else None
    )
    return spikes.reshape(tc * n, *held), totals, values


def _run_recurrent(stage: Stage, cur, result: SimResult, n: int, tc: int, per_step: bool, states, record):
    """A recurrent layer, one step at a time: the recurrent input from the LIF's spikes of the step before,
    the synaptic current (if any), the LIF (kernels.recurrent_layer_scan)."""
    held = hwc(stage.out_shape)
    inputs = cur.reshape(tc, n, *held) if per_step else cur
    *current, lif = stage.chain
    names = [stage.op.name, *(op.name for op in stage.chain)]
    layer_states = [states.setdefault(name, np.zeros((n, *held), dtype=np.int64)) for name in names]
    spikes, mems, currents, events = kernels.recurrent_layer_scan(
        inputs, stage.op, current[0] if current else None, lif, layer_states,
        static=not per_step, num_steps=tc, record=record, saturating=stage.saturating,
    )  # fmt: skip
    _accumulate(result.synops, stage.op.name, events * int(stage.op.weight.shape[0]))  # fan-out: every neuron
    out, totals, values = _lif_outputs(lif, spikes, mems, result, n, tc, held, record)
    if record and current:
        values.append(("currents", current[0].name, currents))
    return out, totals, values


# The kernel of each stage kind (sim/plan.py's registration tables name the kind of every op).
STAGE_RUNNERS = {
    "conv": _run_conv,
    "linear": _run_linear,
    "pool": lambda stage, cur, _: kernels.sumpool2d(cur, stage.op, channels_last=True),
    "maxpool": lambda stage, cur, _: kernels.maxpool2d(cur, stage.op),
    "requantize": lambda stage, cur, _: kernels.requantize(cur, stage.op, channels_last=True),
    "recurrent": _run_recurrent,
    "synaptic": _run_synaptic,
    "lif": _run_lif,
}


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
    # counts <= steps: no wrap; a uint8 sum is 2.4x faster than a uint16 one (no widening per element)
    acc = np.uint8 if steps < 2**8 else np.uint16 if steps < 2**16 else np.int64
    return spikes.reshape(steps, n, -1).sum(axis=0, dtype=acc).astype(np.int64)


def _synops(fan, cur, spike_totals, steps, n, per_step) -> np.ndarray:
    """Accumulations per sample: every nonzero input element times its fan-out ``fan`` (flat; inputs, spike
    totals and ``fan`` channels last, as the executor holds them)."""
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
        layer_currents=cat(lambda p: p.layer_currents),
        neurons=dict(first.neurons),
        num_steps=steps,
    )
