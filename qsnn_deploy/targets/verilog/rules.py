"""Design rules of the Verilog target (the shared ones are in targets/rules.py), run before any file is written:
what the RTL library supports (4-bit weights, power-of-two strides and pools, the lanes option, step and class
counts of the interface) and whether the memories fit the chosen part's block RAM (``--option part=...``)."""

from __future__ import annotations

from qsnn_deploy.targets.base import RuleInput, rule, separate_pool
from qsnn_deploy.targets.rules import input_is_uint8
from qsnn_deploy.targets.verilog import serial
from qsnn_deploy.targets.verilog.layout import WEIGHT_BITS
from qsnn_deploy.targets.verilog.ops import OPS
from qsnn_deploy.targets.verilog.parts import PARTS, block_estimate, dsp_estimate
from qsnn_deploy.targets.verilog.settings import invalid_options, params_for, serial_lanes, verilog_settings

MAX_CLASSES = 64  # out_spikes is one beat; the Verilator testbench reads it as a 64-bit word
MAX_STEPS = 65535  # num_steps and the spike counters are 16 bits


@rule("lanes_option")
def lanes_is_power_of_two(inp: RuleInput) -> list[str]:
    """``lanes`` and ``neurons``: one value for every layer, or one per layer; under ``arch=serial``, ``lanes``
    4, 8 or 16 and no ``neurons`` or ``fold`` (each value was read and checked by its option, settings.py)."""
    return invalid_options(verilog_settings(inp.options), len(inp.layers))


@rule("weights_fit_nibbles")
def weights_fit_nibbles(inp: RuleInput) -> list[str]:
    """The weight ROMs hold 4-bit two's-complement nibbles."""
    problems = []
    for layer in inp.layers:
        w = layer.op.weight
        if layer.op.weight_type.bits > WEIGHT_BITS or (w.size and (int(w.min()) < -8 or int(w.max()) > 7)):
            problems.append(
                f"{layer.op.name!r}: weight type {layer.op.weight_type}; the Verilog target stores 4-bit weights "
                "(re-export with --bits 4 or fewer)"
            )
    return problems


@rule("conv_geometry_supported")
def conv_geometry_supported(inp: RuleInput) -> list[str]:
    """The accumulate engine finds a tap's output and pooled window by shifting: power-of-two strides (the taps
    whose distance to the input is a multiple of the stride, ``(t - k) >> log2 S``) and pool windows."""
    problems = []
    for layer in inp.layers:
        stride = layer.op.stride if layer.kind == "conv" else 1
        if stride & (stride - 1):
            problems.append(
                f"{layer.op.name!r}: stride {stride}; the Verilog target supports power-of-two strides (1, 2, 4, ...)"
            )
        k = layer.pool_kernel
        if k & (k - 1):
            problems.append(f"{layer.pool.name!r}: pool window {k} is not a power of two")  # type: ignore[union-attr]
    return problems


@rule("serial_supported")
def serial_supported(inp: RuleInput) -> list[str]:
    """``arch=serial`` sums pools into the accumulators as it walks the taps: no max pooling. Its tap walker moves
    the accumulator address one output column per tap (no stride test, no divided address): stride 1 only."""
    if verilog_settings(inp.options).arch != "serial":
        return []
    problems = [
        f"{layer.pool.name!r}: max pooling needs the layered organisation (drop --option arch=serial)"  # type: ignore[union-attr]
        for layer in inp.layers
        if separate_pool(layer, OPS)
    ]
    problems += [
        f"{layer.op.name!r}: stride {layer.op.stride} needs the layered organisation (drop --option arch=serial)"
        for layer in inp.layers
        if layer.kind == "conv" and layer.op.stride != 1
    ]
    return problems


@rule("serial_no_recurrence")
def serial_no_recurrence(inp: RuleInput) -> list[str]:
    """``arch=serial`` keeps one membrane per neuron in its shared state memory and runs each layer's neurons
    once per step from its accumulators: it has no second state per neuron (a synaptic current) and no pass
    that feeds a layer's spikes back into its own sums (recurrent weights). The layered organisation runs both
    (docs/targets/verilog.md#recurrent-and-synaptic-layers)."""
    if verilog_settings(inp.options).arch != "serial":
        return []
    problems = []
    for layer in inp.layers:
        for op in (layer.recurrent, layer.current):
            if op is not None:
                problems.append(
                    f"{op.name!r}: {op.kind} needs the layered organisation (drop --option arch=serial)"
                )
    return problems


@rule("interface_limits")
def interface_limits(inp: RuleInput) -> list[str]:
    problems = []
    classes = inp.layers[-1].neurons if inp.layers else 0
    if classes > MAX_CLASSES:
        problems.append(f"{classes} classes; the output beat carries at most {MAX_CLASSES}")
    if inp.graph.num_steps > MAX_STEPS:
        problems.append(f"{inp.graph.num_steps} steps; the step counters hold at most {MAX_STEPS}")
    return problems


@rule("fits_part")
def fits_part_memory(inp: RuleInput) -> list[str]:
    """Every memory (queues, accumulators, weights, requantize constants, membranes) in block RAM of the part
    (``--option part=ecp5-25k|ecp5-45k|ecp5-85k|up5k``), by the block estimate of parts.blocks_for, and the
    multiplies in its DSP blocks (parts.dsp_estimate)."""
    settings = verilog_settings(inp.options)
    part = settings.part  # one of PARTS (its option's choices)
    params, invalid = params_for(inp.layers, inp.ranges, settings, inp.graph.input.encoding == "static", "x")
    if invalid:
        return []  # lanes_option reports it
    if settings.arch == "serial":
        return serial_fits(serial.design(inp.layers, params, serial_lanes(settings), settings.fold), part)
    problems = []
    blocks = block_estimate(params, part)
    if blocks > PARTS[part]["blocks"]:
        problems.append(
            f"the memories need about {blocks} block RAMs; {part} has {PARTS[part]['blocks']} (try fewer lanes "
            "with --option lanes=N, or a larger part)"
        )
    dsps = dsp_estimate(params, part)
    if PARTS[part]["dsps"] is not None and dsps > PARTS[part]["dsps"]:
        problems.append(
            f"the requantize and decay multiplies need about {dsps} DSP blocks; {part} has {PARTS[part]['dsps']} "
            "(try fewer neurons per cycle with --option neurons=N, or a larger part)"
        )
    return problems


def serial_fits(d: serial.SerialDesign, part: str) -> list[str]:
    problems = []
    blocks, dsps = serial.serial_block_estimate(d, part), serial.serial_dsp_estimate(d, part)
    if blocks > PARTS[part]["blocks"]:
        problems.append(f"the memories need about {blocks} block RAMs; {part} has {PARTS[part]['blocks']}")
    if part == "up5k" and d.sprams() > serial.SPRAMS:
        problems.append(
            f"the weights and membranes need {d.sprams()} SPRAM blocks (16K x 16); the up5k has {serial.SPRAMS}"
        )
    if dsps > PARTS[part]["dsps"]:
        problems.append(
            f"the neuron unit's multiplies need about {dsps} DSP blocks; {part} has {PARTS[part]['dsps']}"
        )
    return problems


RULES = (
    input_is_uint8,
    lanes_is_power_of_two,
    weights_fit_nibbles,
    conv_geometry_supported,
    serial_supported,
    serial_no_recurrence,
    interface_limits,
    fits_part_memory,
)
