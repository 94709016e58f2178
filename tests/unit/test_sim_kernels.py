"""The simulator's kernels and executor compute exactly the integer rules of docs/ir/ops.md, and the range
analysis of docs/ir/ranges.md really bounds what they compute."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnn_deploy.ir import (
    INT8,
    INT16,
    INT32,
    INT64,
    LIF,
    UINT8,
    Conv2d,
    Graph,
    InputSpec,
    IntType,
    Linear,
    Requantize,
    SumPool2d,
)
from qsnn_deploy.ir.ranges import analyse, lif_membrane_bound, overflow_sites
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.sim import kernels, simulate
from qsnn_deploy.sim.reference import simulate_reference

FAST = settings(max_examples=40, deadline=None, derandomize=True)


# --- naive references: loops and Python ints, no BLAS; the kernels and the ops' int64 ``reference`` methods
# (which simulate_reference chains) are both checked against them ---------------------------------------------


def naive_conv(x: np.ndarray, w: np.ndarray, stride: int, padding: int) -> np.ndarray:
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x.astype(object), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n, o, ho, wo), dtype=object)
    for i in range(ho):
        for j in range(wo):
            win = xp[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = np.einsum("ncuv,ocuv->no", win, w.astype(object))
    return out


def naive_sumpool(x: np.ndarray, k: int) -> np.ndarray:
    n, c, h, w = x.shape
    out = np.zeros((n, c, h // k, w // k), dtype=object)
    for i in range(h // k):
        for j in range(w // k):
            out[:, :, i, j] = x[:, :, i * k : i * k + k, j * k : j * k + k].astype(object).sum(axis=(2, 3))
    return out


def py_requant(x: int, m: int, b: int, s: int) -> int:
    return (x * m + b + ((1 << (s - 1)) if s else 0)) >> s  # Python's >> floors: the arithmetic shift


def py_lif(currents: list[list[int]], op: LIF) -> tuple[list[list[int]], list[list[int]]]:
    """docs/ir/ops.md#lif for one neuron per column, with Python ints."""
    n = len(currents[0])
    v = [0] * n
    spikes, mems = [], []
    for row in currents:
        new = []
        for j, i in enumerate(row):
            r = v[j] > op.threshold
            kept = 0 if (op.reset == "zero" and r) else v[j]
            h = (1 << (op.decay_shift - 1)) if op.decay_shift else 0
            d = (kept * op.decay_multiplier + h) >> op.decay_shift
            u = d + i - (op.threshold if (op.reset == "subtract" and r) else 0)
            new.append(min(max(u, op.state_type.min), op.state_type.max))
        v = new
        mems.append(v)
        spikes.append([int(x > op.threshold) for x in v])
    return spikes, mems


# --- stateless kernels ----------------------------------------------------------------------------------------


