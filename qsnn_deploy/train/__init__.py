"""Training: the paper's loop (loop.py), the CLI runner (runner.py) and data parallelism (ddp.py)."""

from qsnn_deploy.train.loop import SCHEDULES, TrainResult, evaluate, make_scheduler, train_model

__all__ = ["SCHEDULES", "TrainResult", "evaluate", "make_scheduler", "train_model"]
