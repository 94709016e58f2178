"""Random but well-formed graphs shaped like the paper's networks, with lively spiking activity.

For tests, fuzzing and target development before a trained model exists. Not used by the product's
export path."""

from __future__ import annotations

import numpy as np

from qsnn_deploy.ir.graph import Graph, InputSpec
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, MaxPool2d, Recurrent, Requantize, SumPool2d, Synaptic
from qsnn_deploy.ir.types import UINT8, IntType

SHAPES = {
    # name: (input (C, H, W), encoding, conv2 channels, classes)
    "mnist": ((1, 28, 28), "static", 64, 10),
    "dvs": ((2, 32, 32), "stream", 32, 11),
    "nmnist": ((2, 34, 34), "stream", 64, 10),
    "tiny": ((1, 16, 16), "static", 4, 3),
    "tiny-stream": ((2, 16, 16), "stream", 4, 3),
}


def random_graph(
    arch: str = "mnist",
    seed: int = 0,
    *,
    bits: int = 4,
    state_bits: int = 32,
    reset: str = "subtract",
    num_steps: int = 20,
    conv1_channels: int | None = None,
    pool: str = "sum",
    synaptic: tuple[int, int] | None = None,
) -> Graph:
    """A conv-pool-LIF, conv-pool-LIF, linear-LIF graph with random weights, scaled so that every layer spikes
    at a moderate rate on random inputs. ``pool``: "sum" (the paper's average pooling) or "max" (some channels
    pooled by their minimum, as a negative scale makes them). ``synaptic``: (multiplier, shift) of a synaptic
    current before every LIF (IR version 3), the LIFs' currents scaled down by ``1 - alpha`` to keep the rates."""
    rng = np.random.default_rng(seed)
    (c, h, w), encoding, c2, classes = SHAPES[arch]
    c1 = conv1_channels or (4 if arch.startswith("tiny") else 16)
    wmax = (1 << (bits - 1)) - 1
    wtype = IntType(bits)
    state = IntType(state_bits)
    threshold = 1 << (state_bits - 12)
    decay_shift = 8
    decay_multiplier = int(rng.integers(200, 255))
    in_max = 255 if encoding == "static" else 3

    def weights(*shape: int) -> np.ndarray:
        return rng.integers(-wmax, wmax + 1, shape)

    alpha = 0.0 if synaptic is None else synaptic[0] / (1 << synaptic[1])

    def requant(name: str, channels: int, fan_in: int, in_max_value: float) -> Requantize:
        # Typical accumulator magnitude ~ sqrt(fan_in) * wmax * in_max / 2; map it to ~threshold / 3 (a
        # synaptic current sums ~1 / (1 - alpha) inputs: scale the input down by that).
        typical = max(1.0, np.sqrt(fan_in) * wmax * in_max_value / 2)
        ratio = threshold / 3 / typical * (1 - alpha)
        shift = int(np.clip(np.floor(np.log2((1 << 29) / ratio)), 0, 24))
        scale = ratio * (1 << shift)
        mult = np.maximum(1, (scale * rng.uniform(0.5, 1.5, channels))).astype(np.int64)
        mult *= rng.choice([1, 1, 1, -1], channels)  # some negative gammas
        bias = (rng.uniform(-0.2, 0.6, channels) * threshold / 4 * (1 << shift)).astype(np.int64)
        return Requantize(name, mult, bias, shift, IntType(32))

    def lif(name: str) -> LIF:
        return LIF(name, threshold, decay_multiplier, decay_shift, reset, state)

    def pooling(name: str, channels: int):
        if pool == "sum":
            return SumPool2d(name, 2)
        sign = rng.choice([1, 1, 1, -1], channels)
        sign[0] = -1  # at least one channel pooled by its minimum
        return MaxPool2d(name, sign, 2)

    h1, w1 = (h - 4) // 2, (w - 4) // 2
    h2, w2 = (h1 - 4) // 2, (w1 - 4) // 2
    ops = (
        Conv2d("conv1", weights(c1, c, 5, 5), wtype),
        pooling("pool1", c1),
        requant("rq1", c1, c * 25 * 4, in_max),
        lif("lif1"),
        Conv2d("conv2", weights(c2, c1, 5, 5), wtype),
        pooling("pool2", c2),
        requant("rq2", c2, c1 * 25 * 4 * 0.3, 1),
        lif("lif2"),
        Linear("fc1", weights(classes, c2 * h2 * w2), wtype),
        requant("rq3", classes, c2 * h2 * w2 * 0.3, 1),
        lif("lif3"),
    )
    if synaptic is not None:
        ops = tuple(
            x
            for op in ops
            for x in ((Synaptic(f"syn_{op.name}", *synaptic, state), op) if op.kind == "lif" else (op,))
        )
    spec = InputSpec((c, h, w), UINT8, encoding, 1 / 255 if encoding == "static" else 1.0)
    return Graph(spec, ops, num_steps, metadata={"source": f"synthetic:{arch}:{seed}"}).validate()


