"""The Verilog target's ``--option`` settings, declared once (targets/options.py): typed, with a default and help.

``arch``, ``lanes``, ``neurons``, ``fold`` and ``part`` shape the RTL and its memory images (recorded by
codegen); ``jobs`` is a build setting of the ``verilator`` executor, ``parts`` and ``synth`` settings of
``report``. What depends on the graph or on another option (one value per layer; ``lanes`` 4, 8 or 16 and no
``neurons`` or ``fold`` under ``arch=serial``) is the design rule ``lanes_option`` (rules.py, layout.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.options import choice, flag, integer, powers_of_two, subset
from qsnn_deploy.targets.verilog.layout import (
    ARCHES,
    DEFAULT_LANES,
    DEFAULT_PART,
    MAX_LANES,
    PARTS,
    SERIAL_DEFAULT_LANES,
)

MAX_JOBS = 64  # parallel C++ compile jobs; more only exhausts the machine
SYNTH_FAMILIES = ("ecp5", "ice40")  # the families report.py synthesizes for (its DEVICES)


@dataclass(frozen=True)
class VerilogSettings(TargetOptions):
    arch: str = choice(
        ARCHES, "layered", "`layered`: every layer its own memories and engine; `serial`: one engine walks the "
        "layers (the iCE40 UP5K)", codegen=True,
    )  # fmt: skip
    lanes: tuple[int, ...] | None = powers_of_two(
        MAX_LANES, "output channels per cycle of each layer's accumulate engine (`arch=serial`: 4, 8 or 16, "
        "one value)", default=f"{DEFAULT_LANES} (`arch=serial`: {SERIAL_DEFAULT_LANES})", codegen=True,
    )  # fmt: skip
    neurons: tuple[int, ...] | None = powers_of_two(
        MAX_LANES, "neurons per cycle of each layer's neuron phase, at most its lanes (not with `arch=serial`)",
        default="1", codegen=True,
    )  # fmt: skip
    fold: bool = flag(False, "fold fused sum pools into the kernels (not with `arch=serial`)", codegen=True)
    part: str = choice(
        PARTS, DEFAULT_PART, "the part whose block RAM and DSP blocks the design must fit", codegen=True,
        what="part",
    )  # fmt: skip
    jobs: int = integer(
        1, MAX_JOBS, 2, "parallel C++ compile jobs of the `verilator` executor", codegen=False
    )
    parts: tuple[str, ...] = subset(
        SYNTH_FAMILIES, SYNTH_FAMILIES, "`report`: the families to synthesize and place for", codegen=False
    )
    synth: bool = flag(True, "`report`: synthesize and place (`0`: cycles only)", codegen=False)


def verilog_settings(options: TargetOptions) -> VerilogSettings:
    """``options`` as the Verilog target's typed settings: what ``check_model`` made (never parsed again)."""
    if not isinstance(options, VerilogSettings):
        raise TypeError(f"expected the Verilog target's checked settings, got {type(options).__name__}")
    return options
