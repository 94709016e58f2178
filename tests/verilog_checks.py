"""Shared by the Verilog target's tests: a check that a design run under Verilator equals the simulator on every
layer's spikes and membranes of every step, and spikes at the output (or the test could not catch an error);
graphs of geometries the synthetic ones lack (3x3 kernels, padding, a 4x4 pool, an unpooled conv)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import Conv2d, Linear, SumPool2d
from qsnn_deploy.ir.plan import plan_layers
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
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


def odd_geometry_graph(seed: int) -> Graph:
    """random_graph("tiny") with 3x3 kernels padded by 1 and a 4x4 then a 2x2 sum pool: 16x16 -> conv 16x16 ->
    pool 4x4 -> conv 4x4 -> pool 2x2 -> linear."""
    base = random_graph("tiny", seed)
    rng = np.random.default_rng(seed + 100)
    ops = list(base.ops)
    conv1, conv2, fc = ops[0], ops[4], ops[8]
    c1, c2, classes = conv1.weight.shape[0], conv2.weight.shape[0], fc.weight.shape[0]
    ops[0] = Conv2d("conv1", rng.integers(-7, 8, (c1, 1, 3, 3)), conv1.weight_type, padding=1)
    ops[1] = SumPool2d("pool1", 4)
    ops[4] = Conv2d("conv2", rng.integers(-7, 8, (c2, c1, 3, 3)), conv2.weight_type, padding=1)
    ops[8] = Linear("fc1", rng.integers(-7, 8, (classes, c2 * 2 * 2)), fc.weight_type)
    return replace(base, ops=tuple(ops)).validate()


def unpooled_conv_graph(seed: int) -> Graph:
    """odd_geometry_graph with conv2 unpadded and unpooled (4x4 -> 2x2, the neurons): a corner input reaches one
    output, so consecutive events of one spike mask can hit the same word one operation apart (the waits of
    FORWARD = 0)."""
    base = odd_geometry_graph(seed)
    ops = [replace(op, padding=0) if op.name == "conv2" else op for op in base.ops if op.name != "pool2"]
    return replace(base, ops=tuple(ops)).validate()
