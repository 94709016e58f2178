"""What a timing depended on, printed beside it, and a warning where it means nothing.

On a busy machine a ratio of two timings says more about the other jobs than about the code: one run of
sim_speed.py under load printed snnTorch at 220 ms/sample instead of 8.5 (OpenMP threads spinning on a
2-core machine shared with other work) and a ratio of 69x. So every benchmark run records, per timed call, the
wall time, its own CPU time (``time.process_time``: every thread of the process) and the CPU time the rest of
the machine used meanwhile (busy time in /proc/stat minus its own), and prints the load average, the versions
and the thread settings. ``warnings`` says when the figures cannot be trusted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

OTHERS_LIMIT = 0.10  # other jobs' share of the machine's CPU during a timed call above which it is not idle
CPU_WALL_LIMIT = 0.8  # a call that ran on less than this fraction of one core mostly waited for a core
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "THP_MEM_ALLOC_ENABLE")


@dataclass(frozen=True)
class Timing:
    """One timed call: wall and own CPU seconds, and the other jobs' CPU share of the machine meanwhile
    (0..1, None where /proc/stat is missing)."""

    wall: float
    cpu: float
    others: float | None


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _busy_seconds() -> float | None:
    """Busy CPU seconds of the whole machine since boot (all cores), from /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # user..steal; guest is inside user


def timed(fn: Callable[[], object]) -> Timing:
    """Time ``fn()`` in this process: wall, own CPU, and the others' share of the machine meanwhile."""
    busy, wall, cpu = _busy_seconds(), time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = _busy_seconds()
    others = None
    if busy is not None and after is not None and wall > 0:
        others = min(1.0, max(0.0, (after - busy - cpu) / (wall * cores())))
    return Timing(wall, cpu, others)


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def thread_settings() -> str:
    """torch's intra- and inter-op threads and the environment variables that set thread pools."""
    import torch

    env = ", ".join(f"{v}={os.environ.get(v, '(unset)')}" for v in THREAD_VARIABLES)
    return f"torch {torch.get_num_threads()} threads ({torch.get_num_interop_threads()} inter-op); {env}"


def versions() -> str:
    import numpy
    import snntorch
    import torch

    return f"torch {torch.__version__}, snntorch {snntorch.__version__}, numpy {numpy.__version__}"


def describe(load_before: tuple[float, float, float] | None) -> list[str]:
    """The lines that go above the figures: cores, load before and now, versions, threads."""
    now = load_average()
    loads = "unknown"
    if load_before is not None and now is not None:
        loads = f"{load_before[0]:.2f} before, {now[0]:.2f} after (1 min)"
    return [
        f"machine: {cores()} cores; load average {loads}",
        f"versions: {versions()}",
        f"threads: {thread_settings()}",
    ]


def warnings(load_before: tuple[float, float, float] | None, sides: dict[str, list[Timing]]) -> list[str]:
    """Why the figures of ``sides`` (name -> timings) mean little, if they do: the machine was loaded before
    the run (1-min load above cores - 1), other jobs took more than ``OTHERS_LIMIT`` of the CPU during a timed
    call, or a call got less than ``CPU_WALL_LIMIT`` of a core (it waited for one)."""
    found = []
    n = cores()
    if load_before is not None and load_before[0] > n - 1:
        found.append(f"load average {load_before[0]:.2f} before the run on {n} cores (more than {n - 1})")
    for name, timings in sides.items():
        others = [t.others for t in timings if t.others is not None]
        if others and max(others) > OTHERS_LIMIT:
            found.append(f"{name}: other jobs used up to {max(others):.0%} of the machine's CPU meanwhile")
        worst = min(t.cpu / t.wall for t in timings if t.wall > 0)
        if worst < CPU_WALL_LIMIT:
            found.append(f"{name}: CPU time only {worst:.2f}x wall time (waited for a core)")
    return found


def report(load_before: tuple[float, float, float] | None, sides: dict[str, list[Timing]]) -> list[str]:
    """``describe`` and, where the figures mean little, a WARNING line naming each reason."""
    lines = describe(load_before)
    found = warnings(load_before, sides)
    if found:
        lines.append("WARNING: the machine was not idle, these timings and their ratio are not meaningful:")
        lines += [f"  - {reason}" for reason in found]
    return lines
