"""Fuzzing ``import`` with mutated NIR files: whatever a ``.nir`` holds, ``import_nir`` (what ``qsnn-deploy
import`` calls) builds an IR or raises a ``QsnnError`` subclass, never anything else.

The seeds are the graphs the libraries themselves wrote (tests/fixtures/nir/<lib>/*.nir: snnTorch, Norse, Spyx,
Rockpool, Sinabs). Each case edits one copy with h5py, one to three times: a parameter replaced by an extreme,
NaN, infinite, negative, empty, scalar, reshaped or otherwise typed array; a node's type renamed; a dataset
deleted; edges dropped, added, reversed or pointed at nowhere; the graph's metadata (num_steps, dt,
input_scale, encoding, producer) set to hostile values; HDF5 attributes added; and, at the byte level, flips,
truncations and lying words. Cases run as tests/fuzz_cases.py describes (seeded, ``-m slow`` for the many).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.interop.nir_import import MAX_PRODUCER_CHARS, import_nir
from tests.fuzz_cases import SLOW_CASES, Rng, case_rng, mutate_bytes, outcome, pick, tally, write_tiny_mnist

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nir"
# The small MLPs first: the normal suite's few cases take them; the CNN costs ~0.7 s a case.
SEEDS = sorted(p for p in FIXTURES.glob("*/*.nir") if "nmnist" not in p.name) + sorted(
    FIXTURES.glob("sinabs/*.nir")
)
FAST_CASES = 24
NODE_TYPES = [b"Affine", b"Linear", b"Conv2d", b"LIF", b"IF", b"CubaLIF", b"LI", b"Input", b"Output",
              b"Flatten", b"SumPool2d", b"AvgPool2d", b"Scale", b"Delay", b"NIRGraph", b"Threshold", b"", b"\xff"]  # fmt: skip


def _hostile_array(rng: Rng, original: np.ndarray) -> np.ndarray:
    shape = original.shape
    choices = [
        lambda: np.full(shape, np.nan, np.float32),
        lambda: np.full(shape, np.inf, np.float64),
        lambda: np.full(shape, -np.inf, np.float32),
        lambda: np.full(shape, 1e300, np.float64),
        lambda: np.full(shape, 1e-300, np.float64),
        lambda: np.full(shape, -1.0, np.float32),
        lambda: np.zeros(shape, np.float32),
        lambda: np.full(shape, 2**62, np.int64),
        lambda: np.full(shape, -(2**62), np.int64),
        lambda: np.full(shape, np.iinfo(np.uint64).max, np.uint64),
        lambda: np.ones(shape, bool),
        lambda: original.astype(np.int8),
        lambda: original.astype(np.float16),
        lambda: np.zeros((0,), np.float32),
        lambda: np.float32(rng.normal()),
        lambda: np.int64(pick(rng, [0, -1, 3, 2**40])),
        lambda: original.reshape(-1),
        lambda: np.concatenate([original.reshape(-1), original.reshape(-1)])[: max(1, original.size + 1)],
        lambda: np.zeros((*shape, 2), np.float32),
        lambda: np.zeros((1,) * 5, np.float32),
        lambda: rng.normal(0, 1e6, shape).astype(np.float32),
        lambda: np.asarray(pick(rng, [[0, 0], [-1, -1], [1000, 1000], [1, 2], [2**31, 2**31]]), np.int64),
        lambda: np.asarray([1, 4096, 4096], np.int64),
    ]
    return pick(rng, choices)()


def _datasets(f: h5py.File) -> list[str]:
    found: list[str] = []
    f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
    return found


def _nodes(f: h5py.File) -> list[str]:
    return [f"node/nodes/{n}" for n in f["node/nodes"]] if "node/nodes" in f else []


def _replace(f: h5py.File, name: str, value) -> None:
    del f[name]
    f[name] = value


def edit_value(rng: Rng, f: h5py.File) -> None:
    names = [n for n in _datasets(f) if f[n].dtype.kind in "iufb"]
    if names:
        name = pick(rng, names)
        _replace(f, name, _hostile_array(rng, np.asarray(f[name][()])))


def edit_type(rng: Rng, f: h5py.File) -> None:
    nodes = _nodes(f)
    if nodes:
        _replace(f, pick(rng, nodes) + "/type", pick(rng, NODE_TYPES))


def delete_entry(rng: Rng, f: h5py.File) -> None:
    names = _datasets(f) + _nodes(f)
    if names:
        name = pick(rng, names)
        if name in f:
            del f[name]


def edit_edges(rng: Rng, f: h5py.File) -> None:
    if "node/edges" not in f:
        return
    edges = [list(e) for e in f["node/edges"][()]]
    names = [n.rsplit("/", 1)[1].encode() for n in _nodes(f)] + [b"ghost", b""]
    action = int(rng.integers(5))
    if action == 0 and edges:
        edges.pop(int(rng.integers(len(edges))))
    elif action == 1:
        edges.append([pick(rng, names), pick(rng, names)])
    elif action == 2 and edges:
        i = int(rng.integers(len(edges)))
        edges[i] = edges[i][::-1]
    elif action == 3 and edges:
        edges[int(rng.integers(len(edges)))][1] = edges[0][0]  # a cycle back to the input, or a branch
    else:
        edges = []
    value = np.asarray(edges, dtype=h5py.string_dtype()) if edges else np.zeros((0, 2), dtype="S1")
    _replace(f, "node/edges", value)


METADATA_VALUES = [
    np.float64(np.nan), np.float64(np.inf), np.float64(-1.0), np.float64(0.0), np.float64(1e308),
    np.int64(0), np.int64(-5), np.int64(2**62), np.float64(2e6), np.float64(1e9), np.float64(4.5), np.int64(4),
    np.float64(1e-300), b"abc", b"", b"\xff\xfe", np.asarray([1, 2, 3]), np.asarray([[4.0]]), np.bool_(True),
    b"static", b"stream", b"qsnn-deploy", "x" * 1000,
]  # fmt: skip


def edit_metadata(rng: Rng, f: h5py.File) -> None:
    group = f.require_group("node/metadata")
    for _ in range(int(rng.integers(1, 4))):
        key = pick(rng, ["num_steps", "dt", "input_scale", "encoding", "producer", "reset", "x"])
        if key in group:
            del group[key]
        group[key] = pick(rng, METADATA_VALUES)
    nodes = _nodes(f)
    if nodes and rng.integers(2):  # a node's own metadata: nir_import reads its 'reset'
        meta = f.require_group(pick(rng, nodes) + "/metadata")
        if "reset" in meta:
            del meta["reset"]
        meta["reset"] = pick(rng, [b"subtract", b"zero", b"none", np.float64(np.nan), np.asarray([1, 2])])


def edit_attrs(rng: Rng, f: h5py.File) -> None:
    names = _datasets(f) + _nodes(f) + ["node"]
    target = f[pick(rng, names)]
    target.attrs[pick(rng, ["type", "shape", "x"])] = pick(rng, [b"LIF", np.nan, np.arange(3), "\u2028"])


H5_MUTATIONS = [
    edit_value,
    edit_value,
    edit_value,
    edit_type,
    delete_entry,
    edit_edges,
    edit_metadata,
    edit_attrs,
]


def _mutated_file(rng: Rng, seed: Path, path: Path) -> None:
    shutil.copyfile(seed, path)
    if rng.random() < 0.15:  # the bytes themselves: HDF5's own parser sees the damage
        path.write_bytes(mutate_bytes(rng, path.read_bytes()))
        return
    with h5py.File(path, "r+") as f:
        for _ in range(int(rng.integers(1, 4))):
            try:
                pick(rng, H5_MUTATIONS)(rng, f)
            except (KeyError, ValueError, TypeError):  # the scaffolding: an earlier edit left nothing to edit
                break


def _run_cases(tmp_path: Path, cases: int, seed: int) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    data = write_tiny_mnist(tmp_path / "data")
    for case in range(cases):
        rng = case_rng(seed, case)
        source = SEEDS[case % len(SEEDS)]
        path = tmp_path / f"case{case % 4}.nir"
        _mutated_file(rng, source, path)
        # num_steps given, or left to the (maybe mutated) metadata; the convention detected or forced
        options = {
            "num_steps": pick(rng, [4, 4, 4, None]),
            "convention": pick(rng, [None] * 5 + ["nir", "snntorch", "sinabs", "spyx", "rockpool", "norse"]),
            "bits": pick(rng, [4, 8, 2]),
        }
        if rng.random() < 0.2:  # checked on real-looking samples: the dataset's frames, labels and accuracy
            options.update(dataset="mnist", limit=pick(rng, [1, 6]), data_dir=data)
        what = f"NIR case {case} (seed {seed}, from {source.parent.name}/{source.name}, {options})"
        tally(outcomes, outcome(lambda p=path, o=options: import_nir(p, **o), what))
    return outcomes


def test_fuzzed_nir_files_import_or_raise_typed_errors(tmp_path):
    outcomes = _run_cases(tmp_path, FAST_CASES, seed=23)
    assert sum(outcomes.values()) == FAST_CASES
    assert outcomes.get("ok", 0) > 0 and len(outcomes) > 1, outcomes  # both sides reached


@pytest.mark.slow
def test_fuzzed_nir_files_many_cases(tmp_path):
    outcomes = _run_cases(tmp_path, SLOW_CASES, seed=2026)
    print(f"{SLOW_CASES} fuzzed NIR files: {outcomes}")
    assert sum(outcomes.values()) == SLOW_CASES >= 1000
    assert outcomes.get("ok", 0) > 0 and outcomes.get("UnsupportedLayerError", 0) > 0, outcomes


def test_a_huge_producer_string_is_cut_at_import(tmp_path):
    """A 20 MB ``producer`` would make an IR whose manifest passes its 16 MiB limit (unreadable by the tool
    that wrote it): import keeps the first MAX_PRODUCER_CHARS characters and says so."""
    path = tmp_path / "producer.nir"
    shutil.copyfile(FIXTURES / "snntorch" / "snntorch_mlp.nir", path)
    # the file as snnTorch wrote it: its producer is kept whole and no note is given
    plain = import_nir(path, num_steps=4)
    assert not any("producer" in note for note in plain.notes), plain.notes
    assert "[cut]" not in str(plain.graph.metadata["nir_import"]["producer"])
    with h5py.File(path, "r+") as f:
        f["node/metadata/producer"] = "p" * 20_000_000
    result = import_nir(path, num_steps=4)
    producer = result.graph.metadata["nir_import"]["producer"]
    assert producer.startswith("p" * 100) and len(producer) <= MAX_PRODUCER_CHARS + 40
    assert any("producer" in note for note in result.notes), result.notes

    from qsnn_deploy.ir.io import load_graph, save_graph

    again = load_graph(save_graph(result.graph, tmp_path / "m.qsnn"))
    assert again.metadata["nir_import"]["producer"] == producer


# --- regressions: what the fuzzer found, each once, by name (the error each raised before is in the name) -----

SNNTORCH = FIXTURES / "snntorch" / "snntorch_mlp.nir"
SINABS = FIXTURES / "sinabs" / "nmnist_cnn.nir"


def _damage_object_header(path: Path) -> None:
    with h5py.File(path, "r") as f:
        address = h5py.h5o.get_info(f["node/nodes/1"].id).addr
    data = bytearray(path.read_bytes())
    data[address] = 7  # the object header's version byte
    path.write_bytes(bytes(data))


def _h5(edit):
    def apply(path: Path) -> None:
        with h5py.File(path, "r+") as f:
            edit(f)

    return apply


REGRESSIONS = {
    "a damaged object header (KeyError from h5py)": (SNNTORCH, _damage_object_header, "damaged NIR"),
    "an edge to a node that is not there (KeyError)": (
        SNNTORCH,
        _h5(lambda f: _replace(f, "node/edges", np.asarray([[b"input", b"0"], [b"0", b"ghost"]], dtype="S8"))),
        "not a node",
    ),
    "an input shape of NaN (ValueError)": (
        SNNTORCH, _h5(lambda f: _replace(f, "node/nodes/input/shape", np.asarray([np.nan]))), "whole numbers"
    ),
    "an input shape of inf (OverflowError)": (
        SNNTORCH, _h5(lambda f: _replace(f, "node/nodes/input/shape", np.asarray([np.inf]))), "whole numbers"
    ),
    "conv groups as an array (TypeError)": (
        SINABS, _h5(lambda f: _replace(f, "node/nodes/0/groups", np.asarray([1, 1]))), "grouped"
    ),
    "a conv stride of 1e300 (OverflowError)": (
        SINABS, _h5(lambda f: _replace(f, "node/nodes/0/stride", np.asarray([1e300, 1e300]))), "whole numbers"
    ),
    "a NaN bias (PassDriftError)": (
        SNNTORCH, _h5(lambda f: _replace(f, "node/nodes/0/bias", np.full(64, np.nan, np.float32))), "NaN"
    ),
    "the encoding metadata as an array (ValueError)": (
        SNNTORCH, _h5(lambda f: f.__setitem__("node/metadata/encoding", np.asarray([1, 2, 3]))), "not one value"
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", REGRESSIONS)
def test_what_the_fuzzer_found_is_one_typed_line(tmp_path, name):
    seed, damage, words = REGRESSIONS[name]
    path = tmp_path / "found.nir"
    shutil.copyfile(seed, path)
    damage(path)
    with pytest.raises(QsnnError, match=words):
        import_nir(path, num_steps=4)
