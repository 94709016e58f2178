"""The record every executor returns, and the simulator's record to compare it with.

A record holds, for N samples over T steps: the output spikes ``(N, T, K)``, and for every LIF layer either
its spikes and membranes (and, for a layer with a ``synaptic`` op, its synaptic currents) in full, ``(N, T, n)``
each in the IR's (C, H, W) order, or a digest per step where a device cannot send that much (the Cortex-M
firmware over semihosting): the CRC-32 (zlib's, IEEE 802.3) of the layer's ``n`` spike bytes (0/1) followed by
its ``n`` membranes as little-endian int32 (then its ``n`` currents as little-endian int32, where it has them),
``(N, T)`` uint32.
Digests of the same state are equal on every executor, so a digest mismatch names the sample, step and
layer; a full record also names the neuron.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LayerTrace:
    spikes: np.ndarray  # (N, T, n) uint8
    membranes: np.ndarray  # (N, T, n) int64
    currents: np.ndarray | None = None  # (N, T, n) int64: the layer's synaptic currents, where it has them


@dataclass
class Record:
    output_spikes: np.ndarray  # (N, T, K) uint8
    layers: dict[str, LayerTrace] = field(default_factory=dict)  # full per-layer state
    digests: dict[str, np.ndarray] = field(default_factory=dict)  # layer -> (N, T) uint32 CRC-32
    counts: np.ndarray | None = None  # (N, K), when the executor reports its own counts
    predictions: np.ndarray | None = None  # (N,), when the executor reports its own argmax

    @property
    def samples(self) -> int:
        return int(self.output_spikes.shape[0])


def step_digest(spikes: np.ndarray, membranes: np.ndarray, currents: np.ndarray | None = None) -> int:
    """CRC-32 of one layer at one step: its spike bytes, then its membranes as little-endian int32, then its
    synaptic currents as little-endian int32 where it has them."""
    data = np.asarray(spikes, dtype=np.uint8).tobytes() + np.asarray(membranes, dtype="<i4").tobytes()
    if currents is not None:
        data += np.asarray(currents, dtype="<i4").tobytes()
    return zlib.crc32(data)


def digests_of(trace: LayerTrace) -> np.ndarray:
    """(N, T) digests of a full layer trace."""
    n, t = trace.spikes.shape[:2]
    out = np.empty((n, t), dtype=np.uint32)
    for i in range(n):
        for s in range(t):
            currents = None if trace.currents is None else trace.currents[i, s]
            out[i, s] = step_digest(trace.spikes[i, s], trace.membranes[i, s], currents)
    return out


def record_of_simulation(sim, layer_names: list[str], currents: dict[str, str] | None = None) -> Record:
    """The simulator's record (``simulate(..., record=True)``), flattened per layer. ``currents``: LIF layer
    name -> the name of the synaptic op that drives it, for the layers that have one."""
    n, steps = sim.output_spikes.shape[:2]
    currents = currents or {}

    def flat(values: np.ndarray, dtype: type) -> np.ndarray:
        return values.reshape(n, steps, -1).astype(dtype)

    layers = {
        name: LayerTrace(
            flat(sim.layer_spikes[name], np.uint8),
            flat(sim.layer_membranes[name], np.int64),
            flat(sim.layer_currents[currents[name]], np.int64) if name in currents else None,
        )
        for name in layer_names
    }
    return Record(sim.output_spikes, layers, counts=sim.counts, predictions=sim.predictions)
