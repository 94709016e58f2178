"""Integer types of the IR: every tensor and every state buffer carries an explicit width and signedness."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IntType:
    """A two's-complement (signed) or unsigned integer of ``bits`` bits."""

    bits: int
    signed: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or not 1 <= self.bits <= 64:
            raise ValueError(f"IntType bits must be an int in [1, 64], got {self.bits!r}")

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def contains(self, values: np.ndarray | int) -> bool:
        """True when every value lies in the representable range."""
        arr = np.asarray(values)
        if arr.size == 0:
            return True
        return int(arr.min()) >= self.min and int(arr.max()) <= self.max

    def to_json(self) -> str:
        return f"{'int' if self.signed else 'uint'}{self.bits}"

    @staticmethod
    def from_json(text: str) -> IntType:
        if not isinstance(text, str):
            raise ValueError(f"an integer type must be a string like 'int16', got {text!r}")
        if text.startswith("uint"):
            return IntType(int(text[4:]), signed=False)
        if text.startswith("int"):
            return IntType(int(text[3:]), signed=True)
        raise ValueError(f"unknown integer type {text!r} (expected intN or uintN)")

    def __str__(self) -> str:
        return self.to_json()


def bits_for_range(lo: int, hi: int) -> int:
    """Smallest signed width that holds every integer in [lo, hi]."""
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


INT8 = IntType(8)
INT16 = IntType(16)
INT32 = IntType(32)
INT64 = IntType(64)
UINT8 = IntType(8, signed=False)
