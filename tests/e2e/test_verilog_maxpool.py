"""Max pooling on the Verilog target: the accumulate engine fills the un-pooled conv map, the neuron phase reads
each pooled position's window one word per cycle and keeps per channel the max, or the min where the pool's
sign is -1. Lint-clean, bit-exact with the simulator (every layer of every step) under Verilator and Icarus,
for static and stream inputs, and a design that ignores the sign fails verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from qsnn_deploy.ir.ops import MaxPool2d
from qsnn_deploy.ir.plan import plan_layers
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.targets import generate
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.verifier import verify
from qsnn_deploy.targets.verilog.verilator import lint
from tests.toolchains import require_tools
from tests.verilog_checks import mutation_fails_verify, verilator_bit_exact

STEPS = 12
SIGN_AWARE = "(neg ? (x < best) : (x > best))"  # the window compare in templates/verilog/rtl/qsnn_layer.v


def _graph(arch: str, seed: int = 3):
    graph = random_graph(arch, seed, pool="max")
    pools = [layer.pool for layer in plan_layers(graph) if isinstance(layer.pool, MaxPool2d)]
    # the tests below mean something only if both a max and a min are taken
    assert pools and all((p.sign == -1).any() and (p.sign == 1).any() for p in pools)
    return graph


def _opts(lanes: str, neurons: str) -> TargetOptions:
    return TargetOptions(extra={"lanes": lanes, "neurons": neurons, "part": "ecp5-85k"})


def test_lint_clean(tmp_path: Path) -> None:
    """Several neurons per cycle and two channel blocks per accumulator word (lanes 4, neurons 2)."""
    require_tools("verilator")
    generate(_graph("tiny"), "verilog", tmp_path, options=_opts("8", "2,4,1"))
    assert ".MAX_POOL(1)" in (tmp_path / "qsnn_top.v").read_text()
    lint(tmp_path, "qsnn")  # raises on any warning
    lint(tmp_path, "qsnn", top="qsnn_synth")


@pytest.mark.parametrize(
    ("arch", "seed", "lanes", "neurons"), [("tiny", 3, "8", "2,4,1"), ("tiny-stream", 0, "1", "1")]
)
def test_verilator_bit_exact(arch: str, seed: int, lanes: str, neurons: str) -> None:
    """Static and stream inputs; several neurons per cycle sharing an accumulator word, and one."""
    require_tools("verilator")
    verilator_bit_exact(_graph(arch, seed), 3, STEPS, _opts(lanes, neurons))


def test_icarus_bit_exact() -> None:
    require_tools("iverilog", "vvp")
    graph = _graph("tiny")
    verify(graph, random_inputs(graph, 2, 3), 6, target="verilog", executor="icarus", options=_opts("4", "2"))


def test_ignoring_the_sign_fails_verify(tmp_path: Path) -> None:
    """A design that takes the max in every channel (the min of the sign -1 channels lost) must be caught."""
    require_tools("verilator")
    mutation_fails_verify(
        _graph("tiny"), _opts("4", "1"), tmp_path, "qsnn_layer.v", SIGN_AWARE, "(x > best)", 3, STEPS
    )
