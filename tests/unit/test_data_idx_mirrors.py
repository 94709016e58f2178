"""MNIST/Fashion-MNIST downloads: each mirror is tried and every failure is named; the test split needs only
its own two files."""

from __future__ import annotations

import shutil

import pytest

from qsnn_deploy.data import idx, load_dataset
from qsnn_deploy.errors import DatasetError


def test_the_test_split_needs_no_training_files(data_dir, tmp_path):
    (tmp_path / "mnist").mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(data_dir / "mnist" / name, tmp_path / "mnist" / name)
    ds = load_dataset("mnist", "test", data_dir=tmp_path, limit=7, download=False)
    assert ds.inputs.shape == (7, 1, 28, 28)
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz"):
        load_dataset("mnist", "train", data_dir=tmp_path, limit=7, download=False)


@pytest.mark.parametrize("name", ["mnist", "fmnist"])
def test_every_mirror_is_tried_and_named(tmp_path, monkeypatch, name):
    tried = []

    def unreachable(url, dest, md5):
        tried.append(url)
        raise OSError(f"unreachable {len(tried)}")

    monkeypatch.setattr(idx, "download_checked", unreachable)
    with pytest.raises(DatasetError) as info:
        load_dataset(name, "test", data_dir=tmp_path, limit=1)
    mirrors = idx.IDX_SOURCES[name].mirrors
    assert len(mirrors) >= 2
    assert tried == [m + "t10k-images-idx3-ubyte.gz" for m in mirrors]  # then it stops: the file is missing
    for mirror, url in zip(mirrors, tried, strict=True):
        assert url in str(info.value) and mirror in str(info.value)
    assert "train-" not in str(info.value)
