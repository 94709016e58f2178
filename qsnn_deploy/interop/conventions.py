"""What the NIR writer and reader agree on: the time step and the LIF parameter mapping.

NIR's LIF is continuous: ``tau dv/dt = (v_leak - v) + r I``. Discretised with forward Euler over one step ``dt``
it becomes ``v <- beta v + (1 - beta) v_leak + (dt r / tau) I`` with ``beta = 1 - dt / tau``, which is
snnTorch's ``Leaky`` when ``v_leak = 0`` and ``r = tau / dt`` (input gain 1). snnTorch's own NIR export and
import use ``dt = 1e-4``; so do we, and we record it in the graph's metadata (``dt``) so a reader can use the
same. A neuron without leak (beta = 1) is written as NIR's ``IF`` (``dv/dt = r I``, ``r = 1 / dt``).
"""

from __future__ import annotations

import numpy as np

DEFAULT_DT = 1e-4
PRODUCER = "qsnn-deploy"


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
