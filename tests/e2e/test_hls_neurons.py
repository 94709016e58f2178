"""Synaptic currents and recurrent weights on the HLS target (issue 25, item 3): the C simulation of the
generated project (qsnn_hls.h's recurrent_add after linear_events over the previous step's spikes, and
synaptic_step) matches the simulator on every spike, membrane and synaptic current of every layer and step (the
Braille layout with and without synaptic currents, static and stream, both resets; conv layers with synaptic
currents; int8 currents in their clamp with a recurrent output layer of int8 weights, shift 0 and negative
multipliers; clang++ as Vitis' front end); a decay or a recurrent weight changed by one unit in the data header fails verify, the static check
naming the file and line; the names the files define are on the target's list; the estimate covers the new
loops; graphs without the new ops render none of it (their bytes: test_hls_codegen.py's goldens)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.ops import Recurrent, Synaptic
from qsnn_deploy.ir.synthetic import braille_graph, random_graph, random_inputs
from qsnn_deploy.ir.types import IntType
from qsnn_deploy.sim import simulate
from qsnn_deploy.targets import check_model, generate, get_target
from qsnn_deploy.targets.base import RuleInput, TargetOptions
from qsnn_deploy.targets.hls.cost import cost_report
from qsnn_deploy.targets.hls.layout import recurrent_widths, synaptic_widths
from qsnn_deploy.targets.static_check import StaticCheckError
from qsnn_deploy.targets.verifier import verify
from tests.cli_run import run_main
from tests.toolchains import require_hls, require_tools

DATA = "qsnn_data.h"


def conv_synaptic(state_bits: int = 16, reset: str = "subtract") -> Graph:
    """conv1 pool1 rq1 syn_lif1 lif1 conv2 pool2 rq2 syn_lif2 lif2 fc1 rq3 syn_lif3 lif3 (alpha 3/4)."""
    return random_graph("tiny", 3, synaptic=(3, 2), state_bits=state_bits, reset=reset)


def edge_graph() -> Graph:
    """The Braille layout, static, with int8 synaptic states (both currents reach both bounds of the clamp) and a
    recurrent input on its output layer too: 7 x 7 int8 weights (one byte each in the ROM), shift 0 and negative
    multipliers; the last layer's spike events are then kept as state."""
    base = braille_graph(4, encoding="static")
    rng = np.random.default_rng(7)
    rec2 = Recurrent("rec2", rng.integers(-100, 100, (7, 7)), rng.integers(-3, 4, 7), IntType(8), shift=0)
    ops: list = []
    for op in base.ops:
        if op.name == "syn2":
            ops.append(rec2)
        ops.append(dataclasses.replace(op, state_type=IntType(8)) if isinstance(op, Synaptic) else op)
    return Graph(base.input, tuple(ops), base.num_steps, metadata=base.metadata).validate()


def _neurons(graph: Graph) -> int:
    return sum(layer.neurons for layer in check_model(graph, "hls").layers)


def _states(graph: Graph) -> int:
    """Values recorded per sample and step: spikes and membranes of every layer, currents of synaptic ones."""
    layers = check_model(graph, "hls").layers
    return sum(layer.neurons * (3 if layer.current is not None else 2) for layer in layers)


# Every value of each setting, and every pair of values of two settings, in four C simulations (an orthogonal
# array: each build takes 10-30 s on two loaded cores).
BRAILLE_CASES = [
    (True, "stream", "subtract"),
    (True, "static", "zero"),
    (False, "stream", "zero"),
    (False, "static", "subtract"),
]


@pytest.mark.toolchain
@pytest.mark.parametrize(
    "synaptic,encoding,reset",
    BRAILLE_CASES,
    ids=["-".join(("synaptic" if c[0] else "leaky", c[1], c[2])) for c in BRAILLE_CASES],
)
def test_braille_layout_is_bit_exact_in_csim(
    tmp_path: Path, synaptic: bool, encoding: str, reset: str
) -> None:
    require_hls()
    graph = braille_graph(1, synaptic=synaptic, encoding=encoding, reset=reset)
    n = 8
    result = verify(graph, random_inputs(graph, n, seed=2), target="hls", workdir=tmp_path)
    states = 3 if synaptic else 2  # spikes, membranes [, synaptic currents] of every layer
    assert result.compared.layer_values == n * graph.num_steps * (40 + 7) * states
    assert result.sim.spike_counts["lif1"].sum() > 0, (
        "a silent recurrent layer would not exercise its weights"
    )
    assert result.sim.counts.sum() > 0


