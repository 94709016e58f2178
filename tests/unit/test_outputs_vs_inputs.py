"""An output never replaces an input (issue 23, item 6): every ``--out``/``--json`` is compared, by identity,
with every file the command reads, the paths the IR records included; a match is one line and exit code 2,
and the input is left as it was."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.outputs import same_file
from tests.cli_run import error_lines, run_main

BUNDLED = Path(__file__).resolve().parents[2] / "examples" / "mnist" / "model.pt"


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A tiny IR that records a float checkpoint (``ck.pt``) and a .nir source path, with an inputs file."""
    root = tmp_path_factory.mktemp("outputs")
    shutil.copyfile(BUNDLED, root / "ck.pt")
    (root / "net.nir").write_bytes(b"not read: the output check comes first")
    graph = random_graph("tiny", 0, num_steps=4)
    graph.metadata["source"] = {"checkpoint": str(root / "ck.pt"), "sha256": "0" * 64, "arch": "auto"}
    save_graph(graph, root / "m.qsnn")
    np.save(root / "x.npy", random_inputs(graph, 2, seed=1).astype(np.uint8))
    np.save(root / "y.npy", np.zeros(2, dtype=np.int64))
    return root


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


CASES = {
    "export X.pt --out X.pt": (["export", "{w}/ck.pt", "--out", "{w}/ck.pt"], "the checkpoint"),
    "export --out through ..": (["export", "{w}/ck.pt", "--out", "{w}/sub/../ck.pt"], "the checkpoint"),
    "import --out its source": (["import", "{w}/net.nir", "--out", "{w}/net.nir"], "the NIR file"),
    "verify --json the model": (["verify", "{w}/m.qsnn", "--inputs", "{w}/x.npy", "--json", "{w}/m.qsnn"], "the model"),
    "verify --json --inputs": (["verify", "{w}/m.qsnn", "--inputs", "{w}/x.npy", "--json", "{w}/x.npy"], "--inputs"),
    "verify --json --labels": (
        ["verify", "{w}/m.qsnn", "--inputs", "{w}/x.npy", "--labels", "{w}/y.npy", "--json", "{w}/y.npy"], "--labels"
    ),
    "simulate --json the model": (
        ["simulate", "--model", "{w}/m.qsnn", "--inputs", "{w}/x.npy", "--json", "{w}/m.qsnn"], "--model"
    ),
    "simulate --json the recorded checkpoint": (
        ["simulate", "--model", "{w}/m.qsnn", "--inputs", "{w}/x.npy", "--json", "{w}/ck.pt"],
        "the file the IR records",
    ),
    "simulate --json --checkpoint": (
        ["simulate", "--model", "{w}/m.qsnn", "--inputs", "{w}/x.npy", "--checkpoint", "{w}/ck.pt", "--json",
         "{w}/ck.pt"],
        "--checkpoint",
    ),
    "report --json the model": (["report", "{w}/m.qsnn", "--inputs", "{w}/x.npy", "--json", "{w}/m.qsnn"], "the model"),
    "codegen --out holding the model": (["codegen", "{w}/m.qsnn", "--out", "{w}"], "holds the model"),
    "train --init the checkpoint it writes": (
        ["train", "--dataset", "mnist", "--out", "{w}", "--init", "{w}/model.pt", "--epochs", "1"], "--init"
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_an_output_that_is_an_input_is_refused(monkeypatch, capsys, work: Path, case: str):
    (work / "sub").mkdir(exist_ok=True)
    before = _digests(work)
    args, what = CASES[case]
    code, out, err = run_main(monkeypatch, capsys, *[a.format(w=work) for a in args])
    lines = error_lines(err)
    assert code == 2, out + err
    assert len(lines) == 1 and what in lines[0] and "choose another" in lines[0], err
    assert "Traceback" not in err
    assert _digests(work) == before  # nothing read was replaced, nothing new written


def test_a_hard_link_to_the_model_is_the_model(monkeypatch, capsys, work: Path, tmp_path: Path):
    alias = tmp_path / "alias.json"
    os.link(work / "m.qsnn", alias)
    code, _, err = run_main(
        monkeypatch,
        capsys,
        "simulate",
        "--model",
        work / "m.qsnn",
        "--inputs",
        work / "x.npy",
        "--json",
        alias,
    )
    assert code == 2 and "--model" in error_lines(err)[0], err


def test_a_json_inside_the_from_folder_is_refused(monkeypatch, capsys, work: Path, tmp_path: Path):
    folder = tmp_path / "gen"
    assert run_main(monkeypatch, capsys, "codegen", work / "m.qsnn", "--out", folder)[0] == 0
    code, _, err = run_main(
        monkeypatch, capsys, "verify", work / "m.qsnn", "--inputs", work / "x.npy", "--from", folder,
        "--json", folder / "result.json",
    )  # fmt: skip
    assert code == 2 and "inside the --from folder" in error_lines(err)[0], err
    assert not (folder / "result.json").exists()


def test_a_json_beside_the_inputs_is_written(monkeypatch, capsys, work: Path, tmp_path: Path):
    """The control: another path is accepted and written."""
    json_path = tmp_path / "sim.json"
    code, out, err = run_main(
        monkeypatch,
        capsys,
        "simulate",
        "--model",
        work / "m.qsnn",
        "--inputs",
        work / "x.npy",
        "--json",
        json_path,
    )
    assert code in (0, 1), out + err  # 1 is a DRIFT verdict, not an error
    assert json_path.is_file() and not error_lines(err)


def test_same_file_by_path_and_by_inode(tmp_path: Path):
    a = tmp_path / "a"
    a.write_bytes(b"x")
    os.link(a, tmp_path / "b")
    (tmp_path / "d").symlink_to(tmp_path, target_is_directory=True)
    assert same_file(a, tmp_path / "b")  # one inode
    assert same_file(tmp_path / "d" / "new", tmp_path / "new")  # not yet written, equal once resolved
    assert not same_file(a, tmp_path / "c")


@pytest.mark.parametrize("command", ["simulate", "verify", "report"])
def test_a_json_inside_the_dataset_folder_is_refused(
    monkeypatch, capsys, work: Path, tmp_path: Path, command
):
    """The dataset's files are inputs too: --json is refused inside the folder the dataset is read from,
    before a sample is read (the folder holds no data here)."""
    (tmp_path / "mnist").mkdir()
    json_path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    model = ["--model", work / "m.qsnn"] if command == "simulate" else [work / "m.qsnn"]
    code, _, err = run_main(
        monkeypatch,
        capsys,
        command,
        *model,
        "--dataset",
        "mnist",
        "--data-dir",
        tmp_path,
        "--json",
        json_path,
    )
    assert code == 2 and "inside the mnist dataset folder" in error_lines(err)[0], err
    assert not json_path.exists()


@pytest.mark.parametrize("command", ["export", "import"])
def test_an_out_inside_the_dataset_folder_is_refused(
    monkeypatch, capsys, work: Path, tmp_path: Path, command
):
    (tmp_path / "mnist").mkdir()
    out = tmp_path / "mnist" / "model.qsnn"
    source = work / ("ck.pt" if command == "export" else "net.nir")
    code, _, err = run_main(
        monkeypatch, capsys, command, source, "--dataset", "mnist", "--data-dir", tmp_path, "--out", out
    )
    assert code == 2 and "inside the mnist dataset folder" in error_lines(err)[0], err
    assert not out.exists()
