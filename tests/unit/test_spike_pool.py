"""Sum pools on spikes (the Sinabs/Speck layout ``lif -> sumpool2d -> conv2d | linear``): the layer plan folds
the pool into the next synapse (ir/plan.py, docs/ir/ops.md#sumpool2d). The folded op equals pool-then-op on
random inputs for every geometry the fold accepts, its range equals the IR op's, the plan as a graph equals the
graph on every layer, a fold that would read dropped rows is refused by name, and NIR export writes the pool
as a SumPool2d node that imports back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.graph import Graph, InputSpec
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, MaxPool2d, Requantize, SumPool2d
from qsnn_deploy.ir.ops.base import as_bounds
from qsnn_deploy.ir.plan import fold_problem, fold_sum_pool, group_ops, plan_layers
from qsnn_deploy.ir.ranges import analyse
from qsnn_deploy.ir.synthetic import random_inputs, spike_pool_graph
from qsnn_deploy.ir.types import UINT8, IntType
from qsnn_deploy.sim import simulate
from qsnn_deploy.sim.reference import simulate_reference
from qsnn_deploy.targets import check_model


def _pooled_then(op, pool: SumPool2d, x: np.ndarray) -> np.ndarray:
    return op.reference(pool.reference(x)[0])[0]


# (kernel, stride, padding, pool k, H, W): padded convs on maps k divides, unpadded ones on maps it does not
# (the dropped rows and columns are then never read); the acceptance net's conv3 is (3, 2, 1, 2, 16, 16).
CONV_CASES = [
    (3, 2, 1, 2, 16, 16),
    (3, 1, 1, 2, 8, 12),
    (1, 1, 0, 2, 6, 6),
    (2, 1, 0, 3, 11, 10),
    (3, 2, 0, 2, 13, 15),
    (3, 1, 2, 3, 9, 12),
    (2, 2, 1, 4, 16, 8),
]


@pytest.mark.parametrize(("kernel", "stride", "padding", "k", "h", "w"), CONV_CASES)
def test_the_folded_conv_equals_pool_then_conv(kernel, stride, padding, k, h, w) -> None:
    rng = np.random.default_rng(kernel * 100 + stride * 10 + k)
    conv = Conv2d("c", rng.integers(-7, 8, (5, 3, kernel, kernel)), IntType(4), stride, padding)
    pool = SumPool2d("p", k)
    assert fold_problem(pool, conv, (3, h, w)) is None
    folded = fold_sum_pool(pool, conv, (3, h, w))
    assert (folded.name, folded.stride, folded.padding) == ("c", stride * k, padding * k)
    assert folded.weight.shape == (5, 3, kernel * k, kernel * k)
    for x in (rng.integers(0, 2, (4, 3, h, w)), rng.integers(-50, 50, (2, 3, h, w))):  # spikes, any ints
        want = _pooled_then(conv, pool, x)
        assert want.any()
        np.testing.assert_array_equal(folded.reference(x)[0], want)


@pytest.mark.parametrize(("k", "h", "w"), [(2, 4, 4), (2, 5, 7), (3, 7, 6), (4, 4, 9)])
def test_the_folded_linear_equals_pool_then_linear_with_zeros_on_dropped_rows(k, h, w) -> None:
    rng = np.random.default_rng(k * h * w)
    pool = SumPool2d("p", k)
    hp, wp = h // k, w // k
    lin = Linear("fc", rng.integers(-7, 8, (6, 3 * hp * wp)), IntType(4))
    folded = fold_sum_pool(pool, lin, (3, h, w))
    assert folded.weight.shape == (6, 3 * h * w)
    grid = folded.weight.reshape(6, 3, h, w)
    assert not grid[:, :, hp * k :].any() and not grid[:, :, :, wp * k :].any()  # dropped: weight 0
    x = rng.integers(0, 2, (5, 3, h, w))
    np.testing.assert_array_equal(folded.reference(x)[0], _pooled_then(lin, pool, x))


def test_a_padded_conv_after_a_pool_that_drops_rows_is_refused_by_name() -> None:
    """34 -> 15 after conv1 (input 32): pool2 drops a row and conv3 pads, so the fold would read that row."""
    graph = spike_pool_graph(in_shape=(2, 32, 32))
    with pytest.raises(DesignRuleError, match=r"layer_pattern.*'pool2'.*'conv3'.*multiples of 2") as err:
        check_model(graph, "c")
    assert "pool3" not in str(err.value)  # pool3 (3 -> 1, then a linear) folds exactly
    x = random_inputs(graph, 2)  # the simulator still runs it: it is the oracle of every valid graph
    np.testing.assert_array_equal(simulate(graph, x).output_spikes, simulate_reference(graph, x))


def test_a_max_pool_before_a_synapse_is_refused_with_what_to_do() -> None:
    graph = spike_pool_graph()
    ops = tuple(
        MaxPool2d(op.name, np.ones(4, dtype=np.int8), 2) if op.name == "pool2" else op for op in graph.ops
    )
    with pytest.raises(
        DesignRuleError, match=r"maxpool2d 'pool2' pools the input of conv2d 'conv3'.*use a sum pool"
    ):
        check_model(Graph(graph.input, ops, graph.num_steps).validate(), "c")


def test_the_plan_folds_each_spike_pool_and_keeps_the_ir_ops() -> None:
    graph = spike_pool_graph()
    layers = plan_layers(graph)
    ops = {op.name: op for op in graph.ops}
    assert [(lay.op.name, lay.in_pool and lay.in_pool.name) for lay in layers] == [
        ("conv1", None), ("conv2", None), ("conv3", "pool2"), ("fc1", "pool3"), ("fc2", None)]  # fmt: skip
    conv3, fc1 = layers[2], layers[3]
    assert conv3.synapse is ops["conv3"] and conv3.op is not ops["conv3"]
    assert (conv3.op.weight.shape[2:], conv3.op.stride, conv3.op.padding) == ((6, 6), 4, 2)
    assert conv3.in_shape == (4, 16, 16) and conv3.synapse_in_shape == (4, 8, 8)
    assert conv3.conv_shape == conv3.out_shape == (4, 4, 4)
    assert (
        fc1.in_shape == (4, 4, 4) and fc1.op.weight.shape == (16, 64) and fc1.synapse.weight.shape == (16, 16)
    )
    assert layers[0].synapse is layers[0].op and layers[0].in_pool is None
    # The simulator's grouping is untouched: it still runs each pool as its own stage.
    assert [g.ops[0].name for g in group_ops(graph) if not g.complete] == ["pool2", "pool3"]


def test_the_folded_ops_range_equals_the_ir_ops_range() -> None:
    """docs/ir/ranges.md: on 0/1 spikes, every bound of the folded op (outputs, partial sums, peak) is the IR
    op's bound on the pooled input in [0, k^2], so the ranges keyed by op name hold for ``Layer.op``."""
    graph = spike_pool_graph(seed=4, bits=8)
    ranges = {r.name: r for r in analyse(graph)}
    for layer in plan_layers(graph):
        if layer.in_pool is None:
            continue
        c = layer.in_shape[0]
        got = layer.op.bounds(layer.in_shape, as_bounds([0] * c), as_bounds([1] * c))[2]
        want = ranges[layer.op.name]
        assert (got.lo, got.hi, got.peak, got.partial_lo, got.partial_hi) == (
            want.lo, want.hi, want.peak, want.partial_lo, want.partial_hi)  # fmt: skip
        assert max(want.hi) > 0 > min(want.lo)