@pytest.mark.toolchain
@pytest.mark.parametrize("state_bits,reset", [(16, "subtract"), (32, "zero")])
def test_conv_layers_with_synaptic_currents_are_bit_exact_in_csim(
    tmp_path: Path, state_bits: int, reset: str
) -> None:
    """Conv currents are (C, H, W) arrays (requantize_all's order), the order the record holds."""
    require_hls()
    graph = conv_synaptic(state_bits, reset)
    result = verify(graph, random_inputs(graph, 6, seed=5), target="hls", workdir=tmp_path)
    assert result.compared.layer_values == 6 * graph.num_steps * _neurons(graph) * 3
    assert result.sim.counts.sum() > 0


@pytest.mark.toolchain
def test_int8_currents_and_a_recurrent_output_layer_are_bit_exact(tmp_path: Path) -> None:
    """synaptic_step saturates to an int8 state exactly as the IR says; a recurrent output layer with int8
    weights, shift 0 and negative multipliers keeps its spike events across steps."""
    require_hls()
    graph = edge_graph()
    inputs = random_inputs(graph, 6, seed=3)
    model = check_model(graph, "hls")
    assert [synaptic_widths(layer, model.ranges).state for layer in model.layers] == [8, 8]
    result = verify(graph, inputs, target="hls", workdir=tmp_path / "w")
    assert result.compared.layer_values == 6 * graph.num_steps * _states(graph)
    currents = simulate(graph, inputs, record=True).layer_currents
    for name in ("syn1", "syn2"):
        assert (currents[name] == 127).any() and (currents[name] == -128).any(), f"{name}'s clamp must act"
    assert result.sim.spike_counts["lif2"].sum() > 0, "the output layer's recurrent weights must be exercised"
    generate(graph, "hls", tmp_path / "gen")
    assert (
        "static const unsigned char rec2_w[7][7] = {" in (tmp_path / "gen" / DATA).read_text()
    )  # a byte each
    assert "count_lif2 = qsnn_hls::lif_layer" in (tmp_path / "gen" / "qsnn_top.cpp").read_text()


@pytest.mark.toolchain
def test_the_cli_verifies_and_reports_a_recurrent_graph(monkeypatch, capsys, tmp_path: Path) -> None:
    """The first Braille case again, through the commands (its C simulation build is the cached one)."""
    require_hls()
    graph = braille_graph(1)
    model = save_graph(graph, tmp_path / "braille.qsnn")
    inputs = tmp_path / "inputs.npy"
    np.save(inputs, random_inputs(graph, 8, seed=2))
    code, out, err = run_main(monkeypatch, capsys, "verify", model, "--target", "hls", "--inputs", inputs)
    assert code == 0, out + err
    code, out, err = run_main(monkeypatch, capsys, "report", model, "--target", "hls", "--inputs", inputs)
    assert code == 0, out + err
    for line in ("recurrent_neurons", "synaptic_neurons", "ap_int widths rec1:", "ap_int widths syn1:"):
        assert line in out


@pytest.mark.toolchain
def test_builds_warning_free_with_clang(tmp_path: Path) -> None:
    """Vitis HLS parses C++ with a clang front end: the new kernels build warning-free with clang++ too."""
    require_hls()
    require_tools("clang++")
    graph = braille_graph(2, encoding="static")
    options = TargetOptions(extra={"cxx": "clang++"})
    result = verify(graph, random_inputs(graph, 2, seed=1), target="hls", options=options, workdir=tmp_path)
    assert result.compared.layer_values == 2 * graph.num_steps * 47 * 3


