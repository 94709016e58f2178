"""Click parameter types shared by the commands, so that every option means the same at every command and
is checked while the command line is parsed, before any work starts.

- ``OUTPUT_FILE`` / ``OUTPUT_DIR``: ``--out`` and ``--json``, checked by ``outputs.check_output_*`` (a
  special file, a read-only or full file system: one line, before training or exporting).
- ``COUNT``: ``--limit`` and friends, at least 1; there is no "0 means all" anywhere.
- ``NUM_STEPS``: 1..``MAX_NUM_STEPS``, the bound a ``.qsnn`` file has (docs/ir/file-format.md#limits).
- ``WEIGHT_BITS``: the widths ``export`` supports (2..8, ``EXPORT_BITS``), or 0 for a float model.
- ``SEED``: what NumPy and torch accept as a seed.
- ``POSITIVE_REAL``: a finite number above 0 (``--dt``, ``--input-scale``).
"""

from __future__ import annotations

import math
from pathlib import Path

import click

from qsnn_deploy.ir.limits import MAX_NUM_STEPS
from qsnn_deploy.outputs import OutputPathError, check_output_dir, check_output_file

# The IR's weight types are int2..int8 (docs/ir/ops.md, conv2d and linear); a model trained with other
# widths could never be exported.
MIN_WEIGHT_BITS, MAX_WEIGHT_BITS = 2, 8


class OutputPath(click.ParamType):
    """A path the command will write: a regular file (``kind="file"``) or a folder (``kind="dir"``) in which
    it will write ``files``."""

    def __init__(self, kind: str, files: tuple[str, ...] = ()):
        self.kind = kind
        self.files = files
        self.name = "file" if kind == "file" else "directory"

    def convert(self, value, param, ctx) -> Path:
        try:
            if self.kind == "file":
                return check_output_file(Path(value))
            return check_output_dir(Path(value), self.files)
        except OutputPathError as exc:
            # A QsnnError, not a click usage error: the CLI prints it as one line like every user mistake.
            option = param.opts[0] if param is not None and param.opts else "output"
            raise OutputPathError(f"{option}: {exc}") from None


class WeightBits(click.ParamType):
    name = "bits"

    def convert(self, value, param, ctx) -> int:
        bits = click.INT.convert(value, param, ctx)
        if bits != 0 and not MIN_WEIGHT_BITS <= bits <= MAX_WEIGHT_BITS:
            self.fail(
                f"{bits} is not supported: use {MIN_WEIGHT_BITS}..{MAX_WEIGHT_BITS} (the widths export "
                "supports), or 0 for a float model",
                param,
                ctx,
            )
        return bits


class PositiveReal(click.ParamType):
    """A finite real number above 0 (``--dt``, ``--input-scale``): click's FloatRange lets inf and nan
    through, and a time step of inf turns every leak into no leak without a word."""

    name = "positive real"

    def convert(self, value, param, ctx) -> float:
        number = click.FLOAT.convert(value, param, ctx)
        if not (math.isfinite(number) and number > 0):
            self.fail(f"{value!r} is not a finite number above 0", param, ctx)
        return number


OUTPUT_FILE = OutputPath("file")
OUTPUT_DIR = OutputPath("dir")
# What ``train`` writes into --out (qsnn_deploy/commands/train.py), checked before hours of training.
TRAIN_RUN_DIR = OutputPath("dir", files=("model.pt", "metrics.csv", "metrics.png"))
COUNT = click.IntRange(min=1)
NUM_STEPS = click.IntRange(min=1, max=MAX_NUM_STEPS)
WEIGHT_BITS = WeightBits()
EXPORT_BITS = click.IntRange(min=MIN_WEIGHT_BITS, max=MAX_WEIGHT_BITS)
PATIENCE = click.IntRange(min=0)  # 0: no early stopping
SEED = click.IntRange(min=0, max=2**32 - 1)
POSITIVE_REAL = PositiveReal()

__all__ = [
    "COUNT",
    "EXPORT_BITS",
    "NUM_STEPS",
    "OUTPUT_DIR",
    "OUTPUT_FILE",
    "PATIENCE",
    "POSITIVE_REAL",
    "SEED",
    "TRAIN_RUN_DIR",
    "WEIGHT_BITS",
    "OutputPath",
]
