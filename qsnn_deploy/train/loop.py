"""The training loop of the paper's recipe: Adam, the preset's loss (``mse_count_loss``, or ``ce_count_loss``
where the preset says so), an LR schedule stepped per iteration, optional gradient-norm and weight clipping
(DVS), early stopping on test accuracy, seeded and data-parallel aware (:mod:`qsnn_deploy.train.ddp`)."""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from snntorch import functional as SF
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler
from tqdm import tqdm

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.models.presets import TrainPreset
from qsnn_deploy.models.qsnn import QSNN, predict, to_input
from qsnn_deploy.train.augment import random_shift

SCHEDULES = ("cosine", "cosine-restarts", "fixed")


@dataclass
class TrainResult:
    """What a run produced. ``iterations``: one dict per optimizer step (epoch, iteration, loss, lr);
    ``epochs``: one dict per epoch (epoch, iteration, loss = mean train loss, lr, test_accuracy, seconds)."""

    best_accuracy: float
    best_epoch: int
    best_state: dict[str, torch.Tensor]
    iterations: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False


class TrainingDiverged(QsnnError):
    """The loss or a weight stopped being a finite number: nothing is saved, the run cannot recover."""

    def __init__(self, what: str, epoch: int, iteration: int, lr: float):
        super().__init__(
            f"training diverged: {what} at epoch {epoch}, iteration {iteration} (learning rate {lr:.3g}); "
            "nothing was saved; lower --lr or check the data"
        )


class _Batches(Dataset):
    """Training tensors indexed by a whole batch of sample indices at once (``BatchSampler`` hands them)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices)
        return self.x[index], self.y[index]


def first_non_finite(model: nn.Module) -> str | None:
    """The name of the first parameter holding NaN or Inf, or None. One reduction per parameter (amax of |p|
    propagates NaN and keeps Inf), checked after each optimizer step."""
    names = [name for name, _ in model.named_parameters()]
    params = [p.detach() for p in model.parameters()]
    if not params:
        return None
    peaks = torch.stack([p.abs().amax() for p in params])
    if bool(torch.isfinite(peaks).all()):
        return None
    return names[int((~torch.isfinite(peaks)).nonzero()[0])]


def checked_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    preset: TrainPreset,
    epoch: int,
    iteration: int,
) -> tuple[float, float]:
    """:func:`optimizer_step` that refuses to go on from a non-finite state. Returns (loss value, learning rate
    of the step); raises TrainingDiverged when the loss is NaN/Inf, the step overflows float32, or a weight
    became NaN/Inf."""
    value = float(loss.detach().item())
    lr = optimizer.param_groups[0]["lr"]
    if not math.isfinite(value):
        raise TrainingDiverged(f"the loss became {value}", epoch, iteration, lr)
    try:
        optimizer_step(model, optimizer, loss, preset)
    except RuntimeError as exc:
        # torch refuses a step size beyond float32 ("value cannot be converted ... without overflow")
        if "overflow" not in str(exc):
            raise
        raise TrainingDiverged("the optimizer step overflowed float32", epoch, iteration, lr) from None
    bad = first_non_finite(model)
    if bad is not None:
        raise TrainingDiverged(f"{bad} became NaN or Inf", epoch, iteration, lr)
    return value, lr


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise QsnnError("--device cuda but no CUDA device is available; use --device cpu or auto")
    return torch.device(device)


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: str, t_max: int):
    """LR schedule, stepped once per iteration. ``cosine`` is never reset, so it keeps cycling with period
    2*t_max (as the paper's code); ``cosine-restarts`` restarts after t_max, 2*t_max, 4*t_max, ...."""
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t_max)
    if schedule == "cosine-restarts":
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=t_max, T_mult=2)
    if schedule == "fixed":
        return None
    raise QsnnError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")


LOSSES = ("mse_count", "ce_count")


def loss_label(loss: str) -> str:
    """The snnTorch name of a preset's loss (``TrainPreset.loss``), as plots and logs label it."""
    if loss not in LOSSES:
        raise QsnnError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    return f"{loss}_loss"


