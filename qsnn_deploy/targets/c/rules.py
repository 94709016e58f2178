"""Design rules of the C target (the shared ones are in targets/rules.py), run before any file is written."""

from __future__ import annotations

from qsnn_deploy.targets.base import RuleInput, rule
from qsnn_deploy.targets.c.boards import BOARDS
from qsnn_deploy.targets.c.layout import is_packed, layer_kernels, state_bytes, weight_bytes
from qsnn_deploy.targets.c.settings import c_settings
from qsnn_deploy.targets.rules import (
    accumulator_width,
    current_width,
    input_is_uint8,
    requant_product_fits_int64,
)

CODE_ESTIMATE = 6 * 1024  # bytes of runtime + model code (measured 5.0 KB at -Os for cortex-m4, fast kernels)
STACK_RESERVE = 512  # bytes of stack the runtime needs (measured 456 B with -fstack-usage, see report.py)


@rule("state_width_supported")
def state_width_supported(inp: RuleInput) -> list[str]:
    return [
        f"lif {layer.lif.name!r} has state {layer.lif.state_type}; the C target supports int16 and int32 "
        "(re-export with --state-bits 16 or 32)"
        for layer in inp.layers
        if layer.state_bits not in (16, 32)
    ]


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
    return sum(weight_bytes(layer) + 12 * layer.rq.multiplier.size for layer in inp.layers) + CODE_ESTIMATE


def ram_estimate(inp: RuleInput) -> int:
    """The state of the default build (with the fast kernels the layout allows) plus the stack."""
    static = inp.graph.input.encoding == "static"
    kernels = tuple(layer_kernels(layer, inp.ranges) for layer in inp.layers)
    return state_bytes(inp.layers, static, kernels) + STACK_RESERVE


@rule("fits_board_memory")
def fits_board_memory(inp: RuleInput) -> list[str]:
    """The model fits the chosen board (``--board``), by the estimates above."""
    board = BOARDS[c_settings(inp.options).board]  # the option's choices are BOARDS' keys
    flash, ram = flash_estimate(inp), ram_estimate(inp)
    if flash > board.flash or ram > board.ram:
        return [
            f"the model needs about {flash} B flash and {ram} B RAM; board {board.name} has {board.flash} B "
            f"flash and {board.ram} B RAM (pick a larger board with --board, one of {sorted(BOARDS)}, or "
            "export a smaller model)"
        ]
    return []


RULES = (
    input_is_uint8,
    state_width_supported,
    weights_fit_storage,
    accumulator_width("accumulator_fits_int32", 32, "int32 accumulator"),
    requant_product_fits_int64,
    current_width("current_fits_int32", 32),
    fits_board_memory,
)
