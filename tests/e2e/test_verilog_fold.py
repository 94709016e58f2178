"""The Verilog target with ``--option fold=1``: fused sum pools folded into the kernels, so the accumulate phase
does one operation per pooled output an input reaches instead of one per conv tap. Bit-exact with the simulator
under Verilator and Icarus (every layer's spikes and membranes of every step) for static and stream inputs,
several geometries (kernel 5 and 3, padding, pool windows 2 and 4) and degrees of parallelism; lint clean; a
design that skips the wait for the operation right ahead (these layers do not forward) fails verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.targets import generate
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.verifier import verify
from qsnn_deploy.targets.verilog.verilator import lint
from tests.toolchains import require_tools
from tests.verilog_checks import (
    mutation_fails_verify,
    odd_geometry_graph,
    unpooled_conv_graph,
    verilator_bit_exact,
)


def _options(lanes: str, neurons: str) -> TargetOptions:
    # the synthetic graphs' wide multipliers need a larger part than the default for several neurons per cycle
    return TargetOptions(extra={"lanes": lanes, "neurons": neurons, "fold": "1", "part": "ecp5-85k"})


@pytest.mark.parametrize(
    ("make", "lanes", "neurons", "steps"),
    [
        (lambda: random_graph("tiny", 0), "4", "1", 12),
        (lambda: random_graph("tiny", 0), "4", "4,1,1", 20),  # the mutation test's design, correct
        (lambda: random_graph("tiny-stream", 2, reset="zero", state_bits=16), "16", "4", 12),
        (lambda: random_graph("tiny", 3), "1", "1", 8),
        (lambda: odd_geometry_graph(0), "2", "2", 12),
        (lambda: odd_geometry_graph(1), "8", "1,4,2", 12),
        (lambda: unpooled_conv_graph(0), "4", "4,2,1", 12),
    ],
    ids=[
        "tiny",
        "tiny-masks",
        "stream-zero-int16",
        "one-lane",
        "k3-pad1-pool4",
        "k3-pad1-pool4-lanes8",
        "unpooled",
    ],
)
def test_folded_bit_exact(make, lanes: str, neurons: str, steps: int) -> None:
    require_tools("verilator")
    verilator_bit_exact(make(), 4, steps, _options(lanes, neurons))


def test_folded_icarus() -> None:
    require_tools("iverilog", "vvp")
    graph = odd_geometry_graph(2)
    verify(
        graph, random_inputs(graph, 2, 3), 6, target="verilog", executor="icarus", options=_options("4", "2")
    )


@pytest.mark.parametrize("make", [lambda: random_graph("tiny", 0), lambda: odd_geometry_graph(0)])
def test_folded_lint_clean(make, tmp_path: Path) -> None:
    require_tools("verilator")
    generate(make(), "verilog", tmp_path, options=_options("4", "2"))
    lint(tmp_path, "qsnn")
    lint(tmp_path, "qsnn", top="qsnn_synth")


def test_folded_weights_are_wider(tmp_path: Path) -> None:
    """A folded ROM word holds the sums of a pool window's 4-bit weights: 6 bits per lane for 2x2 windows."""
    generate(random_graph("tiny", 0), "verilog", tmp_path, options=_options("4", "1"))
    top = (tmp_path / "qsnn_top.v").read_text()
    assert top.count(".FOLD(1), .W_BITS(6)") == 2 and top.count(".FORWARD(0)") == 2
    words = (tmp_path / "qsnn_conv2_w.hex").read_text().split()
    assert len(words[0]) == 6  # 4 lanes x 6 bits
    assert len(words) == 4 * 4 * 3 * 3  # 2x2 phases x 4 input channels x 3x3 folded taps x 1 group


@pytest.mark.parametrize(
    ("make", "neurons"),
    [(lambda: random_graph("tiny", 0), "4,1,1"), (lambda: unpooled_conv_graph(0), "4,2,1")],
    ids=["folded", "unpooled"],
)
def test_no_wait_without_forwarding_fails_verify(make, neurons: str, tmp_path: Path) -> None:
    """Folded and unpooled conv layers do not forward: an operation on the word of the one right ahead must wait
    for its write. A design that does not wait reads a stale word and is caught. (Folded: conv2's pooled map is
    1x1, so every operation hits one word; unpooled: a corner input's single operation hits the word the same
    position's next channel hits. lif1's 4-neuron spike masks expand into events one cycle apart.)"""
    require_tools("verilator")
    good = "(FORWARD == 0 && a0_valid && a0_addr == pr_addr)"
    mutation_fails_verify(
        make(), _options("4", neurons), tmp_path / "model", "qsnn_layer.v", good, "1'b0", 4, 20
    )


def test_report_names_the_folded_layers(tmp_path: Path) -> None:
    """The cost report (cycles only, checked bit-exact on the way) says which layers are folded, and a folded
    design takes fewer cycles than the same design unfolded."""
    require_tools("verilator")
    from qsnn_deploy.targets import check_model
    from qsnn_deploy.targets.verilog.report import cost_report, format_report

    graph = random_graph("tiny", 0)
    inputs = random_inputs(graph, 2, 1)
    reps = {
        fold: cost_report(
            check_model(graph, "verilog", TargetOptions(extra={"lanes": "4", "fold": fold})),
            inputs, 8, tmp_path / fold, synth=False,
        )
        for fold in ("0", "1")
    }  # fmt: skip
    assert reps["1"].to_dict()["folded"] == [1, 1, 0] and reps["0"].to_dict()["folded"] == [0, 0, 0]
    assert "folded into the kernel [1, 1, 0]" in format_report(reps["1"])
    assert "folded" not in format_report(reps["0"])
    assert reps["1"].mean_cycles < reps["0"].mean_cycles
