"""MNIST / Fashion-MNIST IDX reader: real files decode exactly, bad files and missing folders fail clearly."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.data import load_dataset, read_idx, resolve_data_dir
from qsnn_deploy.errors import DatasetError

MNIST_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every download attempt fails at once (and is recorded) so that no test touches the network."""
    attempts: list[str] = []

    def refuse(url, *args, **kwargs):
        attempts.append(url if isinstance(url, str) else url.full_url)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return attempts


def test_resolve_data_dir_prefers_argument_then_env_then_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("QSNN_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("QSNN_DATA_DIR")
    assert resolve_data_dir(None) == Path("~/.cache/qsnn-deploy/data").expanduser()


def test_mnist_test_split_is_bit_exact(data_dir):
    ds = load_dataset("mnist", "test", data_dir)
    assert (len(ds), ds.inputs.shape, ds.inputs.dtype) == (10000, (10000, 1, 28, 28), np.uint8)
    assert ds.labels.dtype == np.int64 and ds.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert (ds.kind, ds.input_scale, ds.num_classes) == ("static", 1 / 255, 10)
    # md5 of the uncompressed official t10k-images file, checked independently (SOURCES.md)
    header = struct.pack(">IIII", 0x803, 10000, 28, 28)
    assert hashlib.md5(header + ds.inputs.tobytes()).hexdigest() == "2646ac647ad5339dbf082846283269ea"


def test_mnist_train_split_counts_and_pixel_mean(data_dir):
    ds = load_dataset("mnist", "train", data_dir)
    assert ds.inputs.shape == (60000, 1, 28, 28)
    assert ds.labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(ds.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert int(ds.inputs.sum(dtype=np.int64)) == 1567298545
    assert round(float(ds.inputs.mean()) / 255, 4) == 0.1307


def test_fmnist_splits(data_dir):
    test = load_dataset("fmnist", "test", data_dir)
    assert test.inputs.shape == (10000, 1, 28, 28)
    assert test.labels[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert int(test.inputs.sum(dtype=np.int64)) == 573469082
    assert (
        hashlib.sha256(test.inputs.tobytes()).hexdigest()
        == "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a"
    )
    train = load_dataset("fmnist", "train", data_dir)
    assert len(train) == 60000 and np.bincount(train.labels).tolist() == [6000] * 10
    assert train.labels[:5].tolist() == [9, 0, 0, 3, 0]


def test_limit_reads_a_prefix(data_dir):
    full = load_dataset("mnist", "test", data_dir)
    head = load_dataset("mnist", "test", data_dir, limit=7, num_steps=25)
    assert head.inputs.shape == (7, 1, 28, 28)
    np.testing.assert_array_equal(head.inputs, full.inputs[:7])
    np.testing.assert_array_equal(head.labels, full.labels[:7])


def _copy_mnist(data_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in MNIST_FILES:
        shutil.copyfile(data_dir / "mnist" / name, folder / name)
    return folder


def test_truncated_gzip_names_the_file(data_dir, tmp_path):
    folder = _copy_mnist(data_dir, tmp_path)
    target = folder / "t10k-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:400_000])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz"):
        load_dataset("mnist", "test", tmp_path)


def test_not_gzip_names_the_file(tmp_path):
    bad = tmp_path / "x-labels-idx1-ubyte.gz"
    bad.write_bytes(b"this is not gzip at all")
    with pytest.raises(DatasetError, match="x-labels-idx1-ubyte.gz.*gzip"):
        read_idx(bad)


def test_wrong_magic_is_rejected(tmp_path):
    bad = tmp_path / "bad-idx.gz"
    with gzip.open(bad, "wb") as f:
        f.write(struct.pack(">II", 0x0D03, 1) + b"\0" * 8)  # 0x0D = float32, not uint8
    with pytest.raises(DatasetError, match="bad-idx.gz.*magic"):
        read_idx(bad)


def test_idx_length_must_match_header(tmp_path):
    short = tmp_path / "short-idx1.gz"
    with gzip.open(short, "wb") as f:
        f.write(struct.pack(">II", 0x801, 10) + bytes(range(9)))
    with pytest.raises(DatasetError, match="short-idx1.gz.*truncated"):
        read_idx(short)
    long = tmp_path / "long-idx1.gz"
    with gzip.open(long, "wb") as f:
        f.write(struct.pack(">II", 0x801, 3) + bytes(range(4)))
    with pytest.raises(DatasetError, match="long-idx1.gz"):
        read_idx(long)
    ok = tmp_path / "ok-idx3.gz"
    with gzip.open(ok, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 2, 2, 3) + bytes(range(12)))
    np.testing.assert_array_equal(read_idx(ok), np.arange(12, dtype=np.uint8).reshape(2, 2, 3))


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (struct.pack(">IIII", 0x803, 2**31, 28, 28), "claims 2147483648 items"),  # 1.7 TB of images
        (struct.pack(">IIII", 0x803, 3, 2**32 - 1, 2**32 - 1), "claims 3 items"),  # sizes overflow int64
        (struct.pack(">IIII", 0x803, 2**20, 28, 28), "truncated"),  # 822 MB claimed, 100 bytes there
    ],
)
def test_a_header_claiming_huge_sizes_is_an_error_not_a_memory_error(tmp_path, header, fragment):
    bad = tmp_path / "huge-idx3.gz"
    with gzip.open(bad, "wb") as f:
        f.write(header + bytes(100))
    with pytest.raises(DatasetError, match=f"huge-idx3.gz.*{fragment}"):
        read_idx(bad)


