"""Sequential MNIST: each 28x28 MNIST image read as a sequence of 28 rows, one row of 28 pixels per time step.

The network sees row ``t`` (top to bottom) at step ``t`` as its input current, ``pixel / 255`` per feature; it
has to remember the rows it has seen to tell the digit at the last step (issue 25: the recurrent preset). The
pixels are the IDX files' bytes unchanged (read by :mod:`qsnn_deploy.data.idx`), only viewed as
``(N, T, features)`` instead of ``(N, C, H, W)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qsnn_deploy.data.idx import load_idx

NUM_STEPS = 28  # one image row per step
ROW_FEATURES = 28  # pixels per row: the input current's width


def load_seq_mnist(
    root: Path, split: str, limit: int | None = None, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``uint8 (N, 28 steps, 28 features)`` and labels ``int64 (N,)`` of one MNIST split: step ``t`` of
    sample ``n`` is row ``t`` of image ``n``."""
    images, labels = load_idx("mnist", split, root, limit=limit, download=download)
    return np.ascontiguousarray(images[:, 0]), labels
