"""The Verilog target's ``--option`` settings, declared once (targets/options.py): typed, with a default and help.

``arch``, ``lanes``, ``neurons``, ``fold`` and ``part`` shape the RTL and its memory images (recorded by
codegen); ``jobs`` is a build setting of the ``verilator`` executor, ``parts``, ``synth``, ``seeds`` and
``tool_minutes`` settings of ``report``. What depends on the graph or on another option (one value per layer;
``lanes`` 4, 8 or 16 and no ``neurons`` under ``arch=serial``) is ``invalid_options``, which the design rule
``lanes_option`` (rules.py) reports; ``params_for`` gives the layers' parameters (layout.py) under the options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qsnn_deploy.ir.ops import OpRange
from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.options import choice, flag, integer, integers, powers_of_two, subset
from qsnn_deploy.targets.verilog.layout import MAX_LANES, LayerParams, layer_params
from qsnn_deploy.targets.verilog.parts import DEFAULT_PART, PARTS

ARCHES = ("layered", "serial")
DEFAULT_LANES = 16
SERIAL_DEFAULT_LANES = 4  # arch=serial: four 4-bit weights fill a 16-bit SPRAM word
SERIAL_LANES = (4, 8, 16)  # a weight word of 1, 2 or 4 SPRAMs side by side


MAX_JOBS = 64  # parallel C++ compile jobs; more only exhausts the machine
SYNTH_FAMILIES = ("ecp5", "ice40")  # the families report.py synthesizes for (its DEVICES)
MAX_SEED = 2**31 - 1  # nextpnr's --seed is an int
MAX_TOOL_MINUTES = 24 * 60  # a day: a place and route that needs more is not going to finish


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
    fold: bool = flag(False, "fold fused sum pools into the kernels", codegen=True)
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
    seeds: tuple[int, ...] = integers(
        1, MAX_SEED, "`report`: place and route once per nextpnr seed; the Fmax and latency are the median",
        default="nextpnr's default, one run", codegen=False,
    )  # fmt: skip
    tool_minutes: int = integer(
        1,
        MAX_TOOL_MINUTES,
        60,
        "`report`: the time limit of each Yosys and nextpnr run, in minutes",
        codegen=False,
    )


def verilog_settings(options: TargetOptions) -> VerilogSettings:
    """``options`` as the Verilog target's typed settings: what ``check_model`` made (never parsed again)."""
    if not isinstance(options, VerilogSettings):
        raise TypeError(f"expected the Verilog target's checked settings, got {type(options).__name__}")
    return options


def serial_lanes(settings: VerilogSettings) -> int:
    """``lanes`` under ``arch=serial`` (one value; the rule ``lanes_option`` has checked it is 4, 8 or 16)."""
    return settings.lanes[0] if settings.lanes else SERIAL_DEFAULT_LANES


def _per_layer(values: tuple[int, ...] | None, default: int, layers: int) -> tuple[int, ...]:
    """One value for every layer, or one per layer (the rule ``lanes_option`` has checked the count)."""
    given = values or (default,)
    return given * layers if len(given) == 1 else given


def invalid_options(settings: VerilogSettings, layers: int) -> list[str]:
    """What the typed options cannot mean for this graph (nothing: an empty list): a list of ``lanes`` or
    ``neurons`` of another length than the layers; under ``arch=serial``, ``lanes`` other than 4, 8 or 16,
    or ``neurons`` or ``fold`` given at all (one neuron unit, 4-bit weights in the SPRAM words)."""
    if settings.arch == "serial":
        found = [
            f"option {key} does not apply to arch=serial (one neuron unit, 4-bit weights)"
            for key in ("neurons",)
            if key in settings.extra
        ]
        if settings.lanes is not None and (len(settings.lanes) != 1 or settings.lanes[0] not in SERIAL_LANES):
            lanes = ",".join(map(str, settings.lanes))
            found.append(
                f"option lanes={lanes!r}: under arch=serial, one of {', '.join(map(str, SERIAL_LANES))}"
            )
        return found
    return [
        f"option {key}={','.join(map(str, values))!r} gives {len(values)} values for {layers} layers"
        for key, values in (("lanes", settings.lanes), ("neurons", settings.neurons))
        if values is not None and len(values) not in (1, layers)
    ]


def params_for(
    layers: tuple[Layer, ...],
    ranges: Mapping[str, OpRange],
    settings: VerilogSettings,
    static: bool,
    prefix: str,
) -> tuple[list[LayerParams], list[str]]:
    """The layers' parameters under the options, or no parameters and what is wrong with the options."""
    problems = invalid_options(settings, len(layers))
    if problems:
        return [], problems
    n = len(layers)
    if settings.arch == "serial":  # geometry and widths per layer; the serial layout is serial.design's
        return layer_params(layers, ranges, (4,) * n, static, prefix, (1,) * n, False), []
    lanes = _per_layer(settings.lanes, DEFAULT_LANES, n)
    neurons = _per_layer(settings.neurons, 1, n)
    return layer_params(layers, ranges, lanes, static, prefix, neurons, settings.fold), []
