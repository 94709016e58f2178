"""Design-rule checks of the C target, run before any file is written.

Each rule is a function ``rule(ctx)`` that raises ``DesignRuleError(<its name>, message)``; ``run_checks``
runs them in a fixed order. The message says what to change (re-export, another board, another prefix).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ranges import OpRange, analyse
from qsnn_deploy.targets.c.plan import Stage, parse_stages, state_bytes, weight_bytes

INT32_MAX = (1 << 31) - 1
CODE_ESTIMATE = 6 * 1024  # bytes of runtime + model code (measured under 4 KB at -Os for cortex-m4)
STACK_RESERVE = 512  # bytes of stack the runtime needs (measured with -fstack-usage, see report.py)


@dataclass(frozen=True)
class Board:
    name: str
    flash: int
    ram: int


BOARDS = {
    "mps2-an386": Board("mps2-an386", 4 * 1024 * 1024, 4 * 1024 * 1024),
    "cortex-m0-small": Board("cortex-m0-small", 32 * 1024, 8 * 1024),
}

# C99 keywords (6.4.1), C11/C23 keywords and common macros of the standard headers we include.
C_RESERVED = frozenset(
    """auto break case char const continue default do double else enum extern float for goto if inline int
    long register restrict return short signed sizeof static struct switch typedef union unsigned void
    volatile while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert
    _Thread_local alignas alignof bool constexpr false nullptr static_assert thread_local true typeof
    typeof_unqual NULL main errno assert offsetof""".split()
)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class CheckContext:
    graph: Graph
    prefix: str
    board: Board
    stages: list[Stage] | None = None
    ranges: dict[str, OpRange] | None = None


def op_has_template(ctx: CheckContext) -> None:
    ctx.stages = parse_stages(ctx.graph)
    ctx.ranges = {r.name: r for r in analyse(ctx.graph)}


def input_type_supported(ctx: CheckContext) -> None:
    dtype = ctx.graph.input.dtype
    if dtype.signed or dtype.bits != 8:
        raise DesignRuleError(
            "input_type_supported", f"the C API takes uint8 frames, the IR input is {dtype}"
        )


def state_width_supported(ctx: CheckContext) -> None:
    for st in ctx.stages or []:
        if st.state_bits not in (16, 32):
            raise DesignRuleError(
                "state_width_supported",
                f"lif {st.lif.name!r} has state {st.lif.state_type}; the C target supports int16 and int32 "
                "(re-export with --state-bits 16 or 32)",
            )


def weights_fit_storage(ctx: CheckContext) -> None:
    for st in ctx.stages or []:
        wt = st.op.weight_type
        lo, hi = (-8, 7) if st.packed else (-128, 127)
        w = st.op.weight
        if not 2 <= wt.bits <= 8 or not wt.signed:
            raise DesignRuleError(
                "weights_fit_storage", f"{st.op.name!r}: weight type {wt} is not int2..int8"
            )
        if w.size and (int(w.min()) < lo or int(w.max()) > hi):
            raise DesignRuleError(
                "weights_fit_storage",
                f"{st.op.name!r}: weights span [{int(w.min())}, {int(w.max())}], outside the "
                f"{'4-bit nibble' if st.packed else 'int8'} storage [{lo}, {hi}]",
            )


def accumulator_fits_int32(ctx: CheckContext) -> None:
    """Every partial sum, in any order (the event kernels scatter), must fit int32: bounded by the sum of
    |w*x| over the pooled window, i.e. the conv's peak times the pool area."""
    assert ctx.ranges is not None
    for st in ctx.stages or []:
        area = st.pool.kernel**2 if st.pool is not None else 1
        bound = ctx.ranges[st.op.name].peak * area
        if bound > INT32_MAX:
            raise DesignRuleError(
                "accumulator_fits_int32",
                f"{st.op.name!r}: partial sums can reach {bound}, beyond int32; lower the weight or input "
                "range, or split the layer",
            )


def requant_product_fits_int64(ctx: CheckContext) -> None:
    assert ctx.ranges is not None
    for st in ctx.stages or []:
        rng = ctx.ranges[st.rq.name]
        if rng.peak_bits > 63:  # x*m + b + 2^(s-1) is computed in int64_t
            raise DesignRuleError(
                "requant_product_fits_int64",
                f"{st.rq.name!r}: x*multiplier+bias needs {rng.peak_bits} bits; re-export with a smaller shift",
            )
        if min(rng.lo) < -INT32_MAX - 1 or max(rng.hi) > INT32_MAX:
            raise DesignRuleError(
                "requant_product_fits_int64",
                f"{st.rq.name!r}: the current spans [{min(rng.lo)}, {max(rng.hi)}], beyond int32",
            )


def c_identifier(ctx: CheckContext) -> None:
    names = [ctx.prefix] + [op.name for op in ctx.graph.ops]
    for name in names:
        what = "prefix" if name is ctx.prefix else "op name"
        if not IDENTIFIER.match(name):
            raise DesignRuleError(
                "c_identifier", f"{what} {name!r} is not a C identifier ([A-Za-z_][A-Za-z0-9_]*)"
            )
        if name in C_RESERVED or name.startswith("__") or re.match(r"_[A-Z]", name):
            raise DesignRuleError(
                "c_identifier", f"{what} {name!r} is a C reserved word or reserved identifier"
            )
    if ctx.prefix.lower() == "qsnn_runtime" or ctx.prefix.startswith("qsnn_"):
        raise DesignRuleError(
            "c_identifier", f"prefix {ctx.prefix!r} collides with the runtime's qsnn_* names"
        )


def fits_board_memory(ctx: CheckContext) -> None:
    stages = ctx.stages or []
    static = ctx.graph.input.encoding == "static"
    flash = sum(weight_bytes(s) + 12 * s.rq.multiplier.size for s in stages) + CODE_ESTIMATE
    ram = state_bytes(stages, static) + STACK_RESERVE
    b = ctx.board
    if flash > b.flash or ram > b.ram:
        raise DesignRuleError(
            "fits_board_memory",
            f"the model needs about {flash} B flash and {ram} B RAM; board {b.name} has {b.flash} B flash and "
            f"{b.ram} B RAM (choose a larger board or a smaller model)",
        )


RULES: list[Callable[[CheckContext], None]] = [
    c_identifier,
    op_has_template,
    input_type_supported,
    state_width_supported,
    weights_fit_storage,
    accumulator_fits_int32,
    requant_product_fits_int64,
    fits_board_memory,
]


def run_checks(graph: Graph, prefix: str, board: str = "mps2-an386") -> list[Stage]:
    """Run every rule; return the stage plan the renderer uses."""
    if board not in BOARDS:
        raise DesignRuleError("known_board", f"unknown board {board!r}; choose one of {sorted(BOARDS)}")
    graph.validate()
    ctx = CheckContext(graph, prefix, BOARDS[board])
    for rule in RULES:
        rule(ctx)
    assert ctx.stages is not None
    return ctx.stages
