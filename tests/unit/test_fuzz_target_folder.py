"""Fuzzing ``verify --from DIR``'s folder check: whatever a generated folder holds, ``open_generated`` (what
``verify --from`` runs before it builds anything) accepts the folder or raises a ``QsnnError`` subclass, never
anything else, and it accepts only the untouched folder or one whose edits change nothing codegen writes.

The seeds are folders ``codegen`` wrote for every target from a tiny IR. Each case copies one and then mostly
edits its ``qsnn-target.json``: a value anywhere replaced (wrong types, huge and non-finite numbers, long and
odd strings, nested containers), keys deleted or added (programs, kernels, build settings among them), nesting
thousands deep, a file of megabytes, invalid UTF-8, byte flips, truncation, or the manifest replaced by a folder
or a FIFO, or removed; or it edits the generated files (a byte changed, a file deleted, an extra file or folder,
a link, a FIFO). Cases run as tests/fuzz_cases.py describes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.targets import MANIFEST, generate, get_target, target_names
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.folder import open_generated
from tests.fuzz_cases import SLOW_CASES, Rng, case_rng, json_slots, mutate_bytes, outcome, pick, tally

FAST_CASES = 30
JSON_VALUES = [
    None, True, False, 0, -1, 2**63, 10**400, 1e308, 0.5, "", "c", "hls", "verilog", "onnx", "nir", "qsnn",
    "qsnn-target", "x" * 10_000, "\u2028", "\x00", "../../etc", "0" * 64, [], [1], {}, {"cc": "/bin/sh"},
    {"dense": "1"}, {"arch": "serial"}, {"dt": "1e400"}, {"part": 3}, [[[[]]]],
]  # fmt: skip
EXTRA_KEYS = [
    "cc",
    "cxx",
    "dense",
    "sanitize",
    "jobs",
    "threads",
    "arch",
    "lanes",
    "fold",
    "part",
    "dt",
    "zz",
]


def edit_json(rng: Rng, text: bytes) -> bytes:
    manifest = json.loads(text)
    for _ in range(int(rng.integers(1, 4))):
        slots = json_slots(manifest, []) if isinstance(manifest, (dict, list)) else []
        if not slots:
            manifest = pick(rng, JSON_VALUES)
            break
        node, key = pick(rng, slots)
        action = int(rng.integers(4))
        if action == 0 and isinstance(node, dict):
            del node[key]
        elif action == 1 and isinstance(node, dict):
            node[pick(rng, EXTRA_KEYS)] = pick(rng, JSON_VALUES)
        else:
            node[key] = pick(rng, JSON_VALUES)
    return json.dumps(manifest).encode()  # 10**400 is an integer literal of 401 digits


def deep_nesting(rng: Rng, text: bytes) -> bytes:
    depth = int(rng.integers(100, 40_000))
    opener, closer = pick(rng, [("[", "]"), ('{"a":', "}")])
    return (opener * depth + "1" + closer * depth).encode()


def huge_file(rng: Rng, text: bytes) -> bytes:
    return text[:-2] + b' , "pad": "' + b"x" * int(rng.integers(60_000, 3_000_000)) + b'"}'


def not_utf8(rng: Rng, text: bytes) -> bytes:
    at = int(rng.integers(len(text)))
    return text[:at] + pick(rng, [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xfe\xff"]) + text[at:]


MANIFEST_EDITS = [edit_json, edit_json, edit_json, deep_nesting, huge_file, not_utf8, mutate_bytes]


def _edit_manifest(rng: Rng, folder: Path) -> None:
    path = folder / MANIFEST
    action = rng.random()
    if action < 0.03:
        path.unlink()
        return
    if action < 0.06:
        path.unlink()
        path.mkdir()
        return
    if action < 0.08:  # a FIFO must not block the check (nothing ever writes to it)
        path.unlink()
        os.mkfifo(path)
        return
    text = path.read_bytes()
    for _ in range(int(rng.integers(1, 3))):
        try:
            text = pick(rng, MANIFEST_EDITS)(rng, text)
        except (ValueError, TypeError, RecursionError):  # the scaffolding: no JSON left to edit
            break
    path.write_bytes(text)


def _edit_files(rng: Rng, folder: Path, source: Path) -> bool:
    """One generated file changed; True when the change leaves every byte as codegen writes it."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    victim = pick(rng, files)
    action = int(rng.integers(7))
    if action == 0:
        victim.write_bytes(mutate_bytes(rng, victim.read_bytes(), rounds=1))
    elif action == 1:
        victim.unlink()
    elif action == 2:
        (folder / pick(rng, ["extra.c", "sub/extra.h", ".hidden", "qsnn-target.json.bak"])).parent.mkdir(
            exist_ok=True
        )
        (folder / pick(rng, ["extra.c", ".hidden", "qsnn-target.json.bak"])).write_bytes(b"int x;\n")
    elif action == 3:
        victim.unlink()
        victim.symlink_to(pick(rng, ["/etc/passwd", "/dev/zero", str(folder / MANIFEST), "missing"]))
    elif action == 4:
        victim.unlink()
        victim.mkdir()
    elif action == 5:
        victim.unlink()
        os.mkfifo(victim)
    else:
        os.utime(victim, (0, 0))  # only the time: still the same file, so it must pass
        return True
    return action == 0 and victim.read_bytes() == (source / victim.relative_to(folder)).read_bytes()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """(graph, target name, folder) for every target: what codegen writes from a tiny IR."""
    root = tmp_path_factory.mktemp("generated")
    graph = random_graph("tiny", 3, bits=4, num_steps=3)
    out = []
    for name in target_names():
        folder = root / name
        generate(graph, name, folder)
        out.append((graph, name, folder))
    return out


def _run_cases(seeds, tmp_path: Path, cases: int, seed: int) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for case in range(cases):
        rng = case_rng(seed, case)
        graph, name, source = seeds[case % len(seeds)]
        folder = tmp_path / "from"
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(source, folder, symlinks=True)
        edited = rng.random() < 0.8
        same_files = True
        if edited:
            _edit_manifest(rng, folder)
        else:
            same_files = _edit_files(rng, folder, source)
        what = f"folder case {case} (seed {seed}, target {name}, {'manifest' if edited else 'files'} edited)"
        target = get_target(name)
        options = pick(rng, [None, None, TargetOptions(), TargetOptions(extra={"threads": "2"})])

        def check(g=graph, t=target, f=folder, o=options) -> None:
            open_generated(g, t, f, o)

        result = outcome(check, what)
        # an edited, missing or extra file is never accepted: the fresh render must differ from it
        assert same_files or result != "ok", f"{what}: an edited folder passed the check"
        tally(outcomes, f"{name}:{result}")
    return outcomes


def test_the_untouched_folders_pass(seeds):
    for graph, name, folder in seeds:
        assert open_generated(graph, get_target(name), folder, None).edited == ()


def test_fuzzed_folders_pass_or_raise_typed_errors(seeds, tmp_path):
    outcomes = _run_cases(seeds, tmp_path, FAST_CASES, seed=23)
    assert sum(outcomes.values()) == FAST_CASES
    assert any(not k.endswith(":ok") for k in outcomes), outcomes


@pytest.mark.slow
def test_fuzzed_folders_many_cases(seeds, tmp_path):
    outcomes = _run_cases(seeds, tmp_path, SLOW_CASES, seed=2026)
    print(f"{SLOW_CASES} fuzzed --from folders: {dict(sorted(outcomes.items()))}")
    assert sum(outcomes.values()) == SLOW_CASES >= 1000
