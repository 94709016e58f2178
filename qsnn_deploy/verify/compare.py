"""Compare an executor's record with the simulator's: exact equality, and the first difference named."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.verify.record import Record, digests_of


@dataclass
class Compared:
    """What one comparison covered (the verify summary reports these numbers)."""

    samples: int = 0
    output_spikes: int = 0  # output spike values compared (samples x steps x classes)
    layer_values: int = 0  # per-layer spikes + membranes compared in full
    layer_digests: int = 0  # per-layer, per-step digests compared
    current_layers: int = 0  # layers whose synaptic currents were compared too (in full or in their digests)

    def add(self, other: Compared) -> None:
        self.samples += other.samples
        self.output_spikes += other.output_spikes
        self.layer_values += other.layer_values
        self.layer_digests += other.layer_digests
        self.current_layers = max(self.current_layers, other.current_layers)


def _first(bad: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in np.argwhere(bad)[0])


def compare_records(want: Record, got: Record, where: str, offset: int = 0) -> Compared:
    """Raise VerificationError at the first difference between ``got`` (an executor) and ``want`` (the
    simulator, full layers); ``offset`` is the index of the first sample, so messages name samples of the
    whole set. Every LIF layer must be covered, in full or by digests."""
    if got.output_spikes.shape != want.output_spikes.shape:
        raise VerificationError(
            f"{where}: output spikes have shape {got.output_spikes.shape}, expected {want.output_spikes.shape}"
        )
    done = Compared(samples=want.samples)
    # Layers first, in order: the earliest layer that differs is the most useful thing to report.
    for name, ref in want.layers.items():
        done.current_layers += ref.currents is not None
        if name in got.layers:
            trace = got.layers[name]
            parts = [("spike", trace.spikes, ref.spikes), ("membrane", trace.membranes, ref.membranes)]
            if ref.currents is not None:
                if trace.currents is None:
                    raise VerificationError(
                        f"{where}: the executor recorded no synaptic currents for layer {name!r}"
                    )
                parts.append(("synaptic current", trace.currents, ref.currents))
            for part, a, b in parts:
                a = np.asarray(a).reshape(b.shape) if np.asarray(a).size == b.size else a
                if np.shape(a) != b.shape:
                    raise VerificationError(
                        f"{where}: layer {name!r} {part}s have shape {np.shape(a)}, expected {b.shape}"
                    )
                bad = a.astype(np.int64) != b.astype(np.int64)
                if bad.any():
                    i, t, j = _first(bad)
                    raise VerificationError(
                        f"{where}: layer {name!r} {part} differs at sample {i + offset}, step {t}, neuron {j}: "
                        f"{int(a[i, t, j])} vs simulator {int(b[i, t, j])}"
                    )
                done.layer_values += b.size
        elif name in got.digests:
            expect = digests_of(ref)
            digest = np.asarray(got.digests[name], dtype=np.uint32)
            if digest.shape != expect.shape:
                raise VerificationError(
                    f"{where}: layer {name!r} digests have shape {digest.shape}, expected {expect.shape}"
                )
            bad = digest != expect
            if bad.any():
                i, t = _first(bad)
                raise VerificationError(
                    f"{where}: layer {name!r} state differs at sample {i + offset}, step {t} "
                    f"(CRC-32 {int(digest[i, t]):08x} vs simulator {int(expect[i, t]):08x}); run the host "
                    "executor on this sample to see the neuron"
                )
            done.layer_digests += digest.size
        else:
            raise VerificationError(f"{where}: the executor recorded nothing for layer {name!r}")
    bad = got.output_spikes != want.output_spikes
    if bad.any():
        n, t, k = _first(bad)
        raise VerificationError(
            f"{where}: output spike differs at sample {n + offset}, step {t}, neuron {k}: "
            f"{int(got.output_spikes[n, t, k])} vs simulator {int(want.output_spikes[n, t, k])}"
        )
    done.output_spikes = int(want.output_spikes.size)
    if got.counts is not None:
        bad = np.asarray(got.counts) != want.counts
        if bad.any():
            n, k = _first(bad)
            raise VerificationError(
                f"{where}: spike count differs at sample {n + offset}, neuron {k}: {int(got.counts[n, k])} vs "
                f"simulator {int(want.counts[n, k])}"
            )
    if got.predictions is not None:
        bad = np.flatnonzero(np.asarray(got.predictions) != want.predictions)
        if len(bad):
            n = int(bad[0])
            raise VerificationError(
                f"{where}: prediction differs at sample {n + offset}: {int(got.predictions[n])} vs simulator "
                f"{int(want.predictions[n])}"
            )
    return done
