"""``qsnn-deploy train``: load the data, build the preset's QSNN, train, and write into ``--out``:

* ``model.pt``    -- checkpoint of the best epoch (``qsnn_deploy.models.checkpoint`` format);
* ``metrics.csv`` -- one CSV, ``kind`` column: ``iter`` rows (epoch, iteration, loss, lr) for every optimizer
  step and ``epoch`` rows (epoch, iteration, mean train loss, lr, test_accuracy, seconds) after each epoch;
* ``metrics.png`` -- loss and LR per iteration, test accuracy per epoch.

Every file is written to a temporary name and moved into place. Under ``torchrun`` only rank 0 writes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from pathlib import Path
from typing import Any

import click

from qsnn_deploy.atomic import write_bytes_atomic
from qsnn_deploy.errors import DatasetError, QsnnError
from qsnn_deploy.models import torch_stack

# Without the float toolchain, one line says what to install (the CLI prints it), before any option is checked
# and not as an import traceback; as importing qsnn_deploy.train does.
torch_stack.require("train")

CSV_FIELDS = ("kind", "epoch", "iteration", "loss", "lr", "test_accuracy", "seconds")


def write_metrics_csv(path: Path, iterations: list[dict[str, Any]], epochs: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in iterations:
        writer.writerow({"kind": "iter", **row})
    for row in epochs:
        writer.writerow({"kind": "epoch", **row})
    write_bytes_atomic(path, buf.getvalue().encode())


def write_metrics_png(
    path: Path,
    iterations: list[dict[str, Any]],
    epochs: list[dict[str, Any]],
    title: str,
    loss_label: str = "loss",
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    its = [r["iteration"] for r in iterations]
    axes[0].plot(its, [r["loss"] for r in iterations], lw=0.8)
    axes[0].set(xlabel="iteration", ylabel=loss_label, title="training loss")
    axes[1].plot(its, [r["lr"] for r in iterations], lw=0.8, color="tab:orange")
    axes[1].set(xlabel="iteration", ylabel="learning rate", title="LR schedule")
    axes[2].plot(
        [r["epoch"] for r in epochs], [100 * r["test_accuracy"] for r in epochs], "o-", color="tab:green"
    )
    axes[2].set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())


def load_initial_weights(model, config, path: Path) -> None:
    """Copy the weights of the checkpoint at ``path`` into ``model`` (``--init``). The checkpoint must hold the
    same network: same preset architecture, bits and layer shapes; anything else is a CheckpointError. The
    dropout rate may differ (it acts in training only and has no weights, so a fine-tune may change it), and so
    may ``learn_neurons`` (a fine-tune may start learning beta and threshold from fixed ones)."""
    from qsnn_deploy.errors import CheckpointError
    from qsnn_deploy.models.checkpoint import load_checkpoint

    if not path.is_file():
        raise CheckpointError(f"--init {path}: no such file")
    initial, initial_config, _ = load_checkpoint(path)
    # neither has weights of its own: dropout acts in training only, and a learned beta or threshold is stored
    # under the same state_dict key as a fixed one
    initial_config = dataclasses.replace(
        initial_config, dropout=config.dropout, learn_neurons=config.learn_neurons
    )
    if initial_config != config:
        diff = [
            f"{f.name} {getattr(initial_config, f.name)!r} (want {getattr(config, f.name)!r})"
            for f in dataclasses.fields(config)
            if getattr(initial_config, f.name) != getattr(config, f.name)
        ]
        raise CheckpointError(f"--init {path} holds a different network: {', '.join(diff)}")
    model.load_state_dict(initial.state_dict())


def train_from_cli(
    dataset: str,
    bits: int = 4,
    epochs: int | None = None,
    num_steps: int | None = None,
    schedule: str = "cosine",
    data_dir: Path | None = None,
    out: Path = Path("runs/latest"),
    seed: int = 0,
    device: str = "auto",
    train_limit: int | None = None,
    test_limit: int | None = None,
    patience: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    init_from: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run ``qsnn-deploy train``; returns a summary dict (also printed as one line by rank 0)."""
    from qsnn_deploy.models.presets import get_preset  # no torch import: bad options fail fast

    preset = get_preset(dataset)
    if bits < 0 or bits == 1 or bits > 16:
        raise QsnnError(f"--bits {bits} is not supported; use 2..16, or 0 for a float model")
    for name, value in (("epochs", epochs), ("num-steps", num_steps), ("batch-size", batch_size)):
        if value is not None and value < 1:
            raise QsnnError(f"--{name} must be >= 1, got {value}")
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise QsnnError(f"--lr must be a finite number > 0, got {lr}")
    if data_dir is not None and not Path(data_dir).is_dir():
        raise DatasetError(
            f"data dir {data_dir} does not exist; pass --data-dir <datasets root> or set QSNN_DATA_DIR"
        )
    from qsnn_deploy.outputs import refuse_outputs_over_inputs

    written = [("--out", Path(out) / name) for name in ("model.pt", "metrics.csv", "metrics.png")]
    refuse_outputs_over_inputs(written, [("--init", init_from)])
    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.models import build_model, save_checkpoint
    from qsnn_deploy.train import ddp
    from qsnn_deploy.train.loop import loss_label, seed_everything, train_model

    config = preset.model.with_bits(bits or None)
    # The recipe as run: the preset with the command line's overrides, resolved once, so that the checkpoint
    # records exactly what the training used.
    overrides = {
        "lr": lr,
        "batch": batch_size,
        "patience": patience,
        "num_steps": num_steps,
        "epochs": epochs,
    }
    recipe = dataclasses.replace(preset.train, **{k: v for k, v in overrides.items() if v is not None})
    steps, epochs = recipe.num_steps, recipe.epochs

    train_ds = load_dataset(dataset, "train", data_dir=data_dir, limit=train_limit, num_steps=steps)
    test_ds = load_dataset(dataset, "test", data_dir=data_dir, limit=test_limit, num_steps=steps)
    if len(train_ds) == 0 or len(test_ds) == 0:
        raise DatasetError(f"{dataset}: empty train or test split; check --train-limit/--test-limit")

    dist = ddp.init_distributed(device) if ddp.launched_by_torchrun() else None
    try:
        seed_everything(seed)
        model = build_model(config)
        if init_from is not None:
            load_initial_weights(model, config, Path(init_from))
        result = train_model(
            model,
            recipe,
            (train_ds.inputs, train_ds.labels, train_ds.input_scale),
            (test_ds.inputs, test_ds.labels, test_ds.input_scale),
            epochs=epochs,
            num_steps=steps,
            schedule=schedule,
            seed=seed,
            device=dist.device if dist is not None else device,
            progress=progress,
            dist=dist,
        )
        summary = {
            "dataset": dataset,
            "bits": config.bits,
            "best_test_accuracy": result.best_accuracy,
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.epochs),
            "iterations": len(result.iterations),
            "seconds": result.seconds,
            "test_samples": len(test_ds),
            "out": str(out),
        }
        if dist is None or dist.is_main:
            out = Path(out)
            out.mkdir(parents=True, exist_ok=True)
            model.load_state_dict(result.best_state)
            metrics = {
                "test_accuracy": result.best_accuracy,
                "epoch": result.best_epoch,
                "num_steps": steps,
                "seed": seed,
                "iterations": len(result.iterations),
                "seconds": result.seconds,
            }
            save_checkpoint(out / "model.pt", model.cpu(), config, recipe, metrics, init_from=init_from)
            write_metrics_csv(out / "metrics.csv", result.iterations, result.epochs)
            bits_name = f"{config.bits}-bit" if config.bits else "float"
            write_metrics_png(
                out / "metrics.png",
                result.iterations,
                result.epochs,
                f"{dataset} {bits_name}",
                loss_label=loss_label(recipe.loss),
            )
            click.echo(
                f"{dataset} {bits_name}: best test accuracy {result.best_accuracy:.2%} at epoch "
                f"{result.best_epoch}/{len(result.epochs)} on {len(test_ds)} samples, "
                f"{len(result.iterations)} iterations in {result.seconds:.1f} s -> {out / 'model.pt'}"
            )
        if dist is not None:
            dist.barrier()
        return summary
    finally:
        ddp.shutdown(dist)
