"""The two files every compiled test harness writes (the C host harness, the HLS C-simulation testbench), read
into the common record: OUTPUT holds per sample the step-major output spikes, little-endian uint16 spike
counts and an int32 prediction; RECORD holds per step of every sample, per LIF layer in order, n spike bytes
then n little-endian int32 membranes (firmware/host/harness.c documents the layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.verify.record import LayerTrace, Record


def read_outputs(path: Path, n: int, steps: int, k: int, who: str = "the harness"):
    """(spikes (n, steps, k) uint8, counts (n, k) int64, predictions (n,) int64) from an OUTPUT file."""
    rec = np.dtype([("spikes", "u1", (steps, k)), ("counts", "<u2", (k,)), ("pred", "<i4")])
    data = np.fromfile(path, dtype=rec)
    if len(data) != n:
        raise VerificationError(f"{who} wrote {len(data)} samples, expected {n}")
    return data["spikes"], data["counts"].astype(np.int64), data["pred"].astype(np.int64)


def read_layers(path: Path, layers: list[tuple[str, int]], n: int, steps: int, who: str = "the harness"):
    """{layer: LayerTrace} from a RECORD file; ``layers`` are (name, neurons) in order."""
    rec = np.dtype(
        [(f"{name}_{part}", dt, (k,)) for name, k in layers for part, dt in (("s", "u1"), ("m", "<i4"))]
    )
    data = np.fromfile(path, dtype=rec)
    if len(data) != n * steps:
        raise VerificationError(f"{who} recorded {len(data)} steps, expected {n * steps}")
    data = data.reshape(n, steps)
    return {name: LayerTrace(data[f"{name}_s"], data[f"{name}_m"].astype(np.int64)) for name, _ in layers}


def read_record(
    outputs: Path, record: Path, layers: list[tuple[str, int]], n: int, steps: int, k: int, who: str
) -> Record:
    """The common record of one harness run."""
    spikes, counts, preds = read_outputs(outputs, n, steps, k, who)
    return Record(spikes, read_layers(record, layers, n, steps, who), counts=counts, predictions=preds)
