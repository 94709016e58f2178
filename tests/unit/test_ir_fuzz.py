"""Fuzzing the IR loader with mutated files: whatever a stranger's ``.qsnn`` holds, ``load_graph`` returns a
graph or raises a ``QsnnError`` subclass (one line on the command line), never anything else, and a graph that
loads saves and loads again unchanged.

Mutations of three seed files (the committed v1 fixtures, static and stream, and a synthetic graph): byte flips, truncations,
manifest edits (any value replaced, keys deleted or added), tensor edits (dtype, shape, extreme values, pickles,
garbage), and zip-level tricks (duplicate members, bzip2/lzma members, odd names, directory entries, the
encryption flag). The normal suite runs ``FAST_CASES``; ``-m slow`` runs ``SLOW_CASES`` (set
``QSNN_FUZZ_CASES`` to change it).
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.ir.io import load_graph, save_graph
from qsnn_deploy.ir.synthetic import random_graph
from tests.fuzz_cases import json_slots

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ir" / "v1"
FAST_CASES = 300
SLOW_CASES = int(os.environ.get("QSNN_FUZZ_CASES", "5000"))

Members = list[tuple[zipfile.ZipInfo | str, bytes]]

JSON_VALUES = [
    None, True, False, 0, 1, -1, 2, 255, 2**31 - 1, 2**31, 2**63, -(2**63) - 1, 10**12, 10**400, 0.5, -0.0,
    1e308, "", "int32", "uint99", "subtract", "static", "x */ #", "\u2028", "\x00", [], [1, 2, 3], [1, 16, 16],
    {}, {"tensor": "conv1.weight"}, {"tensor": "../../etc/passwd"}, {"tensor": 3}, [[[[]]]],
]  # fmt: skip


def _members(data: bytes) -> Members:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(info, zf.read(info)) for info in zf.infolist()]


def _zip(members: Members, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names some cases write on purpose
        for info, data in members:
            name = info.filename if isinstance(info, zipfile.ZipInfo) else info
            zf.writestr(name, data)
    return buf.getvalue()


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


# --- mutations: each takes (rng, file bytes) and returns new file bytes ----------------------------------------


def flip_bytes(rng: np.random.Generator, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        buf[int(rng.integers(len(buf)))] = int(rng.integers(256))
    return bytes(buf)


def truncate(rng: np.random.Generator, data: bytes) -> bytes:
    return data[: int(rng.integers(len(data)))]


def edit_manifest(rng: np.random.Generator, data: bytes) -> bytes:
    members = _members(data)
    index = next(i for i, (info, _) in enumerate(members) if info.filename == "manifest.json")
    manifest = json.loads(members[index][1])
    for _ in range(int(rng.integers(1, 4))):
        slots = json_slots(manifest, [])
        node, key = slots[int(rng.integers(len(slots)))]
        action = int(rng.integers(4))
        if action == 0 and isinstance(node, dict):
            del node[key]
        elif action == 1 and isinstance(node, dict):
            node[f"unknown{int(rng.integers(100))}"] = JSON_VALUES[int(rng.integers(len(JSON_VALUES)))]
        else:
            node[key] = JSON_VALUES[int(rng.integers(len(JSON_VALUES)))]
    text = json.dumps(manifest)  # 10**400 is written as an integer literal, 1e308 stays finite
    members[index] = ("manifest.json", text.encode())
    return _zip(members)


def _tensor_payloads(rng: np.random.Generator, original: np.ndarray) -> list[bytes]:
    huge = np.iinfo(np.int64)
    obj = np.empty(1, dtype=object)
    obj[0] = {"pickled": True}
    return [
        _npy(original.astype(np.float32)),
        _npy(original.astype(np.int64) * 1000),
        _npy(original.astype(">i4")),
        _npy(np.asfortranarray(original.astype(np.int16))),
        _npy(original.reshape(-1)),
        _npy(original[..., :0]),
        _npy(np.int8(3)),
        _npy(np.full(original.shape, huge.max, np.int64)),
        _npy(np.full(original.shape, huge.min, np.int64)),
        _npy(rng.integers(-128, 128, original.shape).astype(np.int8)),
        _npy(np.zeros((2, 3, 4, 5, 6), np.int8)),
        _npy(obj, allow_pickle=True),
        _npy(original)[: int(rng.integers(1, 128))],
        b"\x93NUMPY\x01\x00" + bytes(rng.integers(0, 256, 64, dtype=np.uint8)),
        b"",
    ]


def edit_tensor(rng: np.random.Generator, data: bytes) -> bytes:
    members = _members(data)
    tensors = [i for i, (info, _) in enumerate(members) if info.filename.startswith("tensors/")]
    index = tensors[int(rng.integers(len(tensors)))]
    original = np.load(io.BytesIO(members[index][1]), allow_pickle=False)
    payloads = _tensor_payloads(rng, original)
    members[index] = (members[index][0].filename, payloads[int(rng.integers(len(payloads)))])
    return _zip(members)


ZIP_TRICKS = 7


def zip_tricks(rng: np.random.Generator, data: bytes) -> bytes:
    return zip_trick(int(rng.integers(ZIP_TRICKS)), rng, data)


def zip_trick(trick: int, rng: np.random.Generator, data: bytes) -> bytes:
    members = _members(data)
    names = [info.filename for info, _ in members]
    if trick == 0:  # a second member of the same name, with other content
        name = names[int(rng.integers(len(names)))]
        members.append(
            (name, b'{"format": "qsnn-ir"}' if name == "manifest.json" else _npy(np.zeros(3, np.int8)))
        )
        return _zip(members)
    if trick == 1:
        return _zip(members, zipfile.ZIP_BZIP2)
    if trick == 2:
        return _zip(members, zipfile.ZIP_LZMA)
    if trick == 3:  # odd member names beside the real ones
        odd = ["../escape.npy", "/abs/path.npy", "tensors/", "tensors/../manifest.json", "x" * 300, "dir/"]
        members.append((odd[int(rng.integers(len(odd)))], b"odd"))
        return _zip(members)
    if trick == 4:  # the manifest replaced by a directory entry
        members = [(n if n.filename != "manifest.json" else "manifest.json/", d) for n, d in members]
        return _zip(members)
    if trick == 5:  # the encryption flag set on every member (zipfile's writer clears it: patch the headers)
        buf = bytearray(_zip(members))
        for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = buf.find(signature)
            while at >= 0:
                buf[at + offset] |= 0x1
                at = buf.find(signature, at + 4)
        return bytes(buf)
    members.reverse()  # member order carries no meaning: this one must load
    return _zip(members)


MUTATIONS: list[Callable[[np.random.Generator, bytes], bytes]] = [
    flip_bytes,
    truncate,
    edit_manifest,
    edit_tensor,
    zip_tricks,
]


def _seeds(tmp_path: Path) -> list[bytes]:
    synthetic = save_graph(random_graph("tiny", seed=7, bits=4, num_steps=3), tmp_path / "synthetic.qsnn")
    return [
        (FIXTURES / "tiny.qsnn").read_bytes(),
        (FIXTURES / "tiny-stream.qsnn").read_bytes(),
        synthetic.read_bytes(),
    ]


def _run_cases(tmp_path: Path, cases: int, seed: int) -> dict[str, int]:
    """Run ``cases`` mutated files; returns how many loaded and how many were refused, per error type."""
    rng = np.random.default_rng(seed)
    seeds = _seeds(tmp_path)
    outcomes: dict[str, int] = {}
    for case in range(cases):
        data = seeds[case % len(seeds)]
        for _ in range(int(rng.integers(1, 3))):
            mutation = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
            try:
                data = mutation(rng, data)
            except Exception:  # noqa: BLE001 - the scaffolding, not the loader under test
                break  # an earlier mutation left nothing this one can parse: load what there is
        path = tmp_path / "fuzz.qsnn"
        path.write_bytes(data)
        try:
            graph = load_graph(path)
        except QsnnError as exc:
            assert "\n" not in str(exc), f"case {case}: a multi-line error: {exc!r}"
            outcome = type(exc).__name__
        else:
            again = load_graph(save_graph(graph, tmp_path / "again.qsnn"))
            assert again.same_as(graph), f"case {case}: a loaded graph does not round-trip"
            outcome = "loaded"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def test_fuzzed_files_load_or_raise_typed_errors(tmp_path):
    outcomes = _run_cases(tmp_path, FAST_CASES, seed=12)
    assert sum(outcomes.values()) == FAST_CASES
    # The mutations must reach both sides, or the test proves little.
    assert outcomes.get("loaded", 0) > 0 and outcomes.get("IRFormatError", 0) > 0, outcomes


@pytest.mark.slow
def test_fuzzed_files_many_cases(tmp_path):
    outcomes = _run_cases(tmp_path, SLOW_CASES, seed=2026)
    print(f"{SLOW_CASES} fuzzed IR files: {outcomes}")
    assert sum(outcomes.values()) == SLOW_CASES >= 1000
    assert outcomes.get("IRValidationError", 0) > 0 and outcomes.get("loaded", 0) > 0, outcomes


def test_every_zip_trick_is_refused_or_harmless(tmp_path):
    """Each zip trick on its own: duplicates, other compressions, directory entries and encryption are
    refused; odd extra names and another member order are ignored."""
    data = _seeds(tmp_path)[1]
    results = {}
    for trick in range(ZIP_TRICKS):
        path = tmp_path / f"trick{trick}.qsnn"
        path.write_bytes(zip_trick(trick, np.random.default_rng(trick), data))
        try:
            load_graph(path)
            results[trick] = "loaded"
        except QsnnError as exc:
            results[trick] = type(exc).__name__
    assert results == {
        0: "IRFormatError",
        1: "IRFormatError",
        2: "IRFormatError",
        3: "loaded",
        4: "IRFormatError",
        5: "IRFormatError",
        6: "loaded",
    }
