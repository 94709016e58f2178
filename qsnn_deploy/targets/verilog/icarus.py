"""The Verilog target's second executor: the generated RTL under Icarus Verilog (iverilog + vvp) with a plain
Verilog testbench (templates/verilog/tb/tb_icarus.v). A second, independent simulator of the same files;
slow (an event-driven interpreter), so meant for a few samples. Every layer recorded in full."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.verilog.settings import verilog_settings
from qsnn_deploy.targets.verilog.verilator import sources
from qsnn_deploy.verify.record import LayerTrace, Record
from qsnn_deploy.verify.tools import require_tool, run_tool
from qsnn_deploy.verify.vectors import frames


def parse_trace(text: str, model: CheckedModel, n: int, steps: int) -> tuple[Record, np.ndarray]:
    """The testbench's T/O/C lines as a record (and the cycles of every sample). A layer's step is the count
    of its T lines so far over its neurons: a design that pipelines steps over its layers traces a layer's
    next step before the O line of the step before."""
    k = model.graph.num_classes
    sizes = [layer.neurons for layer in model.layers]
    per_channel = [layer.per_channel for layer in model.layers]
    spikes = [np.zeros((n, steps, s), np.uint8) for s in sizes]
    mems = [np.zeros((n, steps, s), np.int64) for s in sizes]
    # a layer with a synaptic current: its currents (the seventh field of its T lines)
    currents = [np.zeros((n, steps, s), np.int64) if layer.current is not None else None
                for layer, s in zip(model.layers, sizes)]  # fmt: skip
    out = np.zeros((n, steps, k), np.uint8)
    preds = np.full(n, -1, np.int64)
    cycles = np.zeros(n, np.int64)
    sample = step = 0
    traced = [0] * len(sizes)  # T lines of each layer in this sample
    for line in text.splitlines():
        parts = line.split()
        if not parts or sample >= n:
            continue
        if parts[0] == "T":
            layer, base, lane, spike, membrane = (int(v) for v in parts[1:6])
            at, traced[layer] = traced[layer] // sizes[layer], traced[layer] + 1
            if at >= steps:
                continue
            index = base + lane * per_channel[layer]
            spikes[layer][sample, at, index] = spike
            mems[layer][sample, at, index] = membrane
            held = currents[layer]
            if held is not None:
                held[sample, at, index] = int(parts[6])
        elif parts[0] == "O" and step < steps:
            bits = int(parts[1], 16)
            out[sample, step] = [(bits >> c) & 1 for c in range(k)]
            if parts[2] == "1":
                preds[sample] = int(parts[3])
            step += 1
        elif parts[0] == "C":
            cycles[sample] = int(parts[1])
            sample, step, traced = sample + 1, 0, [0] * len(sizes)
    if sample != n:
        raise VerificationError(f"the Icarus testbench finished {sample} of {n} samples")
    layers = {
        layer.lif.name: LayerTrace(s, m, c) for layer, s, m, c in zip(model.layers, spikes, mems, currents)
    }
    return Record(out, layers, counts=out.sum(axis=1).astype(np.int64), predictions=preds), cycles


class IcarusRunner:
    def __init__(self, model: CheckedModel, model_dir: Path, work: Path):
        self.model, self.model_dir, self.work = model, Path(model_dir), Path(work).resolve()
        self.cycles: np.ndarray | None = None

    def run(self, inputs: np.ndarray, steps: int) -> Record:
        f = frames(self.model.graph, inputs, steps)
        work, prefix = self.work, self.model.options.prefix
        data = f.reshape(-1)
        (work / "vectors.hex").write_text("".join(f"{int(b):02x}\n" for b in data))
        vvp = work / "tb_icarus.vvp"
        model_dir = self.model_dir.resolve()
        run_tool(
            [require_tool("iverilog"), "-g2005", "-Wall", "-Wno-timescale", f"-DTB_BYTES={max(1, data.size)}",
             f"-I{model_dir}", "-s", "tb", "-o", str(vvp), str(model_dir / "tb_icarus.v"), *sources(model_dir, prefix, verilog_settings(self.model.options).arch)],
            "compiling the Icarus testbench",
        )  # fmt: skip
        trace = work / "icarus_trace.txt"
        args = [f"+samples={len(f)}", f"+steps={steps}", f"+frames={f.shape[1]}", f"+vectors={work / 'vectors.hex'}",
                f"+out={trace}"]  # fmt: skip
        run_tool([require_tool("vvp"), "-n", str(vvp), *args], "running the Icarus testbench", timeout=3600,
                 cwd=model_dir)  # fmt: skip
        record, self.cycles = parse_trace(trace.read_text(), self.model, len(f), steps)
        return record


class IcarusExecutor:
    name = "icarus"
    description = "the RTL under Icarus Verilog with a plain Verilog testbench (slow: a few samples); every layer in full"

    def build(self, model: CheckedModel, model_dir: Path, work: Path) -> IcarusRunner:
        return IcarusRunner(model, model_dir, work)
