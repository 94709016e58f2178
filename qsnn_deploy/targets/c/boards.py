"""The microcontroller boards of the C target: memory budgets for the rule ``fits_board_memory`` (rules.py), and the core
and QEMU machine the ``cortex-m`` executor and ``report`` run (``--board``, the C target's ``board`` option)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Board:
    name: str
    flash: int
    ram: int
    cpu: str = "cortex-m4"
    qemu_machine: str | None = None


# The three MPS2 boards share QEMU's memory map (4 MB SSRAM1 at 0 for code, 4 MB SSRAM2/3 at 0x20000000 for
# data; firmware/cortex-m/mps2-an386.ld): Cortex-M3 (no DSP extension), M4 (DSP), M7 (DSP, dual issue).
BOARDS = {
    "mps2-an386": Board("mps2-an386", 4 * 1024 * 1024, 4 * 1024 * 1024, "cortex-m4", "mps2-an386"),
    "mps2-an385": Board("mps2-an385", 4 * 1024 * 1024, 4 * 1024 * 1024, "cortex-m3", "mps2-an385"),
    "mps2-an500": Board("mps2-an500", 4 * 1024 * 1024, 4 * 1024 * 1024, "cortex-m7", "mps2-an500"),
    # Cortex-M55 (Helium): code in the 512 KB ITCM, read-only data in 16 MB of the DDR, RAM in the 512 KB DTCM
    # (firmware/cortex-m/mps3-an547.ld).
    "mps3-an547": Board("mps3-an547", 16 * 1024 * 1024, 512 * 1024, "cortex-m55", "mps3-an547"),
    "cortex-m0-small": Board("cortex-m0-small", 32 * 1024, 8 * 1024, "cortex-m0"),
}
DEFAULT_BOARD = "mps2-an386"  # the Cortex-M4 of every figure in docs/targets/c.md
