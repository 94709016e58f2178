"""The recurrent op (IR version 3): all-to-all weights from a layer's own spikes of the previous step. Its step
rule, range rule, the graph's feedback rule, the simulator against the int64 reference on every value (with
and without a synaptic current), the file format, and the refusal of every target that does not register it."""

from __future__ import annotations

import numpy as np
import pytest

from qsnn_deploy.errors import DesignRuleError, IRValidationError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.io import load_graph, save_graph
from qsnn_deploy.ir.ops import Recurrent
from qsnn_deploy.ir.ranges import analyse
from qsnn_deploy.ir.synthetic import braille_graph
from qsnn_deploy.ir.types import IntType
from qsnn_deploy.sim import simulate
from qsnn_deploy.sim.reference import simulate_reference
from qsnn_deploy.targets import check_model, registry

UINT8 = IntType(8, signed=False)


def braille_like(
    seed: int, synaptic: bool = True, encoding: str = "stream", reset: str = "subtract"
) -> Graph:
    return braille_graph(seed, synaptic=synaptic, encoding=encoding, reset=reset)


def _inputs(graph: Graph, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n, graph.num_steps, 12, 1, 1) if graph.input.encoding == "stream" else (n, 12, 1, 1)
    return rng.integers(0, 4 if graph.input.encoding == "stream" else 256, shape).astype(np.uint8)


def test_the_step_rule_adds_the_rescaled_spikes_of_the_previous_step() -> None:
    rec = Recurrent("r", np.array([[1, -2], [3, 0]]), np.array([5, 7]), IntType(4), shift=2)
    x = np.array([[10, 20]])
    y0, state = rec.reference(x)  # no spikes yet
    assert y0.tolist() == [[10, 20]] and state.tolist() == [[0, 0]]
    y1, _ = rec.reference(x, np.array([[1, 1]]))
    # a = W @ [1, 1] = [-1, 3]; (-5 + 2) >> 2 = -1; (21 + 2) >> 2 = 5
    assert y1.tolist() == [[9, 25]]


@pytest.mark.parametrize("synaptic", [True, False])
@pytest.mark.parametrize("encoding", ["stream", "static"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_the_simulator_equals_the_reference_on_every_value(synaptic: bool, encoding: str, reset: str) -> None:
    graph = braille_like(1, synaptic, encoding, reset)
    x = _inputs(graph, 24, 2)
    fast = simulate(graph, x, record=True, batch_size=5)
    ref = simulate_reference(graph, x, record=True)
    assert np.array_equal(fast.output_spikes, ref.output_spikes)
    for name in ("lif1", "lif2"):
        assert np.array_equal(fast.layer_spikes[name], ref.layer_spikes[name]), name
        assert np.array_equal(fast.layer_membranes[name], ref.layer_membranes[name]), name
    for name in ("syn1", "syn2") if synaptic else ():
        assert np.array_equal(fast.layer_currents[name], ref.op_outputs[name]), name
    spikes = ref.layer_spikes["lif1"]
    assert 0.02 < spikes.mean() < 0.9, "the hidden layer must spike, not always, for the feedback to matter"
    assert fast.layer_spikes["lif2"].any()


def test_the_feedback_changes_the_run() -> None:
    """Against the same weights with the recurrent weights zeroed: the recurrence is not a no-op."""
    graph = braille_like(1)
    rec = graph.ops[2]
    silent = Recurrent(rec.name, np.zeros_like(rec.weight), rec.multiplier, rec.weight_type, rec.shift)
    muted = Graph(graph.input, (*graph.ops[:2], silent, *graph.ops[3:]), graph.num_steps).validate()
    x = _inputs(graph, 16, 3)
    a = simulate(graph, x, record=True).layer_membranes["lif1"]
    b = simulate(muted, x, record=True).layer_membranes["lif1"]
    assert np.array_equal(a[:, 0], b[:, 0])  # step 0: no spikes to feed back yet
    assert not np.array_equal(a, b)


def test_the_range_rule_bounds_the_current_it_adds() -> None:
    graph = braille_like(2, synaptic=False)
    ranges = {r.name: r for r in analyse(graph)}
    rec, rq = graph.ops[2], ranges["rq1"]
    r_lo, r_hi = rec.recurrent_bounds()
    assert ranges["rec1"].lo == tuple(a + b for a, b in zip(rq.lo, r_lo))
    assert ranges["rec1"].hi == tuple(a + b for a, b in zip(rq.hi, r_hi))
    record = simulate_reference(graph, _inputs(graph, 32, 4), record=True)
    out = record.op_outputs["rec1"]  # (N, T, 40)
    assert (out >= np.array(ranges["rec1"].lo)).all() and (out <= np.array(ranges["rec1"].hi)).all()


def test_a_recurrent_op_must_feed_its_own_lif() -> None:
    g = braille_like(0, synaptic=False)
    rec = g.ops[2]
    with pytest.raises(IRValidationError, match="recurrent 'rec1' must follow a requantize"):
        Graph(g.input, (g.ops[0], rec, *g.ops[1:2], *g.ops[3:]), g.num_steps).validate()
    no_lif = (*g.ops[:3], *g.ops[4:])  # fc1 rq1 rec1 fc2 rq2 lif2: rec1 feeds a linear, not its lif
    with pytest.raises(
        IRValidationError, match="recurrent 'rec1' must be followed by the lif whose spikes it reads"
    ):
        Graph(g.input, no_lif, g.num_steps).validate()


def test_files_round_trip_at_version_3(tmp_path) -> None:
    graph = braille_like(5)
    back = load_graph(save_graph(graph, tmp_path / "braille.qsnn"))
    assert back.same_as(graph) and isinstance(back.ops[2], Recurrent)
    assert back.feedback() == {"lif1": "rec1"}
    x = _inputs(graph, 4, 5)
    assert np.array_equal(simulate(back, x).output_spikes, simulate(graph, x).output_spikes)


def test_every_target_without_it_refuses_it_by_name() -> None:
    graph = braille_like(0, synaptic=False)
    for name, target in registry().items():
        if "recurrent" in target.ops:
            continue
        with pytest.raises(DesignRuleError) as info:
            check_model(graph, name)
        assert f"recurrent 'rec1': the {name} target does not implement recurrent" in str(info.value), name


def test_synaptic_operations_count_the_recurrent_events() -> None:
    """Every spike of the previous step adds one weight column: N accumulations, counted per sample."""
    graph = braille_like(3)
    x = _inputs(graph, 6, 6)
    result = simulate(graph, x, record=True)
    hidden = result.layer_spikes["lif1"].reshape(6, graph.num_steps, -1)
    expected = hidden[:, :-1].sum(axis=(1, 2)) * 40  # the last step's spikes are read by no later step
    assert np.array_equal(result.synops["rec1"], expected) and expected.any()
