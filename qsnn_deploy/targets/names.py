"""Generated names are unique by construction: one shared rule checks every name a target derives from op names.

A target builds identifiers, macros, ONNX tensor names and file names by gluing an op name to fixed parts
(``QSNN_<LIF>_DECAY_SHIFT``, ``<rq>_multiplier``, ``<prefix>_<op>_w.hex``). Two valid op names can then give the
same name: a requantize op called ``lif1_decay`` has the shift macro ``QSNN_LIF1_DECAY_SHIFT`` of the LIF op
``lif1`` (issue 23, item 4). Each target lists what it derives (``Target.derived_names``: patterns beside its
renderer, turned into ``Derived`` names by ``from_patterns``), and the shared rule ``unique_generated_names``
refuses any name two sources give, naming both, before a file is written. File names are compared without case
(two files differing only in case are one file on macOS and Windows). A test renders every target and checks
that every name it wrote from an op name is on its list, so the lists cannot fall behind the renderers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.targets.base import Rule, RuleInput, rule

MAX_REPORTED = 8  # collisions listed in one message; the rest are counted


@dataclass(frozen=True)
class Derived:
    """One generated name and where it comes from (an op and the pattern, or a fixed part of the target)."""

    name: str
    origin: str  # the op ("lif 'lif1'") or the fixed part of the target
    pattern: str = ""  # how the name is made from the op's ("C name <PREFIX>_<NAME>_SHIFT")
    file: bool = False  # a file name: compared without case

    @property
    def source(self) -> str:
        return f"{self.origin} ({self.pattern})" if self.pattern else self.origin


def layer_roles(layers: Iterable[Layer]) -> list[tuple[str, object]]:
    """(role, op) of every op a layer renders: ``synapse`` (conv or linear), ``pool``, ``requantize``,
    ``recurrent``, ``synaptic``, ``lif``."""
    found: list[tuple[str, object]] = []
    for layer in layers:
        found.append(("synapse", layer.op))
        if layer.pool is not None:
            found.append(("pool", layer.pool))
        found.append(("requantize", layer.rq))
        if layer.recurrent is not None:
            found.append(("recurrent", layer.recurrent))
        if layer.current is not None:
            found.append(("synaptic", layer.current))
        found.append(("lif", layer.lif))
    return found


def from_patterns(
    layers: Iterable[Layer], prefix: str, patterns: Mapping[str, Iterable[str]], what: str, file: bool = False
) -> list[Derived]:
    """The names ``patterns`` (role -> ``str.format`` patterns over ``p`` (the prefix), ``P`` (it in upper
    case), ``name`` (the op name) and ``NAME`` (it in upper case)) give for every op of ``layers``."""
    out = []
    for role, op in layer_roles(layers):
        for pattern in patterns.get(role, ()):
            name = pattern.format(p=prefix, P=prefix.upper(), name=op.name, NAME=op.name.upper())  # type: ignore[attr-defined]
            shown = pattern.format(p="<prefix>", P="<PREFIX>", name="<name>", NAME="<NAME>")
            out.append(Derived(name, f"{op.kind} {op.name!r}", f"{what} {shown}", file))  # type: ignore[attr-defined]
    return out


def fixed(names: Iterable[str], what: str, file: bool = False) -> list[Derived]:
    """Names a target writes whatever the ops are called (runtime symbols, fixed macros, fixed files)."""
    return [Derived(name, what, "", file) for name in names]


def collisions(derived: Iterable[Derived]) -> list[str]:
    """One message per pair of origins that give a common name: the first such name with both patterns, and
    how many more they share."""
    first: dict[str, Derived] = {}
    pairs: dict[tuple[str, str], list[tuple[Derived, Derived]]] = {}
    for d in derived:
        seen = first.setdefault(d.name.lower() if d.file else d.name, d)
        if seen.origin != d.origin:
            pairs.setdefault((seen.origin, d.origin), []).append((seen, d))
    problems = []
    for clashes in list(pairs.values())[:MAX_REPORTED]:
        a, b = clashes[0]
        more = f" (and {len(clashes) - 1} more names)" if len(clashes) > 1 else ""
        problems.append(
            f"generated name {b.name!r}{more} comes from both {a.source} and {b.source}; rename one of the ops"
        )
    if len(pairs) > MAX_REPORTED:
        problems.append(f"{len(pairs) - MAX_REPORTED} more pairs of ops give a common generated name")
    return problems


def unique_names(derive: Callable[[RuleInput], Iterable[Derived]] | None) -> Rule:
    """The shared rule over a target's ``derived_names`` (no names listed: nothing to check)."""

    @rule("unique_generated_names")
    def check(inp: RuleInput) -> list[str]:
        """No two ops (or an op and a fixed part of the target) give one generated name."""
        return [] if derive is None else collisions(derive(inp))

    return check


__all__ = ["Derived", "collisions", "fixed", "from_patterns", "layer_roles", "unique_names"]
