"""Bad inputs on the command line (issue 12): every one is a one-line error with a non-zero exit, never a
traceback, and no earlier output is touched.

Each case runs ``qsnn-deploy`` in-process in a folder that already holds good earlier outputs (an IR, a
training run, a JSON report); afterwards every one of them must be byte-identical and no file may have
appeared. Cases fail while the command line is parsed or the IR is loaded, so they need no dataset and take
milliseconds.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
import warnings
import zipfile
from pathlib import Path

import pytest

from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.synthetic import random_graph
from tests.cli_run import error_lines, run_main

GOOD = random_graph("tiny", 1, state_bits=16, num_steps=4)


def _edited_ir(path: Path, edit) -> Path:
    save_graph(GOOD, path)
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members.pop("manifest.json"))
    extra = edit(manifest) or []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the duplicate member that dup.qsnn holds on purpose
        zf.writestr("manifest.json", json.dumps(manifest))
        for name, data in [*members.items(), *extra]:
            zf.writestr(name, data)
    return path


def _lif(manifest: dict) -> dict:
    return next(op for op in manifest["ops"] if op["op"] == "lif")


BAD_IRS = {
    "steps.qsnn": lambda m: m.update(num_steps=10**12),
    "decay.qsnn": lambda m: _lif(m).update(decay_multiplier=2**31, decay_shift=31),
    "source.qsnn": lambda m: m["metadata"].update(source=5),
    "config.qsnn": lambda m: m["metadata"].update(model_config=["bits", 4]),
    "name.qsnn": lambda m: m["ops"][0].update(name="conv1 */\n#include <x>"),
    "dup.qsnn": lambda m: [("manifest.json", b"{}")],
}


BAD_IR_ERRORS = {
    "steps.qsnn": "num_steps 1000000000000 is outside the limit",
    "decay.qsnn": "decay_multiplier 2147483648 is outside the limit",
    "source.qsnn": "metadata.source must be",
    "config.qsnn": "metadata.model_config must be",
    "name.qsnn": "is not an identifier",
    "dup.qsnn": "appears more than once",
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with earlier good outputs, bad IRs and special files; the cwd of every case."""
    save_graph(GOOD, tmp_path / "good.qsnn")
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / "model.pt").write_bytes(b"an earlier training run")
    (tmp_path / "report.json").write_text('{"earlier": true}')
    (tmp_path / "target.json").write_text('{"linked": true}')
    (tmp_path / "link.json").symlink_to(tmp_path / "target.json")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "blocked" / "model.pt").mkdir(parents=True)  # train would fail to save after hours
    os.mkfifo(tmp_path / "blocked" / "metrics.csv")
    (tmp_path / "bad").mkdir()
    for name, edit in BAD_IRS.items():
        _edited_ir(tmp_path / "bad" / name, edit)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QSNN_DATA_DIR", str(tmp_path / "no-data"))

    def no_network(url, *args, **kwargs):
        raise AssertionError(f"a bad-input case tried to download {url}: it should have failed before")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return tmp_path


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    state: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            state[key] = f"link -> {os.readlink(path)}"
        elif path.is_fifo():
            state[key] = "fifo"
        elif path.is_file():
            state[key] = path.read_bytes()
        else:
            state[key] = "folder"
    return state


TRAIN = ["train", "--dataset", "mnist"]
SIM = ["simulate", "--model", "good.qsnn", "--dataset", "mnist"]

