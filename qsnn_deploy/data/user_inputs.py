"""Your own data: ``--inputs FILE.npy`` (and optionally ``--labels FILE.npy``) for ``simulate``, ``verify``
and ``report``, for networks whose data set is not built in (docs/datasets.md#your-own-data).

The files are what ``numpy.save`` writes, and they are data from a stranger (docs/trust-model.md): nothing is
unpickled. The header is parsed with ``numpy.lib.format`` and checked against the model and the limits of
``qsnn_deploy.ir.limits`` before a byte of the array is read; then exactly the samples needed are read into
memory. The result has the layout of a built-in ``Dataset``: ``uint8 (N, C, H, W)`` frames for a static model
(the same frame at every step), ``uint8 (N, T, C, H, W)`` for a stream model (frame ``t`` at step ``t``).
Every defect is a ``DatasetError`` naming the option, the file and what to do.
"""

from __future__ import annotations

import math
import os
import stat
import struct
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from qsnn_deploy.data.frames import reshapes_to
from qsnn_deploy.errors import DatasetError, QsnnError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.limits import MAX_ACTIVATION_ELEMENTS, MAX_DIM, MAX_NUM_STEPS

MAX_INPUT_BYTES = 1 << 32
"""The most input bytes read into memory (after ``--limit``): 4 GiB, e.g. 10,000 samples of 100 frames of
2x64x64 events. A larger file is read in parts with ``--limit``."""
MAX_HEADER_BYTES = 10_000  # numpy's own bound on a header it parses without allow_pickle
SAVE_HINT = "save a uint8 array with numpy.save (docs/datasets.md#your-own-data)"


@dataclass(frozen=True)
class UserInputs:
    """Inputs (and labels) read from ``.npy`` files, shaped for one graph.

    ``inputs``: ``uint8 (N, C, H, W)`` or ``(N, T, C, H, W)`` with ``T`` the steps of the run; ``labels``:
    ``int64 (N,)`` in ``[0, num_classes)``, or None. ``notes``: what was adapted (a flattened frame, frames
    left unused), for the report."""

    inputs: np.ndarray
    labels: np.ndarray | None
    source: str
    labels_source: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The file name, as reports show it."""
        return Path(self.source).name

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int  # where the data starts
    data_bytes: int  # how many bytes follow the header in the file


def check_source(dataset: str | None, inputs: Path | None, labels: Path | None) -> None:
    """``--inputs`` and ``--dataset`` name the test data two ways: at most one; ``--labels`` needs
    ``--inputs``. Runs before any file is read."""
    if inputs is not None and dataset is not None:
        raise QsnnError(
            f"--inputs and --dataset are exclusive: simulate your own file {inputs} or the test set of "
            f"{dataset}, not both"
        )
    if labels is not None and inputs is None:
        raise QsnnError("--labels goes with --inputs FILE.npy (a built-in dataset brings its own labels)")


def _open_regular(path: Path, option: str) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file. O_NONBLOCK: opening a FIFO must not wait for a
    writer; the type is checked on the open descriptor, so the file cannot be swapped after the check."""
    where = f"{option} {path}"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DatasetError(f"{where}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{where}: cannot be opened ({exc.strerror or exc})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, socket or device)"
        raise DatasetError(f"{where}: is {kind}; pass a .npy file that numpy.save wrote")
    return os.fdopen(fd, "rb")


def read_header(f: BinaryIO, where: str) -> NpyHeader:
    """The header of the ``.npy`` file open in ``f``, checked to be a plain array (no Python objects) whose
    data fills the rest of the file exactly. Reads only the header."""
    size = os.fstat(f.fileno()).st_size
    start = f.read(12)
    if start[:6] != npy_format.MAGIC_PREFIX:
        zip_hint = (
            " (it is a zip: a .npz archive? save one array with numpy.save)" if start[:2] == b"PK" else ""
        )
        raise DatasetError(f"{where}: not a .npy file{zip_hint}; {SAVE_HINT}")
    if len(start) < 10:
        raise DatasetError(f"{where}: truncated in its header ({size} bytes); {SAVE_HINT}")
    version = (start[6], start[7])
    if version not in ((1, 0), (2, 0)):
        raise DatasetError(f"{where}: .npy format version {version[0]}.{version[1]} is not read; {SAVE_HINT}")
    # The header's length field is read before numpy reads the header, so a length of 4 GiB is refused
    # without numpy asking for a buffer that large.
    length_format = "<H" if version == (1, 0) else "<I"
    width = struct.calcsize(length_format)
    if len(start) < 8 + width:
        raise DatasetError(f"{where}: truncated in its header ({size} bytes); {SAVE_HINT}")
    (length,) = struct.unpack(length_format, start[8 : 8 + width])
    if length > MAX_HEADER_BYTES:
        raise DatasetError(
            f"{where}: its header claims {length} bytes, more than {MAX_HEADER_BYTES}; {SAVE_HINT}"
        )
    if 8 + width + length > size:
        raise DatasetError(f"{where}: truncated in its header ({size} bytes); {SAVE_HINT}")
    f.seek(8)
    read = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
    try:
        shape, fortran_order, dtype = read(f, max_header_size=MAX_HEADER_BYTES)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError, tokenize.TokenError) as exc:
        # numpy parses the header's dict with ast (and, for old files, tokenize): each raises its own errors
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DatasetError(f"{where}: malformed .npy header ({reason}); {SAVE_HINT}") from None
    if dtype.hasobject:
        raise DatasetError(f"{where}: holds Python objects (a pickle), which are never loaded; {SAVE_HINT}")
    if any(d < 0 for d in shape):
        raise DatasetError(f"{where}: malformed .npy header (shape {shape}); {SAVE_HINT}")
    offset = f.tell()
    return NpyHeader(tuple(int(d) for d in shape), dtype, bool(fortran_order), offset, size - offset)


