"""Design rules of the C target (the shared ones are in targets/rules.py), run before any file is written."""

from __future__ import annotations

from qsnn_deploy.targets.base import RuleInput, rule
from qsnn_deploy.targets.c.boards import BOARDS, Board
from qsnn_deploy.targets.c.layout import (
    input_major,
    is_packed,
    layer_kernels,
    pack_weights,
    state_bytes,
    weight_bytes,
)
from qsnn_deploy.targets.c.settings import c_settings
from qsnn_deploy.targets.rules import (
    accumulator_width,
    current_width,
    input_is_uint8,
    requant_product_fits_int64,
)

CODE_ESTIMATE = 6 * 1024  # bytes of runtime + model code (measured 5.0 KB at -Os for cortex-m4, fast kernels)
STACK_RESERVE = 512  # bytes of stack the runtime needs (measured 456 B with -fstack-usage, see report.py)
FIRMWARE_RAM = 512  # bytes of RAM of the application around the model (the test firmware: docs/targets/c.md)


@rule("state_width_supported")
def state_width_supported(inp: RuleInput) -> list[str]:
    """Membranes are int16 or int32 arrays; a synaptic current is held in int32 and saturated to its own
    state type (qsnn_synaptic_step), so int8, int16 and int32 currents are all exact."""
    problems = [
        f"lif {layer.lif.name!r} has state {layer.lif.state_type}; the C target supports int16 and int32 "
        "(re-export with --state-bits 16 or 32)"
        for layer in inp.layers
        if layer.state_bits not in (16, 32)
    ]
    problems += [
        f"synaptic {layer.current.name!r} has state {layer.current.state_type}; the C target supports int8, "
        "int16 and int32 currents"
        for layer in inp.layers
        if layer.current is not None
        and (not layer.current.state_type.signed or layer.current.state_type.bits not in (8, 16, 32))
    ]
    return problems


@rule("recurrent_fits_int32")
def recurrent_fits_int32(inp: RuleInput) -> list[str]:
    """qsnn_recurrent_add sums the weights of the active spikes in int32, rescales each sum in one int64
    product, and stores the feed-forward current plus the rescaled sum as an int32."""
    lo32, hi32 = -(1 << 31), (1 << 31) - 1
    problems = []
    for layer in inp.layers:
        rc = layer.recurrent
        if rc is None:
            continue
        rng = inp.ranges[rc.name]
        if rc.weight_type.bits > 8 or not rc.weight_type.signed:
            problems.append(f"recurrent {rc.name!r}: weight type {rc.weight_type} is not int2..int8")
        if min(rng.lo) < lo32 or max(rng.hi) > hi32:
            problems.append(
                f"recurrent {rc.name!r}: the current spans [{min(rng.lo)}, {max(rng.hi)}], beyond int32"
            )
        if rng.peak >= 1 << 63:
            problems.append(f"recurrent {rc.name!r}: the rescale product can reach {rng.peak}, beyond int64")
    return problems


@rule("weights_fit_storage")
def weights_fit_storage(inp: RuleInput) -> list[str]:
    problems = []
    for layer in inp.layers:
        wt, w = layer.op.weight_type, layer.op.weight
        lo, hi = (-8, 7) if is_packed(layer) else (-128, 127)
        if not 2 <= wt.bits <= 8 or not wt.signed:
            problems.append(f"{layer.op.name!r}: weight type {wt} is not int2..int8")
        elif w.size and (int(w.min()) < lo or int(w.max()) > hi):
            problems.append(
                f"{layer.op.name!r}: weights span [{int(w.min())}, {int(w.max())}], outside the "
                f"{'4-bit nibble' if is_packed(layer) else 'int8'} storage [{lo}, {hi}]"
            )
    return problems


def flash_estimate(inp: RuleInput) -> int:
    recurrent = sum(
        len(pack_weights(input_major(layer.recurrent), layer.recurrent.weight_type.bits <= 4))  # type: ignore[arg-type]
        + 4 * layer.neurons
        for layer in inp.layers
        if layer.recurrent is not None
    )
    layers = sum(weight_bytes(layer) + 12 * layer.rq.multiplier.size for layer in inp.layers)
    return layers + recurrent + CODE_ESTIMATE


def ram_estimate(inp: RuleInput, lean: bool | None = None) -> int:
    """The state of the default build (with the fast kernels the layout allows) plus the stack and the
    firmware's own RAM; ``lean``: with or without the small-RAM layout (default: the one the board gets)."""
    static = inp.graph.input.encoding == "static"
    kernels = tuple(layer_kernels(layer, inp.ranges) for layer in inp.layers)
    lean = lean_layout(inp) if lean is None else lean
    return state_bytes(inp.layers, static, kernels, lean) + STACK_RESERVE + FIRMWARE_RAM


def lean_layout(inp: RuleInput) -> bool:
    """The small-RAM layout (layout.py: the static first layer computed again every step, the fused conv's
    list one input channel long) where the board's RAM cannot hold the default one: it costs instructions."""
    board = BOARDS[c_settings(inp.options).board]
    return ram_estimate(inp, lean=False) > board.ram


def fits(inp: RuleInput, board: Board) -> bool:
    """The estimates above (of the layout the chosen board gets, which the generated files hold) fit
    ``board``'s flash and RAM: the chosen board itself, or another whose core ``report`` also counts."""
    return flash_estimate(inp) <= board.flash and ram_estimate(inp) <= board.ram


@rule("fits_board_memory")
def fits_board_memory(inp: RuleInput) -> list[str]:
    """The model fits the chosen board (``--board``), by the estimates above."""
    board = BOARDS[c_settings(inp.options).board]  # the option's choices are BOARDS' keys
    if not fits(inp, board):
        return [
            f"the model needs about {flash_estimate(inp)} B flash and {ram_estimate(inp)} B RAM; board "
            f"{board.name} ({board.part}) has {board.flash} B flash and {board.ram} B RAM (pick a larger board "
            f"with --board, one of {sorted(BOARDS)}, or export a smaller model)"
        ]
    return []


RULES = (
    input_is_uint8,
    state_width_supported,
    weights_fit_storage,
    accumulator_width("accumulator_fits_int32", 32, "int32 accumulator"),
    requant_product_fits_int64,
    current_width("current_fits_int32", 32),
    recurrent_fits_int32,
    fits_board_memory,
)
