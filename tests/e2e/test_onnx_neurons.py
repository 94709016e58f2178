"""Synaptic currents and recurrent weights on the ONNX target (issue 25, item 3): the one-step model carries each
synaptic current and each recurrent layer's spikes as state, onnxruntime matches the simulator on every spike,
membrane and synaptic current of every layer and step (the Braille layout with and without synaptic currents,
static and stream, both resets; conv layers with synaptic currents), through the library and the CLI; a decay or
a recurrent weight changed by one unit in model.onnx fails verify naming the layer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import numpy_helper  # noqa: E402

from qsnn_deploy.errors import VerificationError  # noqa: E402
from qsnn_deploy.ir.graph import Graph  # noqa: E402
from qsnn_deploy.ir.io import load_graph, save_graph  # noqa: E402
from qsnn_deploy.ir.ops import Recurrent, Synaptic  # noqa: E402
from qsnn_deploy.ir.synthetic import braille_graph, random_graph, random_inputs  # noqa: E402
from qsnn_deploy.ir.types import INT32, IntType  # noqa: E402
from qsnn_deploy.sim import simulate  # noqa: E402
from qsnn_deploy.targets import check_model, generate, get_target  # noqa: E402
from qsnn_deploy.targets.base import RuleInput  # noqa: E402
from qsnn_deploy.targets.onnx.graph import (  # noqa: E402
    _Builder,
    _recurrent,
    _synaptic,
    build_model,
    current_in,
    spikes_in,
)
from qsnn_deploy.targets.static_check import StaticCheckError  # noqa: E402
from qsnn_deploy.targets.verifier import verify  # noqa: E402
from tests.cli_run import run_main  # noqa: E402
from tests.e2e.test_onnx_target import ALLOWED_OPS, GOLDEN, model_text  # noqa: E402
from tests.golden_check import check_golden  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def conv_synaptic(state_bits: int = 16, reset: str = "subtract") -> Graph:
    """conv1 pool1 rq1 syn_lif1 lif1 conv2 pool2 rq2 syn_lif2 lif2 fc1 rq3 syn_lif3 lif3 (alpha 3/4)."""
    return random_graph("tiny", 3, synaptic=(3, 2), state_bits=state_bits, reset=reset)


def test_states_are_inputs_and_outputs_of_the_step_model(tmp_path: Path) -> None:
    graph = braille_graph(1)
    generate(graph, "onnx", tmp_path)
    model = onnx.load(str(tmp_path / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert {node.op_type for node in model.graph.node} <= ALLOWED_OPS
    types = {v.name: v.type.tensor_type.elem_type for v in (*model.graph.input, *model.graph.output)}
    u8, i32 = onnx.TensorProto.UINT8, onnx.TensorProto.INT32
    assert [i.name for i in model.graph.input] == [
        "frame", "lif1_membrane_in", "rec1_spikes_in", "syn1_current_in", "lif2_membrane_in", "syn2_current_in"
    ]  # fmt: skip
    assert [o.name for o in model.graph.output] == [
        "lif1_spikes", "lif1_membrane", "syn1_current", "lif2_spikes", "lif2_membrane", "syn2_current"
    ]  # fmt: skip
    assert types["rec1_spikes_in"] == u8 and types["syn1_current_in"] == i32 and types["syn1_current"] == i32
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["qsnn.feedback"] == "lif1_spikes->rec1_spikes_in"


def test_golden_snapshot(tmp_path: Path) -> None:
    """Set QSNN_UPDATE_GOLDEN=1 to rewrite tests/golden/onnx/ after an intended change (see its README)."""
    generate(braille_graph(0), "onnx", tmp_path / "braille")
    check_golden([model_text(tmp_path / "braille", tmp_path / "braille.onnx.txt")], GOLDEN)


@pytest.mark.parametrize("synaptic", [True, False], ids=["synaptic", "leaky"])
@pytest.mark.parametrize("encoding", ["stream", "static"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_braille_layout_is_bit_exact(synaptic: bool, encoding: str, reset: str) -> None:
    graph = braille_graph(1, synaptic=synaptic, encoding=encoding, reset=reset)
    inputs = random_inputs(graph, 16, seed=2)
    result = verify(graph, inputs, target="onnx")
    states = 3 if synaptic else 2  # spikes, membranes [, synaptic currents] of every layer
    assert result.compared.layer_values == 16 * graph.num_steps * (40 + 7) * states
    assert result.sim.spike_counts["lif1"].sum() > 0, (
        "a silent recurrent layer would not exercise its weights"
    )
    assert result.sim.counts.sum() > 0


@pytest.mark.parametrize("state_bits,reset", [(16, "subtract"), (32, "zero")])
def test_conv_layers_with_synaptic_currents_are_bit_exact(state_bits: int, reset: str) -> None:
    graph = conv_synaptic(state_bits, reset)
    inputs = random_inputs(graph, 12, seed=5)
    result = verify(graph, inputs, target="onnx")
    neurons = sum(layer.neurons for layer in check_model(graph, "onnx").layers)
    assert result.compared.layer_values == 12 * graph.num_steps * neurons * 3
    assert result.sim.counts.sum() > 0


def test_the_committed_braille_fixture_gives_its_recorded_counts() -> None:
    """The v3 Braille file the IR's tests keep (tests/fixtures/ir/make_fixtures.py), with its own inputs: the
    model matches the simulator and the counts recorded when the fixture was made."""
    fixtures = ROOT / "tests" / "fixtures" / "ir" / "v3"
    graph = load_graph(fixtures / "braille.qsnn")
    result = verify(graph, np.load(fixtures / "braille.inputs.npy"), target="onnx")
    np.testing.assert_array_equal(result.counts, np.load(fixtures / "braille.counts.npy"))
    np.testing.assert_array_equal(result.predictions, np.load(fixtures / "braille.predictions.npy"))


def test_saturating_currents_no_decay_and_negative_recurrent_multipliers_are_bit_exact() -> None:
    """The paths the Braille graph does not take: a synaptic current without decay (alpha 1, unbounded) in int8
    that saturates at both ends, one with alpha 0 (shift 0: no rounding term, no floor shift), and a recurrent
    rescale with shift 0 and negative multipliers."""
    rng = np.random.default_rng(0)
    edits = {
        "rec1": {"multiplier": rng.integers(-3, 4, 40), "shift": 0},
        "syn1": {"decay_multiplier": 1, "decay_shift": 0, "state_type": IntType(8)},
        "syn2": {"decay_multiplier": 0, "decay_shift": 0},
    }
    graph = braille_graph(2)
    graph = replace(graph, ops=tuple(replace(op, **edits.get(op.name, {})) for op in graph.ops)).validate()
    inputs = random_inputs(graph, 16, seed=4)
    result = verify(graph, inputs, target="onnx")
    assert result.compared.layer_values == 16 * graph.num_steps * (40 + 7) * 3
    currents = simulate(graph, inputs, graph.num_steps, record=True).layer_currents["syn1"]
    assert (currents == 127).any() and (currents == -128).any(), "the int8 current saturates both ways"
    assert result.sim.counts.sum() > 0


def test_the_cli_verifies_a_recurrent_graph(monkeypatch, capsys, tmp_path: Path) -> None:
    graph = braille_graph(4)
    model = save_graph(graph, tmp_path / "braille.qsnn")
    inputs = tmp_path / "inputs.npy"
    np.save(inputs, random_inputs(graph, 8, seed=3))
    code, out, err = run_main(monkeypatch, capsys, "verify", model, "--target", "onnx", "--inputs", inputs)
    assert code == 0, out + err
    assert "onnxruntime" in out


@pytest.mark.parametrize("graph_of", [braille_graph, lambda: conv_synaptic()], ids=["braille", "conv"])
def test_every_name_the_model_holds_is_on_the_targets_list(graph_of) -> None:
    """The shared rule unique_generated_names sees every name the emitters write (ONNX_NAMES)."""
    model = check_model(graph_of(), "onnx")
    proto = build_model(model).graph
    written = {i.name for i in proto.initializer} | {o for n in proto.node for o in n.output}
    written |= {v.name for v in (*proto.input, *proto.output)}
    inp = RuleInput(model.graph, model.layers, model.ranges, model.options)
    listed = {d.name for d in get_target("onnx").derived_names(inp)}
    assert written - listed == set()


FROM_BUSIEST = -1  # the index of the hidden neuron that fires most often on the test's inputs


def _mutate(path: Path, name: str, index: tuple[int, ...] = ()) -> None:
    """Add one to initializer ``name`` of the saved model (to its element ``index`` when given)."""
    model = onnx.load(str(path))
    (init,) = [i for i in model.graph.initializer if i.name == name]
    values = numpy_helper.to_array(init).copy()
    values[index] += 1
    init.CopyFrom(numpy_helper.from_array(values, name))
    onnx.save(model, str(path))


@pytest.mark.parametrize(
    "graph_of,name,index,quantity,layer",
    [
        (braille_graph, "syn1_decay_multiplier", (), "syn1 decay multiplier", "lif1"),
        (braille_graph, "syn2_decay_multiplier", (), "syn2 decay multiplier", "lif2"),
        # stored (from, to): element [f, 5] is the weight from neuron f (the busiest one, FROM_BUSIEST) to 5
        (braille_graph, "rec1_weight", (FROM_BUSIEST, 5), "rec1 recurrent weight[5, ", "lif1"),
        (lambda: conv_synaptic(), "syn_lif2_decay_multiplier", (), "syn_lif2 decay multiplier", "lif2"),
    ],
    ids=["braille-syn1-decay", "braille-syn2-decay", "braille-recurrent-weight", "conv-syn-decay"],
)  # fmt: skip
def test_a_one_unit_change_fails_verify_naming_the_layer(
    tmp_path: Path, graph_of, name: str, index: tuple[int, ...], quantity: str, layer: str
) -> None:
    graph = graph_of()
    inputs = random_inputs(graph, 8, seed=1)
    if index and index[0] == FROM_BUSIEST:  # a weight from a neuron that never fires is never read
        fired = simulate(graph, inputs, graph.num_steps, record=True).layer_spikes["lif1"]
        index = (int(fired.reshape(-1, fired.shape[-1]).sum(axis=0).argmax()), *index[1:])
    generate(graph, "onnx", tmp_path)
    verify(graph, inputs, target="onnx", from_dir=tmp_path)  # the unmutated model passes
    _mutate(tmp_path / "model.onnx", name, index)
    with pytest.raises(StaticCheckError) as static:
        verify(graph, inputs, target="onnx", from_dir=tmp_path, allow_edited=True)
    assert f"initializer {name}" in str(static.value) and quantity in str(static.value)
    assert f"in layer {layer!r}" in str(static.value)
    with pytest.raises(VerificationError, match=f"layer {layer!r} .* differs at sample"):
        verify(
            graph, inputs, target="onnx", from_dir=tmp_path, allow_edited=True, check_constants_first=False
        )


def _run_nodes(b, inputs: dict[str, np.ndarray], out: str) -> np.ndarray:
    """Run the builder's nodes on ``inputs`` (name -> array) in onnxruntime; the int64 output ``out``."""
    from onnx import helper

    kinds = {np.dtype(np.int64): onnx.TensorProto.INT64, np.dtype(np.int32): onnx.TensorProto.INT32,
             np.dtype(np.uint8): onnx.TensorProto.UINT8}  # fmt: skip
    graph = helper.make_graph(
        b.nodes, "t", [helper.make_tensor_value_info(k, kinds[v.dtype], list(v.shape)) for k, v in inputs.items()],
        [helper.make_tensor_value_info(out, onnx.TensorProto.INT64, list(inputs["x"].shape))], b.initializers,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run([out], inputs)[0]


@pytest.mark.parametrize("multiplier,shift", [(0, 0), (1, 0), (3, 2), (1, 31), ((1 << 31) - 1, 31)])
def test_the_synaptic_nodes_equal_the_reference_on_int32_extremes(multiplier: int, shift: int) -> None:
    syn = Synaptic("syn", multiplier, shift, INT32)
    rng = np.random.default_rng(shift)
    edges = np.array([INT32.min, INT32.min + 1, -2, -1, 0, 1, 2, INT32.max - 1, INT32.max], np.int64)
    state = np.concatenate([edges.repeat(len(edges)), rng.integers(INT32.min, INT32.max, 300)]).astype(
        np.int32
    )
    x = np.concatenate([np.tile(edges, len(edges)), rng.integers(INT32.min, INT32.max, 300)])
    b = _Builder()
    current, _ = _synaptic(b, syn, "x")
    got = _run_nodes(b, {current_in(syn): state, "x": x}, current)
    np.testing.assert_array_equal(got, syn.reference(x, state)[0])


@pytest.mark.parametrize("shift", [0, 1, 31, 62])
def test_the_recurrent_nodes_equal_the_reference_at_the_largest_sums(shift: int) -> None:
    """Rows of all -128 or all 127 weights with every neuron firing reach the largest sums (|W s| = N * 128),
    times multipliers at the ends of int32, both signs."""
    n = 512
    rng = np.random.default_rng(shift)
    weight = rng.integers(-128, 128, (n, n))
    weight[0], weight[1] = -128, 127
    multiplier = rng.integers(INT32.min, INT32.max, n, endpoint=True)
    multiplier[:4] = [INT32.max, INT32.min, INT32.min, INT32.max]
    rec = Recurrent("rec", weight, multiplier, IntType(8), shift)
    spikes = np.concatenate([np.ones((1, n)), rng.integers(0, 2, (7, n))]).astype(np.uint8)
    x = rng.integers(-(1 << 40), 1 << 40, (8, n))
    b = _Builder()
    out = _recurrent(b, rec, "x")
    got = _run_nodes(b, {spikes_in(rec): spikes, "x": x}, out)
    np.testing.assert_array_equal(got, rec.reference(x, spikes.astype(np.int64))[0])
