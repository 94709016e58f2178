"""The range analysis bounds partial sums, not only outputs (docs/ir/ranges.md): a conv or linear fed values
that exclude 0 can pass through running sums its declared accumulator cannot hold, and such a graph is refused
with the op named."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnn_deploy.errors import IRValidationError
from qsnn_deploy.ir import INT16, LIF, UINT8, Conv2d, Graph, InputSpec, IntType, Linear, Requantize, SumPool2d
from qsnn_deploy.ir.ranges import analyse, overflow_sites
from qsnn_deploy.sim.executor import check_no_overflow
from qsnn_deploy.sim.reference import simulate_reference

INT9 = IntType(9)  # [-256, 255]


def _biased_graph(acc_type: IntType, weighted: str = "linear") -> Graph:
    """uint8 input -> requantize with bias 1000 (values 1000..1255) -> weights [1, -1] -> a LIF."""
    if weighted == "linear":
        shape, weighted_ops = (2, 1, 1), (Linear("fc", np.array([[1, -1]]), acc_type=acc_type),)
    else:  # the same two taps as a 1x2 conv over one channel, then a 1x1 linear for a vector output
        shape = (1, 1, 2)
        weighted_ops = (
            Conv2d("fc", np.array([[[[1, -1]]]]), acc_type=acc_type),
            Linear("out", np.array([[1]]), acc_type=INT16),
        )
    c = shape[0]
    ops = (
        Requantize("bias", np.ones(c), np.full(c, 1000), 0, INT16),
        *weighted_ops,
        Requantize("rq", np.array([1]), np.array([0]), 0, INT16),
        LIF("lif", threshold=100, decay_multiplier=0, decay_shift=0, state_type=INT16),
    )
    return Graph(InputSpec(shape, UINT8), ops, num_steps=2).validate()


@pytest.mark.parametrize("weighted", ["linear", "conv"])
def test_a_partial_sum_beyond_the_accumulator_is_refused_naming_the_op(weighted):
    graph = _biased_graph(INT9, weighted)
    fc = {r.name: r for r in analyse(graph)}["fc"]
    # Every output fits int9: [1000 - 1255, 1255 - 1000] = [-255, 255]; an output-only check accepts it.
    assert (min(fc.lo), max(fc.hi)) == (-255, 255)
    assert INT9.min <= min(fc.lo) and max(fc.hi) <= INT9.max
    # The first term alone is up to 1255 (and the second down to -1255): the running sum leaves int9.
    assert (min(fc.partial_lo), max(fc.partial_hi)) == (-1255, 1255)
    assert not fc.fits and fc.bits == 12
    x = np.full((1, *graph.input.shape), 255, dtype=np.uint8)
    biased, _ = graph.ops[0].reference(x.astype(np.int64))
    assert int(biased.ravel()[0]) * 1 == 1255 > INT9.max
    sites = overflow_sites(graph)
    assert len(sites) == 1 and sites[0].startswith("fc: partial sums can reach [-1255, 1255]"), sites
    with pytest.raises(IRValidationError, match=f"{graph.ops[1].kind} 'fc'"):
        check_no_overflow(graph)
    with pytest.raises(IRValidationError, match="fc.*partial sums"):
        simulate_reference(graph, x)


def test_the_same_graph_with_a_12_bit_accumulator_is_accepted():
    graph = _biased_graph(IntType(12))
    assert overflow_sites(graph) == []
    assert check_no_overflow(graph) == set()
    x = np.array([[[[255]], [[0]]]], dtype=np.uint8)  # 1255 - 1000 = 255 > threshold 100: fires every step
    assert simulate_reference(graph, x).tolist() == [[[1], [1]]]


def _brute_partial_bounds(weight: np.ndarray, lo: list[int], hi: list[int]) -> tuple[list[int], list[int]]:
    """Smallest and largest running sum over every subset of the terms, per output (Python ints)."""
    p_lo, p_hi = [], []
    for row in weight.tolist():
        terms = [sorted((w * a, w * b)) for w, a, b in zip(row, lo, hi)]
        p_lo.append(sum(min(t[0], 0) for t in terms))
        p_hi.append(sum(max(t[1], 0) for t in terms))
    return p_lo, p_hi


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    features=st.integers(1, 12),
    outputs=st.integers(1, 4),
    huge=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_running_sum_in_any_order_stays_within_the_partial_bounds(features, outputs, huge, seed):
    """Random weights and input intervals (many excluding 0; ``huge`` ones take the Python-int path): running
    sums in random orders stay inside [partial_lo, partial_hi], outputs inside [lo, hi], and the partial
    bounds are reached (positive terms at their largest first)."""
    rng = np.random.default_rng(seed)
    scale = 2**58 if huge else 2000
    a, b = rng.integers(-scale, scale, (2, features), dtype=np.int64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    weight = rng.integers(-8, 8, (outputs, features))
    op = Linear("fc", weight, IntType(4), IntType(64))
    lo_o, hi_o, r = op.bounds((features,), lo.astype(object), hi.astype(object))
    assert (list(r.partial_lo), list(r.partial_hi)) == _brute_partial_bounds(weight, lo.tolist(), hi.tolist())
    assert list(lo_o) == list(r.lo) and list(hi_o) == list(r.hi)
    for _ in range(20):
        x = [int(v) for v in rng.integers(lo, hi, endpoint=True)]
        for o, row in enumerate(weight.tolist()):
            running = 0
            for j in rng.permutation(features):
                running += row[j] * x[j]
                assert r.partial_lo[o] <= running <= r.partial_hi[o]
            assert r.lo[o] <= running <= r.hi[o]
    for o, row in enumerate(weight.tolist()):  # the upper bound is attained: every positive term first
        best = sum(max(0, w * int(lo[j]), w * int(hi[j])) for j, w in enumerate(row))
        assert best == r.partial_hi[o]


def test_sumpool_partial_sums_lie_between_zero_and_the_output_bound():
    pool = SumPool2d("p", 2)
    lo_o, hi_o, r = pool.bounds((2, 4, 4), np.array([3, -7], dtype=object), np.array([10, -2], dtype=object))
    assert (r.lo, r.hi) == ((12, -28), (40, -8))
    assert (r.partial_lo, r.partial_hi) == ((0, -28), (40, 0))


def test_padding_brings_zero_into_a_conv_window():
    """A padded window holds zeros, so the interval of its terms includes 0 even for inputs in [1000, 1255]."""
    conv = Conv2d("c", np.array([[[[1, 1]]]]), padding=1, acc_type=IntType(16))
    lo = np.array([1000], dtype=object)
    hi = np.array([1255], dtype=object)
    _, _, padded = conv.bounds((1, 3, 3), lo, hi)
    assert (padded.lo, padded.hi, padded.partial_lo, padded.partial_hi) == ((0,), (2510,), (0,), (2510,))
