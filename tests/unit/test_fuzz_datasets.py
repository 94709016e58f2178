"""Fuzzing the dataset readers: whatever a data folder or an ``--inputs`` file holds, the readers return arrays
or raise a ``QsnnError`` subclass (``DatasetError`` mostly), never anything else.

Five families, each from small valid seeds written here (no download, no ``QSNN_DATA_DIR``):

- **mnist**: the two gzip IDX files of the test split, through ``load_dataset("mnist", ...)``; the bytes
  inside the gzip (a header declaring 2^32 items, a wrong magic, a short body) or the gzip itself mutated.
- **nmnist**: 40-bit ``.bs2`` event files and their ``test100.txt`` list; events mutated in place (a
  truncated file, events off the sensor), the list as text (non-UTF-8, huge ids, missing columns, a folder).
- **nmnist-release**: the official ``nmnist/Test/<digit>/<id>.bin`` layout; samples damaged, renamed (odd ids,
  odd digit folders), removed, or replaced by folders.
- **dvs**: an AEDAT 3.1 recording, its labels CSV and ``trials_to_test.txt``; packet headers that lie about
  sizes and counts, a missing end-of-header, CSV rows with huge or reversed times.
- **npy**: ``--inputs`` and ``--labels`` files for a static and a stream model through
  ``load_user_inputs``; headers with huge or negative shapes, other dtypes, Fortran order, pickles, long headers.

Cases run as tests/fuzz_cases.py describes (seeded; ``-m slow`` runs SLOW_CASES per family).
"""

from __future__ import annotations

import gzip
import io
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.data import load_dataset, write_dvs_gesture_fixture
from qsnn_deploy.data.user_inputs import load_user_inputs
from qsnn_deploy.errors import DatasetError
from qsnn_deploy.ir.synthetic import random_graph
from tests.fuzz_cases import SLOW_CASES, Rng, case_rng, mutate_bytes, outcome, pick, tally, write_tiny_mnist

FAST_CASES = 80  # per family
FAMILIES = ("mnist", "nmnist", "nmnist-release", "dvs", "npy")

TEXT_LINES = [
    "", "#", "1", "1 2 3", "-1 0", "99999999999999999999 1", "1 99", "1 -1", "x y", "1\t5", "\u0661 1",
    "nan,0,1", "1,0,100", "1,100,0", "12,0,1", "0,0,1", "1,-5,5", f"1,0,{2**70}", "1,1,2,3", "class,a,b",
    "1.5,0,10", "  3 , 0 , 10 ", "1,0,1e400", "\x00", "a" * 5000,
]  # fmt: skip


def mutate_text(rng: Rng, data: bytes) -> bytes:
    """A text file's lines dropped, replaced or added, or its bytes mutated (which may leave it not UTF-8)."""
    if rng.random() < 0.25:
        return mutate_bytes(rng, data)
    lines = data.decode("utf-8", "replace").splitlines()
    for _ in range(int(rng.integers(1, 4))):
        action = int(rng.integers(3))
        at = int(rng.integers(len(lines) + 1))
        if action == 0 and lines:
            lines.pop(min(at, len(lines) - 1))
        elif action == 1 and lines:
            lines[min(at, len(lines) - 1)] = pick(rng, TEXT_LINES)
        else:
            lines.insert(at, pick(rng, TEXT_LINES))
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


def _as_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


# --- MNIST (IDX) ---------------------------------------------------------------------------------------------