def spike_pool_graph(
    seed: int = 0,
    *,
    channels: tuple[int, int, int] = (4, 4, 4),
    hidden: int = 16,
    classes: int = 10,
    in_shape: tuple[int, int, int] = (2, 34, 34),
    bits: int = 4,
    num_steps: int = 6,
) -> Graph:
    """The Sinabs/Speck layout of the NIR paper's N-MNIST CNN, with random weights: conv 5x5 s2 p1 -> IF ->
    conv 3x3 p1 -> IF -> sumpool 2 -> conv 3x3 s2 p1 -> IF -> sumpool 2 -> linear ``hidden`` -> IF -> linear
    ``classes`` -> IF, on a stream input. Both sum pools add up spikes (ir/plan.py folds them into the next
    synapse). IF: no leak (decay 1)."""
    rng = np.random.default_rng(seed)
    c, h, w = in_shape
    c1, c2, c3 = channels
    wmax = (1 << (bits - 1)) - 1
    wtype = IntType(bits)
    threshold = 1 << 10

    def weights(*shape: int) -> np.ndarray:
        return rng.integers(-wmax, wmax + 1, shape)

    def requant(name: str, channels: int, fan_in: float, in_max: float) -> Requantize:
        # A typical accumulator (~ sqrt(fan_in) * wmax * in_max / 2) becomes ~ threshold / 2 per step.
        typical = max(1.0, np.sqrt(fan_in) * wmax * in_max / 2)
        shift = 16
        mult = np.maximum(1, threshold / 2 / typical * (1 << shift) * rng.uniform(0.7, 1.4, channels))
        bias = (rng.uniform(0.0, 0.3, channels) * threshold * (1 << shift)).astype(np.int64)
        return Requantize(name, mult.astype(np.int64), bias, shift, IntType(32))

    def neuron(name: str) -> LIF:
        return LIF(name, threshold, 1, 0, "subtract", IntType(32))

    h1, w1 = (h + 2 - 5) // 2 + 1, (w + 2 - 5) // 2 + 1
    h3, w3 = (h1 // 2 + 2 - 3) // 2 + 1, (w1 // 2 + 2 - 3) // 2 + 1
    flat = c3 * (h3 // 2) * (w3 // 2)
    ops = (
        Conv2d("conv1", weights(c1, c, 5, 5), wtype, stride=2, padding=1),
        requant("rq1", c1, c * 25 * 0.15, 2),
        neuron("if1"),
        Conv2d("conv2", weights(c2, c1, 3, 3), wtype, padding=1),
        requant("rq2", c2, c1 * 9 * 0.3, 1),
        neuron("if2"),
        SumPool2d("pool2", 2),
        Conv2d("conv3", weights(c3, c2, 3, 3), wtype, stride=2, padding=1),
        requant("rq3", c3, c2 * 9 * 4 * 0.3, 1),
        neuron("if3"),
        SumPool2d("pool3", 2),
        Linear("fc1", weights(hidden, flat), wtype),
        requant("rq4", hidden, flat * 4 * 0.3, 1),
        neuron("if4"),
        Linear("fc2", weights(classes, hidden), wtype),
        requant("rq5", classes, hidden * 0.3, 1),
        neuron("if5"),
    )
    spec = InputSpec(in_shape, UINT8, "stream", 1.0)
    return Graph(spec, ops, num_steps, metadata={"source": f"synthetic:spike-pool:{seed}"}).validate()


def braille_graph(
    seed: int = 0,
    *,
    synaptic: bool = True,
    encoding: str = "stream",
    reset: str = "subtract",
    num_steps: int = 16,
    hidden: int = 40,
) -> Graph:
    """The NIR paper's Braille shape with random weights (IR version 3): 12 inputs -> linear 40 -> requantize ->
    recurrent 40x40 -> [synaptic, alpha 3/4] -> lif -> linear 7 -> requantize -> [synaptic] -> lif, int16
    states (``hidden`` other than 40: that many recurrent neurons). Weights are scaled so that the hidden layer
    spikes at a moderate rate on ``random_inputs``."""
    rng = np.random.default_rng(seed)
    classes = 7
    state = IntType(16)

    def current(name: str) -> tuple:
        return (Synaptic(name, 3, 2, state),) if synaptic else ()

    ops = (
        Linear("fc1", rng.integers(-8, 8, (hidden, 12))),
        Requantize("rq1", rng.integers(20, 80, hidden), rng.integers(-60, 20, hidden), shift=5),
        Recurrent(
            "rec1", rng.integers(-8, 8, (hidden, hidden)), rng.integers(10, 40, hidden), IntType(4), shift=3
        ),
        *current("syn1"),
        LIF("lif1", threshold=60, decay_multiplier=13, decay_shift=4, reset=reset, state_type=state),
        Linear("fc2", rng.integers(-8, 8, (classes, hidden))),
        Requantize("rq2", rng.integers(50, 150, classes), np.zeros(classes, np.int64), shift=2),
        *current("syn2"),
        LIF("lif2", threshold=40, decay_multiplier=7, decay_shift=3, reset=reset, state_type=state),
    )
    spec = InputSpec((12, 1, 1), UINT8, encoding, 1.0 if encoding == "stream" else 1 / 255)
    return Graph(spec, ops, num_steps, metadata={"source": f"synthetic:braille:{seed}"}).validate()


def random_inputs(graph: Graph, n: int, seed: int = 0, num_steps: int | None = None) -> np.ndarray:
    """Inputs for ``graph``: uint8 images (N, C, H, W), or sparse event counts (N, T, C, H, W)."""
    rng = np.random.default_rng(seed)
    shape = graph.input.shape
    if graph.input.encoding == "static":
        return rng.integers(0, 256, (n, *shape)).astype(np.uint8)
    steps = num_steps or graph.num_steps
    events = rng.random((n, steps, *shape)) < 0.15
    return (events * rng.integers(1, 4, (n, steps, *shape))).astype(np.uint8)
