"""How every compiled test harness runs (the C host harness, the HLS C-simulation testbench, the Verilator
testbench): ``HarnessRunner`` writes the input vectors, runs ``exe VECTORS OUTPUT RECORD [extra files]`` and
reads the two files every harness writes into the common record. OUTPUT holds per sample the step-major
output spikes, little-endian uint16 spike counts and an int32 prediction; RECORD holds per step of every
sample, per LIF layer in order, n spike bytes then n little-endian int32 membranes, then n little-endian int32
synaptic currents for a layer with a ``synaptic`` op (firmware/host/harness.c documents the layout)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.verify.record import LayerTrace, Record
from qsnn_deploy.verify.vectors import write_vectors

VECTORS, OUTPUTS, RECORD = "vectors.bin", "outputs.bin", "record.bin"
STDERR_SHOWN = 3000  # characters of a failed harness's stderr in the error


def read_outputs(path: Path, n: int, steps: int, k: int, who: str = "the harness"):
    """(spikes (n, steps, k) uint8, counts (n, k) int64, predictions (n,) int64) from an OUTPUT file."""
    rec = np.dtype([("spikes", "u1", (steps, k)), ("counts", "<u2", (k,)), ("pred", "<i4")])
    data = np.fromfile(path, dtype=rec)
    if len(data) != n:
        raise VerificationError(f"{who} wrote {len(data)} samples, expected {n}")
    return data["spikes"], data["counts"].astype(np.int64), data["pred"].astype(np.int64)


def read_layers(path: Path, layers: list[tuple], n: int, steps: int, who: str = "the harness"):
    """{layer: LayerTrace} from a RECORD file; ``layers`` are (name, neurons) or (name, neurons, has synaptic
    currents) in order: such a layer's n int32 currents follow its membranes."""
    fields = []
    for name, k, *more in layers:
        fields += [(f"{name}_s", "u1", (k,)), (f"{name}_m", "<i4", (k,))]
        fields += [(f"{name}_c", "<i4", (k,))] if more and more[0] else []
    data = np.fromfile(path, dtype=np.dtype(fields))
    if len(data) != n * steps:
        raise VerificationError(f"{who} recorded {len(data)} steps, expected {n * steps}")
    data = data.reshape(n, steps)
    names = data.dtype.names or ()

    def currents(name: str) -> np.ndarray | None:
        return data[f"{name}_c"].astype(np.int64) if f"{name}_c" in names else None

    return {
        name: LayerTrace(data[f"{name}_s"], data[f"{name}_m"].astype(np.int64), currents(name))
        for name, *_ in layers
    }


def read_record(
    outputs: Path, record: Path, layers: list[tuple], n: int, steps: int, k: int, who: str
) -> Record:
    """The common record of one harness run."""
    spikes, counts, preds = read_outputs(outputs, n, steps, k, who)
    return Record(spikes, read_layers(record, layers, n, steps, who), counts=counts, predictions=preds)


@dataclass
class HarnessRunner:
    """A built harness (a ``Runner``, targets/base.py): runs ``exe`` on samples and returns the common record.

    Its files live in ``work``, passed by absolute path: VECTORS, OUTPUTS, RECORD, then ``extra`` (files a
    harness writes beside the record, such as the Verilator testbench's cycle counts). A run fails with
    ``what`` named (``the host harness failed (exit 1): ...``) on a non-zero exit or when its stderr holds any
    of ``refuse`` (a sanitizer report, whatever the exit status)."""

    exe: Path
    work: Path
    graph: Graph
    layers: Sequence[Layer]  # the model's layers (ir/plan.py): RECORD holds their LIF ops in order
    what: str
    who: str = "the harness"  # names a harness whose files are short
    extra: tuple[str, ...] = ()
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    refuse: tuple[str, ...] = ()

    def path(self, name: str) -> Path:
        return Path(self.work).resolve() / name

    def run(self, inputs: np.ndarray, steps: int) -> Record:
        write_vectors(self.path(VECTORS), self.graph, inputs, steps)
        files = [self.path(name) for name in (VECTORS, OUTPUTS, RECORD, *self.extra)]
        proc = subprocess.run(
            [str(Path(self.exe).resolve()), *map(str, files)],
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env=None if self.env is None else dict(self.env),
        )
        if proc.returncode != 0 or any(text in proc.stderr for text in self.refuse):
            raise VerificationError(
                f"{self.what} failed (exit {proc.returncode}): {proc.stderr[-STDERR_SHOWN:]}"
            )
        layers = [(layer.lif.name, layer.neurons, layer.current is not None) for layer in self.layers]
        return read_record(files[1], files[2], layers, len(inputs), steps, self.graph.num_classes, self.who)
