"""N-MNIST in its native 40-bit format (``<id>.bs2`` / ``.bin``) with ``#sample #class`` label lists.

Each event is 5 bytes, big-endian: byte0 = x, byte1 = y, top bit of byte2 = polarity (1 = ON), the remaining
23 bits = timestamp in µs from the start of the recording. The sensor is 34x34; a sample lasts about 300 ms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qsnn_deploy.data.events import Events, bin_events
from qsnn_deploy.errors import DatasetError

SENSOR_HW = (34, 34)
NUM_CLASSES = 10
DEFAULT_BIN_US = 3000
DEFAULT_NUM_STEPS = 100  # 100 x 3 ms = 300 ms, one N-MNIST recording (three saccades)
FOLDERS = ("nmnist-small", "nmnist")
LABEL_LISTS = {"train": ("train1K.txt", "train.txt"), "test": ("test100.txt", "test.txt")}


def read_bs2(path: Path) -> Events:
    """Decode one N-MNIST native file; ``DatasetError`` naming the file if it is missing or truncated."""
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError as e:
        raise DatasetError(f"N-MNIST sample {path} not found; the folder is incomplete") from e
    except OSError as e:
        raise DatasetError(f"N-MNIST sample {path} cannot be read: {e}") from e
    if raw.size % 5:
        raise DatasetError(
            f"N-MNIST sample {path} is truncated ({raw.size} bytes is not a whole number of 5-byte events); "
            "restore the file"
        )
    rec = raw.reshape(-1, 5)
    b2 = rec[:, 2].astype(np.int64)
    t = ((b2 & 0x7F) << 16) | (rec[:, 3].astype(np.int64) << 8) | rec[:, 4].astype(np.int64)
    events = Events.from_arrays(rec[:, 0], rec[:, 1], b2 >> 7, t)
    if len(events) and (int(events.x.max()) >= SENSOR_HW[1] or int(events.y.max()) >= SENSOR_HW[0]):
        raise DatasetError(
            f"N-MNIST sample {path} has events outside the 34x34 sensor (x<={int(events.x.max())}, "
            f"y<={int(events.y.max())}); the file is corrupt or not N-MNIST"
        )
    return events


def read_label_list(path: Path) -> list[tuple[int, int]]:
    """``(sample id, class)`` pairs from a tab/space separated list; lines starting with '#' are comments."""
    pairs: list[tuple[int, int]] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"N-MNIST label list {path} cannot be read as UTF-8 text: {e}") from e
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        try:
            sample, label = int(fields[0]), int(fields[1])
        except (IndexError, ValueError) as e:
            raise DatasetError(f"{path}:{number}: expected '<sample id> <class>', got {line!r}") from e
        if not 0 <= label < NUM_CLASSES:
            raise DatasetError(f"{path}:{number}: class {label} is out of range 0-9")
        pairs.append((sample, label))
    return pairs


# The official release (Orchard et al. 2015) on Mendeley Data, DOI 10.17632/468j46mzdv.1: Train.zip and Test.zip
# unpack to Train/<digit>/<id>.bin and Test/<digit>/<id>.bin, ids numbered like MNIST.
RELEASE_URL = "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
RELEASE = {
    "train": (
        "Train",
        "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded",
        "20959b8e626244a1b502305a9e6e2031",
    ),
    "test": (
        "Test",
        "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded",
        "69ca8762b2fe404d9b9bad1103e97832",
    ),
}


def find_nmnist(root: Path, split: str) -> tuple[Path, Path] | None:
    """The folder and label list for ``split`` in the list layout (``<root>/nmnist-small/`` or
    ``<root>/nmnist/`` with ``train1K.txt``-style lists), or None."""
    for folder_name in FOLDERS:
        folder = Path(root) / folder_name
        for list_name in LABEL_LISTS[split]:
            if (folder / list_name).is_file():
                return folder, folder / list_name
    return None


def release_samples(root: Path, split: str) -> list[tuple[Path, int]] | None:
    """(file, class) of the official release layout ``<root>/nmnist/Train/<digit>/<id>.bin``, in id order
    (the MNIST order, so a --limit takes a mix of classes), or None when the folder is absent."""
    folder = Path(root) / "nmnist" / RELEASE[split][0]
    if not folder.is_dir():
        return None
    samples = [(path, digit) for digit in range(NUM_CLASSES) for path in (folder / str(digit)).glob("*.bin")]
    if not samples:
        raise DatasetError(
            f"N-MNIST folder {folder} holds no <digit>/<id>.bin files; unpack {RELEASE[split][0]}.zip there"
        )
    return sorted(samples, key=lambda s: (int(s[0].stem) if s[0].stem.isdigit() else 0, s[0].name))


def download_release(root: Path, split: str) -> None:
    """Fetch the official zip for ``split`` (md5-checked, written atomically) and unpack it under
    ``<root>/nmnist/``; DatasetError when the network does not allow it."""
    import zipfile

    from qsnn_deploy.data.idx import download_checked

    name, file_id, md5 = RELEASE[split]
    target = Path(root) / "nmnist"
    archive = target / f"{name}.zip"
    try:
        if not archive.is_file():
            download_checked(RELEASE_URL + file_id, archive, md5)
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise DatasetError(f"{archive}: refusing the unsafe member path {member!r}")
            zf.extractall(target)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise DatasetError(
            f"N-MNIST not found: expected {Path(root) / FOLDERS[0]} with {LABEL_LISTS[split][0]} and <id>.bs2 "
            f"files, or {target / name}/<digit>/<id>.bin from the official {name}.zip; download failed ({e}). "
            "Copy the data there, pass --data-dir or set QSNN_DATA_DIR"
        ) from None


def _sample_path(folder: Path, sample: int) -> Path:
    for suffix in (".bs2", ".bin"):
        candidate = folder / f"{sample}{suffix}"
        if candidate.is_file():
            return candidate
    return folder / f"{sample}.bs2"


def load_nmnist(
    root: Path,
    split: str,
    limit: int | None = None,
    num_steps: int | None = None,
    bin_us: int = DEFAULT_BIN_US,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Event counts ``uint8 (N, T, 2, 34, 34)`` and labels ``int64 (N,)``; reads only ``limit`` files.

    Bins start at t = 0 (the recording's own clock), ``bin_us`` wide, no downsampling.
    """
    steps = DEFAULT_NUM_STEPS if num_steps is None else num_steps
    listed = find_nmnist(root, split)
    if listed is not None:
        folder, list_path = listed
        files = [(_sample_path(folder, sample), label) for sample, label in read_label_list(list_path)]
    else:
        files = release_samples(root, split)
        if files is None:
            if not download:
                raise DatasetError(
                    f"N-MNIST not found in {Path(root) / FOLDERS[0]} or {Path(root) / 'nmnist'}; "
                    "copy it there, pass --data-dir or set QSNN_DATA_DIR"
                )
            download_release(root, split)
            files = release_samples(root, split) or []
    if not files:  # a run on no samples has no accuracy and nothing to compare: one line, not an IndexError
        raise DatasetError(f"the N-MNIST {split} split in {root} lists no samples; the list file is empty")
    if limit is not None:
        files = files[: max(limit, 0)]
    inputs = np.zeros((len(files), steps, 2, *SENSOR_HW), dtype=np.uint8)
    for i, (path, _) in enumerate(files):
        events = read_bs2(path)
        inputs[i] = bin_events(events, SENSOR_HW, downsample=1, bin_us=bin_us, num_steps=steps, t_start=0)
    labels = np.array([label for _, label in files], dtype=np.int64)
    return inputs, labels
