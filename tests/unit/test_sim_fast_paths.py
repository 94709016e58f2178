"""The simulator's fast paths (prepared LIF scan, requantize fused into the GEMM epilogue, silent-channel
dropping, spike-count synops) compute exactly what the literal step-by-step reference
(``simulate_reference``, built on the ops' own ``reference`` methods) computes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qsnn_deploy.ir import INT16, INT32, LIF, Graph, Requantize
from qsnn_deploy.ir.ranges import analyse
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.sim import executor, kernels, simulate
from qsnn_deploy.sim.plan import build_plan
from qsnn_deploy.sim.reference import simulate_reference


def _literal_scan(currents, op, static=False, num_steps=None):
    """The op's own step semantics (``LIF.reference``, plain int64) applied step by step."""
    steps = num_steps if static else len(currents)
    v = None
    spikes, mems = [], []
    for t in range(steps):
        s, v = op.reference(currents if static else currents[t], v)
        spikes.append(s.astype(np.uint8))
        mems.append(v.astype(op.state_type_numpy()))
    return np.stack(spikes), np.stack(mems)


LIFS = [
    LIF("a", 1 << 20, 65143, 16, "subtract", INT32),
    LIF("b", 1 << 20, 65143, 16, "zero", INT32),
    LIF("c", 300, 250, 8, "subtract", INT16),
    LIF("d", 300, 256, 8, "zero", INT16),  # no leak: saturates
    LIF("e", 5, 1, 0, "subtract", INT16),  # shift 0
    LIF("f", 5, 0, 0, "zero", INT16),
]


@pytest.mark.parametrize("op", LIFS, ids=lambda op: op.name)
@pytest.mark.parametrize("static", [False, True])
def test_lif_scan_equals_the_op_reference(op, static):
    rng = np.random.default_rng(0)
    scale = 3 << 20 if op.state_type.bits == 32 else 2000
    shape = (6, 7) if static else (40, 6, 7)
    currents = rng.integers(-scale // 3, scale, shape)
    currents[..., 0] = 0  # a neuron that never spikes
    currents[..., 1] = scale  # one that fires (and saturates a 16-bit membrane without leak)
    kw = dict(static=static, num_steps=40 if static else None)
    want_s, want_m = _literal_scan(currents, op, **kw)
    spikes, mems = kernels.lif_scan(currents, op, record=True, **kw)
    np.testing.assert_array_equal(spikes, want_s)
    np.testing.assert_array_equal(mems, want_m)
    assert spikes[:, ..., 0].sum() == 0 and spikes[:, ..., 1].sum() > 0


def test_lif_scan_does_not_modify_its_input_and_falls_back_when_int64_could_overflow():
    op = LIF("big", (1 << 31) - 1, (1 << 31) - 1, 31, "subtract", INT32)  # P = i << 31 could overflow
    currents = np.array([[[1 << 31], [-(1 << 31)], [12345]]] * 5, dtype=np.int64)
    assert not kernels.lif_prepared_fits(op, 1 << 31)
    before = currents.copy()
    spikes, mems = kernels.lif_scan(currents, op, record=True)
    np.testing.assert_array_equal(currents, before)
    want_s, want_m = _literal_scan(currents, op)
    np.testing.assert_array_equal(spikes, want_s)
    np.testing.assert_array_equal(mems, want_m)


def test_requantize_inplace_equals_python_ints():
    rng = np.random.default_rng(1)
    x = rng.integers(-(1 << 20), 1 << 20, (4, 3, 5))
    op = Requantize("r", np.array([3, -70000, 1]), np.array([-5, 123456, 0]), 13, INT32)
    got = kernels.requantize(x, op)
    m, b = op.multiplier.tolist(), op.bias.tolist()
    want = [[[(int(v) * m[c] + b[c] + (1 << 12)) >> 13 for v in row] for c, row in enumerate(s)] for s in x]
    np.testing.assert_array_equal(got, np.array(want))


def _assert_same(a, b):
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, dict):
            assert x.keys() == y.keys(), f.name
            for k in x:
                np.testing.assert_array_equal(np.asarray(x[k]), np.asarray(y[k]), err_msg=f"{f.name}[{k}]")
        else:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=f.name)


GRAPHS = [
    ("mnist", dict(seed=0, state_bits=32, reset="subtract")),
    ("mnist", dict(seed=1, state_bits=16, reset="zero")),
    ("dvs", dict(seed=2, state_bits=32, reset="zero")),
    ("tiny", dict(seed=3, state_bits=16, reset="subtract")),
    ("tiny-stream", dict(seed=4, state_bits=16, reset="subtract")),
]


@pytest.mark.parametrize(("arch", "kwargs"), GRAPHS)
def test_simulate_equals_the_step_by_step_reference_with_record(arch, kwargs):
    graph = random_graph(arch, num_steps=8, **kwargs)
    x = random_inputs(graph, 3, seed=kwargs["seed"])
    result = simulate(graph, x, record=True, batch_size=2)  # a full batch and a batch of one
    np.testing.assert_array_equal(result.output_spikes, simulate_reference(graph, x))
    ref = simulate_reference(graph, x, record=True)
    np.testing.assert_array_equal(result.output_spikes, ref.output_spikes)
    assert result.layer_spikes.keys() == ref.layer_spikes.keys() == {op.name for op in graph.lif_layers()}
    for name, spikes in ref.layer_spikes.items():
        np.testing.assert_array_equal(result.layer_spikes[name], spikes)
        np.testing.assert_array_equal(result.layer_membranes[name], ref.layer_membranes[name])
        assert result.layer_membranes[name].dtype == ref.layer_membranes[name].dtype
        np.testing.assert_array_equal(result.spike_counts[name], spikes.reshape(3, -1).sum(1))
    _assert_same(simulate(graph, x, batch_size=1), simulate(graph, x, batch_size=64))


