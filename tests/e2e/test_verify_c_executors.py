"""The common verifier on the C target's executors: every layer is checked on the host and on the Cortex-M
(digests), a runtime wrong by one unit fails both, and ``verify --from`` checks the files codegen wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qsnn_deploy.cli import cli
from qsnn_deploy.errors import VerificationError
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.targets import generate
from qsnn_deploy.targets.verifier import verify
from tests.toolchains import require_tools

pytestmark = pytest.mark.toolchain

# The subtract reset of the LIF update in the hand-written runtime, and the same line off by one unit.
RESET_LINE = "d -= th;"
RESET_OFF_BY_ONE = "d -= th + 1;"


def _mutated_runtime(graph, folder: Path) -> Path:
    generate(graph, "c", folder)
    runtime = folder / "qsnn_runtime.c"
    text = runtime.read_text()
    assert text.count(RESET_LINE) == 1, "the mutation no longer finds the subtract reset: update RESET_LINE"
    runtime.write_text(text.replace(RESET_LINE, RESET_OFF_BY_ONE))
    return folder


@pytest.mark.parametrize("executor", ["host", "cortex-m"])
def test_a_runtime_off_by_one_in_the_reset_fails_verify(tmp_path: Path, executor: str) -> None:
    require_tools("gcc", "arm-none-eabi-gcc", "qemu-system-arm", "make")
    graph = random_graph("tiny", 0, state_bits=16)
    inputs = random_inputs(graph, 5, seed=1)
    folder = tmp_path / "gen"
    generate(graph, "c", folder)
    verify(graph, inputs, target="c", executor=executor, from_dir=folder)  # the files as written pass
    _mutated_runtime(graph, folder)
    with pytest.raises(VerificationError, match=r"layer 'lif\d'") as info:
        verify(graph, inputs, target="c", executor=executor, from_dir=folder, allow_edited=True)
    assert "sample" in str(info.value) and "step" in str(info.value)


def test_cortex_m_checks_every_layer_by_digest(tmp_path: Path) -> None:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    graph = random_graph("tiny-stream", 1, state_bits=32, reset="zero")
    result = verify(graph, random_inputs(graph, 3, seed=2), target="c", executor="cortex-m")
    assert result.compared.layer_digests == 3 * graph.num_steps * len(graph.lif_layers())
    assert result.sim.spike_counts["lif2"].sum() > 0, "a silent layer would make the digests trivial"


def test_verify_from_refuses_files_of_another_ir(tmp_path: Path) -> None:
    require_tools("gcc")
    folder = tmp_path / "gen"
    generate(random_graph("tiny", 0), "c", folder)
    other = random_graph("tiny", 1)
    with pytest.raises(VerificationError, match="another IR"):
        verify(other, random_inputs(other, 2), target="c", from_dir=folder)


def test_temporary_build_folders_are_removed_unless_kept(tmp_path: Path, monkeypatch) -> None:
    require_tools("gcc")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    graph = random_graph("tiny", 0)
    verify(graph, random_inputs(graph, 2), target="c")
    assert list(tmp_path.glob("qsnn-verify-*")) == []
    kept = verify(graph, random_inputs(graph, 2), target="c", keep=True)
    assert kept.workdir is not None and kept.workdir.is_dir()


def test_cli_verify_from_folder_with_json(tmp_path: Path, data_dir: Path) -> None:
    """codegen --out DIR, then verify --from DIR on real MNIST digits (a synthetic MNIST-shaped graph)."""
    require_tools("gcc")
    graph = random_graph("mnist", 0, num_steps=6)
    model = save_graph(graph, tmp_path / "m.qsnn")
    cli.main(["codegen", str(model), "--out", str(tmp_path / "gen")], standalone_mode=False)
    cli.main(
        ["verify", str(model), "--dataset", "mnist", "--data-dir", str(data_dir), "--limit", "4",
         "--from", str(tmp_path / "gen"), "--json", str(tmp_path / "v.json")],
        standalone_mode=False,
    )  # fmt: skip
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["verified"] and report["samples"] == 4 and report["steps"] == 6
    assert report["output_spike_values"] == 4 * 6 * 10
    assert report["layer_values"] > 0


def test_the_benchmark_harness_runs_each_sample_once_and_agrees(tmp_path: Path) -> None:
    """benchmarks/c_speed.py times the harness built with -DQSNN_HARNESS_RUN_ONLY (qsnn_run alone): its counts
    and predictions equal the simulator's."""
    require_tools("gcc")
    from qsnn_deploy.sim import simulate
    from qsnn_deploy.targets.c.host import build_host
    from qsnn_deploy.verify.harness import read_outputs
    from qsnn_deploy.verify.tools import run_tool
    from qsnn_deploy.verify.vectors import write_vectors

    graph = random_graph("tiny", 3)
    inputs = random_inputs(graph, 6, seed=3)
    generate(graph, "c", tmp_path / "gen")
    exe = build_host(tmp_path / "gen", tmp_path / "bench", extra=["-DQSNN_HARNESS_RUN_ONLY"])
    write_vectors(tmp_path / "v.bin", graph, inputs, graph.num_steps)
    run_tool([str(exe), str(tmp_path / "v.bin"), str(tmp_path / "o.bin")], "benchmark harness")
    spikes, counts, preds = read_outputs(tmp_path / "o.bin", 6, graph.num_steps, graph.num_classes)
    sim = simulate(graph, inputs)
    assert sim.counts.sum() > 0
    assert (counts == sim.counts).all() and (preds == sim.predictions).all()
    assert not spikes.any()  # written as zeros: the per-step path did not run
