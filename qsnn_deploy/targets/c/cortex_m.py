"""The C target's Cortex-M executor: the generated model in the firmware project (firmware/cortex-m), built
with arm-none-eabi-gcc for the board's core and run under qemu-system-arm with semihosting.

The firmware prints every output spike, the counts and the prediction, and (compiled with -DQSNN_RECORD) a
CRC-32 digest of every LIF layer's spikes and membranes after every step (record.py defines the digest), so
every layer is checked on the device without sending its whole state over semihosting.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

from qsnn_deploy.errors import DesignRuleError, ToolchainError, VerificationError
from qsnn_deploy.paths import firmware_dir
from qsnn_deploy.targets.base import CheckedModel, RuleInput
from qsnn_deploy.targets.c.boards import BOARDS, DEFAULT_BOARD, Board
from qsnn_deploy.targets.c.rules import flash_estimate
from qsnn_deploy.targets.c.settings import c_settings
from qsnn_deploy.targets.make_paths import is_plain, plain_folder, plain_work
from qsnn_deploy.verify.record import Record
from qsnn_deploy.verify.tools import require_tool, run_tool
from qsnn_deploy.verify.vectors import vectors_header

LINE = re.compile(r"S (\d+) P (\d+) C([\d ]*) O ([01]*)")
DIGEST = re.compile(r"D (\d+) (\d+)((?: [0-9a-f]{8})+)")
VECTOR_BUDGET = 1 << 20  # bytes of test vectors per firmware image at most (compiled into the flash)
FIRMWARE_RESERVE = 16 * 1024  # flash for the harness, newlib and the runtime, beside the model's estimate


def firmware_source() -> Path:
    """The firmware project; make only reads it and builds into BUILD, so an installed copy can stay read-only."""
    return firmware_dir() / "cortex-m"


def build_firmware(
    model_dir: Path,
    vectors: Path,
    build: Path,
    *,
    cpu: str = "cortex-m4",
    extra_cflags: str = "",
    memory_map: str | None = None,
) -> Path:
    """make -f firmware/cortex-m/Makefile with the given model and vectors; returns the ELF (built under
    ``build``; ``extra_cflags``: flags of our own, never a path; ``memory_map``: the board's linker script in
    the firmware folder, else the Makefile's default for ``cpu``). make splits paths at spaces: a model or firmware folder whose path
    make cannot take is reached through a plain link in ``build``'s parent (make_paths.py), and the
    firmware's Makefile is named by that path (``-f``) rather than entered (``-C`` would resolve the link, and
    the Makefile finds its own folder from its path)."""
    require_tool("arm-none-eabi-gcc")
    require_tool("make")
    work = plain_work(build.parent)
    firmware = plain_folder(firmware_source(), work, "firmware-src")
    model = plain_folder(model_dir, work, "model-src")
    vectors, build = plain_work(vectors.parent) / vectors.name, work / build.name
    if not is_plain(vectors):
        raise ToolchainError(f"the vectors file {str(vectors)!r} has characters make cannot take")
    cmd = [
        "make", "-s", "-f", str(firmware / "Makefile"), f"MODEL_DIR={model}", f"VECTORS={vectors}",
        f"BUILD={build}", f"CPU={cpu}", f"EXTRA_CFLAGS={extra_cflags}",
    ] + ([f"MEMORY_MAP={memory_map}"] if memory_map else [])  # fmt: skip
    run_tool(cmd, "building the Cortex-M firmware", cwd=work)
    return build / "firmware.elf"


def run_qemu(
    elf: Path, extra: list[str] | None = None, timeout: float = 600, machine: str = DEFAULT_BOARD
) -> str:
    qemu = require_tool("qemu-system-arm")
    cmd = [qemu, "-M", machine, "-nographic", "-monitor", "none", "-serial", "none", "-semihosting"]
    return run_tool([*cmd, *(extra or []), "-kernel", str(elf)], "QEMU", timeout=timeout).stdout


def parse_firmware_output(text: str, n: int, steps: int, k: int, layers: list[str]) -> Record:
    spikes = np.zeros((n, steps, k), dtype=np.uint8)
    counts = np.zeros((n, k), dtype=np.int64)
    preds = np.full(n, -1, dtype=np.int64)
    seen = 0
    for m in LINE.finditer(text):
        i = int(m.group(1))
        if i >= n or len(m.group(4)) != steps * k:
            raise VerificationError(f"malformed firmware line: {m.group(0)[:120]}")
        preds[i] = int(m.group(2))
        counts[i] = [int(v) for v in m.group(3).split()]
        spikes[i] = np.frombuffer(m.group(4).encode(), dtype=np.uint8).reshape(steps, k) - ord("0")
        seen += 1
    if seen != n or f"DONE {n}" not in text:
        raise VerificationError(f"the firmware reported {seen} of {n} samples; output tail: {text[-500:]}")
    digests = {name: np.zeros((n, steps), dtype=np.uint32) for name in layers}
    filled = np.zeros((n, steps), dtype=bool)
    for m in DIGEST.finditer(text):
        i, t, values = int(m.group(1)), int(m.group(2)), m.group(3).split()
        if i >= n or t >= steps or len(values) != len(layers):
            raise VerificationError(f"malformed firmware digest line: {m.group(0)[:120]}")
        for name, v in zip(layers, values):
            digests[name][i, t] = int(v, 16)
        filled[i, t] = True
    if layers and not filled.all():
        i, t = (int(v) for v in np.argwhere(~filled)[0])
        raise VerificationError(f"the firmware sent no layer digests for sample {i}, step {t}")
    return Record(spikes, digests=digests, counts=counts, predictions=preds)


def vector_budget(board: Board, model_flash: int) -> int:
    """Bytes of test vectors one firmware image of ``board`` takes: what its flash leaves beside the model's
    estimate and the firmware, at most VECTOR_BUDGET."""
    return max(0, min(VECTOR_BUDGET, board.flash - model_flash - FIRMWARE_RESERVE))


class CortexMRunner:
    def __init__(self, model: CheckedModel, model_dir: Path, work: Path, board: Board):
        self.model, self.model_dir, self.work, self.board = model, model_dir, work, board
        self.runs = 0

    def run(self, inputs: np.ndarray, steps: int) -> Record:
        graph = self.model.graph
        names = [layer.lif.name for layer in self.model.layers]
        parts = []
        per_sample = int(np.prod(graph.input.shape)) * (steps if graph.input.encoding == "stream" else 1)
        budget = vector_budget(
            self.board,
            flash_estimate(RuleInput(graph, self.model.layers, self.model.ranges, self.model.options)),
        )
        per_image = max(1, budget // per_sample)
        for start in range(0, len(inputs), per_image):
            part = inputs[start : start + per_image]
            build = self.work / f"fw{self.runs}"
            self.runs += 1
            vectors = self.work / f"vectors{self.runs}.h"
            vectors.write_text(vectors_header(graph, part, steps))
            elf = build_firmware(
                self.model_dir, vectors, build, cpu=self.board.cpu, extra_cflags="-DQSNN_RECORD",
                memory_map=self.board.memory_map,
            )  # fmt: skip
            text = run_qemu(elf, machine=str(self.board.qemu_machine))
            parts.append(parse_firmware_output(text, len(part), steps, graph.num_classes, names))
            shutil.rmtree(build, ignore_errors=True)  # the next image rebuilds everything anyway
        return Record(
            np.concatenate([p.output_spikes for p in parts]),
            digests={k: np.concatenate([p.digests[k] for p in parts]) for k in names},
            counts=np.concatenate([p.counts for p in parts]),
            predictions=np.concatenate([p.predictions for p in parts]),
        )


class CortexMExecutor:
    name = "cortex-m"
    description = (
        "the generated C in the Cortex-M firmware (arm-none-eabi-gcc) under qemu-system-arm; the core and QEMU "
        "machine follow --board; every layer checked by CRC-32 digests after every step"
    )

    def build(self, model: CheckedModel, model_dir: Path, work: Path) -> CortexMRunner:
        board = BOARDS[c_settings(model.options).board]
        if model.options.prefix != "qsnn":
            raise VerificationError(
                f"the firmware is written for the prefix 'qsnn'; regenerate with --prefix qsnn to verify "
                f"(this folder uses {model.options.prefix!r})"
            )
        if board.qemu_machine is None:
            raise DesignRuleError(
                "board_runs_in_qemu",
                f"board {board.name} has no QEMU machine; pick one of "
                f"{sorted(b.name for b in BOARDS.values() if b.qemu_machine)} with --board",
            )
        return CortexMRunner(model, model_dir, work, board)