def test_a_huge_header_with_a_limit_reads_only_the_prefix(tmp_path):
    path = tmp_path / "prefix-idx3.gz"
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 2**31, 2, 2) + bytes(range(8)))
    np.testing.assert_array_equal(read_idx(path, limit=2), np.arange(8, dtype=np.uint8).reshape(2, 2, 2))


def test_a_huge_limit_reads_the_whole_file(tmp_path):
    path = tmp_path / "all-idx1.gz"
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">II", 0x801, 5) + bytes(range(5)))
    np.testing.assert_array_equal(read_idx(path, limit=10**22), np.arange(5, dtype=np.uint8))


def test_missing_folder_lists_expected_files_after_failed_download(tmp_path, no_network):
    with pytest.raises(DatasetError) as info:
        load_dataset("fmnist", "train", tmp_path)
    message = str(info.value)
    assert "Fashion-MNIST not found" in message and str(tmp_path / "fashion-mnist") in message
    assert all(name in message for name in MNIST_FILES if name.startswith("train-"))  # the split's own files
    assert "QSNN_DATA_DIR" in message and "\n" not in message
    assert no_network and no_network[0].startswith("http://fashion-mnist.s3-website")
    assert not (tmp_path / "fashion-mnist").exists()  # nothing half-written


def test_mnist_download_tries_both_mirrors(tmp_path, no_network):
    with pytest.raises(DatasetError, match="download failed"):
        load_dataset("mnist", "test", tmp_path)
    assert no_network[:2] == [
        "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz",
        "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-images-idx3-ubyte.gz",
    ]


def test_download_disabled_makes_no_attempt(tmp_path, no_network):
    with pytest.raises(DatasetError, match="download disabled"):
        load_dataset("mnist", "train", tmp_path, download=False)
    assert no_network == []


def test_download_checks_md5_and_writes_atomically(tmp_path, data_dir, monkeypatch):
    payloads = {name: (data_dir / "mnist" / name).read_bytes() for name in MNIST_FILES}
    good = payloads["t10k-labels-idx1-ubyte.gz"]
    payloads["t10k-labels-idx1-ubyte.gz"] = good[:-1] + bytes([good[-1] ^ 0xFF])  # md5 no longer matches

    class Response:
        def __init__(self, body: bytes):
            self.body = body

        def read(self) -> bytes:
            return self.body

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(
        urllib.request, "urlopen", lambda url, timeout: Response(payloads[url.rsplit("/", 1)[1]])
    )
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz.*md5"):
        load_dataset("mnist", "test", tmp_path)
    written = sorted(p.name for p in (tmp_path / "mnist").iterdir())
    # The test split downloads only its own files; the bad one and no temporary file is left behind.
    assert written == ["t10k-images-idx3-ubyte.gz"]
    payloads["t10k-labels-idx1-ubyte.gz"] = good
    assert len(load_dataset("mnist", "test", tmp_path)) == 10000


def test_unknown_dataset_and_split_list_the_choices(tmp_path):
    with pytest.raises(DatasetError, match="mnist, fmnist, nmnist, dvs"):
        load_dataset("cifar10", "train", tmp_path)
    with pytest.raises(DatasetError, match="'train' or 'test'"):
        load_dataset("mnist", "validation", tmp_path)
