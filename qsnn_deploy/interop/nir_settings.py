"""Which library wrote a NIR graph, and the time step: never assumed silently.

``detect`` reads the signatures each library leaves (docs/targets/nir.md, "Import: conventions"): our
``producer`` metadata, Rockpool's ``<i>_<Module>Torch`` node names, Spyx's ``r = beta`` (0 < r < 1),
snnTorch's ``r = tau / dt`` at its ``dt = 1e-4``, and the ``r = 1`` that Norse (tau in seconds) and Sinabs
(tau in steps, or IF only) write. ``resolve_dt`` takes, in order: ``--dt``, the graph's ``dt`` metadata, the
step read off the nodes (Spyx, Rockpool record it in ``r``), the convention's documented step; else it refuses
with one line. Each answer says where it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.interop.conventions import CHOICES, CONVENTIONS, PRODUCER, derived_dt, text

NEURONS = ("IF", "LIF", "CubaLIF")
ROCKPOOL_NAME = re.compile(r"\d+_[A-Za-z0-9]+Torch\Z")


@dataclass(frozen=True)
class Settings:
    convention: str
    convention_from: str  # "--convention" or what detection saw
    dt: float
    dt_from: str


def _first(node, *fields: str) -> float | None:
    for f in fields:
        if hasattr(node, f):
            arr = np.asarray(getattr(node, f), dtype=np.float64).reshape(-1)
            if arr.size:
                return float(arr[0])
    return None


def neurons(nir_graph) -> list[tuple[str, str, object]]:
    """(name, kind, node) of every IF, LIF and CubaLIF node."""
    return [
        (n, type(node).__name__, node)
        for n, node in nir_graph.nodes.items()
        if type(node).__name__ in NEURONS
    ]


def detect(nir_graph) -> tuple[str, str]:
    """(convention, what gave it away) for a graph; ``nir`` when nothing does."""
    meta = nir_graph.metadata or {}
    if "producer" in meta and text(meta["producer"]) == PRODUCER:
        return "nir", f"producer {PRODUCER!r} in the metadata"
    names = [str(n) for n in nir_graph.nodes]
    if any(ROCKPOOL_NAME.match(n) for n in names):
        return "rockpool", "Rockpool's node names (e.g. '0_LinearTorch')"
    cells = neurons(nir_graph)
    leaky = [(n, node) for n, kind, node in cells if kind != "IF"]
    for n, node in leaky:
        r = _first(node, "r")
        if r is not None and 0 < r < 1:
            return "spyx", f"{n!r} has r = {r:g} < 1 (Spyx writes r = beta)"
    for n, node in leaky:
        tau, r = _first(node, "tau", "tau_mem"), _first(node, "r")
        if tau and r and np.isfinite(tau) and abs(r * 1e-4 / tau - 1) < 1e-3:
            return "snntorch", f"{n!r} has r = tau/dt at dt 1e-4 (snnTorch's export)"
    if cells and "dt" not in meta and all(_first(node, "r") == 1.0 for _, _, node in cells):
        taus = [_first(node, "tau", "tau_mem") for _, node in leaky]
        if taus and all(t is not None and t < 1 for t in taus):
            return "norse", "r = 1 and tau below 1 (Norse writes tau = 1/tau_mem_inv in seconds)"
        if not taus or all(t is not None and t >= 1 for t in taus):
            what = "tau of one step or more (Sinabs writes tau in steps)" if taus else "IF nodes only"
            return "sinabs", f"r = 1 and {what}"
    return "nir", "no library's signature found"


def choose_convention(nir_graph, convention: str | None) -> tuple[str, str]:
    convention = convention or "auto"
    if convention not in CHOICES:
        raise QsnnError(f"--convention must be one of {', '.join(CHOICES)}, got {convention!r}")
    if convention != "auto":
        return convention, "--convention"
    name, why = detect(nir_graph)
    return name, f"detected: {why}"


def _derived(nir_graph, convention: str) -> float | None:
    from qsnn_deploy.interop.nir_import import uniform

    steps = []
    for name, kind, node in neurons(nir_graph):
        fields = ("r", "tau_mem") if kind == "CubaLIF" else ("r", "tau") if kind == "LIF" else ("r",)
        try:
            value = derived_dt(convention, kind, uniform(node, name, fields))
        except QsnnError:
            continue  # the conversion names per-neuron parameters itself
        if value is not None:
            steps.append((name, value))
    if not steps:
        return None
    first = steps[0][1]
    for name, value in steps[1:]:
        if abs(value - first) > 1e-4 * first:
            raise QsnnError(
                f"the {convention} nodes were written with different steps ({steps[0][0]!r}: {first:g}, "
                f"{name!r}: {value:g}); pass --dt"
            )
    return first


def recorded_number(value, key: str, *, steps: bool = False) -> float:
    """A number the graph's metadata records (``dt``, ``input_scale``, ``num_steps``): one real, finite,
    positive scalar, and for ``num_steps`` a whole number within the IR's limit (checked here, when it is read,
    before anything is allocated for it). Anything else is one line naming the key."""
    from qsnn_deploy.ir.limits import MAX_NUM_STEPS

    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "iuf":
        raise QsnnError(f"the NIR graph's metadata {key} is {text(value)[:40]!r}, not one number")
    number = float(arr.reshape(()).item())
    if not (np.isfinite(number) and number > 0):
        raise QsnnError(f"the NIR graph's metadata {key} must be a finite number > 0, got {number:g}")
    if steps and (number != int(number) or number > MAX_NUM_STEPS):
        raise QsnnError(
            f"the NIR graph's metadata {key} must be a whole number from 1 to {MAX_NUM_STEPS}, got {number:g}"
        )
    return number


def resolve(nir_graph, convention: str | None, dt: float | None) -> Settings:
    """The convention and the step, each with where it came from (see the module docstring)."""
    name, why = choose_convention(nir_graph, convention)
    meta = nir_graph.metadata or {}
    if dt is not None:
        return Settings(name, why, float(dt), "--dt")
    if "dt" in meta:
        return Settings(name, why, recorded_number(meta["dt"], "dt"), "metadata")
    derived = _derived(nir_graph, name)
    if derived is not None:
        return Settings(name, why, derived, f"derived from the nodes ({CONVENTIONS[name].derive})")
    step = CONVENTIONS[name].step
    if step is not None:
        return Settings(name, why, step, f"{name}'s documented step")
    if not neurons(nir_graph):
        return Settings(name, why, 1.0, "unused (no neuron nodes)")
    raise QsnnError(
        f"the NIR graph records no dt and convention {name!r} ({why}) gives none: pass --dt SECONDS, or "
        "--convention snntorch|norse|sinabs|spyx|rockpool for the library that wrote it"
    )


__all__ = ["Settings", "choose_convention", "detect", "neurons", "recorded_number", "resolve"]
