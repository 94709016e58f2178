"""The recording reference simulator: docs/ir/ops.md executed literally, one step at a time, every op every step.

Each op's step is its own ``reference`` method (qsnn_deploy/ir/ops/), plain int64 NumPy: no fusion, no float
BLAS, no static-input shortcut, nothing from the fast kernels (qsnn_deploy/sim/kernels.py). It exists to check
the fast executor and every target (tests, benchmarks/sim_speed.py), never to be fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qsnn_deploy.errors import IRValidationError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ranges import analyse


@dataclass
class ReferenceRecord:
    """What ``simulate_reference(..., record=True)`` returns, in the shapes and dtypes of ``SimResult``."""

    output_spikes: np.ndarray  # (N, T, K) uint8
    layer_spikes: dict[str, np.ndarray] = field(default_factory=dict)  # LIF name -> (N, T, ...) uint8
    layer_membranes: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # LIF name -> (N, T, ...), state type
    op_outputs: dict[str, np.ndarray] = field(default_factory=dict)  # every op -> (N, T, ...) int64 output


def simulate_reference(
    graph: Graph, inputs: np.ndarray, num_steps: int | None = None, record: bool = False
) -> np.ndarray | ReferenceRecord:
    """Output spikes (N, T, K) uint8, computed step by step; with ``record``, a ``ReferenceRecord`` that also
    holds every LIF layer's spikes and membranes, and every op's output, at every step.

    ``inputs``: (N, C, H, W) for a static input, (N, T', C, H, W) with T' >= steps for a stream. The graph
    must pass the range analysis (int64 is then exact everywhere); one that does not is refused."""
    graph.validate()
    for rng in analyse(graph):
        if problems := rng.overflows():
            raise IRValidationError(f"{rng.kind} {rng.name!r}: {'; '.join(problems)}")
    steps = num_steps or graph.num_steps
    stream = graph.input.encoding == "stream"
    states: dict[str, np.ndarray | None] = {op.name: None for op in graph.ops}
    outputs: dict[str, list[np.ndarray]] = {op.name: [] for op in graph.ops}
    membranes: dict[str, list[np.ndarray]] = {op.name: [] for op in graph.lif_layers()}
    feedback = graph.feedback()  # lif -> the recurrent op that reads its spikes at the next step
    for t in range(steps):
        x = (inputs[:, t] if stream else inputs).astype(np.int64)
        for op in graph.ops:
            x, states[op.name] = op.reference(x, states[op.name])
            if record or op is graph.ops[-1]:
                outputs[op.name].append(x)
            if record and op.name in membranes:
                membranes[op.name].append(states[op.name])
            if op.name in feedback:
                states[feedback[op.name]] = x
    out = np.stack(outputs[graph.ops[-1].name], axis=1).astype(np.uint8)
    if not record:
        return out
    lifs = graph.lif_layers()
    return ReferenceRecord(
        output_spikes=out,
        layer_spikes={op.name: np.stack(outputs[op.name], axis=1).astype(np.uint8) for op in lifs},
        layer_membranes={
            op.name: np.stack(membranes[op.name], axis=1).astype(op.state_type_numpy()) for op in lifs
        },
        op_outputs={name: np.stack(values, axis=1) for name, values in outputs.items()},
    )
