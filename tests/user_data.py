"""Helpers of the ``--inputs FILE.npy`` tests: small MLP graphs whose input no built-in dataset has (a
12-channel stream like a tactile sensor, a flat static vector), and .npy files as other tools write them."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from qsnn_deploy.ir.graph import Graph, InputSpec
from qsnn_deploy.ir.ops import LIF, Linear, Requantize
from qsnn_deploy.ir.types import UINT8, IntType


def mlp_graph(
    shape: tuple[int, int, int] = (12, 1, 1),
    encoding: str = "stream",
    hidden: int = 40,
    classes: int = 7,
    num_steps: int = 8,
    seed: int = 0,
) -> Graph:
    """Linear -> LIF -> Linear -> LIF with random 4-bit weights, scaled so that both layers spike on sparse
    event counts (stream) or on random pixels (static)."""
    rng = np.random.default_rng(seed)
    threshold = 1 << 16
    x_max = 3 if encoding == "stream" else 255

    def requant(name: str, channels: int, fan_in: float, value: float) -> Requantize:
        ratio = threshold / 2 / max(1.0, np.sqrt(fan_in) * 7 * value / 2)
        shift = int(np.clip(np.floor(np.log2((1 << 29) / ratio)), 0, 24))
        mult = np.maximum(1, ratio * (1 << shift) * rng.uniform(0.5, 1.5, channels)).astype(np.int64)
        bias = (rng.uniform(0.0, 0.5, channels) * threshold / 4 * (1 << shift)).astype(np.int64)
        return Requantize(name, mult, bias, shift, IntType(32))

    def lif(name: str) -> LIF:
        return LIF(name, threshold, 230, 8, "subtract", IntType(32))

    features = int(np.prod(shape))
    ops = (
        Linear("fc1", rng.integers(-7, 8, (hidden, features)), IntType(4)),
        requant("rq1", hidden, features, x_max),
        lif("lif1"),
        Linear("fc2", rng.integers(-7, 8, (classes, hidden)), IntType(4)),
        requant("rq2", classes, hidden * 0.3, 1),
        lif("lif2"),
    )
    spec = InputSpec(shape, UINT8, encoding, 1.0 if encoding == "stream" else 1 / 255)
    return Graph(spec, ops, num_steps, metadata={"source": "tests/user_data.py"}).validate()


def events(n: int, steps: int, frame: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Sparse uint8 event counts (N, T, *frame)."""
    rng = np.random.default_rng(seed)
    hits = rng.random((n, steps, *frame)) < 0.3
    return (hits * rng.integers(1, 4, (n, steps, *frame))).astype(np.uint8)


def npy_bytes(shape: tuple[int, ...], descr: str = "|u1", version: int = 1, fortran: bool = False) -> bytes:
    """The header numpy.save would write for ``shape`` and ``descr`` (no data): lets a test claim any shape
    without holding the array."""
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape!r}, }}"
    length_format = "<H" if version == 1 else "<I"
    prefix = 8 + struct.calcsize(length_format)
    header += " " * ((-(prefix + len(header) + 1)) % 64) + "\n"
    magic = b"\x93NUMPY" + bytes([version, 0])
    return magic + struct.pack(length_format, len(header)) + header.encode("latin1")


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