@FAST
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    o=st.integers(1, 4),
    k=st.integers(1, 5),
    extra=st.integers(0, 6),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    bits=st.integers(2, 8),
    in_bits=st.sampled_from([1, 8, 16]),
    seed=st.integers(0, 2**32 - 1),
)
def test_conv2d_equals_the_naive_reference(n, c, o, k, extra, stride, padding, bits, in_bits, seed):
    rng = np.random.default_rng(seed)
    h, w = k + extra, k + rng.integers(0, 7)
    wmax = (1 << (bits - 1)) - 1
    weight = rng.integers(-wmax - 1, wmax + 1, (o, c, k, k))
    lo, hi = (0, 1) if in_bits == 1 else (-(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1)
    x = rng.integers(lo, hi + 1, (n, c, h, w))
    op = Conv2d("c", weight, IntType(bits), stride, padding, INT64)
    got = kernels.conv2d(x, op, max(abs(lo), hi))
    assert got.dtype == np.int64
    want = naive_conv(x, weight, stride, padding).astype(np.int64)
    np.testing.assert_array_equal(got, want)
    ref, state = op.reference(x)
    assert ref.dtype == np.int64 and state is None
    np.testing.assert_array_equal(ref, want)


@FAST
@given(
    n=st.integers(1, 4),
    features=st.integers(1, 300),
    o=st.integers(1, 12),
    in_bits=st.sampled_from([1, 8, 16]),
    seed=st.integers(0, 2**32 - 1),
)
def test_linear_equals_the_naive_reference(n, features, o, in_bits, seed):
    rng = np.random.default_rng(seed)
    weight = rng.integers(-128, 128, (o, features))
    hi = 1 if in_bits == 1 else (1 << (in_bits - 1)) - 1
    x = rng.integers(-hi if in_bits > 1 else 0, hi + 1, (n, features))
    op = Linear("l", weight, INT8, INT64)
    want = (x.astype(object) @ weight.astype(object).T).astype(np.int64)
    np.testing.assert_array_equal(kernels.linear(x, op, hi), want)
    np.testing.assert_array_equal(op.reference(x)[0], want)


@FAST
@given(
    c=st.integers(1, 4),
    o=st.integers(1, 3),
    kh=st.integers(1, 5),
    kw=st.integers(1, 5),
    pool=st.integers(1, 4),
    extra_h=st.integers(0, 9),
    extra_w=st.integers(0, 9),
    binary=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_box_sum_conv_equals_conv_then_sumpool(c, o, kh, kw, pool, extra_h, extra_w, binary, seed):
    """kernels.pooled_conv (box sums, then a strided conv) against the naive conv and pool, both layouts;
    binary uint8 inputs take the narrow box-sum type, pixels a wider one."""
    rng = np.random.default_rng(seed)
    shape = (3, c, kh + pool - 1 + extra_h, kw + pool - 1 + extra_w)
    x = (rng.random(shape) < 0.3).astype(np.uint8) if binary else rng.integers(0, 256, shape).astype(np.uint8)
    weight = rng.integers(-8, 8, (o, c, kh, kw))
    want = naive_sumpool(naive_conv(x.astype(np.int64), weight, 1, 0), pool).astype(np.int64)
    bound = 1 if binary else 255
    np.testing.assert_array_equal(kernels.pooled_conv(weight, pool, x, bound), want)
    x_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    got = kernels.pooled_conv(weight, pool, x_last, bound, channels_last=True)
    np.testing.assert_array_equal(got, want.transpose(0, 2, 3, 1))


@FAST
@given(
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    k=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_channels_last_conv_and_sumpool_equal_the_channels_first_ones(stride, padding, k, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-50, 50, (2, 3, k + 6, k + 5))
    weight = rng.integers(-8, 8, (4, 3, k, k))
    x_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    want = kernels.conv2d_weights(weight, stride, padding, x, 50)
    np.testing.assert_array_equal(want, naive_conv(x, weight, stride, padding).astype(np.int64))
    got = kernels.conv2d_weights(weight, stride, padding, x_last, 50, channels_last=True)
    np.testing.assert_array_equal(got, want.transpose(0, 2, 3, 1))
    pool = SumPool2d("p", 2)
    np.testing.assert_array_equal(
        kernels.sumpool2d(x_last, pool, channels_last=True), kernels.sumpool2d(x, pool).transpose(0, 2, 3, 1)
    )


def test_box_sums_use_the_narrowest_type_that_holds_them():
    assert kernels.box_sum_dtype(np.dtype(np.uint8), 4) is np.uint8
    assert kernels.box_sum_dtype(np.dtype(np.uint8), 4 * 255) is np.uint16
    assert kernels.box_sum_dtype(np.dtype(np.uint16), 200) is np.uint16
    assert kernels.box_sum_dtype(np.dtype(np.uint8), 2**40) is np.int64
    assert kernels.box_sum_dtype(np.dtype(np.int16), 4) is np.int64


def test_sumpool_drops_rows_and_columns_that_do_not_fill_a_window():
    x = np.arange(2 * 7 * 5).reshape(1, 2, 7, 5)
    got = kernels.sumpool2d(x, SumPool2d("p", 3))
    assert got.shape == (1, 2, 2, 1)
    np.testing.assert_array_equal(got, naive_sumpool(x, 3).astype(np.int64))
    np.testing.assert_array_equal(SumPool2d("p", 3).reference(x)[0], got)


def test_exact_float_dtype_thresholds():
    w = np.array([[127, -127]])  # sum |w| = 254
    assert kernels.exact_float_dtype(w, (2**24 - 1) // 254) is np.float32
    assert kernels.exact_float_dtype(w, 2**24 // 254 + 1) is np.float64
    assert kernels.exact_float_dtype(w, (2**53 - 1) // 254) is np.float64
    assert kernels.exact_float_dtype(w, 2**53 // 254 + 1) is None


def test_16_bit_inputs_with_8_bit_weights_use_float64_and_stay_exact():
    """Sums above 2**24: float32 would round them, so the kernel must pick float64."""
    weight = np.full((1, 1, 5, 5), 127)
    x = np.full((1, 1, 5, 5), 32767)  # 25 odd products: an odd total near 1e8, where float32 steps by 8
    want = int((x.astype(object) * 127).sum())
    assert want > 2**24 and want % 2 == 1 and int(np.float32(want)) != want
    assert kernels.exact_float_dtype(weight, 32768) is np.float64
    assert kernels.conv2d(x, Conv2d("c", weight, INT8), 32768)[0, 0, 0, 0] == want
    fc = Linear("l", weight.reshape(1, -1), INT8, INT64)
    assert kernels.linear(x.reshape(1, -1), fc, 32768)[0, 0] == want


def test_sums_beyond_2_53_fall_back_to_int64_and_stay_exact():
    """Inputs that are themselves wide accumulations (2**46) with 8-bit weights: float64 would round."""
    rng = np.random.default_rng(0)
    big = 2**46
    x = big - rng.integers(0, 1000, (3, 2, 6, 6))
    weight = rng.integers(100, 128, (2, 2, 3, 3))
    assert kernels.exact_float_dtype(weight, big) is None
    want = naive_conv(x, weight, 1, 1)
    assert max(abs(int(v)) for v in want.ravel()) > 2**53
    float_result = naive_conv(x.astype(np.float64), weight.astype(np.float64), 1, 1)
    assert np.any(float_result.astype(object) != want)  # float64 really is inexact here
    got = kernels.conv2d(x, Conv2d("c", weight, INT8, 1, 1, INT64), big)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.astype(object), want)
    fc = Linear("l", weight.reshape(2, -1), INT8, INT64)
    flat = x[:, :, :3, :3].reshape(3, -1)
    np.testing.assert_array_equal(
        kernels.linear(flat, fc, big).astype(object), flat.astype(object) @ fc.weight.astype(object).T
    )


@FAST
@given(
    c=st.integers(1, 4),
    shift=st.integers(0, 40),
    seed=st.integers(0, 2**32 - 1),
    in_bits=st.sampled_from([4, 16, 32]),
)
def test_requantize_equals_python_ints_with_floor_shift(c, shift, seed, in_bits):
    rng = np.random.default_rng(seed)
    mult = rng.integers(-(2**31), 2**31, c)
    bias = rng.integers(-(2**40), 2**40, c)
    x = rng.integers(-(2 ** (in_bits - 1)), 2 ** (in_bits - 1), (3, c, 2, 2))
    op = Requantize("r", mult, bias, shift, INT64)
    got = kernels.requantize(x, op)
    want = [[py_requant(int(x[n, ch, i, j]), int(mult[ch]), int(bias[ch]), shift) for i in range(2) for j in range(2)]
            for n in range(3) for ch in range(c)]  # fmt: skip
    np.testing.assert_array_equal(got.reshape(3 * c, 4), np.array(want, dtype=np.int64))
    np.testing.assert_array_equal(op.reference(x)[0].reshape(3 * c, 4), np.array(want, dtype=np.int64))


def test_requantize_rounds_halves_up_also_below_zero():
    op = Requantize("r", np.array([1]), np.array([0]), 1, INT32)
    x = np.array([[-5, -3, -1, 1, 3, 5, -4, 4]])
    # x / 2 = -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -2, 2: half up (toward +inf), not to even, not away from zero
    assert kernels.requantize(x, op)[0].tolist() == [-2, -1, 0, 1, 2, 3, -2, 2]
    assert op.reference(x)[0][0].tolist() == [-2, -1, 0, 1, 2, 3, -2, 2]
    neg = Requantize("r", np.array([-3]), np.array([1]), 2, INT32)
    assert kernels.requantize(np.array([[5]]), neg)[0].tolist() == [(-15 + 1 + 2) >> 2] == [-3]


@FAST
@given(
    decay=st.tuples(st.integers(0, 12), st.integers(0, 4096)).map(lambda p: (min(p[1], 1 << p[0]), p[0])),
    threshold=st.integers(1, 120),
    reset=st.sampled_from(["subtract", "zero"]),
    state=st.sampled_from([INT8, INT16, INT32]),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([10, 1000, 10**6]),
)
def test_lif_scan_equals_python_ints_including_rounding_and_saturation(
    decay, threshold, reset, state, seed, scale
):
    op = LIF("l", min(threshold, state.max), decay[0], decay[1], reset, state)
    rng = np.random.default_rng(seed)
    currents = rng.integers(-scale // 2, scale, (30, 5))
    want_spikes, want_mems = py_lif(currents.tolist(), op)
    spikes, mems = kernels.lif_scan(currents[:, None, :], op, record=True)
    assert mems.dtype == op.state_type_numpy()
    np.testing.assert_array_equal(spikes[:, 0], np.array(want_spikes))
    np.testing.assert_array_equal(mems[:, 0], np.array(want_mems))
    v = None
    for t, current in enumerate(currents):
        spike, v = op.reference(current, v)
        assert spike.tolist() == want_spikes[t] and v.tolist() == want_mems[t]


# --- range analysis versus what the simulator computes --------------------------------------------------------

RANGE_GRAPHS = [
    ("tiny", dict(seed=1, state_bits=16, reset="subtract")),
    ("tiny", dict(seed=2, state_bits=32, reset="zero", bits=8)),
    ("tiny-stream", dict(seed=3, state_bits=32, reset="subtract", bits=2)),
    ("tiny-stream", dict(seed=4, state_bits=16, reset="zero")),
]


def _extreme_inputs(graph: Graph, seed: int) -> np.ndarray:
    """Random inputs plus the corners of the input type: all max, all min, a checkerboard."""
    x = random_inputs(graph, 3, seed=seed)
    if graph.input.encoding == "stream":
        x = np.concatenate(
            [x, np.full_like(x[:1], 255), (np.indices(x.shape[1:]).sum(axis=0) % 2 * 255)[None]]
        )
    else:
        x = np.concatenate([x, np.full_like(x[:1], 255), np.zeros_like(x[:1])])
    return x.astype(np.uint8)


@pytest.mark.parametrize(("arch", "kwargs"), RANGE_GRAPHS)
def test_range_analysis_bounds_every_value_the_simulator_computes(arch, kwargs):
    graph = random_graph(arch, num_steps=6, **kwargs)
    x = _extreme_inputs(graph, kwargs["seed"])
    ref = simulate_reference(graph, x, record=True)
    ranges = {r.name: r for r in analyse(graph)}
    for op in graph.ops:
        rng = ranges[op.name]  # a LIF's range is its membrane's; values are (N, T, C, ...)
        values = ref.layer_membranes[op.name] if op.kind == "lif" else ref.op_outputs[op.name]
        lo = np.array(rng.lo, dtype=np.int64).reshape(1, 1, -1, *([1] * (values.ndim - 3)))
        hi = np.array(rng.hi, dtype=np.int64).reshape(lo.shape)
        assert np.all(values >= lo) and np.all(values <= hi), f"{op.name} left [{min(rng.lo)}, {max(rng.hi)}]"
    result = simulate(graph, x, record=True)
    for op in graph.lif_layers():
        np.testing.assert_array_equal(result.layer_membranes[op.name], ref.layer_membranes[op.name])


def test_lif_membrane_bound_formula():
    op = LIF("l", threshold=10, decay_multiplier=3, decay_shift=2, state_type=INT32)  # decay 3/4
    assert lif_membrane_bound(op, 5) == 64  # ceil((5 + 10 + 1) / (1/4))
    assert lif_membrane_bound(LIF("l", 10, 4, 2), 5) is None  # decay 1: no bound
    assert lif_membrane_bound(LIF("l", 10, 0, 0), 5) == 16


@given(
    current=st.integers(0, 5000),
    threshold=st.integers(1, 5000),
    decay=st.tuples(st.integers(0, 8), st.integers(0, 256)).map(lambda p: (min(p[1], (1 << p[0]) - 1), p[0])),
    reset=st.sampled_from(["subtract", "zero"]),
    seed=st.integers(0, 2**32 - 1),
)
@FAST
def test_lif_membrane_stays_within_its_bound_for_adversarial_currents(current, threshold, decay, reset, seed):
    op = LIF("l", threshold, decay[0], decay[1], reset, INT32)
    bound = lif_membrane_bound(op, current)
    rng = np.random.default_rng(seed)
    # bang-bang currents at the extremes drive the membrane towards the bound
    currents = rng.choice([-current, current], (200, 8)) * (rng.random((200, 8)) < 0.9)
    currents[:100, 0] = current
    currents[:100, 1] = -current
    _, mems = kernels.lif_scan(currents[:, None, :], op, record=True)
    assert np.abs(mems.astype(np.int64)).max() <= bound


def _saturating_graph() -> Graph:
    """A 16-bit membrane fed currents near its limits with almost no leak: it must saturate."""
    base = random_graph("tiny", seed=5, state_bits=16, num_steps=12)
    ops = list(base.ops)
    c1 = ops[0].weight.shape[0]
    ops[2] = Requantize("rq1", np.full(c1, 1), np.full(c1, 30000), 0, INT32)
    ops[3] = LIF("lif1", threshold=30000, decay_multiplier=255, decay_shift=8, state_type=INT16)
    return Graph(base.input, tuple(ops), base.num_steps).validate()


def test_a_saturating_16_bit_membrane_is_reported_and_saturates_in_the_simulator():
    graph = _saturating_graph()
    sites = overflow_sites(graph)
    assert any(s.startswith("lif1:") and "saturate" in s for s in sites), sites
    x = np.full((1, 1, 16, 16), 0, dtype=np.uint8)
    result = simulate(graph, x, record=True)
    mems = result.layer_membranes["lif1"].astype(np.int64)
    assert mems.max() == INT16.max  # it did saturate
    np.testing.assert_array_equal(mems, simulate_reference(graph, x, record=True).layer_membranes["lif1"])


def test_graphs_without_saturation_report_no_sites():
    graph = random_graph("tiny", seed=1, state_bits=16)
    assert overflow_sites(graph) == []


def test_a_too_narrow_accumulator_is_reported():
    graph = random_graph("tiny", seed=1)
    ops = list(graph.ops)
    ops[0] = dataclasses.replace(ops[0], acc_type=INT8)
    narrow = Graph(graph.input, tuple(ops), graph.num_steps).validate()
    assert any(s.startswith("conv1:") and "int8" in s for s in overflow_sites(narrow))


# --- executor ------------------------------------------------------------------------------------------------


def _assert_same_result(a, b, skip=()):
    for f in dataclasses.fields(a):
        if f.name in skip:
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, dict):
            assert x.keys() == y.keys(), f.name
            for k in x:
                np.testing.assert_array_equal(np.asarray(x[k]), np.asarray(y[k]), err_msg=f"{f.name}[{k}]")
        else:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=f.name)


@pytest.mark.parametrize("arch", ["tiny", "tiny-stream"])
def test_batch_splits_give_the_same_result(arch):
    graph = random_graph(arch, seed=6, num_steps=5)
    x = random_inputs(graph, 7, seed=2)
    whole = simulate(graph, x, record=True, batch_size=64)
    split = simulate(graph, x, record=True, batch_size=3)
    _assert_same_result(whole, split)
    assert whole.output_spikes.shape == (7, 5, 3)


@pytest.mark.parametrize(("arch", "seed"), [("tiny", 10), ("tiny-stream", 0)])
def test_batches_on_worker_threads_give_the_same_result_in_input_order(arch, seed):
    """Batches run on 3 threads (single-threaded BLAS) equal the batches run in turn, field for field, in
    input order; the progress callback sees every sample once."""
    graph = random_graph(arch, seed=seed, num_steps=5)
    x = random_inputs(graph, 11, seed=3)
    in_turn = simulate(graph, x, record=True, batch_size=2, workers=1)
    done = []
    threaded = simulate(graph, x, record=True, batch_size=2, workers=3, progress=done.append)
    _assert_same_result(in_turn, threaded)
    assert sorted(done) == [1, 2, 2, 2, 2, 2] and sum(done) == 11
    assert in_turn.layer_spikes["lif2"].sum() > 0  # spikes reach the second layer: not a silent comparison


def test_a_stream_repeating_one_frame_equals_the_static_graph():
    static = random_graph("tiny", seed=7, num_steps=9)
    stream = dataclasses.replace(
        static, input=dataclasses.replace(static.input, encoding="stream")
    ).validate()
    x = _extreme_inputs(static, 3)
    a = simulate(static, x, record=True)
    b = simulate(stream, np.repeat(x[:, None], static.num_steps, axis=1), record=True)
    _assert_same_result(a, b, skip=("synops",))
    # Ops before the first LIF run once per sample on a static input: their synaptic ops count once.
    assert b.synops["conv1"].tolist() == (a.synops["conv1"] * static.num_steps).tolist()
    np.testing.assert_array_equal(a.synops["conv2"], b.synops["conv2"])


def test_predictions_break_ties_to_the_lowest_index():
    graph = random_graph("tiny", seed=26, bits=2, state_bits=16, num_steps=12)
    result = simulate(graph, random_inputs(graph, 16, seed=1))
    for counts, pred in zip(result.counts, result.predictions):
        assert pred == int(np.flatnonzero(counts == counts.max())[0])


def test_a_conv_fed_by_a_conv_stays_exact():
    w = np.full((1, 1, 5, 5), 127)
    graph = Graph(
        InputSpec((1, 9, 9), UINT8),
        (
            Conv2d("c1", w, INT8),
            Conv2d("c2", w, INT8, acc_type=INT64),
            Linear("fc", np.ones((1, 1)), INT8, INT64),
            Requantize("rq", np.array([1]), np.array([0]), 0, INT64),
            LIF("lif", threshold=1 << 30, decay_multiplier=0, decay_shift=0, state_type=INT32),
        ),
        num_steps=1,
    ).validate()
    x = np.random.default_rng(1).integers(0, 256, (1, 1, 9, 9)).astype(np.uint8)
    want = simulate_reference(graph, x, record=True).layer_membranes["lif"]
    np.testing.assert_array_equal(simulate(graph, x, record=True).layer_membranes["lif"], want)
