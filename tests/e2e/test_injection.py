"""A .qsnn from a stranger cannot put code into what codegen writes (issue 12, docs/trust-model.md).

Each payload family of the issue goes into every string-valued place of an IR's metadata (values of the
known keys, an unknown key's value, a key's name). ``qsnn-deploy codegen`` must then write the same files as for
a harmless value, but for the source label (``source_label`` of the metadata: the payload's ``safe_label``, a
hash, where the payload is the source), which every file states as it is; the C must still compile with
``-Wall -Wextra -Werror``; and ``verify``, which compiles and runs the generated code, must not run the
injected code (it would create a marker file) and still verify.
"""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path

import pytest

from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.targets import target_names
from qsnn_deploy.targets.text import source_label
from tests.cli_run import run_main
from tests.toolchains import WARNINGS, require_tools

MARK = "qsnn_injected"  # the name of the injected function; never in generated code otherwise


def _evil(marker: Path) -> str:
    """C that runs before main() and leaves ``marker`` behind, if it ever reaches a compiled file."""
    return (
        f"__attribute__((constructor)) static void {MARK}(void) "
        f'{{ extern int system(const char *); system("touch {marker}"); }}'
    )


PAYLOADS = {
    "comment end": lambda e: f"x */ {e} /*",
    "star backslash newline": lambda e: f"x *\\\n/ {e} /*",
    "trigraph": lambda e: f"x *??/\n/ {e} /*",
    "carriage return": lambda e: f"x\r{e}\r// ",
    "preprocessor line": lambda e: f"x */\n#define {MARK} 1\n{e}\n/*",
    "line separators": lambda e: f"x\u2028{e}\u2029",
    "NUL": lambda e: f"x\x00*/ {e} /*",
}

SLOTS = {
    "source": lambda md, p: md.update(source=p),
    "source.checkpoint": lambda md, p: md.update(source={"checkpoint": p, "arch": "auto"}),
    "source.arch": lambda md, p: md.update(source={"checkpoint": "model.pt", "arch": p}),
    "dataset": lambda md, p: md.update(dataset=p),
    "model_config.arch": lambda md, p: md.update(model_config={"arch": p, "bits": 4}),
    "saturation_sites": lambda md, p: md.update(saturation_sites=[p]),
    "lif_layers key": lambda md, p: md.update(lif_layers={p: {"beta": 0.5}}),
    "unknown key value": lambda md, p: md.update(note=p),
    "unknown key name": lambda md, p: md.update({p: "x"}),
}

HARMLESS = "harmless_label"
BASE = random_graph("tiny", 1, state_bits=16)


def _with_metadata(graph: Graph, slot: str, value: str) -> Graph:
    metadata = copy.deepcopy(graph.metadata)
    SLOTS[slot](metadata, value)
    return Graph(graph.input, graph.ops, graph.num_steps, metadata, graph.version)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# How a file states where its model came from: "(qsnn-deploy, from <label>; do not edit)" and its variants.
FROM = re.compile(rb"qsnn-deploy, from ([^;\s]+);")


def _normalised(data: bytes, label: str) -> bytes:
    """The file with its source label and every sha256 (the IR fingerprint changes with the metadata) blanked,
    after checking that every label the file states is ``label``: no other hash stands in for it."""
    assert set(FROM.findall(data)) <= {label.encode()}, (FROM.findall(data), label)
    return re.sub(rb"[0-9a-f]{64}", b"<sha256>", data.replace(label.encode(), b"<label>"))


def _codegen(monkeypatch, capsys, graph: Graph, folder: Path, target: str = "c") -> dict[str, bytes]:
    model = save_graph(graph, folder.with_suffix(".qsnn"))
    code, _, err = run_main(monkeypatch, capsys, "codegen", model, "--target", target, "--out", folder)
    assert code == 0, err
    return _files(folder)


