"""The HLS target's layout (ROM packing, ap_int widths from the range analysis), its missing-headers error
and its static cycle estimate, without a compiler."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from qsnn_deploy.errors import DesignRuleError, ToolchainError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.ir.types import IntType
from qsnn_deploy.sim import simulate
from qsnn_deploy.targets import check_model
from qsnn_deploy.targets.hls import TARGET
from qsnn_deploy.targets.hls import csim as csim_module
from qsnn_deploy.targets.hls.cost import cost_report, format_report
from qsnn_deploy.targets.hls.layout import layer_widths, rom_rows, saturates


def unpack(rows: np.ndarray, o: int, packed: bool) -> np.ndarray:
    """The inverse of rom_rows, written independently: (taps, O) signed weights."""
    r = rows.astype(np.int64)
    if packed:
        nib = np.stack([r & 0xF, r >> 4], axis=2).reshape(len(r), -1)[:, :o]
        return np.where(nib >= 8, nib - 16, nib)
    return np.where(r >= 128, r - 256, r)


@pytest.mark.parametrize("bits", [4, 8])
def test_rom_rows_hold_the_weights_input_major(bits: int) -> None:
    graph = random_graph("tiny", 1, bits=bits)
    model = check_model(graph, TARGET)
    for layer in model.layers:
        w = layer.op.weight.astype(np.int64)
        o = w.shape[0]
        rows = rom_rows(layer)
        assert rows.shape[1] == ((o + 1) // 2 if bits == 4 else o)
        expect = w.transpose(1, 2, 3, 0).reshape(-1, o) if w.ndim == 4 else w.T
        np.testing.assert_array_equal(unpack(rows, o, bits == 4), expect)


def test_odd_channel_count_leaves_the_last_high_nibble_zero() -> None:
    graph = random_graph("tiny", 1)  # 3 classes: fc1 has an odd O
    layer = check_model(graph, TARGET).layers[-1]
    assert layer.op.weight.shape[0] == 3
    assert not (rom_rows(layer)[:, 1] >> 4).any()


def test_membrane_width_follows_the_range_analysis() -> None:
    """A leaky layer that cannot saturate gets a membrane narrower than its int32 state, and the simulator's
    membranes fit it; a layer that can saturate keeps the state width."""
    graph = random_graph("mnist", 0)
    model = check_model(graph, TARGET)
    inputs = random_inputs(graph, 4, seed=3)
    sim = simulate(graph, inputs, record=True)
    narrower = 0
    for layer in model.layers:
        w = layer_widths(layer, model.ranges)
        if saturates(layer, model.ranges):
            assert w.mem == layer.state_bits
        else:
            narrower += w.mem < layer.state_bits
        m = sim.layer_membranes[layer.lif.name]
        assert -(1 << (w.mem - 1)) <= m.min() and m.max() < (1 << (w.mem - 1))
        assert w.acc < 32 and w.cur <= 32 and w.prod <= 64
    assert narrower >= 1


def test_steps_beyond_the_16_bit_counters_are_refused() -> None:
    g = random_graph("tiny", 0)
    long = Graph(g.input, g.ops, 70000, g.metadata)
    with pytest.raises(DesignRuleError) as info:
        check_model(long, TARGET)
    assert info.value.rule == "steps_fit_counters"


def test_missing_ap_types_is_a_toolchain_error_with_the_install_hint(monkeypatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ToolchainError, match="pip install hls4ml"):
        csim_module.ap_types_dir()


def test_cycle_estimate_counts_events_from_the_simulator() -> None:
    graph = random_graph("tiny", 3)
    model = check_model(graph, TARGET)
    inputs = random_inputs(graph, 5, seed=1)
    rep = cost_report(model, inputs)
    sim = simulate(graph, inputs)
    loops = {(loop.loop, loop.layer): loop for loop in rep.loops}
    steps = graph.num_steps
    conv1, conv2, fc1 = model.layers
    # The static first layer scatters each nonzero pixel over its 25 taps once per inference.
    assert loops["scatter_taps", "conv1"].trips == pytest.approx(np.count_nonzero(inputs) / 5 * 25)
    # Later layers scatter the previous layer's spikes, every step.
    assert loops["scatter_taps", "conv2"].trips == pytest.approx(sim.spike_counts["lif1"].sum() / 5 * 25)
    assert loops["scatter_events", "fc1"].trips == pytest.approx(sim.spike_counts["lif2"].sum() / 5)
    assert loops["lif_neurons", "conv1"].trips == conv1.neurons * steps
    assert loops["requantize_lif_positions", "conv2"].trips == conv2.neurons * steps
    assert rep.cycles == pytest.approx(sum(loop.trips + loop.entries * loop.depth for loop in rep.loops))
    assert 0 < rep.cycles < rep.dense_cycles
    scatter = sum(loop.trips for loop in rep.loops if loop.loop == "scatter_taps")
    assert rep.cycles_if_scatter_ii2 == pytest.approx(rep.cycles + scatter)
    assert rep.rom_bytes == sum(rom_rows(layer).size for layer in model.layers)
    text = format_report(rep)
    assert "cycles/inference" in text and "scatter_taps" in text and "csynth cannot run here" in text


def test_one_step_static_model_still_runs_its_first_lif_on_the_cached_current() -> None:
    graph = random_graph("tiny", 3, num_steps=1)
    model = check_model(graph, TARGET)
    loops = {(loop.loop, loop.layer) for loop in cost_report(model, random_inputs(graph, 2, seed=1)).loops}
    assert ("lif_neurons", "conv1") in loops and ("requantize_lif_positions", "conv1") not in loops


def test_silent_input_costs_no_scatter() -> None:
    graph = random_graph("tiny", 3)
    model = check_model(graph, TARGET)
    zeros = np.zeros((2, *graph.input.shape), dtype=np.uint8)
    rep = cost_report(model, zeros)
    loops = {(loop.loop, loop.layer): loop for loop in rep.loops}
    assert loops["scatter_taps", "conv1"].trips == 0


def test_int8_membranes_are_supported() -> None:
    import dataclasses

    from qsnn_deploy.ir.ops import LIF

    g = random_graph("tiny", 2)
    ops = tuple(
        dataclasses.replace(op, state_type=IntType(8), threshold=20) if isinstance(op, LIF) else op
        for op in g.ops
    )
    model = check_model(Graph(g.input, ops, g.num_steps, g.metadata).validate(), TARGET)
    assert all(layer_widths(layer, model.ranges).mem <= 8 for layer in model.layers)
