"""The training loader gathers each batch with one index operation (train/loop._Batches + BatchSampler): it
must give the very batches, in the very order and dtypes, that batch_size over a TensorDataset gives with the
same sampler, so trained weights (and every figure trained before the change) stay the same."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

from qsnn_deploy.train.loop import _Batches


@pytest.mark.parametrize("batch", [1, 7, 128, 400])
def test_the_batches_equal_those_of_a_tensor_dataset(batch: int) -> None:
    x = torch.randint(0, 5, (301, 20, 2, 4, 4), dtype=torch.uint8)
    y = torch.randint(0, 10, (301,))

    def sampler() -> RandomSampler:
        return RandomSampler(x, generator=torch.Generator().manual_seed(3))

    old = list(DataLoader(TensorDataset(x, y), batch_size=batch, sampler=sampler(), drop_last=False))
    new = list(
        DataLoader(_Batches(x, y), sampler=BatchSampler(sampler(), batch, drop_last=False), batch_size=None)
    )
    assert len(new) == len(old) == -(-301 // batch)
    for (xa, ya), (xb, yb) in zip(old, new):
        assert xa.dtype == xb.dtype and torch.equal(xa, xb) and torch.equal(ya, yb)
