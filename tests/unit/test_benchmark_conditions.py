"""benchmarks/conditions.py: the warning that a timing means little fires on each of its conditions and stays
quiet on an idle run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "conditions.py"
spec = importlib.util.spec_from_file_location("benchmark_conditions", PATH)
conditions = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = conditions  # its dataclass looks its module up there
spec.loader.exec_module(conditions)
Timing = conditions.Timing

IDLE = {"snnTorch": [Timing(1.0, 1.0, 0.01)], "simulator": [Timing(0.2, 0.19, 0.0)]}


@pytest.fixture()
def two_cores(monkeypatch):
    monkeypatch.setattr(conditions, "cores", lambda: 2)


def test_an_idle_run_has_no_warning(two_cores) -> None:
    assert conditions.warnings((0.3, 0.5, 0.6), IDLE) == []
    assert not any(line.startswith("WARNING") for line in conditions.report((0.3, 0.5, 0.6), IDLE))


def test_a_loaded_machine_before_the_run_is_named(two_cores) -> None:
    (reason,) = conditions.warnings((1.5, 1.0, 1.0), IDLE)
    assert reason.startswith("load average 1.50 before the run on 2 cores")


def test_other_jobs_during_a_call_are_named(two_cores) -> None:
    sides = {**IDLE, "snnTorch": [Timing(1.0, 1.0, 0.0), Timing(1.0, 1.0, 0.81)]}
    (reason,) = conditions.warnings((0.3, 0.3, 0.3), sides)
    assert reason == "snnTorch: other jobs used up to 81% of the machine's CPU meanwhile"


def test_a_call_that_waited_for_a_core_is_named(two_cores) -> None:
    sides = {**IDLE, "simulator": [Timing(1.0, 0.37, 0.0)]}
    (reason,) = conditions.warnings((0.3, 0.3, 0.3), sides)
    assert reason == "simulator: CPU time only 0.37x wall time (waited for a core)"
    assert conditions.report((0.3, 0.3, 0.3), sides)[-2].startswith("WARNING: the machine was not idle")
