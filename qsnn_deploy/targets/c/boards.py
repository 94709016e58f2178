"""The microcontroller boards of the C target: memory budgets for the rule ``fits_board_memory`` (rules.py), and the core,
linker script and QEMU machine the ``cortex-m`` executor and ``report`` run (``--board``, the C target's ``board``
option)."""

from __future__ import annotations

from dataclasses import dataclass

KB = 1024


@dataclass(frozen=True)
class Board:
    name: str
    flash: int  # bytes of flash the firmware may use
    ram: int  # bytes of RAM the firmware's data, state and stack share (one contiguous region)
    cpu: str = "cortex-m4"
    qemu_machine: str | None = None
    memory_map: str = "mps2-an386.ld"  # the linker script in firmware/cortex-m
    part: str = ""  # the chip and its memories, for the docs (docs/targets/c.md lists every board)


# The three MPS2 boards share QEMU's memory map (4 MB SSRAM1 at 0 for code, 4 MB SSRAM2/3 at 0x20000000 for
# data; firmware/cortex-m/mps2-an386.ld): Cortex-M3 (no DSP extension), M4 (DSP), M7 (DSP, dual issue).
# The real parts (microbit, netduinoplus2, stm32vldiscovery) are linked for the chip's own flash and RAM, so that
# the rule and the linker refuse what the chip cannot hold.
BOARDS = {
    "mps2-an386": Board(
        "mps2-an386", 4 * KB * KB, 4 * KB * KB, "cortex-m4", "mps2-an386",
        part="Arm MPS2+ FPGA image AN386: 4 MB code SSRAM, 4 MB data SSRAM",
    ),
    "mps2-an385": Board(
        "mps2-an385", 4 * KB * KB, 4 * KB * KB, "cortex-m3", "mps2-an385",
        part="Arm MPS2+ FPGA image AN385: 4 MB code SSRAM, 4 MB data SSRAM",
    ),
    "mps2-an500": Board(
        "mps2-an500", 4 * KB * KB, 4 * KB * KB, "cortex-m7", "mps2-an500",
        part="Arm MPS2+ FPGA image AN500: 4 MB code SSRAM, 4 MB data SSRAM",
    ),
    # Cortex-M55 (Helium): code in the 512 KB ITCM, read-only data in 16 MB of the DDR, RAM in the 512 KB DTCM
    # (firmware/cortex-m/mps3-an547.ld).
    "mps3-an547": Board(
        "mps3-an547", 16 * KB * KB, 512 * KB, "cortex-m55", "mps3-an547", "mps3-an547.ld",
        part="Arm MPS3 FPGA image AN547: 512 KB ITCM + 16 MB DDR, 512 KB DTCM",
    ),
    "microbit": Board(
        "microbit", 256 * KB, 16 * KB, "cortex-m0", "microbit", "nrf51822.ld",
        part="Nordic nRF51822 (BBC micro:bit v1): 256 KB flash, 16 KB RAM",
    ),
    # The STM32F405's 192 KB of RAM are 128 KB of SRAM at 0x20000000 and 64 KB of core-coupled memory at
    # 0x10000000; the firmware's data, state and stack live in the SRAM (firmware/cortex-m/stm32f405.ld).
    "netduinoplus2": Board(
        "netduinoplus2", 1024 * KB, 128 * KB, "cortex-m4", "netduinoplus2", "stm32f405.ld",
        part="ST STM32F405RG (Netduino Plus 2): 1 MB flash, 192 KB RAM (128 KB SRAM for the firmware + 64 KB CCM)",
    ),
    "stm32vldiscovery": Board(
        "stm32vldiscovery", 128 * KB, 8 * KB, "cortex-m3", "stm32vldiscovery", "stm32f100.ld",
        part="ST STM32F100RB (STM32VLDISCOVERY): 128 KB flash, 8 KB RAM",
    ),
    "cortex-m0-small": Board(
        "cortex-m0-small", 32 * KB, 8 * KB, "cortex-m0",
        part="a budget only (no QEMU machine): 32 KB flash, 8 KB RAM",
    ),
}  # fmt: skip
DEFAULT_BOARD = "mps2-an386"  # the Cortex-M4 of every figure in docs/targets/c.md
