"""maxpool2d: an exact max (or, per channel, min) over integer accumulators, in the IR, its file format, the
range analysis, the reference and the fast simulator; targets that do not implement it refuse it by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import DesignRuleError, IRValidationError
from qsnn_deploy.ir.io import load_graph, save_graph
from qsnn_deploy.ir.ops import MaxPool2d
from qsnn_deploy.ir.ranges import analyse
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.sim import simulate
from qsnn_deploy.sim.kernels import maxpool2d
from qsnn_deploy.sim.reference import simulate_reference
from qsnn_deploy.targets import check_model, registry


def test_a_negative_sign_pools_by_the_minimum() -> None:
    x = np.array([[[[1, -5], [7, 2]], [[1, -5], [7, 2]]]])  # (1, 2, 2, 2): two equal channels
    op = MaxPool2d("p", np.array([1, -1]), 2)
    y, _ = op.reference(x)
    assert y[0, :, 0, 0].tolist() == [7, -5]
    held = maxpool2d(x.transpose(0, 2, 3, 1), op)  # the simulator's channels-last kernel
    assert held[0, 0, 0].tolist() == [7, -5]


def test_windows_that_do_not_fit_are_dropped() -> None:
    x = np.arange(25).reshape(1, 1, 5, 5)
    y, _ = MaxPool2d("p", np.array([1]), 2).reference(x)
    assert y[0, 0].tolist() == [[6, 8], [16, 18]]


@pytest.mark.parametrize(("arch", "seed"), [("tiny", 3), ("mnist", 3), ("tiny-stream", 5)])
def test_simulator_equals_the_reference_on_every_layer(arch: str, seed: int) -> None:
    graph = random_graph(arch, seed, pool="max", num_steps=8)
    assert any(isinstance(op, MaxPool2d) and (op.sign == -1).any() for op in graph.ops)
    x = random_inputs(graph, 5, seed=1)
    fast = simulate(graph, x, record=True, batch_size=2)
    ref = simulate_reference(graph, x, record=True)
    np.testing.assert_array_equal(fast.output_spikes, ref.output_spikes)
    for name in ref.layer_membranes:
        np.testing.assert_array_equal(fast.layer_spikes[name], ref.layer_spikes[name])
        np.testing.assert_array_equal(fast.layer_membranes[name], ref.layer_membranes[name])
    if arch != "tiny-stream":
        assert fast.spike_counts["lif2"].sum() > 0, "a silent layer would prove little"


def test_the_range_of_a_max_pool_is_its_input_range() -> None:
    graph = random_graph("tiny", 0, pool="max")
    ranges = {r.name: r for r in analyse(graph)}
    assert ranges["pool1"].lo == ranges["conv1"].lo and ranges["pool1"].hi == ranges["conv1"].hi
    assert ranges["pool1"].declared is None and not ranges["pool1"].overflows()


def test_round_trips_through_the_file_format(tmp_path: Path) -> None:
    graph = random_graph("tiny", 1, pool="max")
    loaded = load_graph(save_graph(graph, tmp_path / "g.qsnn"))
    assert loaded.same_as(graph)


def test_a_sign_other_than_plus_or_minus_one_is_refused() -> None:
    graph = random_graph("tiny", 1, pool="max")
    ops = tuple(
        MaxPool2d("pool1", np.full(op.sign.shape, 2), 2) if op.name == "pool1" else op for op in graph.ops
    )
    with pytest.raises(IRValidationError, match="sign"):
        type(graph)(graph.input, ops, graph.num_steps).validate()


def test_targets_without_max_pooling_refuse_it_by_name() -> None:
    graph = random_graph("tiny", 1, pool="max")
    for name, target in registry().items():
        if "maxpool2d" in target.ops:
            check_model(graph, name)  # implemented: the rules pass
            continue
        with pytest.raises(DesignRuleError) as info:
            check_model(graph, name)
        assert "op_supported" in [rule for rule, _ in info.value.violations], name


def test_a_version_1_file_cannot_hold_a_max_pool(tmp_path: Path) -> None:
    """Max pooling came with IR version 2; a file claiming version 1 with one is refused, not misread."""
    import json
    import zipfile

    from qsnn_deploy.errors import IRFormatError

    path = save_graph(random_graph("tiny", 1, pool="max"), tmp_path / "g.qsnn")
    old = tmp_path / "v1.qsnn"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "manifest.json":
                data = json.dumps({**json.loads(data), "version": 1}).encode()
            dst.writestr(info.filename, data)
    with pytest.raises(IRFormatError, match="version 2"):
        load_graph(old)