def _with_lif1_current(graph: Graph, current: np.ndarray) -> Graph:
    """``graph`` with the first Requantize replaced by a constant per-channel current (multiplier 0)."""
    ops = list(graph.ops)
    rq = ops[2]
    bias = np.asarray(current, dtype=np.int64) << rq.shift
    ops[2] = dataclasses.replace(rq, multiplier=np.zeros_like(rq.multiplier), bias=bias)
    return Graph(graph.input, tuple(ops), graph.num_steps).validate()


def _assert_matches_reference(graph: Graph, x: np.ndarray):
    result = simulate(graph, x, record=True)
    ref = simulate_reference(graph, x, record=True)
    np.testing.assert_array_equal(result.output_spikes, ref.output_spikes)
    for k, spikes in ref.layer_spikes.items():
        np.testing.assert_array_equal(result.layer_spikes[k], spikes)
        np.testing.assert_array_equal(result.layer_membranes[k], ref.layer_membranes[k])
    return result


@pytest.mark.parametrize("state_bits", [16, 32])
def test_no_spikes_at_all_and_all_spikes(state_bits):
    graph = random_graph("mnist", seed=5, num_steps=6, state_bits=state_bits)
    c1 = graph.ops[0].weight.shape[0]
    threshold = graph.ops[3].threshold
    silent = _with_lif1_current(graph, np.full(c1, -1))
    result = _assert_matches_reference(silent, random_inputs(silent, 2, seed=5))
    assert result.firing_rates()["lif1"] == 0.0
    assert result.synops["conv2"].sum() == 0  # every conv2 input channel dropped but one all-zero channel
    busy = _with_lif1_current(graph, np.full(c1, 2 * threshold))
    result = _assert_matches_reference(busy, random_inputs(busy, 2, seed=5))
    assert result.firing_rates()["lif1"] == 1.0


def test_silent_channels_are_dropped_exactly():
    graph = random_graph("tiny", seed=6, num_steps=10)
    c1 = graph.ops[0].weight.shape[0]
    threshold = graph.ops[3].threshold
    current = np.where(np.arange(c1) % 2, threshold // 3, -5)  # even channels can never spike
    g = _with_lif1_current(graph, current)
    result = _assert_matches_reference(g, random_inputs(g, 3, seed=6))
    assert result.layer_spikes["lif1"][:, :, ::2].sum() == 0 and result.layer_spikes["lif1"].sum() > 0


@pytest.mark.parametrize("steps_per_chunk", [1, 3])
@pytest.mark.parametrize(("arch", "kwargs"), GRAPHS)
def test_time_chunks_carry_every_membrane_exactly(arch, kwargs, steps_per_chunk, monkeypatch):
    """Runs cut into chunks of 1 or 3 steps (8 = 3 + 3 + 2: a short last chunk) equal the reference: each
    LIF's membrane crosses chunk boundaries intact, and counts and synops add up over the chunks."""
    graph = random_graph(arch, num_steps=8, **kwargs)
    x = random_inputs(graph, 3, seed=kwargs["seed"])
    plan = build_plan(graph, set(), {r.name: r for r in analyse(graph)})
    largest = max(int(np.prod(stage.out_shape)) for stage in plan)
    monkeypatch.setattr(executor, "STREAM_ELEMENTS", steps_per_chunk * 3 * largest)
    assert executor.chunk_steps(plan, 3, 8) == steps_per_chunk
    chunked = simulate(graph, x, record=True, batch_size=3)
    monkeypatch.setattr(executor, "STREAM_ELEMENTS", 1 << 40)
    _assert_same(chunked, simulate(graph, x, record=True, batch_size=3))
    ref = simulate_reference(graph, x, record=True)
    for name, spikes in ref.layer_spikes.items():
        np.testing.assert_array_equal(chunked.layer_spikes[name], spikes)
        np.testing.assert_array_equal(chunked.layer_membranes[name], ref.layer_membranes[name])


def test_the_reference_uses_no_fast_kernel(monkeypatch):
    """simulate_reference is an independent check: with every kernel of sim/kernels.py broken it still runs,
    and equals the fast simulator computed before the breakage."""
    graph = random_graph("tiny", seed=3, num_steps=4)
    x = random_inputs(graph, 2, seed=3)
    want = simulate(graph, x, record=True)

    def broken(*args, **kwargs):
        raise AssertionError("the reference called a fast kernel")

    for name, value in vars(kernels).copy().items():
        if callable(value) and getattr(value, "__module__", None) == kernels.__name__:
            monkeypatch.setattr(kernels, name, broken)
    with pytest.raises(AssertionError, match="fast kernel"):
        simulate(graph, x)  # the breakage is real
    ref = simulate_reference(graph, x, record=True)
    np.testing.assert_array_equal(ref.output_spikes, want.output_spikes)
    for name, membranes in want.layer_membranes.items():
        np.testing.assert_array_equal(ref.layer_membranes[name], membranes)


@pytest.mark.parametrize("steps", [255, 256, 300])
def test_spike_totals_do_not_wrap_at_the_narrow_accumulators_bounds(steps):
    """Every neuron spiking at every step: counts equal to the steps, on both sides of the uint8 accumulator."""
    spikes = np.ones((steps, 2, 5), dtype=np.uint8)
    spikes[:, 1, 0] = 0
    totals = executor._spike_totals(spikes, steps, 2)
    assert totals.dtype == np.int64
    np.testing.assert_array_equal(totals, [[steps] * 5, [0] + [steps] * 4])