def make_loss(preset: TrainPreset) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The preset's loss on output spikes (T, B, classes): the paper's ``mse_count_loss`` (spike counts pulled
    to ``correct_rate``/``incorrect_rate`` of the steps) or ``ce_count_loss`` (cross-entropy of the counts)."""
    if preset.loss == "mse_count":
        return SF.mse_count_loss(correct_rate=preset.correct_rate, incorrect_rate=preset.incorrect_rate)
    if preset.loss == "ce_count":
        return SF.ce_count_loss()
    raise QsnnError(f"unknown loss {preset.loss!r}; choose one of {', '.join(LOSSES)}")


def _as_tensors(inputs: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor):
    x = torch.as_tensor(inputs)
    y = torch.as_tensor(labels).long()
    return x, y


@torch.no_grad()
def evaluate(
    model: QSNN,
    inputs,
    labels,
    input_scale: float,
    num_steps: int,
    device: torch.device,
    batch_size: int = 256,
    stepwise: bool = False,
    dist: Any = None,
) -> float:
    """Test accuracy (argmax of output spike counts, lowest index on ties). With ``dist`` (a
    :class:`~qsnn_deploy.train.ddp.DistContext`) each rank scores a shard and the counts are summed."""
    x_all, y_all = _as_tensors(inputs, labels)
    indices = torch.arange(len(y_all))
    if dist is not None:
        indices = indices[dist.rank :: dist.world_size]
    was_training = model.training
    model.eval()
    forward = model.forward_stepwise if stepwise else model.forward
    correct = torch.zeros((), dtype=torch.long, device=device)
    for start in range(0, len(indices), batch_size):
        idx = indices[start : start + batch_size]
        x = to_input(x_all[idx].to(device), input_scale)
        correct += (predict(forward(x, num_steps)) == y_all[idx].to(device)).sum()
    if dist is not None:
        correct = dist.all_reduce_sum(correct)
    model.train(was_training)
    return float(correct.item()) / max(1, len(y_all))


def optimizer_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, preset: TrainPreset
):
    """One update of the recipe: backward, the preset's gradient-norm clip, the optimizer step, then the
    preset's weight clip."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if preset.grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), preset.grad_clip)
    optimizer.step()
    if preset.weight_clip is not None:
        with torch.no_grad():
            for p in model.parameters():
                p.clamp_(-preset.weight_clip, preset.weight_clip)


