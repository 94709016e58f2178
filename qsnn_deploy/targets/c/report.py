"""Cost of the generated C: flash and RAM (arm-none-eabi-size/nm of the firmware for the chosen board), instructions per
inference on the host (callgrind, collecting only inside qsnn_run) and on the Cortex-M (QEMU TCG plugin
firmware/qemu-plugin, by difference of two runs), event-driven kernels beside a dense baseline
(-DQSNN_DENSE_BASELINE), and synaptic operations / spikes per layer from the simulator."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from qsnn_deploy.errors import ToolchainError
from qsnn_deploy.ir.plan import weight_floor_bytes
from qsnn_deploy.paths import firmware_dir
from qsnn_deploy.sim import simulate
from qsnn_deploy.targets.base import CheckedModel, RuleInput
from qsnn_deploy.targets.c import render
from qsnn_deploy.targets.c.boards import BOARDS, DEFAULT_BOARD, Board
from qsnn_deploy.targets.c.cortex_m import build_firmware, run_qemu
from qsnn_deploy.targets.c.host import build_host
from qsnn_deploy.targets.c.rules import fits
from qsnn_deploy.targets.c.settings import c_settings
from qsnn_deploy.verify.tools import require_tool, run_tool
from qsnn_deploy.verify.vectors import vectors_header, write_vectors

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
    m4_phases: dict[str, float] = field(default_factory=dict)  # phase (op name) -> per inference, see _phases
    m4_kernels: dict[str, float] = field(
        default_factory=dict
    )  # runtime function -> per inference (exclusive)
    cores: dict[str, float] = field(default_factory=dict)  # "cpu (board)" -> per inference, event-driven
    board: str = DEFAULT_BOARD  # the board of m4_insns, m4_phases and m4_kernels
    sample0_synops: float = 0.0  # synaptic operations of sample 0, the one the QEMU counts run
    synops: dict[str, float] = field(default_factory=dict)  # per inference
    spikes: dict[str, float] = field(default_factory=dict)
    firing_rates: dict[str, float] = field(default_factory=dict)

    @property
    def ram_bytes(self) -> int:
        return self.state_bytes + self.stack_bytes

    def to_dict(self) -> dict:
        return {**asdict(self), "ram_bytes": self.ram_bytes}


def _sections(obj: Path) -> dict[str, int]:
    out = run_tool([require_tool("arm-none-eabi-size"), "-A", str(obj)], "arm-none-eabi-size").stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def _symbol_size(elf: Path, name: str) -> int:
    out = run_tool([require_tool("arm-none-eabi-nm"), "-S", str(elf)], "arm-none-eabi-nm").stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == name:
            return int(parts[1], 16)
    raise ToolchainError(f"symbol {name} not found in {elf}")


def _functions_sizes(path: Path) -> dict[str, int]:
    """Size of every function (text symbol) of an object or ELF, by name."""
    out = run_tool([require_tool("arm-none-eabi-nm"), "-S", str(path)], "arm-none-eabi-nm").stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT":
            sizes[parts[3]] = int(parts[1], 16)
    return sizes


def _linked_code(elf: Path, objects: list[Path]) -> int:
    """Bytes of code of ``objects`` (the model and the runtime) that the firmware links: the runtime holds
    kernels for every layout (spike bits, the lean layout's), and --gc-sections keeps only those called."""
    names = {name for obj in objects for name in _functions_sizes(obj)}
    return sum(size for name, size in _functions_sizes(elf).items() if name in names)


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
    exe = build_host(
        model,
        work / f"bench{'_dense' if dense else ''}",
        extra=["-g"] + (["-DQSNN_DENSE_BASELINE"] if dense else []),
    )
    out = work / f"callgrind{'_dense' if dense else ''}.out"
    cmd = [
        require_tool("valgrind"),
        "--tool=callgrind",
        "--toggle-collect=qsnn_run",
        f"--callgrind-out-file={out}",
    ]
    run_tool([*cmd, str(exe), str(vectors), str(work / "bench.bin")], "valgrind callgrind")
    m = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
    if m is None:
        raise ToolchainError(f"no instruction total in {out}")
    return int(m.group(1)) / n


def _plugins(work: Path) -> Path:
    plugin_build = (work / "plugin").resolve()  # absolute: make -C runs in the plugin's source folder
    run_tool(
        ["make", "-s", "-C", str(firmware_dir() / "qemu-plugin"), f"BUILD={plugin_build}"],
        "plugin build",
    )
    return plugin_build


def phase_names(layers) -> list[str]:
    """Names of the phases the model's markers switch to (model.c.j2, QSNN_PROFILE): index 0 is the harness
    before the first marker, 3*i+1..3*i+3 stage i's synapse op, requantize and LIF (with the layer's recurrent
    input and synaptic current: ``rec1+syn1+lif1``), then the step's rest."""
    names = ["harness"]
    for layer in layers:
        # A recurrent input and a synaptic current run right before their LIF, in its phase.
        neuron = [op.name for op in (layer.recurrent, layer.current, layer.lif) if op is not None]
        names += [layer.op.name, layer.rq.name, "+".join(neuron)]
    return [*names, "step glue"]


def weight_floor(graph, layers) -> float:
    """The physical floor of weight storage: the synapses' and the recurrent weights' bits / 8."""
    recurrent = sum(
        layer.recurrent.weight.size * layer.recurrent.weight_type.bits / 8
        for layer in layers
        if layer.recurrent is not None
    )
    return weight_floor_bytes(graph) + recurrent


def _marks(elf: Path, out: Path) -> None:
    """The marker functions' addresses, one "<hex address> <phase>" line each, for phase_count.so."""
    text = run_tool([require_tool("arm-none-eabi-nm"), str(elf)], "arm-none-eabi-nm").stdout
    lines = []
    for line in text.splitlines():
        m = re.match(r"([0-9a-f]+) [tT] qsnn_phase_(\d+)$", line)
        if m:
            lines.append(f"{m.group(1)} {m.group(2)}")
    if not lines:
        raise ToolchainError(f"no phase markers in {elf} (built without -DQSNN_PROFILE?)")
    out.write_text("\n".join(lines) + "\n")


def _functions(elf: Path, out: Path) -> list[str]:
    """Every function's "<hex start> <hex size> <index>" for phase_count.so; returns the names by index."""
    text = run_tool([require_tool("arm-none-eabi-nm"), "-S", str(elf)], "arm-none-eabi-nm").stdout
    names, lines = [], []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT":
            lines.append(f"{parts[0]} {parts[1]} {len(names)}")
            names.append(parts[3])
    out.write_text("\n".join(lines) + "\n")
    return names


def _qemu_phases(
    model: Path, vectors: Path, work: Path, names: list[str], board: Board
) -> tuple[dict[str, float], dict[str, float]]:
    """Instructions per inference per phase, and per function of the firmware (exclusive: the blocks that
    start in it), by difference of two runs like the total."""
    plugin_build = _plugins(work)
    phases, functions = [], []
    for repeat in (0, BENCH_REPEAT):
        build = work / f"fw_profile_{repeat}"
        elf = build_firmware(
            model, vectors, build, cpu=board.cpu, extra_cflags=f"-DQSNN_BENCH_REPEAT={repeat} -DQSNN_PROFILE",
            memory_map=board.memory_map,
        )  # fmt: skip
        marks, funcs, log = build / "marks.txt", build / "funcs.txt", build / "plugin.log"
        _marks(elf, marks)
        fn_names = _functions(elf, funcs)
        plugin = f"{plugin_build / 'phase_count.so'},marks={marks.resolve()},funcs={funcs.resolve()}"
        run_qemu(elf, ["-plugin", plugin, "-d", "plugin", "-D", str(log)], machine=str(board.qemu_machine))
        text = log.read_text()
        phases.append({int(k): int(v) for k, v in re.findall(r"phase (\d+): (\d+)", text)})
        functions.append({fn_names[int(k)]: int(v) for k, v in re.findall(r"func (\d+): (\d+)", text)})
    per_phase = {
        name: (phases[1].get(k, 0) - phases[0].get(k, 0)) / BENCH_REPEAT
        for k, name in enumerate(names)
        if k > 0
    }
    per_function = {
        name: (functions[1].get(name, 0) - functions[0].get(name, 0)) / BENCH_REPEAT for name in functions[1]
    }
    kernels = {k: v for k, v in sorted(per_function.items(), key=lambda kv: -kv[1]) if v > 0}
    return per_phase, kernels


def _qemu_insns(model: Path, vectors: Path, work: Path, dense: bool, board: Board) -> float:
    plugin_build = _plugins(work)
    counts = []
    for repeat in (0, BENCH_REPEAT):
        flags = f"-DQSNN_BENCH_REPEAT={repeat}" + (" -DQSNN_DENSE_BASELINE" if dense else "")
        build = work / f"fw_{board.name}_{'dense' if dense else 'events'}_{repeat}"
        elf = build_firmware(
            model, vectors, build, cpu=board.cpu, extra_cflags=flags, memory_map=board.memory_map
        )
        log = build / "plugin.log"
        run_qemu(
            elf,
            ["-plugin", str(plugin_build / "insn_count.so"), "-d", "plugin", "-D", str(log)],
            machine=str(board.qemu_machine),
        )
        m = re.search(r"insns: (\d+)", log.read_text())
        if m is None:
            raise ToolchainError(f"the QEMU plugin printed no count ({log})")
        counts.append(int(m.group(1)))
    return (counts[1] - counts[0]) / BENCH_REPEAT


def core_label(board: Board) -> str:
    return f"{board.cpu} ({board.name})"


def cost_report(
    model: CheckedModel,
    inputs: np.ndarray,
    steps: int,
    work: Path,
    *,
    host: bool = True,
    cortex_m: bool = True,
    baseline: bool = False,
    progress=None,
) -> CostReport:
    """Measure the generated C for ``model`` in ``work``; ``inputs`` set the sparsity (the QEMU count uses
    sample 0). ``baseline`` adds the dense-kernel variants (the slow half of the measurement). ``progress``:
    optional callable receiving a line before each long step."""
    say = progress or (lambda text: None)
    graph = model.graph
    variants = (False, True) if baseline else (False,)
    model_dir = work / "model"
    render.render(model, model_dir)
    vectors_h = work / "vectors.h"
    vectors_h.write_text(vectors_header(graph, inputs[:1], steps))
    build = work / "fw"
    chosen = BOARDS[c_settings(model.options).board]
    main = chosen if chosen.qemu_machine else BOARDS[DEFAULT_BOARD]
    say(f"building the {main.cpu} firmware for {main.name} (flash and RAM)")
    elf = build_firmware(model_dir, vectors_h, build, cpu=main.cpu, memory_map=main.memory_map)
    sections = {
        **_sections(build / "model.o"),
        **{f"rt{k}": v for k, v in _sections(build / "runtime.o").items()},
    }
    weights = sum(v for k, v in sections.items() if k.startswith(".rodata.qsnn_") and k.endswith("_w"))
    const = sum(v for k, v in sections.items() if ".rodata" in k) - weights
    code = _linked_code(elf, [build / "model.o", build / "runtime.o"])
    rep = CostReport(
        weights, weight_floor(graph, model.layers), const, code, _symbol_size(elf, "state"), _stack(build)
    )
    rep.board = main.name
    say(f"simulating {len(inputs)} samples (synaptic operations, spikes)")
    sim = simulate(graph, inputs, steps)
    n = len(inputs)
    rep.synops = {k: float(v.sum()) / n for k, v in sim.synops.items()}
    rep.spikes = {k: float(v.sum()) / n for k, v in sim.spike_counts.items()}
    rep.firing_rates = sim.firing_rates()
    if host:
        vectors_bin = work / "vectors.bin"
        write_vectors(vectors_bin, graph, inputs, steps)
        for dense in variants:
            say(
                f"counting host instructions under callgrind ({'dense baseline' if dense else 'event-driven'})"
            )
            rep.host_insns["dense" if dense else "events"] = _callgrind(
                model_dir, work, vectors_bin, n, dense
            )
    if cortex_m:
        rep.sample0_synops = float(sum(v[0].sum() for v in sim.synops.values()))
        for dense in variants:
            say(
                f"counting {main.cpu} instructions under QEMU ({'dense baseline' if dense else 'event-driven'})"
            )
            rep.m4_insns["dense" if dense else "events"] = _qemu_insns(
                model_dir, vectors_h, work, dense, main
            )
        rep.cores[core_label(main)] = rep.m4_insns["events"]
        inp = RuleInput(graph, model.layers, model.ranges, model.options)
        counted = {main.cpu}
        for board in BOARDS.values():
            # Every other core QEMU runs, once, on the first board whose memory holds the model (the real
            # parts may not: the micro:bit's Cortex-M0 is counted where the model fits its 16 KB).
            if board.qemu_machine and board.cpu not in counted and fits(inp, board):
                counted.add(board.cpu)
                say(f"counting {board.cpu} instructions under QEMU ({board.qemu_machine})")
                rep.cores[core_label(board)] = _qemu_insns(model_dir, vectors_h, work, False, board)
        say(f"counting {main.cpu} instructions per layer and per kernel under QEMU (phase markers)")
        rep.m4_phases, rep.m4_kernels = _qemu_phases(
            model_dir, vectors_h, work, phase_names(model.layers), main
        )
    return rep


def target_cost_report(
    model: CheckedModel, inputs: np.ndarray, steps: int, work: Path, **kwargs
) -> CostReport:
    """``report --target c``: ``cost_report`` with the dense-kernel variants where ``--option baseline`` asks."""
    return cost_report(model, inputs, steps, work, baseline=c_settings(model.options).baseline, **kwargs)


def format_report(rep: CostReport) -> str:
    cpu = BOARDS[rep.board].cpu if rep.board in BOARDS else rep.board
    lines = [
        f"flash: weights {rep.weight_bytes} B (floor {rep.weight_floor_bytes:.0f} B), other const {rep.const_bytes} B, "
        f"code {rep.code_bytes} B ({cpu} -Os, {rep.board})",
        f"RAM:   state {rep.state_bytes} B + stack {rep.stack_bytes} B = {rep.ram_bytes} B",
    ]
    for name, table in (("host (callgrind)", rep.host_insns), (f"{cpu} (QEMU)", rep.m4_insns)):
        if table:
            ev, de = table.get("events", 0.0), table.get("dense")
            dense = f", dense baseline {de:,.0f} (ratio {ev / de:.3f})" if de else ""
            lines.append(f"instructions/inference {name}: event-driven {ev:,.0f}{dense}")
    if rep.cores:
        per = f" ({rep.sample0_synops:,.0f} synaptic operations in sample 0)" if rep.sample0_synops else ""
        lines.append(f"instructions/inference per core (QEMU, event-driven){per}:")
        for name, v in rep.cores.items():
            ratio = f", {v / rep.sample0_synops:.2f}/synop" if rep.sample0_synops else ""
            lines.append(f"  {name:<24} {v:>12,.0f}{ratio}")
    if rep.m4_phases:
        total = sum(rep.m4_phases.values()) or 1.0
        lines.append(
            f"{cpu} instructions/inference per phase (marker build; a fused layer counts under its op):"
        )
        for k, v in rep.m4_phases.items():
            lines.append(f"  {k:<24} {v:>12,.0f} ({100 * v / total:4.1f}%)")
    if rep.m4_kernels:
        total = sum(rep.m4_kernels.values()) or 1.0
        lines.append(f"{cpu} instructions/inference per function (exclusive, marker build; top 12):")
        for k, v in list(rep.m4_kernels.items())[:12]:
            lines.append(f"  {k:<24} {v:>12,.0f} ({100 * v / total:4.1f}%)")
    for k, v in rep.synops.items():
        lines.append(f"synops/inference {k}: {v:,.0f}")
    for k, v in rep.spikes.items():
        lines.append(f"spikes/inference {k}: {v:,.1f} (rate {rep.firing_rates.get(k, 0):.3f})")
    return "\n".join(lines)
