"""The HLS target's ``--option`` settings, declared once (targets/options.py): typed, with a default and help.

``part`` and ``clock_mhz`` reach the Tcl script of the vendor flow (recorded by codegen), so only a plain device
name and a number pass; ``cxx`` is the compiler of the ``csim`` executor (a build setting, never recorded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.options import name, number, program

DEFAULT_PART = "xczu7ev-ffvc1156-2-e"  # Zynq UltraScale+ ZCU104; any part name Vivado knows will do
PART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
MAX_CLOCK_MHZ = 1000.0


@dataclass(frozen=True)
class HlsSettings(TargetOptions):
    part: str = name(
        PART_NAME, DEFAULT_PART, "the FPGA part of the Tcl script (`set_part`)", codegen=True,
        what="a device name (letters, digits, '-' and '_')",
    )  # fmt: skip
    clock_mhz: float = number(
        200.0, "the target clock of the Tcl script, in MHz (its clock period)", what="a clock in MHz",
        most=MAX_CLOCK_MHZ, codegen=True,
    )  # fmt: skip
    cxx: str = program("g++", "the C++ compiler of the `csim` executor")


def hls_settings(options: TargetOptions) -> HlsSettings:
    """``options`` as the HLS target's typed settings: what ``check_model`` made (never parsed again here)."""
    if not isinstance(options, HlsSettings):
        raise TypeError(f"expected the HLS target's checked settings, got {type(options).__name__}")
    return options
