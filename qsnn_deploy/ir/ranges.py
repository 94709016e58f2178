"""Static range analysis: the interval every value of every op can take, for any input in the input type.

Conservative and exact in integers (Python ints, no overflow). The exporter uses it to pick widths and
membrane scales; targets use it to check that their arithmetic cannot overflow; the simulator uses it to know
when float BLAS is exact. Each op's rule is its ``bounds`` method (qsnn_deploy/ir/ops/); this module chains
them from the input type. See docs/ir/ranges.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qsnn_deploy.ir.graph import Graph, InputSpec
from qsnn_deploy.ir.ops import Op, OpRange, lif_membrane_bound

__all__ = ["OpRange", "analyse", "analyse_ops", "lif_membrane_bound", "overflow_sites"]


def analyse(graph: Graph) -> list[OpRange]:
    """Interval of every op's output (per channel) given the input type's full range."""
    return analyse_ops(graph.input, graph.ops)


def analyse_ops(spec: InputSpec, ops: Sequence[Op]) -> list[OpRange]:
    """``analyse`` for a chain that need not be a complete graph yet (the exporter builds one op at a time)."""
    c = spec.shape[0]
    lo = np.full(c, spec.dtype.min, dtype=object)
    hi = np.full(c, spec.dtype.max, dtype=object)
    shape = tuple(spec.shape)
    results: list[OpRange] = []
    for op in ops:
        lo, hi, rng = op.bounds(shape, lo, hi)
        results.append(rng)
        shape = op.out_shape(shape)
    return results


def overflow_sites(graph: Graph) -> list[str]:
    """Human-readable list of every place where a value can leave its declared type (empty when none): LIF
    layers whose membrane can saturate, ops whose outputs or partial sums can exceed their declared type, and
    requantize multiplies wider than 64 bits."""
    sites = []
    for rng in analyse(graph):
        if rng.saturates and rng.note:
            sites.append(f"{rng.name}: {rng.note}")
        sites.extend(f"{rng.name}: {problem}" for problem in rng.overflows())
    return sites
