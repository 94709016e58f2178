"""The integer LIF of the IR (``qsnn_deploy.sim.kernels.lif_scan``) is snnTorch's ``Leaky`` whenever snnTorch's
float arithmetic is exact (docs/ir/ops.md#lif, "Relation to snnTorch").

Exactness is arranged, not hoped for: thresholds and inputs are integers, every membrane stays far below 2**24
(float32 holds it exactly), and the decay is beta = m / 2**s. With s = 0 (beta 0 or 1) nothing is ever
rounded. With s > 0 the inputs are chosen step by step so that snnTorch's membrane stays a multiple of 2**s;
then beta * mem is an integer, the IR's rounding shift has nothing to round, and both sides must agree on
every spike and every membrane value over many steps.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qsnn_deploy.ir import INT32, LIF
from qsnn_deploy.sim.kernels import lif_scan

torch = pytest.importorskip("torch")
snntorch = pytest.importorskip("snntorch")

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)

# (decay_multiplier, decay_shift): beta in {0, 1/4, 1/2, 3/4, 1, 1/8, 5/8, 7/8, 15/16}
DECAYS = [(0, 0), (1, 0), (1, 2), (2, 2), (3, 2), (4, 2), (1, 3), (5, 3), (7, 3), (15, 4)]


def _snntorch_run(beta: float, threshold: int, reset: str, inputs_for_step) -> tuple[np.ndarray, ...]:
    """Step snnTorch's Leaky with an explicit membrane. ``inputs_for_step(t, mem_prev)`` returns the input of
    step t (it may depend on the previous membrane). Returns (inputs, spikes, membranes), each (T, n)."""
    lif = snntorch.Leaky(beta=beta, threshold=float(threshold), reset_mechanism=reset)
    inputs, spikes, mems = [], [], []
    mem = None
    t = 0
    while True:
        prev = np.zeros(0) if mem is None else mem.numpy()
        i = inputs_for_step(t, prev)
        if i is None:
            break
        cur = torch.tensor(i, dtype=torch.float32)
        if mem is None:
            mem = torch.zeros_like(cur)
        with torch.no_grad():
            spk, mem = lif(cur, mem)
        inputs.append(i)
        spikes.append(spk.numpy().copy())
        mems.append(mem.numpy().copy())
        t += 1
    return np.array(inputs, dtype=np.int64), np.array(spikes), np.array(mems)


def _assert_same(op: LIF, inputs: np.ndarray, spikes: np.ndarray, mems: np.ndarray) -> None:
    assert np.all(np.abs(mems) < 2**24), "the test left float32's exact range"
    assert np.array_equal(mems, np.round(mems)), "snnTorch's membrane left the integers"
    ir_spikes, ir_mems = lif_scan(inputs, op, record=True)
    np.testing.assert_array_equal(ir_spikes, spikes.astype(np.uint8))
    np.testing.assert_array_equal(ir_mems.astype(np.int64), mems.astype(np.int64))


@SETTINGS
@given(
    decay=st.sampled_from([(0, 0), (1, 0)]),
    threshold=st.integers(1, 500),
    reset=st.sampled_from(["subtract", "zero"]),
    data=st.data(),
)
def test_no_rounding_decays_match_snntorch_on_any_integer_inputs(decay, threshold, reset, data):
    steps = data.draw(st.integers(1, 80), label="steps")
    n = data.draw(st.integers(1, 6), label="neurons")
    rows = data.draw(arrays(np.int64, (steps, n), elements=st.integers(-300, 600)), label="inputs").tolist()
    multiplier, shift = decay
    op = LIF("l", threshold, multiplier, shift, reset, INT32)
    inputs, spikes, mems = _snntorch_run(
        op.decay, threshold, reset, lambda t, prev: rows[t] if t < steps else None
    )
    _assert_same(op, inputs, spikes, mems)


@SETTINGS
@given(
    decay=st.sampled_from(DECAYS),
    threshold=st.integers(1, 400),
    reset=st.sampled_from(["subtract", "zero"]),
    steps=st.integers(1, 100),
    n=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
    drive=st.integers(-20, 60),
)
def test_dyadic_decays_match_snntorch_when_nothing_rounds(decay, threshold, reset, steps, n, seed, drive):
    multiplier, shift = decay
    unit = 1 << shift
    op = LIF("l", threshold, multiplier, shift, reset, INT32)
    rng = np.random.default_rng(seed)

    def next_input(t: int, prev: np.ndarray):
        if t == steps:
            return None
        v = prev.astype(np.int64) if prev.size else np.zeros(n, dtype=np.int64)
        fired = v > threshold
        kept = np.where(fired, 0, v) if reset == "zero" else v
        assert np.all(kept * multiplier % unit == 0)  # the invariant the inputs below maintain
        base = kept * multiplier // unit - (fired * threshold if reset == "subtract" else 0)
        # Any input k * 2**s - (base mod 2**s) makes the next membrane a multiple of 2**s.
        k = rng.integers(-10, 30, n) + drive * rng.integers(0, 2, n)
        return (k * unit - base % unit).tolist()

    inputs, spikes, mems = _snntorch_run(op.decay, threshold, reset, next_input)
    _assert_same(op, inputs, spikes, mems)
    assert np.all(mems.astype(np.int64) % unit == 0)


@SETTINGS
@given(
    decay=st.sampled_from(DECAYS),
    threshold=st.integers(1, 400),
    reset=st.sampled_from(["subtract", "zero"]),
    current=st.lists(st.integers(-50, 500), min_size=1, max_size=6),
    steps=st.integers(1, 60),
)
def test_a_constant_current_runs_the_same_static_and_per_step(decay, threshold, reset, current, steps):
    """The executor's static-input path (one current, reused every step) equals T copies of that current."""
    op = LIF("l", threshold, *decay, reset, INT32)
    cur = np.array([current], dtype=np.int64)  # (N=1, n)
    static_spikes, static_mems = lif_scan(cur, op, static=True, num_steps=steps, record=True)
    spikes, mems = lif_scan(np.repeat(cur[None], steps, axis=0), op, record=True)
    np.testing.assert_array_equal(static_spikes, spikes)
    np.testing.assert_array_equal(static_mems, mems)


def test_the_first_step_compares_the_zero_membrane_not_the_input():
    """Reset uses the previous membrane: a large first input spikes at step 0 but resets only at step 1."""
    op = LIF("l", 10, 1, 0, "subtract", INT32)  # beta 1
    spikes, mems = lif_scan(np.array([[25], [0], [0], [0]], dtype=np.int64), op, record=True)
    assert spikes[:, 0].tolist() == [1, 1, 0, 0]
    assert mems[:, 0].tolist() == [25, 15, 5, 5]
    zero = LIF("l", 10, 1, 0, "zero", INT32)
    spikes, mems = lif_scan(np.array([[25], [3], [0]], dtype=np.int64), zero, record=True)
    assert spikes[:, 0].tolist() == [1, 0, 0] and mems[:, 0].tolist() == [25, 3, 3]


def test_fire_is_strictly_greater_than_threshold():
    op = LIF("l", 10, 0, 0, "subtract", INT32)  # beta 0: membrane = input
    spikes, _ = lif_scan(np.array([[9, 10, 11]], dtype=np.int64), op)
    assert spikes[0].tolist() == [0, 0, 1]
