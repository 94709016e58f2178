"""Event streams: a structure-of-arrays representation and the binning encoder used by every event dataset.

An event is ``(x, y, p, t)``: pixel column and row, polarity (0 = OFF, 1 = ON) and time in microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsnn_deploy.errors import DatasetError

COUNT_MAX = 255  # counts per bin saturate here so that a frame fits uint8


@dataclass(frozen=True)
class Events:
    """Parallel arrays of equal length: ``x``, ``y`` (uint16), ``p`` (uint8, 0/1), ``t`` (int64, µs)."""

    x: np.ndarray
    y: np.ndarray
    p: np.ndarray
    t: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.t)
        if not (len(self.x) == len(self.y) == len(self.p) == n):
            raise ValueError(
                f"event arrays differ in length: x={len(self.x)} y={len(self.y)} p={len(self.p)} t={n}"
            )

    @classmethod
    def from_arrays(cls, x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray) -> Events:
        """Build with the canonical dtypes (copies only where a conversion is needed)."""
        return cls(
            x=np.asarray(x).astype(np.uint16, copy=False),
            y=np.asarray(y).astype(np.uint16, copy=False),
            p=np.asarray(p).astype(np.uint8, copy=False),
            t=np.asarray(t).astype(np.int64, copy=False),
        )

    @classmethod
    def empty(cls) -> Events:
        return cls.from_arrays(*(np.zeros(0, dtype=np.int64) for _ in range(4)))

    def __len__(self) -> int:
        return len(self.t)

    def select(self, index: np.ndarray | slice) -> Events:
        """The events picked by a boolean mask, an index array or a slice."""
        return Events(self.x[index], self.y[index], self.p[index], self.t[index])

    def time_window(self, t_start: int, t_end: int) -> Events:
        """Events with ``t_start <= t < t_end`` (order kept)."""
        return self.select((self.t >= t_start) & (self.t < t_end))


def concatenate(parts: list[Events]) -> Events:
    """One stream holding the events of ``parts`` in order."""
    if not parts:
        return Events.empty()
    return Events(*(np.concatenate([getattr(e, f) for e in parts]) for f in ("x", "y", "p", "t")))


def binned_shape(sensor_hw: tuple[int, int], downsample: int, num_steps: int) -> tuple[int, int, int, int]:
    """Shape ``(T, 2, H', W')`` of ``bin_events`` output; ``H' = ceil(H / downsample)``."""
    h, w = sensor_hw
    return (num_steps, 2, -(-h // downsample), -(-w // downsample))


def bin_events(
    events: Events,
    sensor_hw: tuple[int, int],
    downsample: int = 1,
    bin_us: int = 3000,
    num_steps: int = 100,
    t_start: int | None = None,
) -> np.ndarray:
    """Count events per time bin, polarity and (downsampled) pixel: ``uint8 (T, 2, H', W')``.

    Bin ``k`` covers ``[t_start + k*bin_us, t_start + (k+1)*bin_us)``; events outside the ``num_steps`` bins
    are dropped. ``t_start`` defaults to the first event's time. Pixel ``(x, y)`` goes to
    ``(y // downsample, x // downsample)``. Channel 0 counts OFF events (p = 0), channel 1 ON events (p = 1).
    Counts saturate at 255. Raises ``DatasetError`` for coordinates outside ``sensor_hw``.
    """
    if downsample < 1 or bin_us < 1 or num_steps < 1:
        raise ValueError(
            f"downsample, bin_us and num_steps must be >= 1 (got {downsample}, {bin_us}, {num_steps})"
        )
    shape = binned_shape(sensor_hw, downsample, num_steps)
    _, _, hd, wd = shape
    if len(events) == 0:
        return np.zeros(shape, dtype=np.uint8)
    h, w = sensor_hw
    if int(events.x.max()) >= w or int(events.y.max()) >= h:
        raise DatasetError(
            f"event coordinates up to x={int(events.x.max())}, y={int(events.y.max())} do not fit a "
            f"{h}x{w} sensor"
        )
    t0 = int(events.t[0]) if t_start is None else int(t_start)
    step = (events.t - t0) // bin_us  # floor division: events before t0 get negative steps
    keep = (step >= 0) & (step < num_steps)
    step = step[keep]
    pol = events.p[keep].astype(np.int64) & 1
    row = events.y[keep].astype(np.int64) // downsample
    col = events.x[keep].astype(np.int64) // downsample
    flat = ((step * 2 + pol) * hd + row) * wd + col
    counts = np.bincount(flat, minlength=int(np.prod(shape)))
    return np.minimum(counts, COUNT_MAX).astype(np.uint8).reshape(shape)
