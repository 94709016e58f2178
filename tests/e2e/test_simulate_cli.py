"""``qsnn-deploy simulate`` as a user runs it: on the base install without torch, with honest verdicts (DRIFT
and FAIL exit 1), the dataset the IR records by default, a warning for another dataset, and no silent
comparison with a checkpoint other than the exported one, and no file opened that the user did not name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from qsnn_deploy.data import load_dataset
from qsnn_deploy.export import export_checkpoint
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.models import build_model, get_preset, model_config, save_checkpoint
from tests.e2e.test_export_cli import SMALL_MNIST, assert_one_line_error, make_spiking, run_in_process

# Runs the console script's main() with torch, snnTorch and Brevitas made unimportable, as on the base install
# (pip install qsnn-deploy without the [torch] extra). The finder refuses the top-level package and every
# submodule; the script checks that the block works before running the command.
NO_TORCH = """
import sys
BLOCKED = ("torch", "snntorch", "brevitas")
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None
sys.meta_path.insert(0, NoTorch())
for name in BLOCKED:
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"the block failed: {name} imported")
from qsnn_deploy.cli import main
sys.argv = ["qsnn-deploy", *sys.argv[1:]]
try:
    main()
finally:
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED or m.startswith("qsnn_deploy.export"))
    print("LOADED:", ",".join(loaded), file=sys.stderr)
