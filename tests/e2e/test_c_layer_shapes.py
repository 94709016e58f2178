"""Generated C on layer shapes the paper's networks never use: stride 2-3, zero padding, pooling of 1-3, odd and
even channel counts around the runtime's 32-channel blocks, 4- and 8-bit weights, 16- and 32-bit state, both
encodings. Every layer's spikes and membranes must equal the simulator, with the event-driven kernels and with
the dense baseline (a stride-3 tap bug once showed only here)."""

from __future__ import annotations

import numpy as np
import pytest

from qsnn_deploy.ir.graph import Graph, InputSpec
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, Requantize, SumPool2d
from qsnn_deploy.ir.synthetic import random_inputs
from qsnn_deploy.ir.types import UINT8, IntType
from tests.toolchains import require_tools

# seed, in channels, size, conv1 (channels, kernel, stride, pad, pool), conv2 (...), classes, bits, state, encoding
CASES = [
    (1, 1, 14, (16, 5, 1, 0, 2), (64, 3, 1, 1, 2), 10, 4, 32, "static"),
    (2, 2, 15, (5, 3, 2, 1, 1), (33, 3, 1, 0, 3), 7, 4, 16, "stream"),
    (3, 2, 16, (32, 4, 1, 2, 3), (48, 3, 2, 1, 1), 32, 8, 32, "stream"),
    (4, 1, 13, (7, 3, 2, 0, 2), (96, 2, 1, 0, 2), 34, 4, 16, "static"),
    (5, 3, 12, (64, 3, 1, 1, 2), (70, 3, 1, 1, 1), 11, 8, 16, "static"),
    (6, 2, 17, (40, 5, 3, 2, 1), (32, 3, 2, 2, 2), 64, 4, 32, "stream"),
    # The fused spike conv kernel (qsnn_conv_spikes_lif): an odd number of 8-channel groups with padding 2
    # (window bitmaps shifted left), and padding 3 with a 3x3 pool (windows cut at the bottom and right).
    (7, 1, 12, (8, 3, 1, 1, 2), (40, 3, 1, 2, 2), 10, 4, 32, "static"),
    (8, 2, 11, (12, 3, 1, 1, 1), (24, 4, 1, 3, 3), 5, 4, 16, "stream"),
]


def build(seed, c_in, hw, conv1, conv2, classes, bits, state_bits, encoding) -> Graph:
    rng = np.random.default_rng(seed)
    wmax = (1 << (bits - 1)) - 1
    threshold = 1 << (state_bits - 12)
    in_max = 255 if encoding == "static" else 3

    def weights(*shape):
        return rng.integers(-wmax, wmax + 1, shape)

    def requant(name, channels, fan_in, x_max):
        # Scale a typical accumulator to about a third of the threshold so every layer spikes.
        ratio = threshold / 3 / max(1.0, np.sqrt(fan_in) * wmax * x_max / 2)
        shift = int(np.clip(np.floor(np.log2((1 << 29) / ratio)), 0, 24))
        mult = np.maximum(1, ratio * (1 << shift) * rng.uniform(0.5, 1.5, channels)).astype(np.int64)
        bias = (rng.uniform(-0.2, 0.6, channels) * threshold / 4 * (1 << shift)).astype(np.int64)
        return Requantize(name, mult * rng.choice([1, 1, 1, -1], channels), bias, shift, IntType(32))

    def lif(name):
        reset = "subtract" if seed % 2 else "zero"
        return LIF(name, threshold, int(rng.integers(200, 255)), 8, reset, IntType(state_bits))

    def block(index, c_prev, spec, x_max):
        channels, k, stride, pad, pool = spec
        ops = [
            Conv2d(f"conv{index}", weights(channels, c_prev, k, k), IntType(bits), stride=stride, padding=pad)
        ]
        ops += [SumPool2d(f"pool{index}", pool)] if pool > 1 else []
        return ops + [requant(f"rq{index}", channels, c_prev * k * k * pool**2, x_max), lif(f"lif{index}")]

    spec = InputSpec((c_in, hw, hw), UINT8, encoding, 1 / 255 if encoding == "static" else 1.0)
    ops = block(1, c_in, conv1, in_max) + block(2, conv1[0], conv2, 0.3)
    flat = int(np.prod(Graph(spec, tuple(ops), 6).shapes()[-1][1]))
    ops += [
        Linear("fc1", weights(classes, flat), IntType(bits)),
        requant("rq3", classes, flat * 0.3, 1),
        lif("lif3"),
    ]
    return Graph(spec, tuple(ops), 6, metadata={"source": "test_c_layer_shapes"}).validate()


@pytest.mark.parametrize("dense", [False, True], ids=["events", "dense-baseline"])
@pytest.mark.parametrize("case", CASES, ids=[f"case{c[0]}" for c in CASES])
def test_every_layer_matches_the_simulator(case, dense, tmp_path):
    from qsnn_deploy.targets.base import TargetOptions
    from qsnn_deploy.targets.verifier import verify

    require_tools("gcc")
    graph = build(*case)
    options = TargetOptions(extra={"dense": "1" if dense else "0"})
    result = verify(
        graph, random_inputs(graph, 3, seed=case[0]), target="c", options=options, workdir=tmp_path
    )
    assert result.sim.spike_counts["lif1"].sum() > 0, "a silent first layer would prove little"
