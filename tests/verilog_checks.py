"""Shared by the Verilog target's tests: a check that a design run under Verilator equals the simulator on every
layer's spikes and membranes of every step, and spikes at the output (or the test could not catch an error); a
check that a design mutated in one place fails verify; the pin-level runs of <prefix>_synth.v under Icarus and
their check against the simulator; the vector files and result check of the neuron units' own testbenches;
graphs of geometries the synthetic ones lack (3x3 kernels, padding, a 4x4 pool, an unpooled conv, strides)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.ir.graph import Graph, InputSpec
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, Requantize, SumPool2d
from qsnn_deploy.ir.plan import plan_layers
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.ir.types import UINT8, IntType
from qsnn_deploy.sim import simulate
from qsnn_deploy.targets import generate
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.verifier import verify


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


def mutation_fails_verify(
    graph: Graph,
    options: TargetOptions,
    folder: Path,
    rtl_file: str,
    good: str,
    bad: str,
    samples: int,
    steps: int,
) -> None:
    """Generate ``graph`` into ``folder``, replace the one ``good`` in ``rtl_file`` by ``bad``: verify must fail."""
    generate(graph, "verilog", folder, options=options)
    rtl = folder / rtl_file
    text = rtl.read_text()
    assert text.count(good) == 1
    rtl.write_text(text.replace(good, bad))
    with pytest.raises(VerificationError):
        verify(graph, random_inputs(graph, samples, 1), steps, target="verilog", executor="verilator",
               from_dir=folder, allow_edited=True)  # fmt: skip


def input_stream(folder: Path, inputs: np.ndarray, lanes: int | None) -> list[int]:
    """The bytes <prefix>_synth.v takes for one sample's ``inputs`` (its frames, every step's for a stream model),
    after the serial organisation's weights (``lanes`` / 2 bytes per word, low byte first; None: layered)."""
    stream = [int(b) for b in inputs.reshape(-1)]
    if lanes is None:
        return stream
    words = [int(w, 16) for w in (folder / "qsnn_weights.hex").read_text().split()]
    return [(w >> (8 * k)) & 0xFF for w in words for k in range(lanes // 2)] + stream


def icarus_beats(folder: Path, sources: list[str]) -> list[tuple[int, ...]]:
    """Compile and run a pin-level testbench (the first of ``sources``) that writes beats.txt: one line
    ``spikes last class`` per output beat."""
    subprocess.run(["iverilog", "-g2005", "-o", "sim", *sources], cwd=folder, check=True)
    subprocess.run(["vvp", "-n", "sim"], cwd=folder, check=True, capture_output=True)
    return [tuple(int(v) for v in line.split()) for line in (folder / "beats.txt").read_text().splitlines()]


def assert_beats_are_the_simulators(beats: list[tuple[int, ...]], graph: Graph, inputs: np.ndarray) -> None:
    """Every step's output spikes, the last-beat flag and the class of one sample are the simulator's."""
    sim = simulate(graph, inputs, graph.num_steps)
    want = [int(sum(int(b) << k for k, b in enumerate(step))) for step in sim.output_spikes[0]]
    assert [b[0] for b in beats] == want
    assert [b[1] for b in beats] == [0] * (graph.num_steps - 1) + [1]
    assert beats[-1][2] == sim.predictions[0]
    assert any(want), "a test with no output spike could not catch an error"


def write_hex(path: Path, values: np.ndarray, bits: int) -> None:
    """A $readmemh file of ``values`` in ``bits``-bit two's complement, one per line."""
    path.write_text("".join(f"{int(x) & ((1 << bits) - 1):x}\n" for x in values))


def negative_ties(value: np.ndarray, shift: int) -> int:
    """How many of ``value`` are rounding ties at negative values of a round-half-up shift by ``shift`` (-1
    where nothing rounds: a shift of 0, or values all multiples of 2^shift)."""
    if not shift or not (value % (1 << shift)).any():
        return -1
    return int(((value < 0) & (value % (1 << shift) == 1 << (shift - 1))).sum())


def assert_unit_outputs(out_file: Path, want: dict[str, np.ndarray], valid: np.ndarray) -> None:
    """A neuron-unit testbench's ``v_new spike`` lines, on the cycles of ``valid``, equal ``want``'s membranes and
    spikes; the message names the first vector that differs."""
    out = np.loadtxt(out_file, dtype=np.int64).reshape(-1, 2)
    assert out.shape == (valid.size, 2)
    out = out[valid]
    bad = np.flatnonzero((out[:, 0] != want["membrane"]) | (out[:, 1] != want["spike"]))
    first = {key: int(values[bad[0]]) for key, values in want.items()} if bad.size else {}
    assert bad.size == 0, (
        f"{bad.size} of {out.shape[0]} vectors differ, first {first}: RTL {tuple(out[bad[0]])}"
    )


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


def strided_graph(
    seed: int,
    in_shape: tuple[int, int, int],
    encoding: str,
    convs: list[tuple[int, int, int, int, int]],
    classes: int = 3,
    steps: int = 8,
) -> Graph:
    """A chain of conv layers, one ``(out channels, kernel, stride, padding, sum pool window or 1)`` each, then a
    linear layer of ``classes``, with random 4-bit weights and requantize constants scaled to the fan-in so that
    every layer spikes (leaky neurons, int32 state)."""
    rng = np.random.default_rng(seed)
    threshold, wtype = 1 << 10, IntType(4)

    def requant(name: str, channels: int, fan_in: float, in_max: float) -> Requantize:
        typical = max(1.0, np.sqrt(fan_in) * 7 * in_max / 2)  # ~ threshold / 2 per step
        mult = np.maximum(1, threshold / 2 / typical * (1 << 16) * rng.uniform(0.7, 1.4, channels))
        bias = (rng.uniform(0.0, 0.3, channels) * threshold * (1 << 16)).astype(np.int64)
        return Requantize(name, mult.astype(np.int64), bias, 16, IntType(32))

    def lif(name: str) -> LIF:
        return LIF(name, threshold, 243, 8, "subtract", IntType(32))

    ops: list = []
    c = in_shape[0]
    in_max, density = (255, 1.0) if encoding == "static" else (2, 0.15)
    for i, (oc, k, s, p, pool) in enumerate(convs, 1):
        ops.append(Conv2d(f"conv{i}", rng.integers(-7, 8, (oc, c, k, k)), wtype, stride=s, padding=p))
        ops += [SumPool2d(f"pool{i}", pool)] if pool > 1 else []
        ops += [requant(f"rq{i}", oc, c * k * k * density * pool * pool, in_max), lif(f"lif{i}")]
        c, in_max, density = oc, 1, 0.3
    spec = InputSpec(in_shape, UINT8, encoding, 1 / 255 if encoding == "static" else 1.0)
    features = int(np.prod(Graph(spec, tuple(ops), steps).shapes()[-1][1]))
    n = len(convs) + 1
    ops += [
        Linear(f"fc{n}", rng.integers(-7, 8, (classes, features)), wtype),
        requant(f"rq{n}", classes, features * 0.3, 1),
        lif(f"lif{n}"),
    ]
    return Graph(spec, tuple(ops), steps, metadata={"source": f"synthetic:strided:{seed}"}).validate()