def test_the_top_keeps_the_state_and_plain_graphs_render_none_of_it(tmp_path: Path) -> None:
    """The currents and the previous step's spike events live in the top function, reset per inference; the
    kernels keep nothing (no static outside the csim-only record helpers)."""
    generate(braille_graph(1, encoding="static"), "hls", tmp_path / "braille")
    top = (tmp_path / "braille" / "qsnn_top.cpp").read_text()
    for line in (
        "qsnn_model::syn1_cfg::syn_t syn_syn1[40];",
        "qsnn_hls::reset_state<40>(syn_syn1);",
        "count_lif1 = 0; /* no spikes before step 0 */",
        "qsnn_hls::linear_events<qsnn_model::rec1_cfg, ap_uint<1> >(spk_lif1, ev_lif1, count_lif1, "
        "qsnn_model::rec1_w, racc_rec1);",
        "qsnn_hls::recurrent_add<qsnn_model::rec1_cfg, qsnn_model::lif1_cfg>(cur_lif1, racc_rec1, "
        "qsnn_model::rec1_mult, in_lif1);",
        "qsnn_hls::record_current<7>(1, syn_syn2);",
    ):
        assert line in top
    runtime = (tmp_path / "braille" / "qsnn_hls.h").read_text()
    code = re.sub(r"/\*.*?\*/", "", runtime, flags=re.S)
    kernels = code.split("namespace qsnn_hls {")[1].rsplit("#if defined(QSNN_HLS_RECORD)", 1)[0]
    assert "recurrent_add" in kernels and "synaptic_step" in kernels and "static " not in kernels
    generate(random_graph("tiny", 1), "hls", tmp_path / "plain")
    plain = "".join((tmp_path / "plain" / f).read_text() for f in ("qsnn_top.cpp", "qsnn_tb.cpp", DATA))
    for absent in ("syn_", "in_lif", "racc_", "record_current", "recurrent_add", "synaptic_step"):
        assert absent not in plain


@pytest.mark.parametrize(
    "graph_of", [braille_graph, conv_synaptic, edge_graph], ids=["braille", "conv", "edge"]
)
def test_every_name_the_files_define_is_on_the_targets_list(tmp_path: Path, graph_of) -> None:
    """The shared rule unique_generated_names sees every name the templates derive (HLS_NAMES)."""
    graph = graph_of()
    model = check_model(graph, "hls")
    generate(graph, "hls", tmp_path)
    text = "".join((tmp_path / f).read_text() for f in (DATA, "qsnn_top.cpp"))
    defined = set(re.findall(r"\b(?:rec\d|syn\w*?)_(?:cfg|w|mult)\b", text))
    defined |= set(re.findall(r"\b(?:in|racc|syn)_\w+(?=\[)", text))
    inp = RuleInput(model.graph, model.layers, model.ranges, model.options)
    listed = {d.name for d in get_target("hls").derived_names(inp)}
    assert defined and defined - listed == set()


def test_widths_hold_the_recurrent_and_synaptic_extremes() -> None:
    """acc_t holds the sums of a row's negative and positive weights; prod_t the product's peak and the
    feed-forward current; an unsaturating current the analysis' bound, a saturating one its state type."""
    model = check_model(braille_graph(1), "hls")
    layer = model.layers[0]
    rec = layer.recurrent
    assert rec is not None
    w = rec.weight.astype(np.int64)
    lo, hi = int(np.minimum(w, 0).sum(axis=1).min()), int(np.maximum(w, 0).sum(axis=1).max())
    widths = recurrent_widths(layer, model.ranges)
    assert -(1 << (widths.acc - 1)) <= lo and hi < 1 << (widths.acc - 1)
    assert model.ranges[rec.name].peak < 1 << (widths.prod - 1)
    assert synaptic_widths(layer, model.ranges).state == 16  # syn1 can saturate: its int16 state
    out = model.layers[1]
    bound = max(model.ranges["syn2"].hi)
    assert synaptic_widths(out, model.ranges).state == bound.bit_length() + 1  # proven: the bound's width


