"""Training-time data augmentation: random translations of the last two axes, per sample.

For sequential MNIST (B, 28 steps, 28 pixels) a shift moves the digit in time and across the row; for frames
(B, C, H, W) or streams (B, T, C, H, W) it moves every frame of a sample by the same offset. The pixels that
come in are zero (no input), as a digit nearer the border would be. Only the training batches are changed;
test accuracy is always measured on the unchanged test set.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["random_shift"]


def random_shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """``x`` (B, ..., H, W) with each sample's last two axes moved by its own offsets, each drawn uniformly
    from ``-max_shift..max_shift`` by ``generator`` (so a seeded run sees the same shifts). ``max_shift=0``
    returns ``x`` unchanged."""
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    if max_shift == 0 or x.shape[0] == 0:
        return x
    if x.dim() < 3:
        raise ValueError(f"expected (batch, ..., H, W), got shape {tuple(x.shape)}")
    batch, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    s = max_shift
    offsets = torch.randint(0, 2 * s + 1, (2, batch), generator=generator)
    padded = torch.nn.functional.pad(x.reshape(batch, -1, height, width), (s, s, s, s))
    # The window of sample b starts at (offsets[0, b], offsets[1, b]) in the padded frame: offset s is no move,
    # a smaller one moves the content down (right), a larger one up (left).
    rows = (offsets[0][:, None] + torch.arange(height))[:, None, :, None]
    cols = (offsets[1][:, None] + torch.arange(width))[:, None, None, :]
    samples = torch.arange(batch)[:, None, None, None]
    middle = torch.arange(padded.shape[1])[None, :, None, None]
    return padded[samples, middle, rows, cols].reshape(x.shape)
