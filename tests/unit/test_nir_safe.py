"""NIR files are read as data only (issue 23, item 3): a ``.nir`` whose weights live in another file (HDF5
external storage, an external link, a virtual dataset), behind a soft link, or in a non-numeric dtype is refused
in one line before a byte of it is read, and the other file's bytes never reach the IR or the output."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.interop.nir_import import read_nir
from qsnn_deploy.interop.nir_safe import UnsafeNirError, check_nir_file
from tests.cli_run import error_lines, run_main

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nir" / "snntorch" / "snntorch_mlp.nir"
WEIGHT = "node/nodes/2/weight"  # (10, 64) float32 in the fixture
SHAPE = (10, 64)
MARK = b"QSNN-SECRET-"
SECRET = (MARK * 300)[: 10 * 64 * 4]


@pytest.fixture(scope="module")
def secrets(tmp_path_factory) -> dict[str, Path]:
    """A raw file and an HDF5 file (dataset /w) holding the secret bytes."""
    root = tmp_path_factory.mktemp("secret")
    raw = root / "secret.bin"
    raw.write_bytes(SECRET)
    with h5py.File(root / "secret.h5", "w") as f:
        f["w"] = np.frombuffer(SECRET, np.float32).reshape(SHAPE)
    return {"raw": raw, "h5": root / "secret.h5"}


def _external(f: h5py.File, s: dict[str, Path]) -> None:
    f.create_dataset(WEIGHT, shape=SHAPE, dtype="f4", external=[(str(s["raw"]), 0, len(SECRET))])


def _external_link(f: h5py.File, s: dict[str, Path]) -> None:
    f[WEIGHT] = h5py.ExternalLink(str(s["h5"]), "/w")


def _virtual(f: h5py.File, s: dict[str, Path]) -> None:
    layout = h5py.VirtualLayout(shape=SHAPE, dtype="f4")
    layout[:] = h5py.VirtualSource(str(s["h5"]), "w", shape=SHAPE)
    f.create_virtual_dataset(WEIGHT, layout)


def _soft_link(f: h5py.File, s: dict[str, Path]) -> None:
    f[WEIGHT] = h5py.SoftLink("/node/nodes/0/weight")


def _strings(f: h5py.File, s: dict[str, Path]) -> None:
    f.create_dataset(WEIGHT, data=np.full(SHAPE, "1.5", dtype=object), dtype=h5py.string_dtype())


def _compound(f: h5py.File, s: dict[str, Path]) -> None:
    f.create_dataset(WEIGHT, data=np.zeros(SHAPE, dtype=[("a", "f4"), ("b", "i4")]))


def _complex(f: h5py.File, s: dict[str, Path]) -> None:
    f.create_dataset(WEIGHT, data=np.ones(SHAPE, np.complex64))


HOSTILE = {
    "external storage": (_external, "keeps its data in an external file"),
    "external link": (_external_link, "is an external link"),
    "virtual dataset": (_virtual, "is a virtual dataset"),
    "soft link": (_soft_link, "is a soft link"),
    "string weights": (_strings, "holds strings where NIR keeps numbers"),
    "compound weights": (_compound, "not a plain int, uint, float or bool array"),
    "complex weights": (_complex, "holds complex64 values, not a plain"),
}


def _hostile(tmp_path: Path, secrets: dict[str, Path], case: str) -> Path:
    path = tmp_path / "hostile.nir"
    shutil.copyfile(FIXTURE, path)
    with h5py.File(path, "a") as f:
        del f[WEIGHT]
        HOSTILE[case][0](f, secrets)
    return path


def test_the_library_files_pass() -> None:
    for path in sorted(FIXTURE.parents[1].glob("*/*.nir")):
        check_nir_file(path)


@pytest.mark.parametrize("case", ["external storage", "external link", "virtual dataset"])
def test_the_hostile_files_would_read_the_secret(tmp_path: Path, secrets, case: str) -> None:
    """The reproduction holds: followed blindly, h5py returns the other file's bytes."""
    with h5py.File(_hostile(tmp_path, secrets, case), "r") as f:
        assert np.asarray(f[WEIGHT][()], np.float32).tobytes() == SECRET


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_nir_is_refused_in_one_line(tmp_path: Path, secrets, case: str) -> None:
    path = _hostile(tmp_path, secrets, case)
    with pytest.raises(UnsafeNirError) as info:
        read_nir(path)
    text = str(info.value)
    assert f": /{WEIGHT} " in text and HOSTILE[case][1] in text and "\n" not in text
    assert MARK.decode() not in text


@pytest.mark.parametrize("case", ["external storage", "external link", "virtual dataset"])
def test_import_of_a_hostile_nir_exits_2_and_writes_nothing(monkeypatch, capsys, tmp_path, secrets, case):
    path = _hostile(tmp_path, secrets, case)
    out = tmp_path / "m.qsnn"
    code, stdout, err = run_main(monkeypatch, capsys, "import", path, "--out", out)
    assert code == 2 and len(error_lines(err)) == 1 and HOSTILE[case][1] in err, stdout + err
    assert not out.exists() and MARK.decode() not in stdout + err


def test_a_fifo_or_a_folder_is_not_opened(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe.nir")
    with pytest.raises(QsnnError, match="not a regular file"):
        check_nir_file(tmp_path / "pipe.nir")
    with pytest.raises(QsnnError, match="not a regular file"):
        check_nir_file(tmp_path)


def test_deep_nesting_and_external_filters_are_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.nir"
    with h5py.File(deep, "w") as f:
        f.create_group("/".join(["g"] * 40))
    with pytest.raises(UnsafeNirError, match="nests groups more than 32 deep"):
        check_nir_file(deep)
    plain = tmp_path / "gzip.nir"
    with h5py.File(plain, "w") as f:  # a built-in filter is data like any other
        f.create_dataset("w", data=np.ones((4, 4), np.float32), compression="gzip", shuffle=True)
    check_nir_file(plain)


def test_our_own_nir_export_passes(tmp_path: Path) -> None:
    pytest.importorskip("nir")
    from qsnn_deploy.ir.synthetic import random_graph
    from qsnn_deploy.targets import generate

    generate(random_graph("tiny", 0), "nir", tmp_path)
    check_nir_file(tmp_path / "model.nir")
    assert read_nir(tmp_path / "model.nir").metadata["num_steps"] is not None