def test_the_estimate_covers_the_recurrent_and_synaptic_loops() -> None:
    graph = braille_graph(1)
    inputs = random_inputs(graph, 4, seed=5)
    rep = cost_report(check_model(graph, "hls"), inputs)
    steps = graph.num_steps
    loops = {(loop.loop, loop.layer): loop for loop in rep.loops}
    assert loops[("recurrent_neurons", "rec1")].trips == 40 * steps
    assert loops[("synaptic_neurons", "syn1")].trips == 40 * steps
    assert loops[("synaptic_neurons", "syn2")].trips == 7 * steps
    spikes = float(simulate(graph, inputs).spike_counts["lif1"].sum()) / len(inputs)
    assert loops[("scatter_events", "rec1")].trips == pytest.approx(spikes)
    assert ("requantize_lif_positions", "fc1") not in loops  # the LIF reads the current array
    model = check_model(graph, "hls")
    assert rep.current_bits == sum(
        layer.neurons * synaptic_widths(layer, model.ranges).state for layer in model.layers
    )
    plain = cost_report(check_model(braille_graph(1, synaptic=False), "hls"), inputs)
    assert rep.cycles > plain.cycles and plain.current_bits == 0
    assert rep.rom_bytes == plain.rom_bytes == 12 * 20 + 40 * 4 + 40 * 20  # fc1, fc2, rec1 (4-bit packed)


def _bump_decay(text: str, name: str) -> str:
    pattern = rf"(struct {name}_cfg \{{.*?DECAY_MULT = )(\d+)"
    assert re.search(pattern, text, re.S), f"no decay of {name} in the data header"
    return re.sub(pattern, lambda m: m.group(1) + str(int(m.group(2)) + 1), text, count=1, flags=re.S)


def _bump_first_recurrent_weight(text: str) -> str:
    """Add one to the low nibble of rec1_w[0][0]: weight[0, 0] (4-bit, packed)."""
    m = re.search(r"rec1_w\[\d+\]\[\d+\] = \{\n\s+\{ 0x([0-9a-f]{2})", text)
    assert m, "no recurrent weights in the data header"
    byte = int(m.group(1), 16)
    bumped = (byte & 0xF0) | ((byte + 1) & 0x0F)
    return text[: m.start(1)] + f"{bumped:02x}" + text[m.end(1) :]


@pytest.mark.toolchain
@pytest.mark.parametrize(
    "graph_of,mutate,quantity,layer",
    [
        (braille_graph, lambda t: _bump_decay(t, "syn1"), "syn1 decay multiplier", "lif1"),
        (braille_graph, _bump_first_recurrent_weight, "rec1 weight[0, 0]", "lif1"),
        (conv_synaptic, lambda t: _bump_decay(t, "syn_lif2"), "syn_lif2 decay multiplier", "lif2"),
    ],
    ids=["braille-syn1-decay", "braille-recurrent-weight", "conv-syn-decay"],
)
def test_a_one_unit_change_fails_verify(tmp_path: Path, graph_of, mutate, quantity: str, layer: str) -> None:
    require_hls()
    graph = graph_of()
    inputs = random_inputs(graph, 6, seed=1)
    folder = tmp_path / "gen"
    generate(graph, "hls", folder)
    verify(
        graph, inputs, target="hls", from_dir=folder, workdir=tmp_path / "w0"
    )  # the unmutated folder passes
    path = folder / DATA
    path.write_text(mutate(path.read_text()))
    with pytest.raises(StaticCheckError) as static:
        verify(graph, inputs, target="hls", from_dir=folder, allow_edited=True, workdir=tmp_path / "w1")
    assert re.search(rf"{DATA}:\d+: ", str(static.value)) and quantity in str(static.value)
    assert f"in layer {layer!r}" in str(static.value)
    with pytest.raises(VerificationError, match=f"layer {layer!r} .* differs at sample"):
        verify(graph, inputs, target="hls", from_dir=folder, allow_edited=True, check_constants_first=False,
               workdir=tmp_path / "w2")  # fmt: skip
