"""The synaptic op (IR version 3): its step rule, range rule, the simulator's kernel against the int64
reference on every value, the file format's version handling, and the refusal of every target that does not
register it (the shared rule op_supported)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from qsnn_deploy.errors import DesignRuleError, IRFormatError, IRValidationError
from qsnn_deploy.ir.graph import Graph, InputSpec
from qsnn_deploy.ir.io import load_graph, save_graph
from qsnn_deploy.ir.ops import LIF, Linear, Requantize, Synaptic
from qsnn_deploy.ir.ops.synaptic import synaptic_bound
from qsnn_deploy.ir.ranges import analyse
from qsnn_deploy.ir.types import INT8, INT16, IntType
from qsnn_deploy.sim import simulate
from qsnn_deploy.sim.reference import simulate_reference
from qsnn_deploy.targets import check_model, registry
from qsnn_deploy.targets.base import RuleInput
from qsnn_deploy.targets.rules import ops_supported


def _graph(seed: int, encoding: str = "static", alpha=(3, 2), state=INT16, reset="subtract") -> Graph:
    """input (1, 4, 3) -> linear 12 -> requantize -> synaptic -> lif -> linear 5 -> requantize -> lif."""
    rng = np.random.default_rng(seed)
    hidden, classes = 12, 5
    ops = (
        Linear("fc1", rng.integers(-8, 8, (hidden, 12))),
        Requantize("rq1", rng.integers(1, 60, hidden), rng.integers(-40, 40, hidden), shift=6),
        Synaptic("syn1", alpha[0], alpha[1], state),
        LIF("lif1", threshold=int(rng.integers(20, 60)), decay_multiplier=7, decay_shift=3, reset=reset),
        Linear("fc2", rng.integers(-8, 8, (classes, hidden))),
        Requantize("rq2", rng.integers(1, 200, classes), np.zeros(classes, np.int64), shift=4),
        LIF("lif2", threshold=9, decay_multiplier=3, decay_shift=2),
    )
    return Graph(InputSpec((1, 4, 3), IntType(8, signed=False), encoding), ops, num_steps=9).validate()


def test_the_step_rule_decays_rounding_half_up_adds_the_input_and_saturates() -> None:
    op = Synaptic("s", decay_multiplier=3, decay_shift=2, state_type=INT8)  # alpha = 0.75
    x = np.array([[5, -5, 100, 0]])
    i1, state = op.reference(x)
    assert i1.tolist() == [[5, -5, 100, 0]]  # from 0: the input alone
    i2, _ = op.reference(x, state)
    # (5*3+2)>>2 = 4 (+5 = 9); (-15+2)>>2 = -4 (-5 = -9); (300+2)>>2 = 75 (+100 = 175 -> 127 saturated)
    assert i2.tolist() == [[9, -9, 127, 0]]
    half = Synaptic("h", decay_multiplier=1, decay_shift=1)  # 0.5: 3 * 0.5 = 1.5 rounds up to 2, -1.5 to -1
    assert half.reference(np.array([[0, 0]]), np.array([[3, -3]]))[0].tolist() == [[2, -1]]


def test_the_range_rule_bounds_every_current_and_names_saturation() -> None:
    graph = _graph(1)
    rng = {r.name: r for r in analyse(graph)}["syn1"]
    peak_in = max(abs(v) for r in analyse(graph) if r.name == "rq1" for v in (*r.lo, *r.hi))
    assert (
        rng.hi[0] == synaptic_bound(graph.ops[2], peak_in) == (peak_in + 1) * 4
    )  # alpha 3/4: (X + 1) / (1 - alpha)
    record = simulate_reference(graph, np.random.default_rng(2).integers(0, 256, (40, 1, 4, 3)), record=True)
    assert np.abs(record.op_outputs["syn1"]).max() <= rng.hi[0]
    no_decay = {r.name: r for r in analyse(_graph(1, alpha=(1, 0)))}["syn1"]
    assert "unbounded (no decay)" in no_decay.note and no_decay.hi[0] == IntType(16).max
    assert no_decay.overflows() == []  # a current saturates by definition, like a membrane


@pytest.mark.parametrize("encoding", ["static", "stream"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_simulator_equals_the_reference_on_every_value(encoding: str, seed: int) -> None:
    alpha = [(3, 2), (1, 0), (0, 0)][seed]  # 0.75, no decay (saturates), no memory
    graph = _graph(seed, encoding, alpha=alpha, state=IntType(8) if seed == 1 else IntType(16))
    rng = np.random.default_rng(seed)
    shape = (30, 12, 1, 4, 3) if encoding == "stream" else (30, 1, 4, 3)
    x = rng.integers(0, 256, shape).astype(np.uint8)
    fast = simulate(graph, x, record=True, batch_size=7)  # batches and time chunks carry the state
    ref = simulate_reference(graph, x, record=True)
    assert np.array_equal(fast.output_spikes, ref.output_spikes)
    for name in ("lif1", "lif2"):
        assert np.array_equal(fast.layer_spikes[name], ref.layer_spikes[name])
        assert np.array_equal(fast.layer_membranes[name], ref.layer_membranes[name])
    assert fast.layer_currents["syn1"].dtype == graph.ops[2].state_type_numpy()
    assert np.array_equal(fast.layer_currents["syn1"], ref.op_outputs["syn1"])
    assert fast.layer_spikes["lif1"].any(), "the test network must spike to test anything"
    if seed == 1:  # int8 without decay: the current must hit its bound for the saturation to be tested
        assert np.abs(ref.op_outputs["syn1"]).max() == 128 or ref.op_outputs["syn1"].max() == 127


def test_the_current_changes_what_the_lif_sees() -> None:
    """Against the same network without the synaptic op: the op is not a pass-through."""
    graph = _graph(0)
    plain = Graph(graph.input, graph.ops[:2] + graph.ops[3:], graph.num_steps).validate()
    x = np.random.default_rng(0).integers(0, 256, (20, 1, 4, 3)).astype(np.uint8)
    with_current = simulate(graph, x, record=True).layer_membranes["lif1"]
    without = simulate(plain, x, record=True).layer_membranes["lif1"]
    assert np.array_equal(with_current[:, 0], without[:, 0])  # step 0: the current is the input
    assert not np.array_equal(with_current[:, 1:], without[:, 1:])


def test_it_must_follow_a_requantize() -> None:
    g = _graph(0)
    swapped = g.ops[:2] + (g.ops[3], g.ops[2]) + g.ops[4:]  # lif then synaptic
    with pytest.raises(IRValidationError, match="synaptic 'syn1' must follow a requantize"):
        Graph(g.input, swapped, g.num_steps).validate()


def test_files_carry_the_lowest_version_that_holds_their_ops(tmp_path) -> None:
    graph = _graph(3)
    path = save_graph(graph, tmp_path / "syn.qsnn")
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["version"] == 3
    back = load_graph(path)
    assert back.same_as(graph) and isinstance(back.ops[2], Synaptic) and back.ops[2].decay == 0.75
    plain = Graph(graph.input, graph.ops[:2] + graph.ops[3:], graph.num_steps).validate()
    with zipfile.ZipFile(save_graph(plain, tmp_path / "plain.qsnn")) as zf:
        assert json.loads(zf.read("manifest.json"))["version"] == 2  # older readers still read it


def test_a_version_2_file_holding_a_synaptic_op_is_refused(tmp_path) -> None:
    path = save_graph(_graph(3), tmp_path / "syn.qsnn")
    edited = tmp_path / "old.qsnn"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(edited, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "manifest.json":
                data = json.dumps({**json.loads(data), "version": 2}).encode()
            dst.writestr(item, data)
    with pytest.raises(
        IRFormatError, match="a synaptic op in an IR version 2 file: synaptic came with version 3"
    ):
        load_graph(edited)


def test_every_target_without_it_refuses_it_by_name_through_the_shared_rule() -> None:
    graph = _graph(0)
    refused = []
    for name, target in registry().items():
        if "synaptic" in target.ops:
            check_model(graph, name)
            continue
        with pytest.raises(DesignRuleError) as info:
            check_model(graph, name)
        assert info.value.rule == "op_supported", name
        assert f"synaptic 'syn1': the {name} target does not implement synaptic" in str(info.value)
        refused.append(name)
    # The rule itself, on a table without the op (whichever targets register it by now):
    table = {kind: impl for kind, impl in registry()["onnx"].ops.items() if kind != "synaptic"}
    plan_input = check_model(_graph(0), "onnx")
    rule_input = RuleInput(plan_input.graph, plan_input.layers, plan_input.ranges, plan_input.options)
    assert ops_supported("demo", table)(rule_input)[0].message.startswith(
        "synaptic 'syn1': the demo target does not implement synaptic (it implements conv2d, lif, linear,"
    )
