"""The Cortex-M firmware under QEMU (mps2-an386) agrees with the simulator on every output spike."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.paths import repo_root
from qsnn_deploy.targets.verifier import verify_cortex_m
from tests.toolchains import require_tools

pytestmark = pytest.mark.toolchain


def test_tiny_model_matches_the_simulator_on_100_samples(tmp_path: Path) -> None:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    graph = random_graph("tiny", 0, state_bits=16)
    result = verify_cortex_m(graph, random_inputs(graph, 100, seed=1), workdir=tmp_path)
    assert result.samples == 100
    assert result.spikes_compared == 100 * graph.num_steps * graph.num_classes
    assert result.sim.counts.sum() > 0


def test_stream_model_matches_the_simulator(tmp_path: Path) -> None:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    graph = random_graph("dvs", 0, reset="zero")
    verify_cortex_m(graph, random_inputs(graph, 3, seed=2), workdir=tmp_path)


def test_default_make_builds_and_runs_the_committed_example(tmp_path: Path) -> None:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    fw = repo_root() / "firmware" / "cortex-m"
    proc = subprocess.run(
        ["make", "-s", "-C", str(fw), f"BUILD={tmp_path}", "run"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "DONE 4" in proc.stdout