def _plan_as_graph(graph: Graph) -> Graph:
    """The layer plan written back as a graph of the folded ops (what every target runs)."""
    ops = []
    for layer in plan_layers(graph):
        ops += [layer.op, *([layer.pool] if layer.pool is not None else []), layer.rq, layer.lif]
    return Graph(graph.input, tuple(ops), graph.num_steps).validate()


def _pool_both_sides_graph() -> Graph:
    """A conv with its own pool after it and a spike pool before it, on a map the spike pool does not tile."""
    rng = np.random.default_rng(7)
    w4 = IntType(4)

    def rq(name: str, channels: int, mult: int) -> Requantize:
        return Requantize(name, np.full(channels, mult), rng.integers(0, 200, channels) << 8, 8, IntType(32))

    ops = (
        Conv2d("conv1", rng.integers(-7, 8, (4, 1, 3, 3)), w4),
        rq("rq1", 4, 2),
        LIF("lif1", 300, 230, 8),
        SumPool2d("sp1", 2),  # 10x10 -> 5x5
        Conv2d("conv2", rng.integers(-7, 8, (6, 4, 2, 2)), w4),  # 5x5 -> 4x4 (unpadded)
        SumPool2d("cp2", 2),  # 4x4 -> 2x2, the conv's own pool
        rq("rq2", 6, 60),
        LIF("lif2", 300, 230, 8),
        SumPool2d("sp2", 2),  # 2x2 -> 1x1
        Linear("fc", rng.integers(-7, 8, (3, 6)), w4),
        rq("rq3", 3, 90),
        LIF("lif3", 300, 230, 8),
    )
    return Graph(InputSpec((1, 12, 12), UINT8, "static", 1 / 255), ops, 8).validate()