def train_model(
    model: QSNN,
    preset: TrainPreset,
    train_data: tuple[Any, Any, float],
    test_data: tuple[Any, Any, float],
    *,
    epochs: int,
    num_steps: int,
    schedule: str = "cosine",
    seed: int = 0,
    device: str | torch.device = "cpu",
    patience: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    max_iterations: int | None = None,
    stepwise: bool = False,
    progress: bool = True,
    dist: Any = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    shift: int = 0,
) -> TrainResult:
    """Train ``model`` in place and return the best epoch's weights and the logs.

    ``train_data``/``test_data``: ``(inputs, labels, input_scale)`` with uint8 inputs as in
    :class:`qsnn_deploy.data.Dataset`. ``stepwise=True`` trains with the reference step-by-step forward
    (benchmarks). ``max_iterations`` stops after that many optimizer steps (benchmarks, tests).
    ``batch_size`` is the global batch; with ``dist`` each of the ``world_size`` ranks takes its share.
    ``shift``: each training sample moved by up to that many pixels along its last two axes
    (:func:`qsnn_deploy.train.augment.random_shift`, seeded); the test set is never moved.
    """
    device = device if isinstance(device, torch.device) else resolve_device(device)
    batch_size = preset.batch if batch_size is None else batch_size
    lr = preset.lr if lr is None else lr
    patience = preset.patience if patience is None else patience
    if epochs < 1 or num_steps < 1 or batch_size < 1 or not (math.isfinite(lr) and lr > 0):
        raise QsnnError("epochs, num_steps and batch size must be >= 1 and lr a finite number > 0")
    seed_everything(seed)
    model.to(device)
    net: nn.Module = model if dist is None else dist.wrap(model)

    x_train, y_train = _as_tensors(train_data[0], train_data[1])
    train_scale = train_data[2]
    dataset = _Batches(x_train, y_train)
    generator = torch.Generator().manual_seed(seed)
    if dist is None:
        sampler = RandomSampler(dataset, generator=generator)
        local_batch = batch_size
    else:
        sampler = dist.sampler(dataset, seed)
        local_batch = max(1, batch_size // dist.world_size)
    # One index per sample from the sampler, grouped into batches, each batch gathered by one index operation:
    # the same batches, in the same order, as batch_size=local_batch over a TensorDataset, without collate's
    # per-sample views and torch.stack (measured 17x faster per batch of 128 N-MNIST samples).
    loader = DataLoader(dataset, sampler=BatchSampler(sampler, local_batch, drop_last=False), batch_size=None)
    shift_generator = torch.Generator().manual_seed(seed + 1)
    if len(loader) == 0:
        raise QsnnError("the training set is empty; check --train-limit and the data dir")

    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=tuple(preset.adam_betas))
    scheduler = make_scheduler(optimizer, schedule, preset.t_max)
    loss_fn = make_loss(preset)
    is_main = dist is None or dist.rank == 0
    forward = model.forward_stepwise if stepwise else net

    result = TrainResult(best_accuracy=-1.0, best_epoch=0, best_state={})
    iteration = 0
    bad_epochs = 0
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        if dist is not None:
            sampler.set_epoch(epoch)
        model.train()
        epoch_start = time.perf_counter()
        losses: list[float] = []
        # closed on every exit, so an error line (a diverged run) is not left behind a half-drawn bar
        with tqdm(
            loader, desc=f"epoch {epoch}/{epochs}", disable=not (progress and is_main), leave=False
        ) as bar:
            for xb, yb in bar:
                step_start = time.perf_counter()
                xb = random_shift(xb, shift, shift_generator)
                x = to_input(xb.to(device, non_blocking=True), train_scale)
                y = yb.to(device, non_blocking=True)
                out = forward(x, num_steps)
                loss = loss_fn(out, y)
                value, current_lr = checked_step(model, optimizer, loss, preset, epoch, iteration + 1)
                if scheduler is not None:
                    scheduler.step()
                iteration += 1
                losses.append(value)
                seconds = time.perf_counter() - step_start
                step_row = {"epoch": epoch, "iteration": iteration, "loss": value, "lr": current_lr}
                result.iterations.append({**step_row, "seconds": seconds})
                bar.set_postfix(loss=f"{value:.3f}", lr=f"{current_lr:.2e}")
                if max_iterations is not None and iteration >= max_iterations:
                    break
        # Eval mode: the fast forward is torch.equal to the stepwise one (tests/unit/test_models.py).
        accuracy = evaluate(model, test_data[0], test_data[1], test_data[2], num_steps, device, dist=dist)
        row = {
            "epoch": epoch,
            "iteration": iteration,
            "loss": float(np.mean(losses)) if losses else float("nan"),
            "lr": optimizer.param_groups[0]["lr"],
            "test_accuracy": accuracy,
            "seconds": time.perf_counter() - epoch_start,
        }
        result.epochs.append(row)
        if is_main and progress:
            tqdm.write(
                f"epoch {epoch}: loss {row['loss']:.4f}, test accuracy {accuracy:.2%}, {row['seconds']:.1f} s"
            )
        if on_epoch is not None:
            on_epoch(row)
        if accuracy > result.best_accuracy:
            result.best_accuracy, result.best_epoch = accuracy, epoch
            result.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            bad_epochs = 0
        else:
            bad_epochs += 1
            if patience and patience > 0 and bad_epochs >= patience:
                result.stopped_early = epoch < epochs
                break
        if max_iterations is not None and iteration >= max_iterations:
            break
    result.seconds = time.perf_counter() - started
    return result
