"""N-MNIST in the official release layout (Train/<digit>/<id>.bin from Train.zip) and its download path.

The fixtures are real recordings from $QSNN_DATA_DIR/nmnist-small rearranged into the release layout; the
network is replaced so that no test downloads anything."""

from __future__ import annotations

import hashlib
import io
import shutil
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest

from qsnn_deploy.data import load_dataset, nmnist
from qsnn_deploy.errors import DatasetError

SAMPLES = 12


def release_zip(data_dir) -> tuple[bytes, list[int]]:
    """Train.zip holding the first SAMPLES small-set recordings as Train/<digit>/<id>.bin."""
    pairs = nmnist.read_label_list(data_dir / "nmnist-small" / "train1K.txt")[:SAMPLES]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for sample, label in pairs:
            zf.write(data_dir / "nmnist-small" / f"{sample}.bs2", f"Train/{label}/{sample:05d}.bin")
    return buf.getvalue(), [label for _, label in pairs]


def test_release_layout_reads_in_id_order_with_labels_from_folders(tmp_path, data_dir):
    payload, labels = release_zip(data_dir)
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        zf.extractall(tmp_path / "nmnist")
    ds = load_dataset("nmnist", "train", data_dir=tmp_path, num_steps=10, download=False)
    small = load_dataset("nmnist", "train", data_dir=data_dir, limit=SAMPLES, num_steps=10)
    assert ds.labels.tolist() == labels
    assert np.array_equal(ds.inputs, small.inputs)


def test_download_fetches_checks_md5_and_unpacks(tmp_path, data_dir, monkeypatch):
    payload, labels = release_zip(data_dir)
    name, file_id, _ = nmnist.RELEASE["train"]
    monkeypatch.setitem(nmnist.RELEASE, "train", (name, file_id, hashlib.md5(payload).hexdigest()))
    fetched = []

    def serve(url, *args, **kwargs):
        fetched.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    ds = load_dataset("nmnist", "train", data_dir=tmp_path, num_steps=10)
    assert fetched == [nmnist.RELEASE_URL + file_id]
    assert ds.labels.tolist() == labels
    assert (tmp_path / "nmnist" / "Train.zip").is_file()


def test_no_network_gives_one_clear_error(tmp_path, monkeypatch):
    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with pytest.raises(DatasetError, match="N-MNIST not found.*Test.zip.*download failed"):
        load_dataset("nmnist", "test", data_dir=tmp_path)
    assert not (tmp_path / "nmnist" / "Test.zip").exists()


def test_a_corrupt_release_file_is_named(tmp_path, data_dir):
    folder = tmp_path / "nmnist" / "Test" / "3"
    folder.mkdir(parents=True)
    shutil.copy(data_dir / "nmnist-small" / "60001.bs2", folder / "00001.bin")
    (folder / "00002.bin").write_bytes(b"\x01\x02\x03")
    with pytest.raises(DatasetError, match="00002.bin is truncated"):
        load_dataset("nmnist", "test", data_dir=tmp_path, download=False)
