"""A generated folder is code (docs/trust-model.md): nothing in it chooses which programs run or what is checked,
and ``verify --from`` builds only the files codegen writes from the IR (issue 23, items 1 and 2)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import QsnnError, VerificationError
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.targets import MANIFEST, generate, get_target, read_manifest
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.folder import EditedFolderError, open_generated
from qsnn_deploy.targets.static_check import StaticCheckError
from qsnn_deploy.targets.verifier import verify
from tests.cli_run import error_lines, run_main
from tests.toolchains import require_tools

# The fault of the issue's reproduction, injected into the event kernel of the linear layer (the one that reads
# spike bits: a hidden layer's input).
LINEAR_EVENTS = "void qsnn_linear_events_bits(const qsnn_linear_t *fc, const uint32_t *in, int32_t *acc)\n{\n"
LOOP = "    for (k = 0; k < QSNN_SPIKE_WORDS(fc->in_n); k++) {\n"
FAULT = "    acc[0] += 100000;\n"


@pytest.fixture(scope="module")
def graph():
    return random_graph("tiny", 0, num_steps=6)


@pytest.fixture(scope="module")
def work(tmp_path_factory, graph) -> Path:
    """The IR and a uint8 inputs file for the CLI (4 samples)."""
    root = tmp_path_factory.mktemp("trust")
    save_graph(graph, root / "m.qsnn")
    np.save(root / "x.npy", random_inputs(graph, 4, seed=1).astype(np.uint8))
    return root


def _codegen(monkeypatch, capsys, work: Path, out: Path, *options: str) -> str:
    args = [arg for opt in options for arg in ("--option", opt)]
    code, stdout, err = run_main(monkeypatch, capsys, "codegen", work / "m.qsnn", "--out", out, *args)
    assert code == 0, stdout + err
    return stdout


def _verify(monkeypatch, capsys, work: Path, folder: Path, *extra: str) -> tuple[int, str, str]:
    return run_main(
        monkeypatch, capsys, "verify", work / "m.qsnn", "--inputs", work / "x.npy", "--limit", "4",
        "--from", folder, *extra,
    )  # fmt: skip


def _set_manifest_option(folder: Path, key: str, value: str) -> None:
    data = json.loads((folder / MANIFEST).read_text())
    data["options"]["extra"][key] = value
    (folder / MANIFEST).write_text(json.dumps(data))


def _inject_fault(folder: Path) -> None:
    runtime = folder / "qsnn_runtime.c"
    head, sep, tail = runtime.read_text().partition(LINEAR_EVENTS)
    assert sep and tail.count(LOOP) >= 1, "the runtime no longer has the event kernel this test injects into"
    runtime.write_text(head + sep + tail.replace(LOOP, FAULT + LOOP, 1))


def test_codegen_records_no_program_and_no_kernel_choice(monkeypatch, capsys, work: Path, tmp_path: Path):
    out = _codegen(monkeypatch, capsys, work, tmp_path, "cc=/bin/false", "dense=1", "sanitize=1")
    assert read_manifest(tmp_path)[2].extra == {}
    assert "--option cc, dense, sanitize does not change the c files and is not recorded" in out
    # a code-generation option of another target is kept (it changes the files)
    generate(random_graph("tiny", 0, num_steps=6), "hls", tmp_path / "hls",
             options=TargetOptions(extra={"clock_mhz": "150", "cxx": "clang++"}))  # fmt: skip
    assert read_manifest(tmp_path / "hls")[2].extra == {"clock_mhz": "150"}


@pytest.mark.parametrize("key", ["cc", "cxx", "dense", "sanitize", "jobs", "threads", "baseline", "unknown"])
def test_a_manifest_naming_a_program_or_a_kernel_is_refused(tmp_path: Path, graph, key: str):
    generate(graph, "c", tmp_path)
    _set_manifest_option(tmp_path, key, "1")
    with pytest.raises(QsnnError, match=f"sets '{key}', which codegen never records"):
        read_manifest(tmp_path)


def test_a_compiler_named_in_the_folder_never_runs(monkeypatch, capsys, work: Path, tmp_path: Path):
    """A folder's manifest pointing cc at a script: refused in one line, exit 2, the script never runs."""
    folder = tmp_path / "gen"
    _codegen(monkeypatch, capsys, work, folder)
    marker = tmp_path / "ran"
    script = folder / "evil-cc"
    script.write_text(f'#!/bin/sh\ntouch {marker}\nexec gcc "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    _set_manifest_option(folder, "cc", str(script))
    code, out, err = _verify(monkeypatch, capsys, work, folder)
    assert code == 2 and len(error_lines(err)) == 1 and "'cc'" in err, out + err
    assert not marker.exists()
    code, out, err = _verify(monkeypatch, capsys, work, folder, "--allow-edited")
    assert code == 2 and "'cc'" in err and not marker.exists()


def test_the_issues_wrong_pass_now_fails_loudly(monkeypatch, capsys, work: Path, tmp_path: Path):
    """Inject ``acc[0] += 100000;`` into qsnn_linear_events, then add "dense": "1" to the manifest."""
    require_tools("gcc")
    folder = tmp_path / "gen"
    _codegen(monkeypatch, capsys, work, folder)
    _inject_fault(folder)
    code, out, err = _verify(monkeypatch, capsys, work, folder)  # the edit alone: named, nothing built
    assert code == 2 and len(error_lines(err)) == 1, out + err
    assert "edited qsnn_runtime.c" in err and "--allow-edited" in err
    # changed on purpose: the shipped kernel is built, and the fault is found
    code, out, err = _verify(monkeypatch, capsys, work, folder, "--allow-edited")
    assert code == 1 and "lif" in err, out + err
    _set_manifest_option(
        folder, "dense", "1"
    )  # the issue's second step: a dense build must not hide the fault
    for flags in ((), ("--allow-edited",)):
        code, out, err = _verify(monkeypatch, capsys, work, folder, *flags)
        assert code == 2 and "'dense'" in err and "identical" not in out, out + err


def test_the_summary_names_the_kernels_and_options_it_built(monkeypatch, capsys, work: Path, tmp_path: Path):
    require_tools("gcc")
    folder = tmp_path / "gen"
    _codegen(monkeypatch, capsys, work, folder)
    code, out, err = _verify(monkeypatch, capsys, work, folder, "--json", tmp_path / "v.json")
    assert code == 0, out + err
    assert f"built c/host from the files in {folder}: the generated code as shipped, compiled by gcc" in out
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["built"] == "the generated code as shipped, compiled by gcc"
    assert report["options"] == {"prefix": "qsnn", "board": "mps2-an386"} and report["edited_files"] == []
    # a dense baseline asked for on the command line is built, and said so
    code, out, err = _verify(
        monkeypatch, capsys, work, folder, "--option", "dense=1", "--json", tmp_path / "d.json"
    )
    assert code == 0 and "the dense baseline kernels (-DQSNN_DENSE_BASELINE), not the shipped" in out, (
        out + err
    )
    assert json.loads((tmp_path / "d.json").read_text())["options"]["dense"] == "1"


def test_missing_extra_and_special_files_are_named(tmp_path: Path, graph):
    t = get_target("c")
    generate(graph, "c", tmp_path)
    assert open_generated(graph, t, tmp_path, None).edited == ()
    (tmp_path / "qsnn_model.h").unlink()
    (tmp_path / "notes.txt").write_text("hi")
    os.mkfifo(tmp_path / "qsnn_data.h.fifo")
    data = (tmp_path / "qsnn_data.h").read_bytes()
    (tmp_path / "qsnn_data.h").unlink()
    os.mkfifo(tmp_path / "qsnn_data.h")  # a FIFO where a source was: named, never opened (no blocking)
    with pytest.raises(EditedFolderError) as info:
        open_generated(graph, t, tmp_path, None)
    text = str(info.value)
    assert "missing qsnn_model.h" in text and "extra notes.txt" in text and "extra qsnn_data.h.fifo" in text
    assert "edited qsnn_data.h (not a regular file)" in text and "\n" not in text
    # edits allowed: the static check reads the data header's constants, and refuses a FIFO in its place
    with pytest.raises(StaticCheckError, match="qsnn_data.h is not a regular file"):
        open_generated(graph, t, tmp_path, None, allow_edited=True)
    (tmp_path / "qsnn_data.h").unlink()
    (tmp_path / "qsnn_data.h").write_bytes(data)
    allowed = open_generated(graph, t, tmp_path, None, allow_edited=True).edited
    assert "missing qsnn_model.h" in allowed


def test_a_fifo_or_a_deep_manifest_is_one_line(tmp_path: Path, graph):
    generate(graph, "c", tmp_path)
    (tmp_path / MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(QsnnError, match="unreadable target manifest"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST).unlink()
    os.mkfifo(tmp_path / MANIFEST)
    with pytest.raises(QsnnError, match="not a regular file"):
        read_manifest(tmp_path)


def test_a_codegen_option_cannot_differ_from_the_folders(tmp_path: Path, graph):
    generate(graph, "hls", tmp_path, options=TargetOptions(extra={"clock_mhz": "150"}))
    t = get_target("hls")
    with pytest.raises(QsnnError, match=r"--option clock_mhz differs .* \(clock_mhz=150\)"):
        open_generated(graph, t, tmp_path, TargetOptions(extra={"clock_mhz": "300"}))
    opened = open_generated(graph, t, tmp_path, TargetOptions(extra={"clock_mhz": "150", "cxx": "clang++"}))
    assert opened.model.options.extra == {"clock_mhz": "150", "cxx": "clang++"} and opened.edited == ()


@pytest.mark.parametrize(
    ("target", "extra"),
    [("c", {}), ("hls", {"part": "xc7z020clg400-1"}), ("verilog", {"lanes": "4", "fold": "1"}), ("onnx", {})],
)
def test_an_untouched_folder_matches_a_fresh_render_on_every_target(tmp_path: Path, graph, target, extra):
    pytest.importorskip("onnx") if target == "onnx" else None
    generate(graph, target, tmp_path, options=TargetOptions(extra=extra))
    opened = open_generated(graph, get_target(target), tmp_path, None)
    assert opened.edited == () and dict(opened.model.options.extra) == extra
    victim = sorted(p for p in tmp_path.iterdir() if p.name != MANIFEST)[0]
    victim.write_bytes(victim.read_bytes() + b"\n")
    with pytest.raises(EditedFolderError, match=f"edited {victim.name}"):
        open_generated(graph, get_target(target), tmp_path, None)


def test_verify_from_an_edited_folder_stops_before_building(tmp_path: Path, graph):
    """No build folder is made and no tool runs: the library call raises before the executor."""
    generate(graph, "c", tmp_path / "gen")
    _inject_fault(tmp_path / "gen")
    with pytest.raises(EditedFolderError):
        verify(graph, random_inputs(graph, 2), target="c", from_dir=tmp_path / "gen", workdir=tmp_path / "w")
    assert not (tmp_path / "w" / "harness").exists()
    assert not isinstance(EditedFolderError("x"), VerificationError)  # exit 2, not "disagrees" (1)
