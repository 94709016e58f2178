"""The static check of ``verify --from DIR --allow-edited``: the constants in an edited folder are the IR's.

A folder whose edits the user allows is built and run on samples, and a changed constant that those samples do
not reach (a low bit of a requantize multiplier) would pass. So before anything is built, every constant
``codegen`` writes (weights, requantize multipliers, biases and shifts, thresholds, decays, and the geometry
beside them) is read back from the folder and compared, value by value, with the same constant of a fresh render
from the IR. Code around the constants may change freely: each target reads its constants by where they sit
(a C array by name, a Verilog parameter by instance, a ``$readmemh`` word by address, an ONNX initializer by
name), never by the text around them.

Each target reads its own files in ``targets/<name>/constants.py`` (``constants(model, files)``); this module
holds what they share: the record of one constant, a reader that never follows a link or blocks on a FIFO, and
the comparison that names the first difference in one line (``StaticCheckError``, exit code 2).
"""

from __future__ import annotations

import importlib
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.targets.base import CheckedModel

Value = int | str  # a constant's value; text where a token is not an integer literal (``true``, ``x``)
# (position, value in the folder, value from the IR) of a stored element -> what it is in IR terms, e.g.
# ("conv1 weight[3, 0, 1, 2]", "-3", "5"); None when the stored values agree after all.
Decoder = Callable[[int, Value, Value], "tuple[str, str, str] | None"]

# A file the folder holds may be this many times larger than codegen's, plus SLACK bytes (comments, code).
GROWTH, SLACK = 16, 1 << 20


class StaticCheckError(VerificationError):
    """A constant in a ``verify --from --allow-edited`` folder differs from the IR's, or cannot be read. A
    verification failure found before any build; it exits 2 like the other refusals of a ``--from`` folder."""

    exit_code = 2


@dataclass(frozen=True)
class Constant:
    """One constant as a target stores it: ``values`` in storage order, each on line ``lines[i]`` of ``file``
    (no lines for a binary file such as an ONNX model: ``name`` then locates it)."""

    file: str
    name: str  # where it sits: a C identifier, ``u_lif1.THRESH``, an ONNX initializer, a memory image
    quantity: str  # the IR quantity it holds, e.g. "rq1 multiplier"
    values: tuple[Value, ...]
    lines: tuple[int, ...] = ()
    decode: Decoder | None = None  # storage index -> IR index and values (packed weights, ROM words)
    radix: int = 10  # how a stored value is shown: 16 for the words of a memory image
    layer: str = ""  # the LIF op that ends the layer it belongs to, as the behavioural check names layers

    def shown(self, value: Value) -> str:
        return f"0x{value:x}" if self.radix == 16 and isinstance(value, int) and value >= 0 else str(value)

    def location(self, index: int) -> str:
        if self.lines:
            return f"{self.file}:{self.lines[min(index, len(self.lines) - 1)]}"
        return f"{self.file}, {self.name}"


class FolderFiles:
    """Reads the files of a folder as regular files only: never through a link, never blocking on a FIFO,
    never more than ``limits[name]`` bytes (a file codegen does not write is not read at all)."""

    def __init__(self, root: Path, limits: Mapping[str, int] | None = None) -> None:
        self.root = Path(root)
        self.limits = limits

    def data(self, name: str) -> bytes | None:
        """The bytes of ``name``, or None where there is no such entry."""
        path = self.root / name
        if not os.path.lexists(path):
            return None
        limit = None if self.limits is None else self.limits.get(name, 0)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            raise StaticCheckError(
                f"static check: {name} is not a regular file; regenerate the folder"
            ) from None
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise StaticCheckError(f"static check: {name} is not a regular file; regenerate the folder")
            if limit is not None and info.st_size > limit:
                raise StaticCheckError(
                    f"static check: {name} holds {info.st_size} bytes, more than the {limit} the check reads "
                    "for it; regenerate the folder"
                )
            return f.read(limit + 1 if limit is not None else -1)

    def text(self, name: str) -> str | None:
        data = self.data(name)
        return None if data is None else data.decode("utf-8", errors="replace")


def line_starts(text: str) -> list[int]:
    """Offsets at which each line of ``text`` starts (for ``line_of``)."""
    return [0] + [m.end() for m in re.finditer("\n", text)]


def line_of(starts: Sequence[int], offset: int) -> int:
    """The 1-based line holding ``offset``."""
    from bisect import bisect_right

    return bisect_right(starts, offset)