def _check_size(header: NpyHeader, where: str) -> None:
    expected = math.prod(header.shape) * header.dtype.itemsize
    if header.data_bytes < expected:
        raise DatasetError(
            f"{where}: truncated: the header announces an array of shape {header.shape} ({expected} bytes of "
            f"data), the file holds {header.data_bytes}"
        )
    if header.data_bytes > expected:
        raise DatasetError(
            f"{where}: {header.data_bytes - expected} bytes follow the array of shape {header.shape}; not a "
            f"file numpy.save wrote ({SAVE_HINT})"
        )


def _read_samples(f: BinaryIO, header: NpyHeader, count: int, where: str) -> np.ndarray:
    """The first ``count`` samples (along axis 0) of the array, read exactly: a C-order file is read only as
    far as needed; a Fortran-order one (rare: numpy.save of a transposed array) whole."""
    shape = header.shape
    per_sample = math.prod(shape[1:]) * header.dtype.itemsize
    rows = shape[0] if header.fortran_order else count
    buffer = np.empty(rows * per_sample, dtype=np.uint8)
    f.seek(header.offset)
    got = f.readinto(memoryview(buffer)) if len(buffer) else 0
    if got != len(buffer):  # the file shrank after its size was checked
        raise DatasetError(f"{where}: truncated while being read")
    data = buffer.view(header.dtype)
    if header.fortran_order:
        return np.ascontiguousarray(data.reshape(shape, order="F")[:count])
    return data.reshape((count, *shape[1:]))


def _frame_for(graph: Graph, frame: tuple[int, ...], where: str, layout: str) -> tuple[int, int, int] | None:
    """None when ``frame`` is the model's input shape; the model's shape when the frame is accepted by
    reshaping it in C, H, W order (one side flat, ``(1, 1, F)``, with as many values as the other: the rule of
    ``data/frames.py`` for the built-in datasets); else raises naming both shapes."""
    want = tuple(graph.input.shape)
    if frame == want:
        return None
    if reshapes_to(frame, want):
        return want
    raise DatasetError(
        f"{where}: frames of shape {frame}, the model takes {want} ({graph.input.encoding} input {layout}); "
        "save frames of the model's input shape"
    )