"""


def run_without_torch(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, QSNN_DATA_DIR=str(data_dir))
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH, *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def exported(data_dir, tmp_path_factory) -> tuple[Path, Path]:
    """(checkpoint, IR) of a small MNIST net whose three layers spike."""
    torch.manual_seed(0)
    model = build_model(SMALL_MNIST).eval()
    make_spiking(model, load_dataset("mnist", "train", data_dir=data_dir, limit=64).inputs)
    folder = tmp_path_factory.mktemp("sim")
    checkpoint = save_checkpoint(folder / "model.pt", model, SMALL_MNIST, get_preset("mnist").train)
    ir = folder / "model.qsnn"
    save_graph(export_checkpoint(checkpoint, num_steps=30).graph, ir)
    return checkpoint, ir


def test_simulate_runs_on_the_base_install_without_torch(exported, data_dir, tmp_path):
    checkpoint, ir = exported
    report = tmp_path / "report.json"
    proc = run_without_torch(
        "simulate", "--model", str(ir), "--limit", "20", "--json", str(report), "--checkpoint", str(checkpoint),
        data_dir=data_dir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    # The dataset defaults to the one the IR records; the integer results print; one note says why there is
    # no float comparison.
    assert "mnist test set: 20 samples x 30 steps" in proc.stdout
    assert "integer accuracy" in proc.stdout and "float accuracy" not in proc.stdout
    notes = [line for line in proc.stdout.splitlines() if "not installed" in line]
    assert len(notes) == 1 and "torch" in notes[0], proc.stdout
    assert "verdict: integer-only run" in proc.stdout
    data = json.loads(report.read_text())
    assert data["float_accuracy"] is None and 0.0 <= data["int_accuracy"] <= 1.0
    # Nothing from torch or the exporter was loaded along the way.
    loaded = proc.stderr.strip().splitlines()[-1]
    assert loaded == "LOADED:", loaded


def _paths_opened_by_simulate(monkeypatch, capsys, *args: str) -> tuple[int, str, set[str]]:
    """Run simulate in this process and record every path it opens (a ``sys.addaudithook`` hook sees each
    ``open`` and ``os.open``); the hook stays installed for the process but records only during this run."""
    opened: set[str] = set()
    recording = [True]

    def hook(event: str, event_args: tuple) -> None:
        if recording[0] and event == "open" and isinstance(event_args[0], (str, bytes, os.PathLike)):
            opened.add(os.path.realpath(os.fsdecode(event_args[0])))

    sys.addaudithook(hook)
    try:
        code, out, _ = run_in_process(monkeypatch, capsys, *args)
    finally:
        recording[0] = False
    return code, out, opened


def test_the_recorded_checkpoint_is_never_opened_unless_named(exported, data_dir, monkeypatch, capsys):
    """A path the IR records could name any local file: simulate names it in a note and opens it only when the
    user passes it with --checkpoint (then it is hashed against the recorded SHA-256 and compared)."""
    checkpoint, ir = exported
    monkeypatch.setenv("QSNN_DATA_DIR", str(data_dir))
    args = ("simulate", "--model", str(ir), "--limit", "20")
    code, out, opened = _paths_opened_by_simulate(monkeypatch, capsys, *args)
    assert code == 0 and "float accuracy" not in out and "integer-only run" in out, out
    note = [line for line in out.splitlines() if "note:" in line]
    assert len(note) == 1 and f"--checkpoint {checkpoint}" in note[0], out
    assert str(ir.resolve()) in opened  # the hook works: it saw the IR being read ...
    assert str(checkpoint.resolve()) not in opened  # ... and the recorded checkpoint was never opened

    code, out, opened = _paths_opened_by_simulate(monkeypatch, capsys, *args, "--checkpoint", str(checkpoint))
    assert str(checkpoint.resolve()) in opened
    assert "float accuracy" in out and "prediction agreement" in out and "note:" not in out, out
    assert code == (0 if "verdict: PASS" in out else 1)


def test_a_checkpoint_other_than_the_exported_one_is_compared_with_a_note(
    exported, data_dir, tmp_path, monkeypatch, capsys
):
    _, ir = exported
    monkeypatch.setenv("QSNN_DATA_DIR", str(data_dir))
    # The same architecture, retrained: other weights.
    other_checkpoint = tmp_path / "model.pt"
    torch.manual_seed(5)
    other = build_model(SMALL_MNIST).eval()
    make_spiking(other, load_dataset("mnist", "train", data_dir=data_dir, limit=64).inputs)
    save_checkpoint(other_checkpoint, other, SMALL_MNIST, get_preset("mnist").train)
    graph_args = ("simulate", "--model", str(ir), "--limit", "20")
    code, out, _ = run_in_process(monkeypatch, capsys, *graph_args, "--checkpoint", str(other_checkpoint))
    assert "not the file this IR was exported from" in out and "float accuracy" in out, out
    # Another network entirely: the verdict is DRIFT, and DRIFT exits 1 ...
    assert "verdict: DRIFT" in out and code == 1, out
    # ... unless the user widens the targets.
    code, out, _ = run_in_process(
        monkeypatch, capsys, *graph_args, "--checkpoint", str(other_checkpoint),
        "--min-agreement", "0", "--max-accuracy-gap", "100",
    )  # fmt: skip
    assert "verdict: PASS" in out and code == 0, out


def test_another_dataset_than_the_models_is_said(exported, data_dir, monkeypatch, capsys):
    _, ir = exported
    monkeypatch.setenv("QSNN_DATA_DIR", str(data_dir))
    code, out, _ = run_in_process(
        monkeypatch, capsys, "simulate", "--model", str(ir), "--dataset", "fmnist", "--limit", "10"
    )
    assert "fmnist test set" in out
    assert "made for mnist, not fmnist" in out
    verdict = [line for line in out.splitlines() if line.startswith("verdict:")][0]
    assert "the model was made for mnist" in verdict, verdict


def test_the_papers_state_dict_is_compared_with_arch(exported, data_dir, tmp_path, monkeypatch, capsys):
    """simulate reads a paper state_dict as export read it, and --checkpoint takes --arch as export does."""
    monkeypatch.setenv("QSNN_DATA_DIR", str(data_dir))
    torch.manual_seed(0)
    model = build_model(model_config("mnist")).eval()
    make_spiking(model, load_dataset("mnist", "train", data_dir=data_dir, limit=64).inputs)
    seed = tmp_path / "seed.pth"
    torch.save(model.state_dict(), seed)
    ir = tmp_path / "seed.qsnn"
    save_graph(export_checkpoint(seed, arch="seed-mnist", num_steps=20).graph, ir)
    code, out, err = run_in_process(
        monkeypatch, capsys, "simulate", "--model", str(ir), "--limit", "10", "--checkpoint", str(seed)
    )
    assert "mnist test set: 10 samples x 20 steps" in out and "float accuracy" in out, out + err
    assert "note:" not in out

    # An IR exported from a qsnn-deploy checkpoint, compared with the paper's file: --arch says how to read it.
    args = (
        "simulate",
        "--model",
        str(exported[1]),
        "--limit",
        "10",
        "--num-steps",
        "20",
        "--checkpoint",
        str(seed),
    )
    code, out, err = run_in_process(monkeypatch, capsys, *args)
    assert_one_line_error(code, err, "--arch seed-mnist")
    code, out, err = run_in_process(monkeypatch, capsys, *args, "--arch", "seed-mnist")
    assert "float accuracy" in out and "Traceback" not in err, out + err


@pytest.mark.parametrize(
    "args", [["export", "model.pt"], ["train", "--dataset", "mnist"]], ids=["export", "train"]
)
def test_commands_that_need_torch_say_so_in_one_line_on_the_base_install(args, data_dir, tmp_path):
    proc = run_without_torch(*args, "--out", str(tmp_path / "out"), data_dir=data_dir)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("LOADED:")]
    assert len(lines) == 1 and lines[0].startswith("error:") and "needs torch" in lines[0], proc.stderr
    assert "pip install 'qsnn-deploy[torch]'" in lines[0]
