"""ir/saturation.py bounds synaptic currents over the run's ``num_steps`` as it bounds membranes: the bound is
the exact extreme a current reaches (checked against the op's own step rule), a current without decay is
reported only once its run can leave the state type, and the LIF after it integrates currents within that
bound. Recurrent sums carry no state and are never reported here."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import Synaptic
from qsnn_deploy.ir.ranges import analyse
from qsnn_deploy.ir.saturation import current_bound, membrane_bound, saturating_layers
from qsnn_deploy.ir.synthetic import braille_graph
from qsnn_deploy.ir.types import IntType


@pytest.mark.parametrize(("multiplier", "shift"), [(13, 4), (3, 2), (4, 2), (0, 0), (255, 8)])
def test_the_current_bound_is_the_extreme_the_step_rule_reaches(multiplier: int, shift: int) -> None:
    op = Synaptic("syn", multiplier, shift, IntType(32))
    lo, hi, steps = -5, 9, 12
    runs = []
    for x in (lo, hi):  # the extreme runs: the same extreme input at every step
        state, seen = None, []
        for _ in range(steps):
            out, state = op.reference(np.array([x]), state)
            seen.append(abs(int(out[0])))
        runs.append(max(seen))
    assert current_bound(op, lo, hi, steps) == max(runs)


def _with_undecayed_current(steps: int) -> Graph:
    """The Braille layout with syn1's decay at 1: the range analysis cannot bound it (it says: can saturate),
    over a finite run its current grows by at most the largest input per step."""
    g = braille_graph(0, num_steps=steps)
    ops = [
        dataclasses.replace(op, decay_multiplier=4, decay_shift=2) if op.name == "syn1" else op
        for op in g.ops
    ]
    return Graph(g.input, tuple(ops), steps, g.metadata).validate()


def test_a_current_without_decay_is_reported_only_when_its_run_can_leave_the_state() -> None:
    probe = _with_undecayed_current(1)
    i = [op.name for op in probe.ops].index("syn1")
    rng = analyse(probe)[i - 1]  # the recurrent op's sums drive it
    peak = max(max(abs(int(v)) for v in rng.lo), max(abs(int(v)) for v in rng.hi))
    assert analyse(probe)[i].note.startswith("current can saturate")  # the unbounded-run analysis
    fits = 32767 // peak  # int16: the undecayed current reaches steps x peak exactly

    short = saturating_layers(_with_undecayed_current(fits))
    assert "syn1" not in [s.op.name for s in short]
    long = {s.op.name: s for s in saturating_layers(_with_undecayed_current(fits + 1))}
    assert long["syn1"].bound == (fits + 1) * peak and long["syn1"].state == "synaptic current"
    assert "syn1: with int16 state the synaptic current can saturate within" in long["syn1"].message()
    assert all(s.op.kind in ("lif", "synaptic") for s in long.values())  # recurrent sums are never reported


def test_the_lif_after_a_current_integrates_within_the_current_bound() -> None:
    # one step: syn1's current is at most its input, well inside the int16 range the unbounded-run analysis
    # gives it (it can saturate over a long run), so lif1 (int8 here, to be reported) sees the smaller bound
    g = braille_graph(0, num_steps=1)
    ops = [dataclasses.replace(op, state_type=IntType(8)) if op.name == "lif1" else op for op in g.ops]
    g = Graph(g.input, tuple(ops), 1, g.metadata).validate()
    i = [op.name for op in g.ops].index("syn1")
    before, unbounded = analyse(g)[i - 1], analyse(g)[i]
    drive = current_bound(g.ops[i], min(before.lo), max(before.hi), 1)
    assert drive == max(-min(before.lo), max(before.hi)) < max(unbounded.hi) == 32767
    found = {s.op.name: s for s in saturating_layers(g)}
    assert found["lif1"].bound == membrane_bound(g.ops[i + 1], drive, 1) == 1 + drive + g.ops[i + 1].threshold
