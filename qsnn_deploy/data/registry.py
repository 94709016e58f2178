"""The single entry point: ``load_dataset(name, split, ...) -> Dataset``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from qsnn_deploy.data import dvs_gesture, nmnist, seq_mnist
from qsnn_deploy.data.idx import load_idx
from qsnn_deploy.data.paths import resolve_data_dir
from qsnn_deploy.errors import DatasetError

DATASET_NAMES = ("mnist", "fmnist", "nmnist", "dvs", "smnist")
# How each dataset feeds a network: the same frame every step (static), one frame per step (stream) or one row
# of features per step (sequence: sequential MNIST, for the recurrent network), and a stream's default number
# of time bins (what load_dataset gives without num_steps).
DATASET_KINDS = {
    "mnist": "static",
    "fmnist": "static",
    "nmnist": "stream",
    "dvs": "stream",
    "smnist": "sequence",
}
# The IR input encoding each kind feeds (a graph's ``input.encoding``): a sequence's rows are a stream of
# (F, 1, 1) frames, one row per step (Dataset.as_frames).
KIND_ENCODINGS = {"static": "static", "stream": "stream", "sequence": "stream"}
# The default number of steps of each dataset fed as a stream: an event stream's time bins, a sequence's rows.
STREAM_STEPS = {
    "nmnist": nmnist.DEFAULT_NUM_STEPS,
    "dvs": dvs_gesture.DEFAULT_NUM_STEPS,
    "smnist": seq_mnist.NUM_STEPS,
}
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Dataset:
    """A whole split in memory.

    ``inputs`` is ``uint8 (N, C, H, W)`` pixels for static datasets (the same frame at every time step) or
    ``uint8 (N, T, C, H, W)`` event counts for stream datasets (one frame per step), or ``uint8 (N, T, F)``
    feature rows for sequence datasets (sequential MNIST: one 28-pixel row per step). The real value of one
    input unit is ``input_scale`` (1/255 for pixels, 1.0 for event counts).
    """

    name: str
    split: str
    inputs: np.ndarray
    labels: np.ndarray
    kind: str
    input_scale: float
    num_classes: int

    def __len__(self) -> int:
        return len(self.labels)

    def as_frames(self) -> Dataset:
        """The samples as an IR graph's input takes them: static (N, C, H, W) and stream (N, T, C, H, W) as they
        are, a sequence's rows (N, T, F) as stream frames (N, T, F, 1, 1) (how export writes a recurrent
        network's input: ``(F, 1, 1)``, one row per step). Training keeps the rows."""
        if self.kind != "sequence":
            return self
        return replace(
            self, inputs=self.inputs.reshape(*self.inputs.shape, 1, 1), kind=KIND_ENCODINGS[self.kind]
        )


def load_dataset(
    name: str,
    split: str,
    data_dir: Path | None = None,
    limit: int | None = None,
    num_steps: int | None = None,
    download: bool = True,
) -> Dataset:
    """Load one split of ``name`` ("mnist", "fmnist", "nmnist", "dvs", "smnist") from ``resolve_data_dir(data_dir)``.

    ``limit`` keeps the first N samples (event readers only open the files they need). ``num_steps`` sets
    the number of time bins of stream datasets (default 100 x 3 ms) and is ignored for static ones.
    ``download`` fetches missing MNIST/Fashion-MNIST files; event datasets are never downloaded.
    """
    if name not in DATASET_NAMES:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r} for {name}; choose 'train' or 'test'")
    if limit is not None and limit < 0:
        raise DatasetError(f"limit must be >= 0, got {limit}")
    if num_steps is not None and num_steps < 1:
        raise DatasetError(f"num_steps must be >= 1, got {num_steps}")
    root = resolve_data_dir(data_dir)
    if name in ("mnist", "fmnist"):
        inputs, labels = load_idx(name, split, root, limit=limit, download=download)
        return Dataset(name, split, inputs, labels, "static", 1.0 / 255.0, 10)
    if name == "smnist":
        if num_steps not in (None, seq_mnist.NUM_STEPS):
            raise DatasetError(f"smnist has {seq_mnist.NUM_STEPS} rows, one per step; num_steps must be 28")
        inputs, labels = seq_mnist.load_seq_mnist(root, split, limit=limit, download=download)
        return Dataset(name, split, inputs, labels, "sequence", 1.0 / 255.0, 10)
    if name == "nmnist":
        inputs, labels = nmnist.load_nmnist(root, split, limit=limit, num_steps=num_steps, download=download)
        return Dataset(name, split, inputs, labels, "stream", 1.0, nmnist.NUM_CLASSES)
    inputs, labels = dvs_gesture.load_dvs_gesture(root, split, limit=limit, num_steps=num_steps)
    return Dataset(name, split, inputs, labels, "stream", 1.0, dvs_gesture.NUM_CLASSES)