def signed(value: int, bits: int) -> int:
    """The two's-complement value of the low ``bits`` of ``value``."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def weight_name(op: str, shape: Sequence[int], n: int) -> str:
    """``op weight[o, c, kh, kw]`` (conv) or ``op weight[o, i]`` (linear) of input-major element ``n``: the
    order in which the C, HLS and Verilog targets store weights, (C, KH, KW, O) or (I, O)."""
    out, rest = shape[0], tuple(shape[1:])
    inner = [int(x) for x in np.unravel_index(n // out, rest)] if rest else []
    return f"{op} weight[{', '.join(str(x) for x in [n % out, *inner])}]"


Field = tuple[int, int, str, Callable[[int], int]]  # bit offset, width, IR name, raw bits -> IR value


def field_difference(got: Value, want: Value, fields: Iterable[Field]) -> tuple[str, str, str] | None:
    """The first of ``fields`` that differs between two stored words, as (its IR name, the folder's value, the
    IR's value); None where the words are not both integers or every field agrees (a padding bit differs)."""
    if not isinstance(got, int) or not isinstance(want, int):
        return None
    for offset, bits, name, value in fields:
        mask = (1 << bits) - 1
        a, b = value((got >> offset) & mask), value((want >> offset) & mask)
        if a != b:
            return name, str(a), str(b)
    return None


def _named(want: Constant, got: Constant, i: int, a: Value, b: Value) -> str:
    """One line for element ``i`` that differs: where it is, what it is in the IR, both values, and the stored
    values too where the IR's differ from them (a packed byte, a ROM word)."""
    decoded = want.decode(i, a, b) if want.decode else None
    single = len(want.values) == 1
    what, shown_a, shown_b = decoded or (want.quantity if single else f"{want.quantity}[{i}]", want.shown(a),
                                         want.shown(b))  # fmt: skip
    if want.layer and not what.startswith(f"{want.layer} "):  # a LIF's own constant names its layer already
        what += f" in layer {want.layer!r}"
    stored = want.name if single else f"{want.name}[{i}]"
    raw = (want.shown(a), want.shown(b))
    if raw != (shown_a, shown_b):
        stored += f", stored {raw[0]}, codegen writes {raw[1]}"
    if not want.lines:  # a binary file: the location is the name
        return f"{want.file}, {stored}: {what} is {shown_a}, the IR gives {shown_b}"
    return f"{got.location(i)}: {what} is {shown_a}, the IR gives {shown_b} ({stored})"


def first_difference(want: Iterable[Constant], got: Iterable[Constant]) -> str | None:
    """The first constant of ``want`` (the fresh render, in its order) that ``got`` (the folder) lacks or holds
    with another value, as one line; None when every constant agrees. Constants only the folder has are code
    the user added and are not compared."""
    found = {(c.file, c.name): c for c in got}
    for w in want:
        g = found.get((w.file, w.name))
        if g is None:
            where = f"line {w.lines[0]}" if w.lines else "its place"
            return (
                f"{w.file} no longer holds {w.name} ({w.quantity}; codegen writes it at {where}), so it cannot "
                "be compared with the IR; keep the constants where codegen writes them"
            )
        for i, (a, b) in enumerate(zip(g.values, w.values)):
            if a != b:
                return _named(w, g, i, a, b)
        if len(g.values) != len(w.values):
            return (
                f"{g.location(len(g.values))}: {w.name} ({w.quantity}) holds {len(g.values)} values, the IR "
                f"gives {len(w.values)}"
            )
    return None


def target_constants(target: str) -> Callable[[CheckedModel, FolderFiles], list[Constant]] | None:
    """The ``constants`` reader of a target (``targets/<name>/constants.py``), or None where it has none."""
    name = f"qsnn_deploy.targets.{target}.constants"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:  # the module exists and lacks something: a bug, not a target without a check
            raise
        return None
    return module.constants


def check_constants(target: str, model: CheckedModel, fresh: Path, folder: Path) -> bool:
    """Compare the constants of ``folder`` with those of ``fresh`` (codegen's render of the same IR and options);
    ``StaticCheckError`` names the first difference. False where the target has no static check (nir)."""
    reader = target_constants(target)
    if reader is None:
        return False
    fresh = Path(fresh)
    limits = {
        p.relative_to(fresh).as_posix(): p.stat().st_size * GROWTH + SLACK
        for p in fresh.rglob("*")
        if p.is_file()
    }
    want = reader(model, FolderFiles(fresh))
    got = reader(model, FolderFiles(Path(folder), limits))
    problem = first_difference(want, got)
    if problem:
        raise StaticCheckError(
            f"static check: {problem}; the constants of a folder verified with --allow-edited must be the IR's "
            "(regenerate it with `qsnn-deploy codegen`)"
        )
    return True


__all__ = [
    "Constant",
    "Decoder",
    "Field",
    "FolderFiles",
    "StaticCheckError",
    "check_constants",
    "field_difference",
    "first_difference",
    "line_of",
    "line_starts",
    "signed",
    "target_constants",
    "weight_name",
]
