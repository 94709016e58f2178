"""Which LIF layers of a graph can saturate within its ``num_steps``: the bound behind every saturation warning.

The range analysis (docs/ir/ranges.md) bounds a leaky membrane by its fixed point, which does not exist without
leak (IF layers, β = 1). Over a finite run it needs none: with currents of magnitude at most ``I`` the LIF rule
(ir/ops/lif.py) gives ``|v_t| <= ceil(decay |v_t-1|) + 1 + I + threshold`` (the rounding, the current and the
subtract reset), and iterating that ``num_steps`` times bounds every membrane the run can reach. A layer is
reported only when that bound exceeds its state type, so an IF layer in int32 over 25 steps is not (the
warning used to say "use --state-bits 32" to a graph that already had it).
"""

from __future__ import annotations

from dataclasses import dataclass

from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import LIF
from qsnn_deploy.ir.ranges import analyse

# The phrase export/quantize.py's infinite-horizon warning carries; exporters replace those warnings with these.
SATURATION = "the membrane can saturate"


@dataclass(frozen=True)
class Saturation:
    """A LIF layer whose membrane can leave its state type within ``steps`` steps."""

    op: LIF
    bound: int
    steps: int

    def message(self, label: str | None = None) -> str:
        st = self.op.state_type
        fix = "use --state-bits 32" if st.bits < 32 else "the simulator and every target clamp it alike"
        return (
            f"{label or self.op.name}: with {st} state the membrane can saturate within {self.steps} steps for "
            f"extreme inputs (bound {self.bound} > {st.max}); {fix}"
        )


def membrane_bound(op: LIF, current: int, steps: int) -> int:
    """A bound on |v| over ``steps`` steps for currents of magnitude <= ``current`` (ir/ops/lif.py's rule,
    iterated instead of taken to its fixed point, so it exists without leak too)."""
    bound, one = 0, 1 << op.decay_shift
    for _ in range(steps):
        bound = -(-(bound * op.decay_multiplier) // one) + 1 + current + op.threshold
    return bound


def saturating_layers(graph: Graph) -> list[Saturation]:
    """Every LIF layer of ``graph`` whose membrane bound over ``graph.num_steps`` exceeds its state type."""
    ranges = analyse(graph)
    found = []
    for i, op in enumerate(graph.ops):
        if op.role != "neuron":
            continue
        before = ranges[i - 1]  # the op that drives it (its ``follows``, checked by Graph.validate)
        current = max(max(abs(int(v)) for v in before.lo), max(abs(int(v)) for v in before.hi))
        bound = membrane_bound(op, current, graph.num_steps)
        if bound > op.state_type.max:
            found.append(Saturation(op, bound, graph.num_steps))
    return found


def bounded_warnings(graph: Graph, warnings: list[str]) -> list[str]:
    """``warnings`` with the exporter's infinite-horizon saturation warnings replaced by this bound's."""
    kept = [w for w in warnings if SATURATION not in w]
    return kept + [s.message() for s in saturating_layers(graph)]
