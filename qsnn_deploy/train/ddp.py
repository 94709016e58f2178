"""Data-parallel training with ``torch.distributed`` when launched by ``torchrun``.

``torchrun --nproc_per_node=2 -m qsnn_deploy.cli train ...`` sets RANK/WORLD_SIZE/LOCAL_RANK; we then use
DistributedDataParallel (gloo on CPU, nccl on CUDA) and a DistributedSampler; the global batch is split across
ranks, test accuracy is summed over rank shards, and only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

from qsnn_deploy.errors import QsnnError


def launched_by_torchrun() -> bool:
    """True when RANK and WORLD_SIZE are set (torchrun, or any env:// launcher) with more than one process."""
    return "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


@dataclass
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def sampler(self, dataset: Dataset, seed: int) -> DistributedSampler:
        return DistributedSampler(
            dataset, num_replicas=self.world_size, rank=self.rank, shuffle=True, seed=seed
        )

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        torch_dist.barrier()


def init_distributed(device: str = "auto") -> DistContext:
    """Join the process group torchrun prepared. CPU: gloo, threads split between ranks; CUDA: nccl, one GPU
    per local rank."""
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if device == "cuda" and not torch.cuda.is_available():
        raise QsnnError("--device cuda but no CUDA device is available; use --device cpu or auto")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def shutdown(ctx: DistContext | None) -> None:
    if ctx is not None and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