def _mnist_mutate(rng: Rng, root: Path) -> None:
    path = root / "mnist" / pick(rng, ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
    action = rng.random()
    if action < 0.03:
        _as_folder(path)
    elif action < 0.25:  # the gzip stream itself
        path.write_bytes(mutate_bytes(rng, path.read_bytes()))
    else:  # the IDX bytes inside a valid gzip: the header lies
        path.write_bytes(gzip.compress(mutate_bytes(rng, gzip.decompress(path.read_bytes())), mtime=0))


# --- N-MNIST (.bs2 and the list) -----------------------------------------------------------------------------


def _bs2(rng: Rng, n: int) -> bytes:
    x, y, p = rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n)
    t = np.sort(rng.integers(0, 300_000, n))
    rec = np.stack([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    return rec.astype(np.uint8).tobytes()


def _nmnist_seed(root: Path) -> None:
    rng = np.random.default_rng(1)
    folder = root / "nmnist-small"
    folder.mkdir(parents=True)
    for sample in (1, 2, 3):
        (folder / f"{sample}.bs2").write_bytes(_bs2(rng, 200))
    (folder / "test100.txt").write_text("1 3\n2 7\n3 0\n")


def _nmnist_mutate(rng: Rng, root: Path) -> None:
    folder = root / "nmnist-small"
    name = pick(rng, ["1.bs2", "2.bs2", "test100.txt", "test100.txt"])
    path = folder / name
    if rng.random() < 0.03:
        _as_folder(path)
    elif name.endswith(".txt"):
        path.write_bytes(mutate_text(rng, path.read_bytes()))
    else:
        path.write_bytes(mutate_bytes(rng, path.read_bytes()))


def _release_seed(root: Path) -> None:
    """The official release's layout, ``nmnist/Test/<digit>/<id>.bin`` (read when no list layout exists)."""
    rng = np.random.default_rng(2)
    for sample, digit in ((1, 3), (2, 7), (10, 0)):
        folder = root / "nmnist" / "Test" / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{sample}.bin").write_bytes(_bs2(rng, 150))


def _release_mutate(rng: Rng, root: Path) -> None:
    test = root / "nmnist" / "Test"
    files = sorted(test.rglob("*.bin"))
    action = rng.random()
    if action < 0.5 and files:
        path = pick(rng, files)
        path.write_bytes(mutate_bytes(rng, path.read_bytes()))
    elif action < 0.75 and files:  # a sample under an odd name, or in an odd folder
        odd = pick(
            rng, ["x.bin", "-1.bin", f"{10**30}.bin", ".bin", "1.bin.bin", "\u0661.bin", "99/5.bin", "3/"]
        )
        target = test / pick(rng, ["3", "11", "x", "-1"]) / odd
        target.parent.mkdir(parents=True, exist_ok=True)
        if odd.endswith("/"):
            target.mkdir(exist_ok=True)
            (target / "7.bin").mkdir(exist_ok=True)  # a folder that looks like a sample
        else:
            pick(rng, files).rename(target)
    elif action < 0.9:
        for path in files:
            path.unlink()  # no samples at all, or the digit folders empty
    else:
        (test / pick(rng, ["0", "5"]) / "4.bin").mkdir(parents=True, exist_ok=True)


# --- DVS128 Gesture (AEDAT 3.1, labels CSV, trial list) -------------------------------------------------------


def _dvs_seed(root: Path) -> None:
    write_dvs_gesture_fixture(
        root, train_users=(), test_users=(24,), gestures_per_trial=2, events_per_gesture=60
    )


def _aedat_mutate(rng: Rng, data: bytes) -> bytes:
    """A packet header's fields (type, size, timestamp offset, overflow, capacity, count) set to extremes."""
    start = data.find(b"#!END-HEADER")
    start = data.find(b"\n", start) + 1 if start >= 0 else 0
    if rng.random() < 0.4 or start <= 0 or start + 28 > len(data):
        return mutate_bytes(rng, data)
    at = start + 28 * int(rng.integers(4)) if rng.random() < 0.5 else start
    field = int(rng.integers(8))
    fmt, offset = ("<h", 2 * field) if field < 2 else ("<i", 4 + 4 * (field - 2))
    value = pick(
        rng,
        [0, -1, 1, 2, 8, 2**15 - 1, -(2**15)] if fmt == "<h" else [0, -1, 1, 8, 2**31 - 1, -(2**31), 2**28],
    )
    if at + offset + struct.calcsize(fmt) > len(data):
        return data
    return data[: at + offset] + struct.pack(fmt, value) + data[at + offset + struct.calcsize(fmt) :]


def _cache_mutate(rng: Rng, path: Path) -> None:
    """A cached result (``<root>/cache/dvs-*.npz``, keyed by the recordings' names, sizes and times) damaged, or
    replaced by arrays of another shape, type or label range: the cache lies in a folder a stranger hands you."""
    if rng.random() < 0.5:
        path.write_bytes(mutate_bytes(rng, path.read_bytes()))
        return
    with np.load(path) as z:
        inputs, labels = z["inputs"], z["labels"]
    inputs, labels = pick(
        rng,
        [
            (inputs.astype(np.float32), labels),
            (inputs[:, :1], labels),
            (inputs[:0], labels[:0]),
            (inputs, labels + 100),
            (inputs, -labels - 1),
            (inputs, labels.astype(np.uint8)),
            (inputs, np.zeros(len(labels) + 1, np.int64)),
            (inputs.reshape(len(inputs), -1), labels),
        ],
    )
    buffer = io.BytesIO()
    np.savez(buffer, inputs=inputs, labels=labels)
    path.write_bytes(buffer.getvalue())


def _dvs_mutate(rng: Rng, root: Path) -> None:
    caches = sorted((root / "cache").glob("*.npz"))
    if caches and rng.random() < 0.2:
        _cache_mutate(rng, pick(rng, caches))
        return
    folder = root / "DvsGesture"
    name = pick(
        rng, ["user24_fluorescent.aedat"] * 3 + ["user24_fluorescent_labels.csv"] * 2 + ["trials_to_test.txt"]
    )
    path = folder / name
    if rng.random() < 0.03:
        _as_folder(path)
    elif name.endswith(".aedat"):
        path.write_bytes(_aedat_mutate(rng, path.read_bytes()))
    else:
        path.write_bytes(mutate_text(rng, path.read_bytes()))


# --- user inputs (.npy) ----------------------------------------------------------------------------------------


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _npy_with_header(rng: Rng, header: dict, data_bytes: int, version: tuple[int, int] = (1, 0)) -> bytes:
    text = repr(header).encode("latin1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    length = struct.pack("<H" if version == (1, 0) else "<I", len(text))
    return (
        b"\x93NUMPY"
        + bytes(version)
        + length
        + text
        + bytes(rng.integers(0, 256, data_bytes, dtype=np.uint8))
    )


SHAPES = [(2, 1, 16, 16), (2, 3, 2, 16, 16), (0, 1, 16, 16), (2, 256), (2, 1, 1, 256), (-1, 1, 16, 16), (2**40, 1, 16, 16),
          (2, 1, 2**31, 2**31), (2, 2**20, 2, 16, 16), (), (5,), (2, 1, 16, 16, 1, 1), (3, 0, 2, 16, 16)]  # fmt: skip
DESCRS = ["|u1", "<i8", "<f4", "|b1", ">u2", "|O", "|V3", "<U2", "u1", "int8", "|S1", "<c8"]


def _npy_case(rng: Rng) -> bytes:
    action = rng.random()
    if action < 0.4:
        header = {"descr": pick(rng, DESCRS), "fortran_order": pick(rng, [False, True, 1, "no"]),
                  "shape": pick(rng, SHAPES)}  # fmt: skip
        if rng.random() < 0.1:
            header = pick(rng, [{}, {"descr": "|u1"}, {"shape": (1,)}, {"descr": "|u1", "fortran_order": False,
                                "shape": (2, 1, 16, 16), "x": [[[[1]]]]}])  # fmt: skip
        return _npy_with_header(rng, header, int(rng.integers(0, 2048)), pick(rng, [(1, 0), (2, 0), (3, 0)]))
    frames = pick(rng, [(1, 16, 16), (3, 1, 16, 16), (2, 16, 16), (1, 1, 256), (3, 2, 16, 16)])
    array = rng.integers(0, 256, (2, *frames)).astype(pick(rng, [np.uint8, np.uint8, np.int16]))
    if rng.random() < 0.2:
        array = np.asfortranarray(array)
    return mutate_bytes(rng, _npy(array)) if rng.random() < 0.5 else _npy(array)


def _labels_case(rng: Rng) -> bytes:
    labels = pick(rng, [np.array([0, 2]), np.array([0, 9]), np.array([-1, 0]), np.array([0]), np.array([[0, 1]]),
                        np.array([0.0, 1.0]), np.array([0, 2**40])])  # fmt: skip
    return mutate_bytes(rng, _npy(labels)) if rng.random() < 0.3 else _npy(labels)


# --- the cases --------------------------------------------------------------------------------------------------

SEEDERS: dict[str, tuple[Callable[[Path], None], Callable[[Rng, Path], None]]] = {
    "mnist": (write_tiny_mnist, _mnist_mutate),
    "nmnist": (_nmnist_seed, _nmnist_mutate),
    "nmnist-release": (_release_seed, _release_mutate),
    "dvs": (_dvs_seed, _dvs_mutate),
}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, Path]:
    """A valid data folder per dataset (each loads), and the graphs the ``.npy`` cases are read for."""
    base = tmp_path_factory.mktemp("data-seeds")
    folders = {}
    for name, (seed, _) in SEEDERS.items():
        folders[name] = base / name
        seed(folders[name])
        for limit in LIMITS:  # for dvs: a cached result for each (limit, steps) the cases ask for
            for steps in STEPS:
                data = load_dataset(
                    DATASET[name],
                    "test",
                    data_dir=folders[name],
                    limit=limit,
                    num_steps=steps,
                    download=False,
                )
                assert len(data) > 0
    return folders


DATASET = {"mnist": "mnist", "nmnist": "nmnist", "nmnist-release": "nmnist", "dvs": "dvs"}  # family -> reader
LIMITS = [None, 1, 2, 10**12]
STEPS = [None, 1, 3]
GRAPHS = [random_graph("tiny", 4, num_steps=3), random_graph("tiny-stream", 5, num_steps=2)]


def _run_cases(seeds: dict[str, Path], tmp_path: Path, family: str, cases: int, seed: int) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for case in range(cases):
        rng = case_rng(seed, case)
        what = f"{family} case {case} (seed {seed})"
        limit, steps = pick(rng, LIMITS), pick(rng, STEPS)
        if family == "npy":
            inputs, labels = tmp_path / "x.npy", tmp_path / "y.npy"
            inputs.write_bytes(_npy_case(rng))
            labels.write_bytes(_labels_case(rng))
            graph = pick(rng, GRAPHS)
            with_labels = rng.random() < 0.5

            def run(g=graph, x=inputs, y=labels if with_labels else None, n=limit, s=steps) -> None:
                load_user_inputs(g, x, y, limit=n, num_steps=s)

        else:
            root = tmp_path / "data"
            if root.exists():
                shutil.rmtree(root)
            shutil.copytree(seeds[family], root)
            for _ in range(int(rng.integers(1, 3))):
                try:
                    SEEDERS[family][1](rng, root)
                except (
                    OSError,
                    EOFError,
                    ValueError,
                    KeyError,
                    zlib.error,
                    zipfile.BadZipFile,
                ):  # the scaffolding: an earlier edit left no file to edit
                    break

            def run(name=DATASET[family], r=root, n=limit, s=steps) -> None:
                load_dataset(name, "test", data_dir=r, limit=n, num_steps=s, download=False)

        tally(outcomes, outcome(run, what))
    return outcomes


@pytest.mark.parametrize("family", FAMILIES)
def test_fuzzed_dataset_files_load_or_raise_typed_errors(seeds, tmp_path, family):
    outcomes = _run_cases(seeds, tmp_path, family, FAST_CASES, seed=23)
    assert sum(outcomes.values()) == FAST_CASES
    assert len(outcomes) > 1, outcomes  # both sides reached


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_fuzzed_dataset_files_many_cases(seeds, tmp_path, family):
    outcomes = _run_cases(seeds, tmp_path, family, SLOW_CASES, seed=2026)
    print(f"{SLOW_CASES} fuzzed {family} cases: {outcomes}")
    assert sum(outcomes.values()) == SLOW_CASES >= 1000
    assert outcomes.get("ok", 0) > 0 and outcomes.get("DatasetError", 0) > 0, outcomes


# --- regressions: what the fuzzer found, each once, by name ------------------------------------------------------


def test_an_unclosed_npy_header_is_one_line(tmp_path):
    """numpy tokenizes an old-style header it cannot parse: an unclosed tuple raised tokenize.TokenError."""
    text = b"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1, 16, 16"
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    path = tmp_path / "x.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + bytes(512))
    with pytest.raises(DatasetError, match="malformed .npy header"):
        load_user_inputs(GRAPHS[0], path)


@pytest.mark.parametrize("name", ["user24\x00_fluorescent", "../user24_fluorescent", "sub/user24", ".hidden"])
def test_a_trial_list_names_recordings_in_its_folder_only(seeds, tmp_path, name):
    """A NUL in a trial name raised ValueError from open(); a path would read a file outside the folder."""
    root = tmp_path / "data"
    shutil.copytree(seeds["dvs"], root)
    (root / "DvsGesture" / "trials_to_test.txt").write_text(f"{name}.aedat\n")
    with pytest.raises(DatasetError, match="not a recording name"):
        load_dataset("dvs", "test", data_dir=root, num_steps=3, download=False)


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"PK\x03\x04 not a zip", id="a broken zip (BadZipFile)"),
        pytest.param(
            _npz(inputs=np.zeros((1, 2)), labels=np.array([99])), id="arrays of another shape and type"
        ),
    ],
)
def test_a_damaged_or_foreign_dvs_cache_is_never_used(seeds, tmp_path, payload):
    """A cache file that was no zip raised zipfile.BadZipFile; one of other arrays was returned as the data."""
    root = tmp_path / "data"
    shutil.copytree(seeds["dvs"], root)
    want = load_dataset(
        "dvs",
        "test",
        data_dir=root,
        num_steps=3,
        download=False,
    )
    for cache in (root / "cache").glob("*.npz"):
        cache.write_bytes(payload)
    got = load_dataset("dvs", "test", data_dir=root, num_steps=3, download=False)
    assert np.array_equal(got.inputs, want.inputs) and np.array_equal(got.labels, want.labels)