@pytest.mark.parametrize("slot", SLOTS)
@pytest.mark.parametrize("family", PAYLOADS)
def test_codegen_writes_a_payload_only_as_its_label(monkeypatch, capsys, tmp_path, family, slot):
    payload = PAYLOADS[family](_evil(tmp_path / "marker"))
    evil, plain = _with_metadata(BASE, slot, payload), _with_metadata(BASE, slot, HARMLESS)
    written = _codegen(monkeypatch, capsys, evil, tmp_path / "payload")
    harmless = _codegen(monkeypatch, capsys, plain, tmp_path / "harmless")
    assert written.keys() == harmless.keys()
    for name, data in written.items():
        assert MARK.encode() not in data and b"system(" not in data, name
        for piece in ("\r", "\x00", "??/", "\u2028", "\u2029", "\\\n", "*/", "#"):
            # none more than the templates and the runtime hold for a harmless value
            assert data.count(piece.encode()) == harmless[name].count(piece.encode()), (name, piece)
        assert _normalised(data, source_label(evil.metadata)) == _normalised(
            harmless[name], source_label(plain.metadata)
        ), name


def _everywhere(graph: Graph, payload: str, source_slot: str) -> Graph:
    """The payload in every slot at once (``source`` as a string or as a checkpoint)."""
    for slot in SLOTS:
        if not slot.startswith("source") or slot == source_slot:
            graph = _with_metadata(graph, slot, payload)
    return graph


@pytest.mark.parametrize("source_slot", ["source", "source.checkpoint"])
@pytest.mark.parametrize("target", [t for t in target_names() if t != "c"])
@pytest.mark.parametrize("family", PAYLOADS)
def test_every_target_writes_a_payload_only_as_its_label(
    monkeypatch, capsys, tmp_path, family, target, source_slot
):
    payload = PAYLOADS[family](_evil(tmp_path / "marker"))
    evil, plain = _everywhere(BASE, payload, source_slot), _everywhere(BASE, HARMLESS, source_slot)
    written = _codegen(monkeypatch, capsys, evil, tmp_path / "payload", target)
    harmless = _codegen(monkeypatch, capsys, plain, tmp_path / "harmless", target)
    assert written.keys() == harmless.keys() and written
    for name, data in written.items():
        assert MARK.encode() not in data and b"system(" not in data, name
        assert _normalised(data, source_label(evil.metadata)) == _normalised(
            harmless[name], source_label(plain.metadata)
        ), name


@pytest.mark.toolchain
@pytest.mark.parametrize("family", PAYLOADS)
def test_generated_c_with_a_payload_compiles_with_warnings_as_errors(monkeypatch, capsys, tmp_path, family):
    require_tools("gcc")
    payload = PAYLOADS[family](_evil(tmp_path / "marker"))
    graph = _with_metadata(BASE, "source", payload)
    graph = _with_metadata(graph, "dataset", payload)
    _codegen(monkeypatch, capsys, graph, tmp_path / "c")
    for src in ("qsnn_model.c", "qsnn_runtime.c"):
        proc = subprocess.run(
            [
                "gcc",
                *WARNINGS,
                "-trigraphs",
                "-c",
                str(tmp_path / "c" / src),
                "-o",
                str(tmp_path / f"{src}.o"),
            ],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        symbols = subprocess.run(["nm", str(tmp_path / f"{src}.o")], capture_output=True, text=True).stdout
        assert MARK not in symbols


@pytest.mark.toolchain
@pytest.mark.parametrize("family", PAYLOADS)
def test_verify_does_not_run_injected_code(monkeypatch, capsys, tmp_path, data_dir, family):
    """``verify`` compiles and runs the generated harness: with the payload in the rendered source and in
    other keys, it verifies and the injected constructor never ran."""
    require_tools("gcc")
    marker = tmp_path / "marker"
    payload = PAYLOADS[family](_evil(marker))
    graph = random_graph("mnist", 2, state_bits=16, num_steps=4)
    metadata = {"source": {"checkpoint": payload, "arch": "auto"}, "dataset": "mnist", "note": payload}
    model = save_graph(Graph(graph.input, graph.ops, graph.num_steps, metadata), tmp_path / "evil.qsnn")
    monkeypatch.setenv("QSNN_DATA_DIR", str(data_dir))
    code, out, err = run_main(monkeypatch, capsys, "verify", model, "--dataset", "mnist", "--limit", "2")
    assert not marker.exists(), "injected code ran"
    assert code == 0, err
    assert "verified" in out