CASES = {
    # train: option values
    "train --bits 9": [*TRAIN, "--bits", "9"],
    "train --bits 1": [*TRAIN, "--bits", "1"],
    "train --bits -1": [*TRAIN, "--bits", "-1"],
    "train --num-steps 0": [*TRAIN, "--num-steps", "0"],
    "train --num-steps 10^12": [*TRAIN, "--num-steps", str(10**12)],
    "train --epochs 0": [*TRAIN, "--epochs", "0"],
    "train --batch-size -1": [*TRAIN, "--batch-size", "-1"],
    "train --train-limit 0": [*TRAIN, "--train-limit", "0"],
    "train --test-limit -5": [*TRAIN, "--test-limit", "-5"],
    "train --patience -1": [*TRAIN, "--patience", "-1"],
    "train --seed -1": [*TRAIN, "--seed", "-1"],
    "train --seed 2^40": [*TRAIN, "--seed", str(2**40)],
    # train: output folder
    "train --out a file": [*TRAIN, "--out", "report.json"],
    "train --out a FIFO": [*TRAIN, "--out", "pipe"],
    "train --out /dev/full": [*TRAIN, "--out", "/dev/full"],
    "train --out /proc/x": [*TRAIN, "--out", "/proc/qsnn-x"],
    "train --out below a file": [*TRAIN, "--out", "report.json/run"],
    "train --out holding a folder named model.pt": [*TRAIN, "--out", "blocked"],
    # export
    "export --bits 9": ["export", "earlier/model.pt", "--bits", "9", "--out", "good.qsnn"],
    "export --bits 0": ["export", "earlier/model.pt", "--bits", "0", "--out", "good.qsnn"],
    "export --out a FIFO": ["export", "earlier/model.pt", "--out", "pipe"],
    "export --out a symlink": ["export", "earlier/model.pt", "--out", "link.json"],
    "export --out a folder": ["export", "earlier/model.pt", "--out", "earlier"],
    "export --out /dev/full": ["export", "earlier/model.pt", "--out", "/dev/full"],
    "export --out /proc/x": ["export", "earlier/model.pt", "--out", "/proc/qsnn-x"],
    # simulate: options
    "simulate --limit 0": [*SIM, "--limit", "0"],
    "simulate --limit -3": [*SIM, "--limit", "-3"],
    "simulate --num-steps 0": [*SIM, "--num-steps", "0"],
    "simulate --num-steps -1": [*SIM, "--num-steps", "-1"],
    "simulate --num-steps 10^12": [*SIM, "--num-steps", str(10**12)],
    "simulate --json a FIFO": [*SIM, "--json", "pipe"],
    "simulate --json a symlink": [*SIM, "--json", "link.json"],
    "simulate --json /dev/full": [*SIM, "--json", "/dev/full"],
    "simulate --json a folder": [*SIM, "--json", "earlier"],
    # simulate: IR files beyond their limits or with mistyped metadata
    **{
        f"simulate --model bad/{name}": ["simulate", "--model", f"bad/{name}", "--dataset", "mnist"]
        for name in BAD_IRS
    },
    # codegen
    "codegen --out /proc/x": ["codegen", "good.qsnn", "--out", "/proc/qsnn-x"],
    "codegen --out a file": ["codegen", "good.qsnn", "--out", "report.json"],
    "codegen --out a FIFO": ["codegen", "good.qsnn", "--out", "pipe"],
    **{f"codegen bad/{name}": ["codegen", f"bad/{name}", "--out", "earlier"] for name in BAD_IRS},
    # verify and report
    "verify --limit 0": ["verify", "good.qsnn", "--dataset", "mnist", "--limit", "0"],
    "verify --num-steps 0": ["verify", "good.qsnn", "--dataset", "mnist", "--num-steps", "0"],
    "verify --num-steps -5": ["verify", "good.qsnn", "--dataset", "mnist", "--num-steps", "-5"],
    "verify --num-steps 10^12": ["verify", "good.qsnn", "--dataset", "mnist", "--num-steps", str(10**12)],
    "verify bad/decay.qsnn": ["verify", "bad/decay.qsnn", "--dataset", "mnist"],
    "report --limit 0": ["report", "good.qsnn", "--dataset", "mnist", "--limit", "0"],
    "report --limit -1": ["report", "good.qsnn", "--dataset", "mnist", "--limit", "-1"],
    "report bad/steps.qsnn": ["report", "bad/steps.qsnn", "--dataset", "mnist"],
    "report --json a FIFO": ["report", "good.qsnn", "--dataset", "mnist", "--json", "pipe"],
    "verify --json /dev/full": ["verify", "good.qsnn", "--dataset", "mnist", "--json", "/dev/full"],
    "verify --json a symlink": ["verify", "good.qsnn", "--dataset", "mnist", "--json", "link.json"],
    # demo
    "demo --out a file": ["demo", "--out", "report.json"],
    "demo --out /dev/full": ["demo", "--out", "/dev/full"],
}


def _expected(case: str) -> str:
    """What the error line must name: the IR's defect, or the option the case gives a bad value."""
    ir = re.search(r"bad/(\w+\.qsnn)", case)
    return BAD_IR_ERRORS[ir.group(1)] if ir else re.search(r" (--[a-z-]+)", case).group(1)


@pytest.mark.parametrize(("case", "args"), CASES.items(), ids=CASES.keys())
def test_a_bad_input_is_one_line_and_earlier_outputs_survive(workdir, monkeypatch, capsys, case, args):
    before = _snapshot(workdir)
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code != 0, out + err
    assert "Traceback" not in err + out
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert _expected(case) in lines[0], lines[0]  # refused for its own defect, not for a missing dataset
    assert _snapshot(workdir) == before


def test_the_good_ir_of_the_workdir_is_accepted(workdir, monkeypatch, capsys):
    """The cases fail for their bad input, not for a broken setup: the same commands with good values work."""
    code, _, err = run_main(monkeypatch, capsys, "codegen", "good.qsnn", "--out", "generated")
    assert code == 0, err
    assert (workdir / "generated" / "qsnn_model.c").is_file()


@pytest.mark.parametrize("dataset", [["--dataset", "mnist"], []], ids=["--dataset mnist", "the IR's dataset"])
@pytest.mark.parametrize("command", ["report", "verify", "simulate"])
def test_a_stream_model_on_another_dataset_is_one_line(
    data_dir, tmp_path, monkeypatch, capsys, command, dataset
):
    """A DVS-shaped (stream) model given MNIST, or the N-MNIST it records (34x34 frames, not 32x32): one line
    naming the mismatch (report gave a reshape traceback)."""
    graph = random_graph("dvs", 1, state_bits=16, num_steps=3)
    graph = Graph(graph.input, graph.ops, graph.num_steps, {"dataset": "nmnist"})
    model = save_graph(graph, tmp_path / "dvs.qsnn")
    monkeypatch.setenv("QSNN_DATA_DIR", str(data_dir))
    args = ["--model", model] if command == "simulate" else [model]
    code, out, err = run_main(monkeypatch, capsys, command, *args, *dataset, "--limit", "2")
    assert code != 0 and "Traceback" not in err + out
    lines = error_lines(err)
    assert len(lines) == 1 and "shape" in lines[0], err
