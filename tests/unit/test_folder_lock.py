"""codegen and verify --from on one folder at the same time: codegen holds the folder's exclusive lock while it
writes, verify --from a reader's lock while it checks, builds and runs the files, so neither sees the other's
half-written folder (trust model, Smaller limits). ``flock`` locks belong to an open file description, so one
process holding the lock through ``folder_lock`` stands in for another process here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.atomic import FolderBusyError, folder_lock
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.targets import generate
from qsnn_deploy.targets.verifier import verify
from tests.cli_run import error_lines, run_main


@pytest.fixture()
def folder(tmp_path: Path) -> tuple[Path, Path]:
    graph = random_graph("tiny", 0, num_steps=3)
    model = save_graph(graph, tmp_path / "m.qsnn")
    generate(graph, "onnx", tmp_path / "gen")
    return model, tmp_path / "gen"


def test_codegen_is_refused_while_a_verify_reads_the_folder(folder, monkeypatch, capsys) -> None:
    model, gen = folder
    before = {p.name: p.read_bytes() for p in gen.iterdir()}
    with folder_lock(gen, "held by the test", shared=True):
        code, _, err = run_main(monkeypatch, capsys, "codegen", model, "--target", "onnx", "--out", gen)
    assert code == 2 and "a verify --from is reading it" in error_lines(err)[0], err
    assert {p.name: p.read_bytes() for p in gen.iterdir()} == before  # nothing written


def test_verify_from_is_refused_while_a_codegen_writes_the_folder(folder) -> None:
    pytest.importorskip("onnxruntime")
    model, gen = folder
    from qsnn_deploy.ir.io import load_graph

    graph = load_graph(model)
    inputs = random_inputs(graph, 2, seed=0)
    with folder_lock(gen, "held by the test"), pytest.raises(FolderBusyError, match="codegen is writing"):
        verify(graph, inputs, target="onnx", from_dir=gen)
    # Readers share the lock: two verifies of one folder run side by side.
    with folder_lock(gen, "held by the test", shared=True):
        assert verify(graph, inputs, target="onnx", from_dir=gen).samples == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "nir"], "writes files for other tools and has no executor"),
        (["--target", "c", "--executor", "fpga"], "has no executor 'fpga'"),
    ],
)
def test_a_target_or_executor_that_cannot_verify_is_a_user_error(folder, monkeypatch, capsys, args, message):
    """Not a failed verification (exit 1) but a choice the user can mend: one line, exit 2."""
    model, _ = folder
    np.save(model.parent / "x.npy", random_inputs(random_graph("tiny", 0, num_steps=3), 1))
    code, _, err = run_main(monkeypatch, capsys, "verify", model, *args, "--inputs", model.parent / "x.npy")
    assert code == 2 and message in error_lines(err)[0], err
