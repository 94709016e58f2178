"""A check shared by the Verilog target's tests: a design run under Verilator equals the simulator on every
layer's spikes and membranes of every step, and spikes at the output (or the test could not catch an error)."""

from __future__ import annotations

from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.plan import plan_layers
from qsnn_deploy.ir.synthetic import random_inputs
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.verify import verify


def verilator_bit_exact(graph: Graph, samples: int, steps: int, options: TargetOptions) -> None:
    """``samples`` random inputs (seed 1) x ``steps`` through the Verilator build of ``graph``."""
    result = verify(
        graph,
        random_inputs(graph, samples, 1),
        steps,
        target="verilog",
        executor="verilator",
        options=options,
    )
    assert (
        result.compared.layer_values
        == samples * steps * sum(layer.neurons for layer in plan_layers(graph)) * 2
    )
    assert result.sim.output_spikes.any(), "a test with no output spike could not catch an error"
