"""What every fuzz suite shares (tests/unit/test_fuzz_*.py, beside the IR loader's test_ir_fuzz.py): byte-level
mutations, the case counts, and the one rule each case is held to.

The rule: whatever a stranger's file holds, the reader under test returns or raises a ``QsnnError`` subclass
whose message is one line (the CLI prints it and exits 2); any other exception is a bug in the reader. Each case
draws its mutations from ``np.random.default_rng([seed, case])``, so a failing case is replayed from the two
numbers the failure names, alone. The normal suite runs a few cases per family; ``-m slow`` runs
``SLOW_CASES`` per family (``QSNN_FUZZ_CASES`` changes it; ``./run-tests.sh -m slow -k fuzz``).
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qsnn_deploy.errors import QsnnError

SLOW_CASES = int(os.environ.get("QSNN_FUZZ_CASES", "1000"))

Rng = np.random.Generator

# Numbers a hostile file or command line offers where a count, a size or a real is expected.
HOSTILE_NUMBERS = [
    0, -1, 1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63), 0.5, -0.0, 1e-300, 1e300,
    float("inf"), float("-inf"), float("nan"),
]  # fmt: skip


def pick(rng: Rng, items: list):
    return items[int(rng.integers(len(items)))]


# --- byte mutations: each takes (rng, bytes) and returns new bytes ------------------------------------------


def flip_bytes(rng: Rng, data: bytes) -> bytes:
    if not data:
        return bytes(rng.integers(0, 256, 8, dtype=np.uint8))
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        buf[int(rng.integers(len(buf)))] = int(rng.integers(256))
    return bytes(buf)


def truncate(rng: Rng, data: bytes) -> bytes:
    return data[: int(rng.integers(len(data) + 1))]


def insert_bytes(rng: Rng, data: bytes) -> bytes:
    at = int(rng.integers(len(data) + 1))
    return data[:at] + bytes(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8)) + data[at:]


def lying_word(rng: Rng, data: bytes) -> bytes:
    """A 16-, 32- or 64-bit word (either byte order) among the first bytes replaced by an extreme value: a
    header that declares a huge or negative size, count or offset."""
    width, fmt = pick(rng, [(2, "H"), (4, "I"), (8, "Q")])
    if len(data) < width:
        return data + b"\xff" * width
    value = pick(rng, [0, 1, (1 << (8 * width)) - 1, 1 << (8 * width - 1), (1 << (8 * width - 1)) - 1])
    order = pick(rng, ["<", ">"])
    at = int(rng.integers(min(len(data) - width, 64) + 1))
    return data[:at] + struct.pack(order + fmt, value) + data[at + width :]


def duplicate_chunk(rng: Rng, data: bytes) -> bytes:
    if not data:
        return data
    a = int(rng.integers(len(data)))
    b = min(len(data), a + int(rng.integers(1, 256)))
    return data[:b] + data[a:b] * int(rng.integers(1, 4)) + data[b:]


BYTE_MUTATIONS: list[Callable[[Rng, bytes], bytes]] = [
    flip_bytes,
    truncate,
    insert_bytes,
    lying_word,
    duplicate_chunk,
]


def mutate_bytes(rng: Rng, data: bytes, rounds: int | None = None) -> bytes:
    for _ in range(rounds or int(rng.integers(1, 3))):
        data = pick(rng, BYTE_MUTATIONS)(rng, data)
    return data


# --- the rule ------------------------------------------------------------------------------------------------


def json_slots(node, out: list) -> list:
    """Every (container, key) of a parsed JSON value, depth first: the places a fuzz case may replace."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in items:
        out.append((node, key))
        if isinstance(child, (dict, list)):
            json_slots(child, out)
    return out


def outcome(run: Callable[[], object], what: str) -> str:
    """``"ok"`` when ``run`` returns, the ``QsnnError`` subclass's name when it raises one (its message one
    line); any other exception fails the test, naming ``what`` (the family, seed and case to replay)."""
    try:
        run()
    except QsnnError as exc:
        assert "\n" not in str(exc), f"{what}: a multi-line error: {exc!r}"
        return type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - exactly what the fuzz suite is for
        raise AssertionError(f"{what}: untyped {type(exc).__name__}: {str(exc)[:300]}") from exc
    return "ok"


def tally(outcomes: dict[str, int], result: str) -> None:
    outcomes[result] = outcomes.get(result, 0) + 1


def case_rng(seed: int, case: int) -> Rng:
    return np.random.default_rng([seed, case])


# --- a valid seed shared by families ----------------------------------------------------------------------------


def _idx(array: np.ndarray) -> bytes:
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_tiny_mnist(root: Path) -> Path:
    """A 6-image MNIST test split (the two gzip IDX files) under ``root/mnist``; returns ``root``."""
    rng = np.random.default_rng(0)
    folder = Path(root) / "mnist"
    folder.mkdir(parents=True)
    images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images), mtime=0))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(np.arange(6) % 10), mtime=0))
    return Path(root)
