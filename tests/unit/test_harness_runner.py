"""The one harness runner (verify/harness.py) that the C host, HLS csim and Verilator executors share: it
passes the vectors, the output and record files (and any extra files) by absolute path in that order, runs in
the folder it is given, reads the record back, and refuses a failed run naming the harness. The harnesses here
are small shell scripts standing in for a compiled one (the real ones run in the e2e tests)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.ir.plan import plan_layers
from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.verify.harness import OUTPUTS, RECORD, VECTORS, HarnessRunner

GRAPH = random_graph("tiny", 0, num_steps=2)
LAYERS = plan_layers(GRAPH)
STEPS = GRAPH.num_steps


def _script(tmp_path: Path, body: str) -> Path:
    exe = tmp_path / "harness.sh"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def _inputs(n: int) -> np.ndarray:
    return np.zeros((n, *GRAPH.input.shape), dtype=np.uint8)


def _files(n: int) -> tuple[bytes, bytes]:
    """OUTPUT and RECORD of ``n`` samples: output spikes all 1, the prediction 2, membranes 7."""
    k = GRAPH.num_classes
    out = np.zeros(n, dtype=[("spikes", "u1", (STEPS, k)), ("counts", "<u2", (k,)), ("pred", "<i4")])
    out["spikes"], out["counts"], out["pred"] = 1, STEPS, 2
    rec = b"".join(
        np.ones(layer.neurons, "u1").tobytes() + np.full(layer.neurons, 7, "<i4").tobytes()
        for _ in range(n * STEPS)
        for layer in LAYERS
    )
    return out.tobytes(), rec


def test_the_runner_passes_its_files_in_order_and_reads_the_record(tmp_path) -> None:
    outputs, record = _files(3)
    (tmp_path / "canned.out").write_bytes(outputs)
    (tmp_path / "canned.rec").write_bytes(record)
    work, cwd = tmp_path / "work", tmp_path / "model"
    work.mkdir(), cwd.mkdir()
    exe = _script(
        tmp_path,
        f'echo "$@" > {tmp_path}/argv; pwd > {tmp_path}/cwd; test -s "$1" || exit 9; '
        f'cp {tmp_path}/canned.out "$2"; cp {tmp_path}/canned.rec "$3"; echo 5 > "$4"',
    )
    runner = HarnessRunner(exe, work, GRAPH, LAYERS, "the test harness", extra=("more.bin",), cwd=cwd)
    rec = runner.run(_inputs(3), STEPS)
    argv = (tmp_path / "argv").read_text().split()
    assert argv == [str(work.resolve() / name) for name in (VECTORS, OUTPUTS, RECORD, "more.bin")]
    assert (tmp_path / "cwd").read_text().strip() == str(cwd.resolve())
    assert rec.predictions.tolist() == [2, 2, 2] and rec.counts.tolist() == [[STEPS] * GRAPH.num_classes] * 3
    assert rec.output_spikes.shape == (3, STEPS, GRAPH.num_classes) and int(rec.output_spikes.min()) == 1
    last = LAYERS[-1].lif.name
    assert rec.layers[last].membranes.shape == (3, STEPS, LAYERS[-1].neurons)
    assert int(rec.layers[last].membranes.max()) == 7


def test_a_failed_run_names_the_harness_and_its_exit_status(tmp_path) -> None:
    exe = _script(tmp_path, 'echo "it broke" >&2; exit 3')
    runner = HarnessRunner(exe, tmp_path, GRAPH, LAYERS, "the test harness")
    with pytest.raises(VerificationError, match=r"the test harness failed \(exit 3\): it broke"):
        runner.run(_inputs(1), STEPS)


def test_a_refused_report_fails_a_run_that_exits_zero(tmp_path) -> None:
    outputs, record = _files(1)
    (tmp_path / "canned.out").write_bytes(outputs)
    (tmp_path / "canned.rec").write_bytes(record)
    body = f'cp {tmp_path}/canned.out "$2"; cp {tmp_path}/canned.rec "$3"; echo "AddressSanitizer: $X" >&2'
    env = {**os.environ, "X": "heap-use-after-free"}
    exe = _script(tmp_path, body)
    assert (
        HarnessRunner(exe, tmp_path, GRAPH, LAYERS, "h", env=env).run(_inputs(1), STEPS).predictions[0] == 2
    )
    runner = HarnessRunner(exe, tmp_path, GRAPH, LAYERS, "h", env=env, refuse=("Sanitizer",))
    with pytest.raises(
        VerificationError, match=r"h failed \(exit 0\): AddressSanitizer: heap-use-after-free"
    ):
        runner.run(_inputs(1), STEPS)


def test_a_short_record_is_refused_naming_who_wrote_it(tmp_path) -> None:
    outputs, record = _files(2)
    (tmp_path / "canned.out").write_bytes(outputs)
    (tmp_path / "canned.rec").write_bytes(record)
    exe = _script(tmp_path, f'cp {tmp_path}/canned.out "$2"; cp {tmp_path}/canned.rec "$3"')
    runner = HarnessRunner(exe, tmp_path, GRAPH, LAYERS, "h", who="the test bench")
    with pytest.raises(VerificationError, match="the test bench wrote 2 samples, expected 3"):
        runner.run(_inputs(3), STEPS)
