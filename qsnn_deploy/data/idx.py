"""MNIST / Fashion-MNIST: the official gzip-compressed IDX files, validated, downloaded when missing.

IDX: 4-byte magic ``00 00 08 <ndim>`` (0x08 = uint8), ``ndim`` big-endian uint32 sizes, then the uint8 data.
Images are ``(N, 28, 28)`` (magic 0x00000803), labels ``(N,)`` (magic 0x00000801).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qsnn_deploy.atomic import write_atomic
from qsnn_deploy.errors import DatasetError

DOWNLOAD_TIMEOUT_S = 10.0
MAX_IDX_BYTES = 1 << 31  # 45x the MNIST training images; a header claiming more is corrupt, not a dataset
READ_CHUNK = 1 << 24


@dataclass(frozen=True)
class IdxSource:
    """One IDX dataset: its folder under the data root, its official files with md5s, and its mirrors."""

    folder: str
    title: str
    files: dict[str, str]  # file name -> official md5
    mirrors: tuple[str, ...]


_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

IDX_SOURCES: dict[str, IdxSource] = {
    "mnist": IdxSource(
        folder="mnist",
        title="MNIST",
        files=dict(
            zip(
                _MNIST_FILES,
                (
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                    "d53e105ee54ea40749a09fcbcd1e9432",
                    "9fb629c4189551a2d022fa330f9573f3",
                    "ec29112dd5afa0611ce80d1b7f02629c",
                ),
                strict=True,
            )
        ),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    ),
    "fmnist": IdxSource(
        folder="fashion-mnist",
        title="Fashion-MNIST",
        files=dict(
            zip(
                _MNIST_FILES,
                (
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "25c81989df183df01b3e8a0aad5dffbe",
                    "bef4ecab320f06d8554ea6380940ec79",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ),
                strict=True,
            )
        ),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
    ),
}

_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def _read_up_to(f, size: int) -> bytes:
    """Read ``size`` bytes or up to the end of ``f``, in chunks: memory follows the data actually there, not
    what a (possibly corrupt) header claims."""
    parts: list[bytes] = []
    left = size
    while left > 0:
        chunk = f.read(min(left, READ_CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_idx(path: Path, limit: int | None = None) -> np.ndarray:
    """Read a gzip-compressed uint8 IDX file into an array of its declared shape.

    With ``limit`` only the first ``limit`` items are decompressed (the rest of the file is not checked);
    without it the whole file is read and its length must match the header exactly.
    Raises ``DatasetError`` naming the file when it is missing, not gzip, not IDX uint8, or truncated.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            magic = f.read(4)
            if len(magic) != 4 or magic[:3] != b"\x00\x00\x08" or not 1 <= magic[3] <= 4:
                raise DatasetError(
                    f"{path}: not a uint8 IDX file (magic {magic.hex() or 'empty'}, expected 0000080N); "
                    "delete it and download it again"
                )
            ndim = magic[3]
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) != 4 * ndim:
                raise DatasetError(f"{path}: IDX header is truncated; delete it and download it again")
            dims = [int(d) for d in np.frombuffer(raw_dims, dtype=">u4")]
            count = dims[0] if limit is None else min(dims[0], max(int(limit), 0))
            item = math.prod(dims[1:])
            want = count * item
            if want > MAX_IDX_BYTES:
                raise DatasetError(
                    f"{path}: the IDX header claims {dims[0]} items of {item} bytes, more than the "
                    f"{MAX_IDX_BYTES >> 30} GiB an IDX file may hold here; the file is corrupt"
                )
            body = _read_up_to(f, want)
            if len(body) != want:
                raise DatasetError(
                    f"{path}: truncated IDX data ({len(body)} of {want} bytes); "
                    "delete it and download it again"
                )
            if limit is None and f.read(1):
                raise DatasetError(f"{path}: IDX file is longer than its header says; the file is corrupt")
    except FileNotFoundError as e:
        raise DatasetError(f"{path} not found") from e
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: not a valid gzip file ({e}); delete it and download it again") from e
    return np.frombuffer(bytearray(body), dtype=np.uint8).reshape([count, *dims[1:]])  # writable copy


def download_checked(url: str, dest: Path, md5: str) -> None:
    """Fetch ``url`` into ``dest`` atomically; raise ``OSError``/``ValueError`` on failure or md5 mismatch."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        payload = response.read()
    got = hashlib.md5(payload).hexdigest()
    if got != md5:
        raise ValueError(f"md5 mismatch for {url}: got {got}, expected {md5}")
    write_atomic(dest, lambda f: f.write(payload))


def split_files(split: str) -> tuple[str, str]:
    """The images and labels file names of one split."""
    prefix = _SPLIT_PREFIX[split]
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def ensure_idx_files(
    name: str, root: Path, download: bool = True, files: tuple[str, ...] | None = None
) -> Path:
    """Return ``<root>/<folder>`` holding ``files`` of ``name`` ("mnist" or "fmnist"; default: all four).

    A missing file is downloaded from each mirror in turn (md5-checked, written atomically) when ``download``
    is true; if every mirror fails, a ``DatasetError`` lists the expected files, the folder and each mirror's
    failure.
    """
    source = IDX_SOURCES[name]
    wanted = tuple(files) if files is not None else tuple(source.files)
    folder = Path(root) / source.folder
    missing = [fname for fname in wanted if not (folder / fname).is_file()]
    if not missing:
        return folder
    failures: list[str] = []
    if download:
        for fname in missing:
            tried = []
            for mirror in source.mirrors:
                try:
                    download_checked(mirror + fname, folder / fname, source.files[fname])
                    break
                except (OSError, ValueError, urllib.error.URLError) as e:
                    tried.append(f"{mirror}{fname}: {getattr(e, 'reason', None) or e}")
            else:
                failures = tried
                break
        missing = [fname for fname in wanted if not (folder / fname).is_file()]
        if not missing:
            return folder
    how = f"download failed from every mirror ({'; '.join(failures)})" if failures else "download disabled"
    raise DatasetError(
        f"{source.title} not found: expected {', '.join(missing)} in {folder}; {how}. "
        f"Copy the official files there, pass --data-dir or set QSNN_DATA_DIR"
    )


def load_idx(
    name: str, split: str, root: Path, limit: int | None = None, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 (N, 1, 28, 28)`` and labels ``int64 (N,)`` of one split of MNIST or Fashion-MNIST."""
    images_name, labels_name = split_files(split)
    # Only this split's two files: a command that reads the test set needs no training files.
    folder = ensure_idx_files(name, root, download, files=(images_name, labels_name))
    images_path = folder / images_name
    labels_path = folder / labels_name
    images = read_idx(images_path, limit)
    labels = read_idx(labels_path, limit)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DatasetError(f"{images_path}: expected 28x28 images, found shape {images.shape[1:]}")
    if labels.ndim != 1:
        raise DatasetError(f"{labels_path}: expected a 1-d label file, found {labels.ndim} dimensions")
    if len(images) == 0:
        raise DatasetError(f"{images_path} holds no images; the file is damaged, re-download it")
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels; "
            "re-download both"
        )
    if labels.size and labels.max() > 9:
        raise DatasetError(
            f"{labels_path}: label {int(labels.max())} is out of range 0-9; the file is corrupt"
        )
    return images[:, None, :, :], labels.astype(np.int64)