def load_user_inputs(
    graph: Graph,
    inputs: Path,
    labels: Path | None = None,
    *,
    limit: int | None = None,
    num_steps: int | None = None,
) -> UserInputs:
    """Read ``inputs`` (and ``labels``) for ``graph``: the first ``limit`` samples, and for a stream model
    the first ``num_steps`` (default: the graph's) frames of each. Raises ``DatasetError`` on any defect."""
    if limit is not None and limit < 1:
        raise QsnnError(f"--limit must be >= 1, got {limit}")
    steps = num_steps or graph.num_steps
    stream = graph.input.encoding == "stream"
    layout = "(N, T, C, H, W)" if stream else "(N, C, H, W)"
    where = f"--inputs {inputs}"
    notes: list[str] = []
    with _open_regular(Path(inputs), "--inputs") as f:
        header = read_header(f, where)
        shape = header.shape
        if header.dtype != np.uint8:
            raise DatasetError(
                f"{where}: dtype {header.dtype}, expected uint8 {layout} frames; convert with "
                "frames.astype(numpy.uint8) after scaling to the model's input units"
            )
        if len(shape) != len(layout.split(",")):
            raise DatasetError(
                f"{where}: an array of shape {shape}; a {graph.input.encoding} model takes uint8 {layout} "
                f"with (C, H, W) = {tuple(graph.input.shape)}"
            )
        if shape[0] < 1:
            raise DatasetError(f"{where}: holds no samples (shape {shape})")
        if stream and not 1 <= shape[1] <= MAX_NUM_STEPS:
            raise DatasetError(
                f"{where}: {shape[1]} frames per sample, outside the limit [1, {MAX_NUM_STEPS}]"
            )
        frame = shape[-3:]
        if max(frame) > MAX_DIM or math.prod(frame) > MAX_ACTIVATION_ELEMENTS:
            raise DatasetError(
                f"{where}: frames of shape {frame} exceed the limits (each size <= {MAX_DIM}, at most "
                f"{MAX_ACTIVATION_ELEMENTS} values)"
            )
        flat = _frame_for(graph, frame, where, layout)
        if stream and shape[1] < steps:
            raise DatasetError(
                f"{where}: {shape[1]} frames per sample, fewer than the {steps} steps of the run; record more "
                f"frames or pass --num-steps {shape[1]}"
            )
        _check_size(header, where)
        count = shape[0] if limit is None else min(limit, shape[0])
        needed = (shape[0] if header.fortran_order else count) * math.prod(shape[1:])
        if needed > MAX_INPUT_BYTES:
            raise DatasetError(
                f"{where}: reading {count} samples needs {needed} bytes, more than the limit {MAX_INPUT_BYTES}; "
                "pass --limit or split the file"
            )
        data = _read_samples(f, header, count, where)
    if stream and shape[1] > steps:
        data = np.ascontiguousarray(data[:, :steps])
        notes.append(f"{Path(inputs).name} holds {shape[1]} frames per sample; the first {steps} are used")
    if flat is not None:
        data = data.reshape(*data.shape[: data.ndim - 3], *flat)
        notes.append(
            f"{Path(inputs).name}: frames of shape {frame} read in C, H, W order as the model's input {flat}"
        )
    if not graph.input.dtype.contains(data):
        raise DatasetError(
            f"{where}: values {int(data.min())}..{int(data.max())} leave the model's input type "
            f"{graph.input.dtype}"
        )
    label_values = None if labels is None else _load_labels(Path(labels), shape[0], count, graph.num_classes)
    return UserInputs(data, label_values, str(inputs), None if labels is None else str(labels), tuple(notes))


def _load_labels(path: Path, samples: int, count: int, num_classes: int) -> np.ndarray:
    where = f"--labels {path}"
    with _open_regular(path, "--labels") as f:
        header = read_header(f, where)
        if header.dtype.kind not in "iu" or header.dtype.fields is not None:
            raise DatasetError(f"{where}: dtype {header.dtype}, expected integer class indices (N,)")
        if header.shape != (samples,):
            raise DatasetError(
                f"{where}: an array of shape {header.shape}, expected ({samples},): one label per input sample"
            )
        _check_size(header, where)
        values = _read_samples(f, header, count, where).astype(np.int64)
    if len(values) and (values.min() < 0 or values.max() >= num_classes):
        bad = int(values[(values < 0) | (values >= num_classes)][0])
        raise DatasetError(
            f"{where}: label {bad} is outside [0, {num_classes}) (the model has {num_classes} classes)"
        )
    return values
