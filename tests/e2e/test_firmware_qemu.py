"""The Cortex-M firmware under QEMU (mps2-an386) agrees with the simulator on every output spike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from toolchains import require_tools  # noqa: E402

from qsnn_deploy.ir.synthetic import random_graph, random_inputs  # noqa: E402
from qsnn_deploy.paths import repo_root  # noqa: E402
from qsnn_deploy.verify import verify_cortex_m  # noqa: E402

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
