"""Max pooling on the HLS target: the conv fills its full map, the ``maxpool`` kernel takes per channel the max
(or the min where the sign is -1), then the usual requantize and LIF; C simulation equals the simulator on every
layer; the accumulator is one conv output wide (no k^2 growth); a kernel that ignores the signs fails verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import MaxPool2d, SumPool2d
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.ir.types import bits_for_range
from qsnn_deploy.targets import check_model, generate
from qsnn_deploy.targets.hls.cost import cost_report
from qsnn_deploy.targets.hls.layout import layer_widths
from qsnn_deploy.targets.verifier import verify
from tests.toolchains import require_hls

STEPS = 8
SIGN_LINE = "const bool is_min = sign[o] < 0;"


def _graph(arch: str = "tiny", seed: int = 3, state_bits: int = 32) -> Graph:
    graph = random_graph(arch, seed, pool="max", state_bits=state_bits, num_steps=STEPS)
    assert any(isinstance(op, MaxPool2d) and (op.sign == -1).any() for op in graph.ops)
    return graph


@pytest.mark.toolchain
@pytest.mark.parametrize(
    ("arch", "seed", "state_bits"), [("tiny", 3, 32), ("tiny", 3, 16), ("tiny-stream", 0, 16)]
)
def test_csim_equals_the_simulator_on_every_layer(
    tmp_path: Path, arch: str, seed: int, state_bits: int
) -> None:
    require_hls()
    graph = _graph(arch, seed, state_bits)
    n = 4
    result = verify(graph, random_inputs(graph, n, seed=1), target="hls", workdir=tmp_path)
    assert result.compared.layer_values == n * STEPS * sum(2 * k for k in result.sim.neurons.values())
    assert result.sim.spike_counts["lif2"].sum() > 0, "a silent pooled layer would prove little"


@pytest.mark.toolchain
def test_a_kernel_ignoring_the_signs_fails_verify(tmp_path: Path) -> None:
    require_hls()
    graph = _graph()
    model = tmp_path / "model"
    generate(graph, "hls", model)
    kernel = model / "qsnn_hls.h"
    text = kernel.read_text()
    assert text.count(SIGN_LINE) == 1, "the mutation no longer finds the sign test in qsnn_hls.h"
    kernel.write_text(
        text.replace(SIGN_LINE, "const bool is_min = sign[o] < -1;")
    )  # never: every channel a max
    with pytest.raises(VerificationError, match=r"layer 'lif\d'"):
        verify(
            graph,
            random_inputs(graph, 4, seed=1),
            target="hls",
            from_dir=model,
            workdir=tmp_path / "w",
            allow_edited=True,
        )


def test_the_accumulator_holds_one_conv_output() -> None:
    """The same weights under a sum pool need k^2 times the range (two more bits for k = 2)."""
    graph = _graph()
    summed = Graph(
        graph.input,
        tuple(SumPool2d(op.name, op.kernel) if isinstance(op, MaxPool2d) else op for op in graph.ops),
        graph.num_steps,
        graph.metadata,
    ).validate()
    maxed, sums = check_model(graph, "hls"), check_model(summed, "hls")
    for a, b in zip(maxed.layers, sums.layers):
        if a.pool is None:
            continue
        peak = maxed.ranges[a.op.name].peak
        assert sums.ranges[b.op.name].peak == peak
        assert layer_widths(a, maxed.ranges).acc == bits_for_range(-peak, peak)
        assert layer_widths(b, sums.ranges).acc == bits_for_range(-4 * peak, 4 * peak)


def test_the_cycle_estimate_counts_the_pool_and_the_full_conv_map() -> None:
    graph = _graph()
    model = check_model(graph, "hls")
    loops = cost_report(model, random_inputs(graph, 2, seed=1)).loops
    for layer in model.layers:
        if layer.pool is None:
            continue
        runs = 1 if layer.index == 0 else STEPS  # the static first layer's conv runs once per inference
        window = [lp for lp in loops if lp.loop == "maxpool_window" and lp.layer == layer.op.name]
        clear = [lp for lp in loops if lp.loop == "clear_positions" and lp.layer == layer.op.name]
        assert [lp.trips for lp in window] == [layer.per_channel * 4 * runs]
        assert [lp.trips for lp in clear] == [layer.conv_shape[1] * layer.conv_shape[2] * runs]
