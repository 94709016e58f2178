"""Training: the paper's loop (loop.py) and data parallelism (ddp.py); the `train` command is commands/train.py."""

from qsnn_deploy.models import torch_stack

# Without the float toolchain, one line says what to install (the CLI prints it), not an import traceback.
torch_stack.require("train")

from qsnn_deploy.train.loop import SCHEDULES, TrainResult, evaluate, make_scheduler, train_model  # noqa: E402

__all__ = ["SCHEDULES", "TrainResult", "evaluate", "make_scheduler", "train_model"]
