"""Design rules every target shares, written once: identifiers, widths, pools.

Each is a pure function of a ``RuleInput`` (targets/base.py) returning its messages; targets list the shared
rules they need beside their own. ``SHARED_RULES`` run for every target (the layer pattern runs before them,
in ``base.check``).
"""

from __future__ import annotations

from collections.abc import Mapping

# The reserved words and the identifier pattern live below the targets, where the NIR import reads them too.
from qsnn_deploy.ir.identifiers import IDENTIFIER, RESERVED
from qsnn_deploy.targets.base import OpImpl, Rule, RuleInput, rule


@rule("identifiers")
def identifiers(inp: RuleInput) -> list[str]:
    """The prefix and every op name become identifiers in generated code: a letter, then letters, digits or
    underscores, at most 48 characters, no reserved word of any emitted language, no double underscore."""
    problems = []
    for what, name in [("prefix", inp.options.prefix)] + [("op name", op.name) for op in inp.graph.ops]:
        if not IDENTIFIER.match(name):
            problems.append(
                f"{what} {name!r} is not an identifier ([A-Za-z][A-Za-z0-9_]*, at most 48 characters)"
            )
        elif name in RESERVED or name.lower() in RESERVED or "__" in name:
            problems.append(f"{what} {name!r} is a reserved word or reserved identifier in generated code")
    prefix = inp.options.prefix
    if prefix.startswith("qsnn_") or prefix.lower() == "qsnn_runtime":
        problems.append(f"prefix {prefix!r} collides with the runtime's qsnn_* names")
    return problems


@rule("declared_types_hold")
def declared_types_hold(inp: RuleInput) -> list[str]:
    """Every op's values and partial sums fit the type the IR declares for them, and every requantize multiply
    fits 64 bits: the same check (``OpRange.overflows``) by which ``simulate``, ``verify`` and ``report``
    refuse a graph, so codegen never writes code for an IR the oracle cannot run. (The targets compute in
    their own fixed widths, checked by their rules; that is exact only because the declared type holds.)"""
    return [
        f"{rng.kind} {rng.name!r}: {'; '.join(problems)}; re-export to get wider types"
        for rng in inp.ranges.values()
        if (problems := rng.overflows())
    ]


def accumulator_width(name: str, bits: int, what: str) -> Rule:
    """A rule: every partial sum of every synapse (with its fused pool) fits a signed ``bits``-bit register.

    The range analysis bounds any partial sum, in any order, by the op's ``peak`` (the largest sum of
    |w * x|); a fused sum pool adds up ``k * k`` such sums (a max pool none)."""

    @rule(name)
    def check(inp: RuleInput) -> list[str]:
        limit = (1 << (bits - 1)) - 1
        problems = []
        for layer in inp.layers:
            bound = inp.ranges[layer.op.name].peak * layer.summed_area
            if bound > limit:
                problems.append(
                    f"{layer.op.name!r}: partial sums can reach {bound}, beyond the {bits}-bit {what}; lower "
                    "the weight or input range, or split the layer"
                )
        return problems

    return check


def current_width(name: str, bits: int) -> Rule:
    """A rule: every requantize output (a LIF's input current) fits a signed ``bits``-bit value."""

    @rule(name)
    def check(inp: RuleInput) -> list[str]:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        problems = []
        for layer in inp.layers:
            rng = inp.ranges[layer.rq.name]
            if min(rng.lo) < lo or max(rng.hi) > hi:
                problems.append(
                    f"{layer.rq.name!r}: the current spans [{min(rng.lo)}, {max(rng.hi)}], beyond int{bits}"
                )
        return problems

    return check


@rule("requant_product_fits_int64")
def requant_product_fits_int64(inp: RuleInput) -> list[str]:
    """x * multiplier + bias + 2^(shift-1) is computed in a signed 64-bit register by every target."""
    return [
        f"{layer.rq.name!r}: x*multiplier+bias needs {inp.ranges[layer.rq.name].peak_bits} bits; re-export with a "
        "smaller shift"
        for layer in inp.layers
        if inp.ranges[layer.rq.name].peak_bits > 63
    ]


@rule("input_type_supported")
def input_is_uint8(inp: RuleInput) -> list[str]:
    """Targets take frames of uint8 (pixels, event counts)."""
    dtype = inp.graph.input.dtype
    return (
        []
        if (not dtype.signed and dtype.bits == 8)
        else [f"targets take uint8 frames, the IR input is {dtype}"]
    )


def ops_supported(target: str, ops: Mapping[str, OpImpl]) -> Rule:
    """A rule: every op of the graph is of a kind in the target's registration table (``TargetSpec.ops``).
    One rule for every target and every op, by kind: a target refuses an op it does not implement here, and
    nowhere else."""

    @rule("op_supported")
    def check(inp: RuleInput) -> list[str]:
        return [
            f"{op.kind} {op.name!r}: the {target} target does not implement {op.kind} (it implements "
            f"{', '.join(sorted(ops))})"
            for op in inp.graph.ops
            if op.kind not in ops
        ]

    return check


SHARED_RULES: tuple[Rule, ...] = (identifiers, declared_types_hold)
