"""Cost of the generated C: flash and RAM (arm-none-eabi-size/nm of the Cortex-M4 firmware), instructions per
inference on the host (callgrind, collecting only inside qsnn_run) and on the Cortex-M (QEMU TCG plugin
firmware/qemu-plugin, by difference of two runs), event-driven kernels beside a dense baseline
(-DQSNN_DENSE_BASELINE), and synaptic operations / spikes per layer from the simulator."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qsnn_deploy import verify as V
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.paths import repo_root
from qsnn_deploy.sim import simulate
from qsnn_deploy.targets.c.plan import floor_bytes

BENCH_REPEAT = 2


@dataclass
class CostReport:
    weight_bytes: int
    weight_floor_bytes: float
    const_bytes: int  # requantize parameters and layer descriptors
    code_bytes: int  # model + runtime .text
    state_bytes: int  # sizeof(qsnn_state_t)
    stack_bytes: int  # worst call chain of qsnn_run, from -fstack-usage
    host_insns: dict[str, float] = field(default_factory=dict)  # variant -> per inference
    m4_insns: dict[str, float] = field(default_factory=dict)
    synops: dict[str, float] = field(default_factory=dict)  # per inference
    spikes: dict[str, float] = field(default_factory=dict)
    firing_rates: dict[str, float] = field(default_factory=dict)

    @property
    def ram_bytes(self) -> int:
        return self.state_bytes + self.stack_bytes


def _sections(obj: Path) -> dict[str, int]:
    out = V.run_tool([V.require_tool("arm-none-eabi-size"), "-A", str(obj)], "arm-none-eabi-size").stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def _symbol_size(elf: Path, name: str) -> int:
    out = V.run_tool([V.require_tool("arm-none-eabi-nm"), "-S", str(elf)], "arm-none-eabi-nm").stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == name:
            return int(parts[1], 16)
    raise V.ToolchainError(f"symbol {name} not found in {elf}")


def _stack(build: Path) -> int:
    """qsnn_run + qsnn_step (or set_static_input) + the deepest kernel, from the .su files."""
    usage: dict[str, int] = {}
    for su in build.glob("*.su"):
        for line in su.read_text().splitlines():
            m = re.match(r".*:(\w+)\t(\d+)\t", line)
            if m:
                usage[m.group(1)] = int(m.group(2))
    top = sum(v for k, v in usage.items() if k.endswith(("_run", "_step")))
    kernels = [v for k, v in usage.items() if k.startswith("qsnn_") and not k.endswith(("_run", "_step"))]
    return top + max(kernels, default=0) + 64  # + argument/return slack of the helpers


def _callgrind(model: Path, work: Path, vectors: Path, n: int, dense: bool) -> float:
    exe = V.build_host(
        model,
        work / f"bench{'_dense' if dense else ''}",
        extra=["-g"] + (["-DQSNN_DENSE_BASELINE"] if dense else []),
    )
    out = work / f"callgrind{'_dense' if dense else ''}.out"
    cmd = [
        V.require_tool("valgrind"),
        "--tool=callgrind",
        "--toggle-collect=qsnn_run",
        f"--callgrind-out-file={out}",
    ]
    V.run_tool([*cmd, str(exe), str(vectors), str(work / "bench.bin")], "valgrind callgrind")
    m = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
    if m is None:
        raise V.ToolchainError(f"no instruction total in {out}")
    return int(m.group(1)) / n


def _qemu_insns(model: Path, vectors: Path, work: Path, dense: bool) -> float:
    plugin_build = (work / "plugin").resolve()  # absolute: make -C runs in the plugin's source folder
    V.run_tool(
        ["make", "-s", "-C", str(repo_root() / "firmware" / "qemu-plugin"), f"BUILD={plugin_build}"],
        "plugin build",
    )
    counts = []
    for repeat in (0, BENCH_REPEAT):
        flags = f"-DQSNN_BENCH_REPEAT={repeat}" + (" -DQSNN_DENSE_BASELINE" if dense else "")
        build = work / f"fw_{'dense' if dense else 'events'}_{repeat}"
        elf = V.build_firmware(model, vectors, build, extra_cflags=flags)
        log = build / "plugin.log"
        V.run_qemu(elf, ["-plugin", str(plugin_build / "insn_count.so"), "-d", "plugin", "-D", str(log)])
        m = re.search(r"insns: (\d+)", log.read_text())
        if m is None:
            raise V.ToolchainError(f"the QEMU plugin printed no count ({log})")
        counts.append(int(m.group(1)))
    return (counts[1] - counts[0]) / BENCH_REPEAT


def cost_report(
    graph: Graph,
    inputs: np.ndarray,
    num_steps: int | None = None,
    *,
    workdir: Path | None = None,
    host: bool = True,
    cortex_m: bool = True,
    baseline: bool = True,
) -> CostReport:
    """Measure the generated C for ``graph``; ``inputs`` set the sparsity (the QEMU count uses sample 0).
    ``baseline=False`` skips the dense-kernel variants (the slow half of the measurement)."""
    variants = (False, True) if baseline else (False,)
    steps = num_steps or graph.num_steps
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="qsnn-report-"))
    model = V.generate_model(graph, work / "model")
    vectors_h = work / "vectors.h"
    vectors_h.write_text(V.vectors_header(graph, inputs[:1], steps))
    build = work / "fw"
    elf = V.build_firmware(model, vectors_h, build)
    sections = {
        **_sections(build / "model.o"),
        **{f"rt{k}": v for k, v in _sections(build / "runtime.o").items()},
    }
    weights = sum(v for k, v in sections.items() if k.startswith(".rodata.qsnn_") and k.endswith("_w"))
    const = sum(v for k, v in sections.items() if ".rodata" in k) - weights
    code = sum(v for k, v in sections.items() if ".text" in k)
    rep = CostReport(weights, floor_bytes(graph), const, code, _symbol_size(elf, "state"), _stack(build))
    sim = simulate(graph, inputs, steps)
    n = len(inputs)
    rep.synops = {k: float(v.sum()) / n for k, v in sim.synops.items()}
    rep.spikes = {k: float(v.sum()) / n for k, v in sim.spike_counts.items()}
    rep.firing_rates = sim.firing_rates()
    if host:
        vectors_bin = work / "vectors.bin"
        V.write_vectors(vectors_bin, graph, inputs, steps)
        for dense in variants:
            rep.host_insns["dense" if dense else "events"] = _callgrind(model, work, vectors_bin, n, dense)
    if cortex_m:
        for dense in variants:
            rep.m4_insns["dense" if dense else "events"] = _qemu_insns(model, vectors_h, work, dense)
    return rep


def format_report(rep: CostReport) -> str:
    lines = [
        f"flash: weights {rep.weight_bytes} B (floor {rep.weight_floor_bytes:.0f} B), other const {rep.const_bytes} B, "
        f"code {rep.code_bytes} B (cortex-m4 -Os)",
        f"RAM:   state {rep.state_bytes} B + stack {rep.stack_bytes} B = {rep.ram_bytes} B",
    ]
    for name, table in (("host (callgrind)", rep.host_insns), ("cortex-m4 (QEMU)", rep.m4_insns)):
        if table:
            ev, de = table.get("events", 0.0), table.get("dense", 0.0)
            ratio = ev / de if de else float("nan")
            lines.append(
                f"instructions/inference {name}: event-driven {ev:,.0f}, dense {de:,.0f}, ratio {ratio:.3f}"
            )
    for k, v in rep.synops.items():
        lines.append(f"synops/inference {k}: {v:,.0f}")
    for k, v in rep.spikes.items():
        lines.append(f"spikes/inference {k}: {v:,.1f} (rate {rep.firing_rates.get(k, 0):.3f})")
    return "\n".join(lines)


def report_from_cli(
    model: Path, dataset: str, data_dir: Path | None, limit: int | None, baseline: bool = True
) -> CostReport:
    """``qsnn-deploy report``: measure the generated C on the first ``limit`` test samples."""
    import click

    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.ir.io import load_graph

    graph = load_graph(model)
    data = load_dataset(dataset, "test", data_dir=data_dir, limit=limit, num_steps=graph.num_steps)
    rep = cost_report(graph, np.asarray(data.inputs, dtype=np.uint8), baseline=baseline)
    click.echo(format_report(rep))
    return rep