@pytest.mark.parametrize("make", [spike_pool_graph, _pool_both_sides_graph])
def test_the_plan_as_a_graph_equals_the_graph_on_every_layer(make) -> None:
    graph = make()
    folded = _plan_as_graph(graph)
    assert sum(op.kind == "sumpool2d" for op in folded.ops) < sum(op.kind == "sumpool2d" for op in graph.ops)
    x = random_inputs(graph, 4, seed=2)
    want, got = simulate_reference(graph, x, record=True), simulate_reference(folded, x, record=True)
    for lif in graph.lif_layers():
        assert want.layer_spikes[lif.name].any(), f"{lif.name} never spikes: the check would prove little"
        np.testing.assert_array_equal(got.layer_spikes[lif.name], want.layer_spikes[lif.name])
        np.testing.assert_array_equal(got.layer_membranes[lif.name], want.layer_membranes[lif.name])


def test_nir_export_writes_the_pool_natively_and_imports_back(tmp_path: Path) -> None:
    nir = pytest.importorskip("nir")
    from qsnn_deploy.interop.nir_export import write_nir
    from qsnn_deploy.interop.nir_import import import_nir

    graph = spike_pool_graph(seed=1, in_shape=(2, 18, 18))  # 8x8 after conv1, 4x4 pooled, 2x2, 1x1
    path = write_nir(graph, tmp_path / "model.nir")
    back = nir.read(path)
    after = dict(back.edges)
    assert (after["if2"], after["pool2"], after["if3"], after["pool3"], after["fc1_flatten"]) == (
        "pool2", "conv3", "pool3", "fc1_flatten", "fc1")  # fmt: skip
    assert isinstance(back.nodes["pool2"], nir.SumPool2d)
    np.testing.assert_array_equal(back.nodes["pool3"].kernel_size, [2, 2])
    conv3 = next(op for op in graph.ops if op.name == "conv3")
    np.testing.assert_array_equal(back.nodes["conv3"].metadata["weight_int"], conv3.weight)  # unfolded
    np.testing.assert_array_equal(back.nodes["conv3"].input_shape, [4, 4])
    np.testing.assert_array_equal(back.nodes["fc1_flatten"].input_type["input"], [4, 1, 1])
    imported = import_nir(path, bits=8).graph
    assert [op.kind for op in imported.ops] == [op.kind for op in graph.ops]
    assert len(check_model(imported, "c").layers) == 5  # the imported graph plans (its pools fold) too
    x = random_inputs(graph, 40, seed=3)
    want, got = simulate(graph, x).counts, simulate(imported, x).counts  # re-quantized: close, not equal
    assert want.sum() > 0 and np.corrcoef(want.ravel(), got.ravel())[0, 1] > 0.95


def test_the_hls_estimate_walks_only_the_taps_a_strided_event_can_reach() -> None:
    """qsnn_hls.h walks ceil(KH/S) x ceil(KW/S) taps per event: 9 of conv1's 25 (5x5, stride 2), 4 of the folded
    conv3's 36 (6x6, stride 4); the weight floor counts the IR's 3x3 weights, the ROM the folded 6x6 ones."""
    from qsnn_deploy.targets.hls.cost import cost_report

    graph = spike_pool_graph()
    model = check_model(graph, "hls")
    x = random_inputs(graph, 3, seed=1)
    rep = cost_report(model, x)
    spikes = simulate(graph, x).spike_counts
    loops = {(loop.loop, loop.layer): loop for loop in rep.loops}
    events = np.count_nonzero(x[:, : graph.num_steps]) / 3
    assert loops["scatter_taps", "conv1"].trips == pytest.approx(events * 9)
    assert loops["scatter_taps", "conv3"].trips == pytest.approx(spikes["if2"].sum() / 3 * 4)
    floor = sum(
        op.weight.size * op.weight_type.bits / 8 for op in graph.ops if op.kind in ("conv2d", "linear")
    )
    assert rep.weight_floor_bytes == floor and rep.rom_bytes > floor
