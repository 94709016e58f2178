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
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise DatasetError(f"N-MNIST label list {path} cannot be read: {e}") from e
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


def find_nmnist(root: Path, split: str) -> tuple[Path, Path]:
    """The folder and label list for ``split``: ``<root>/nmnist-small/`` or ``<root>/nmnist/``."""
    for folder_name in FOLDERS:
        folder = Path(root) / folder_name
        for list_name in LABEL_LISTS[split]:
            if (folder / list_name).is_file():
                return folder, folder / list_name
    expected = " or ".join(LABEL_LISTS[split])
    raise DatasetError(
        f"N-MNIST not found: expected {expected} and <id>.bs2 files in {Path(root) / FOLDERS[0]} "
        f"(or {Path(root) / FOLDERS[1]}); N-MNIST cannot be downloaded automatically, copy it there, "
        "pass --data-dir or set QSNN_DATA_DIR"
    )


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
) -> tuple[np.ndarray, np.ndarray]:
    """Event counts ``uint8 (N, T, 2, 34, 34)`` and labels ``int64 (N,)``; reads only ``limit`` files.

    Bins start at t = 0 (the recording's own clock), ``bin_us`` wide, no downsampling.
    """
    steps = DEFAULT_NUM_STEPS if num_steps is None else num_steps
    folder, list_path = find_nmnist(root, split)
    pairs = read_label_list(list_path)
    if limit is not None:
        pairs = pairs[: max(limit, 0)]
    inputs = np.zeros((len(pairs), steps, 2, *SENSOR_HW), dtype=np.uint8)
    for i, (sample, _) in enumerate(pairs):
        events = read_bs2(_sample_path(folder, sample))
        inputs[i] = bin_events(events, SENSOR_HW, downsample=1, bin_us=bin_us, num_steps=steps, t_start=0)
    labels = np.array([label for _, label in pairs], dtype=np.int64)
    return inputs, labels
