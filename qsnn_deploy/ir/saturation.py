"""Which states of a graph can saturate within its ``num_steps``: the bound behind every saturation warning.

The range analysis (docs/ir/ranges.md) bounds a leaky membrane by its fixed point, which does not exist without
leak (IF layers, β = 1). Over a finite run it needs none: with currents of magnitude at most ``I`` the LIF rule
(ir/ops/lif.py) gives ``|v_t| <= ceil(decay |v_t-1|) + 1 + I + threshold`` (the rounding, the current and the
subtract reset), and iterating that ``num_steps`` times bounds every membrane the run can reach. A layer is
reported only when that bound exceeds its state type, so an IF layer in int32 over 25 steps is not (the
warning used to say "use --state-bits 32" to a graph that already had it).

A synaptic current (ir/ops/synaptic.py) is the same kind of state: ``i_t = ((i_t-1 m + h) >> s) + x_t`` is
nondecreasing in both ``i`` and ``x``, so the runs fed the largest (smallest) input at every step reach the
largest (smallest) current of each step, and iterating them ``num_steps`` times gives the exact finite-horizon
bound (no fixed point needed: the decay may be 1). A current is reported when it exceeds its state type, and
the LIF after it integrates currents within that bound (or the range analysis', whichever is smaller).

A recurrent op's sums (ir/ops/recurrent.py) carry no state: ``x + ((W s[t-1]) m + h) >> shift`` with spikes
in {0, 1} has the same bound at every step, which the range analysis already proves against the op's
declared width (``overflow_sites``); the horizon changes nothing there, so nothing is reported here.
"""

from __future__ import annotations

from dataclasses import dataclass

from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import LIF, Synaptic
from qsnn_deploy.ir.ranges import analyse

# The phrase export/quantize.py's infinite-horizon warning carries; exporters replace those warnings with these.
SATURATION = "the membrane can saturate"


@dataclass(frozen=True)
class Saturation:
    """A LIF layer's membrane, or a synaptic op's current, that can leave its state type within ``steps``
    steps."""

    op: LIF | Synaptic
    bound: int
    steps: int

    @property
    def state(self) -> str:
        return "membrane" if self.op.role == "neuron" else "synaptic current"

    def message(self, label: str | None = None) -> str:
        st = self.op.state_type
        fix = "use --state-bits 32" if st.bits < 32 else "the simulator and every target clamp it alike"
        return (
            f"{label or self.op.name}: with {st} state the {self.state} can saturate within {self.steps} steps "
            f"for extreme inputs (bound {self.bound} > {st.max}); {fix}"
        )


def membrane_bound(op: LIF, current: int, steps: int) -> int:
    """A bound on |v| over ``steps`` steps for currents of magnitude <= ``current`` (ir/ops/lif.py's rule,
    iterated instead of taken to its fixed point, so it exists without leak too)."""
    bound, one = 0, 1 << op.decay_shift
    for _ in range(steps):
        bound = -(-(bound * op.decay_multiplier) // one) + 1 + current + op.threshold
    return bound


def current_bound(op: Synaptic, input_lo: int, input_hi: int, steps: int) -> int:
    """The largest |i| a synaptic current reaches over ``steps`` steps (from 0, without saturating) for inputs in
    [``input_lo``, ``input_hi``]: the step rule iterated on the extreme runs (see the module docstring)."""
    m, s = op.decay_multiplier, op.decay_shift
    h = (1 << (s - 1)) if s else 0
    lo = hi = peak = 0
    for _ in range(steps):
        hi = ((hi * m + h) >> s) + input_hi
        lo = ((lo * m + h) >> s) + input_lo
        peak = max(peak, hi, -lo)
    return peak


def _peak(rng) -> int:
    return max(max(abs(int(v)) for v in rng.lo), max(abs(int(v)) for v in rng.hi))


def saturating_layers(graph: Graph) -> list[Saturation]:
    """Every LIF membrane and synaptic current of ``graph`` whose bound over ``graph.num_steps`` exceeds its
    state type, in graph order."""
    ranges = analyse(graph)
    found = []
    current: dict[int, int] = {}  # a synaptic op's index -> its finite-horizon bound (within its state type)
    for i, op in enumerate(graph.ops):
        before = ranges[i - 1]  # the op that drives it (its ``follows``, checked by Graph.validate)
        if op.role == "current":
            lo, hi = min(int(v) for v in before.lo), max(int(v) for v in before.hi)
            bound = current_bound(op, lo, hi, graph.num_steps)
            if bound > op.state_type.max:
                found.append(Saturation(op, bound, graph.num_steps))
            current[i] = min(bound, op.state_type.max)
        elif op.role == "neuron":
            drive = min(_peak(before), current.get(i - 1, _peak(before)))
            bound = membrane_bound(op, drive, graph.num_steps)
            if bound > op.state_type.max:
                found.append(Saturation(op, bound, graph.num_steps))
    return found


def bounded_warnings(graph: Graph, warnings: list[str]) -> list[str]:
    """``warnings`` with the exporter's infinite-horizon saturation warnings replaced by this bound's."""
    kept = [w for w in warnings if SATURATION not in w]
    return kept + [s.message() for s in saturating_layers(graph)]
