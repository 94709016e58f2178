"""What the NIR writer and reader agree on: the time step, and how each library's neurons become one step.

NIR's LIF is continuous: ``tau dv/dt = (v_leak - v) + r I``. Discretised with forward Euler over one step ``dt``
it becomes ``v <- beta v + (1 - beta) v_leak + (dt r / tau) I`` with ``beta = 1 - dt / tau``, which is
snnTorch's ``Leaky`` when ``v_leak = 0`` and ``r = tau / dt`` (input gain 1). snnTorch's own NIR export and
import use ``dt = 1e-4``; so do we, and we record it in the graph's metadata (``dt``) so a reader can use the
same. A neuron without leak (beta = 1) is written as NIR's ``IF`` (``dv/dt = r I``, ``r = 1 / dt``).

Other libraries write the same node types with their own discrete-time meaning (docs/targets/nir.md, "Import:
conventions"); ``CONVENTIONS`` holds each one's documented step, reset and neuron step, and ``step_of`` turns
one neuron node's parameters into the IR's (decay, input gain, constant current).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsnn_deploy.errors import UnsupportedLayerError

DEFAULT_DT = 1e-4
PRODUCER = "qsnn-deploy"
NO_SYNAPSE = 1e-6  # a synaptic decay below this keeps nothing measurable (float32 time constants leave ~1e-8)


def tau_of_beta(beta: float, dt: float = DEFAULT_DT) -> float:
    """The NIR time constant of a decay ``beta`` < 1 per step of ``dt``."""
    return dt / (1.0 - beta)


def beta_of_tau(tau: float, dt: float = DEFAULT_DT) -> float:
    """The decay per step of ``dt`` of NIR's time constant ``tau`` (forward Euler: ``1 - dt / tau``)."""
    return 1.0 - dt / tau


def text(value) -> str:
    """A metadata string as h5py returns it (bytes or str, possibly a 0-d array)."""
    value = value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Convention:
    """A library's reading of NIR's neurons. ``step``: its documented time step when a graph records none
    (None: none documented; ``derive`` says how the step is read off the nodes instead); ``reset``: what its
    neurons do after a spike."""

    name: str
    step: float | None
    reset: str
    summary: str
    derive: str | None = None


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention("nir", None, "zero", "NIR's equations, forward Euler over dt"),
        Convention("snntorch", 1e-4, "zero", "snnTorch: forward Euler, dt 1e-4, r = tau/dt (gain 1)"),
        Convention("norse", 1e-3, "zero", "Norse: tau = 1/tau_mem_inv s, r = 1, Euler over its dt 1e-3"),
        Convention("sinabs", 1.0, "subtract", "Sinabs: discrete time, tau in steps, beta = exp(-1/tau)"),
        Convention("spyx", None, "subtract", "Spyx: discrete, r = beta, gain 1", "tau (1 - r)"),
        Convention(
            "rockpool", None, "subtract", "Rockpool: beta = exp(-dt/tau)", "r = tau exp(-dt/tau) / dt"
        ),
    )
}
CHOICES = ("auto", *CONVENTIONS)


@dataclass(frozen=True)
class NeuronStep:
    """One step of a neuron layer in the IR's terms: ``v <- beta v + gain I + leak``; with ``alpha`` (a
    CubaLIF whose synapse keeps state) ``i <- alpha i + gain I`` first and ``v <- beta v + i + leak``."""

    beta: float
    gain: float
    leak: float
    alpha: float | None = None  # the synaptic decay per step; None: no synaptic state


def _rockpool_dt(tau: float, r: float) -> float | None:
    """The step at which Rockpool wrote ``r = tau exp(-dt/tau) / dt``: with ``x = dt / tau`` that is
    ``r x = exp(-x)``, one root (the left side rises, the right falls), found by bisection."""
    if not (np.isfinite(tau) and np.isfinite(r) and tau > 0 and r > 0):
        return None
    lo, hi = 0.0, 1.0
    while r * hi < math.exp(-hi):
        hi *= 2.0
        if hi > 1e6:
            return None
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if r * mid < math.exp(-mid) else (lo, mid)
    return tau * (lo + hi) / 2


def derived_dt(convention: str, kind: str, p: dict[str, float]) -> float | None:
    """The step a node was written with, where the convention records it in the parameters (Spyx, Rockpool)."""
    tau = p.get("tau", p.get("tau_mem"))
    if tau is None or not np.isfinite(tau):
        return None
    if convention == "spyx" and kind in ("LIF", "CubaLIF") and 0 < p["r"] < 1:
        return tau * (1.0 - p["r"])
    if convention == "rockpool" and kind in ("LIF", "CubaLIF"):
        return _rockpool_dt(tau, p["r"])
    return None


