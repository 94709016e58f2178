"""Training-time shifts (train/augment.random_shift, train_model's ``shift``): each sample's last two axes move by
its own offset within the bound, with zeros coming in, the same for every frame of a sample, seeded; and
``shift=0`` leaves a run's batches as they were."""

from __future__ import annotations

import pytest
import torch

from qsnn_deploy.train.augment import random_shift


def _shifted_by(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x`` (..., H, W) moved down by dy and right by dx (negative: up, left), zeros in."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


@pytest.mark.parametrize("shape", [(64, 28, 28), (16, 2, 7, 9), (8, 5, 2, 6, 6)])
def test_each_sample_is_one_shift_within_the_bound(shape: tuple[int, ...]) -> None:
    x = torch.randint(1, 256, shape, dtype=torch.uint8)  # no zeros: a shift shows as zeros coming in
    out = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    seen = set()
    for sample, moved in zip(x, out):
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(moved, _shifted_by(sample, dy, dx))
        ]
        assert len(matches) == 1, "every frame of a sample moves by one offset within +-2"
        seen.add(matches[0])
    if shape[0] >= 64:
        assert len(seen) > 10, "the offsets differ between samples"


def test_seeded_and_zero_is_identity() -> None:
    x = torch.randint(0, 256, (32, 28, 28), dtype=torch.uint8)
    a = random_shift(x, 1, torch.Generator().manual_seed(5))
    b = random_shift(x, 1, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert not torch.equal(a, x)
    assert random_shift(x, 0, torch.Generator()) is x
    with pytest.raises(ValueError, match="max_shift"):
        random_shift(x, -1, torch.Generator())