def step_of(convention: str, kind: str, name: str, p: dict[str, float], dt: float) -> NeuronStep:
    """The IR step of one neuron node (``kind``: IF, LIF or CubaLIF; ``p``: its uniform parameters) under
    ``convention``; one UnsupportedLayerError naming the node for what the convention cannot take."""
    r = p["r"]
    if kind == "IF":
        # Euler: dv = dt r I. Norse's IAF, Sinabs's IAF and Spyx's IF add the input once per step (gain r).
        gain = dt * r if convention in ("nir", "snntorch") else (1.0 if convention == "spyx" else r)
        return NeuronStep(1.0, gain, 0.0)
    tau = p["tau_mem" if kind == "CubaLIF" else "tau"]
    if not tau > 0:  # also NaN: a time constant that is not positive has no discrete step
        raise UnsupportedLayerError(f"{name!r}: tau {tau:g} is not a positive time constant")
    if convention in ("nir", "snntorch", "norse") and not tau >= dt:
        raise UnsupportedLayerError(f"{name!r}: tau {tau:g} is shorter than the time step dt {dt:g}")
    if not np.isfinite(tau):  # no leak; snnTorch writes it with r = tau / dt = inf (gain 1)
        beta, gain = 1.0, 1.0 if np.isinf(r) or convention in ("spyx", "sinabs") else 0.0
    elif convention in ("nir", "snntorch", "norse"):
        beta, gain = beta_of_tau(tau, dt), dt * r / tau
    elif convention == "sinabs":  # alpha = exp(-1/tau) per step; its default norm_input scales I by 1 - alpha
        beta = math.exp(-dt / tau)
        gain = (1.0 - beta) * r
    elif convention == "spyx":  # Spyx writes r = beta and adds the input with gain 1
        beta, gain = r, 1.0
    else:  # rockpool: vmem <- exp(-dt/tau) vmem + isyn
        beta, gain = math.exp(-dt / tau), 1.0
    if not 0.0 <= beta <= 1.0:  # e.g. Spyx's r = beta outside [0, 1]: a membrane that grows each step
        raise UnsupportedLayerError(
            f"{name!r}: its {convention} parameters give a decay of {beta:g} per step, outside [0, 1]"
        )
    leak = (1.0 - beta) * p["v_leak"]
    if kind != "CubaLIF":
        return NeuronStep(beta, gain, leak)
    alpha, synapse_gain = synapse_step(convention, name, p, dt)
    if alpha is not None and leak != 0:
        # v_leak is a constant membrane current; before the synapse it would build up over 1/(1 - alpha) steps
        raise UnsupportedLayerError(
            f"{name!r}: v_leak {p['v_leak']:g} with a synapse (tau_syn {p['tau_syn']:g}); a CubaLIF with a "
            "synapse takes only v_leak = 0"
        )
    return NeuronStep(beta, gain * synapse_gain, leak, alpha)


SYNAPSE_CONVENTIONS = ("nir", "snntorch", "rockpool")  # whose synaptic step is the IR's synaptic op


def synapse_step(convention: str, name: str, p: dict[str, float], dt: float) -> tuple[float | None, float]:
    """(alpha, gain) of a CubaLIF's synapse: ``i <- alpha i + gain I`` per step, alpha None where the synapse
    keeps nothing from one step to the next (then ``i = gain I``, no synaptic op).

    NIR's Euler step of ``tau_syn dI/dt = -I + w_in S`` is ``I <- (1 - dt/tau_syn) I + (dt/tau_syn) w_in S``
    (snnTorch writes ``w_in = tau_syn/dt``: its ``Synaptic``, ``syn = alpha syn + input``); ``tau_syn = dt``
    keeps nothing. Rockpool's LIFTorch computes ``isyn <- exp(-dt/tau_syn) (isyn + w_in x)``, i.e. alpha
    ``exp(-dt/tau_syn)`` and gain ``alpha w_in``, and its membrane then adds the new ``isyn``: the IR's order."""
    tau_syn, w_in = p["tau_syn"], p["w_in"]
    if convention == "rockpool":
        alpha = math.exp(-dt / tau_syn) if tau_syn > 0 else 0.0
        return (alpha if alpha > NO_SYNAPSE else None), alpha * w_in
    alpha = beta_of_tau(tau_syn, dt)
    if abs(alpha) <= NO_SYNAPSE:
        return None, w_in
    if convention not in SYNAPSE_CONVENTIONS:
        raise UnsupportedLayerError(
            f"{name!r}: CubaLIF with a synapse (tau_syn {tau_syn:g}, decay {alpha:.4g} per step at dt {dt:g}) "
            f"under the {convention} convention, whose synaptic step is not implemented (only "
            f"{', '.join(SYNAPSE_CONVENTIONS)}); pass --dt if the graph ran at another step, or --convention nir"
        )
    if not 0.0 < alpha < 1.0:  # tau_syn < dt (or not positive): the Euler step would flip the current's sign
        raise UnsupportedLayerError(
            f"{name!r}: CubaLIF with a synapse (tau_syn {tau_syn:g}, decay {alpha:.4g} per step at dt {dt:g}): "
            "tau_syn must be at least dt; pass --dt if the graph ran at another step"
        )
    return alpha, dt / tau_syn * w_in


__all__ = ["CHOICES", "CONVENTIONS", "Convention", "DEFAULT_DT", "NeuronStep", "PRODUCER", "SYNAPSE_CONVENTIONS",
           "beta_of_tau", "derived_dt", "step_of", "synapse_step", "tau_of_beta", "text"]  # fmt: skip
