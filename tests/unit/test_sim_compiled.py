"""The compiled kernels (sim/compiled.py, numba) compute exactly the integers of the NumPy kernels: the LIF scan
in every reset mode, state width, saturation and record setting, with the membrane carried between calls; the
event-driven conv of binary spikes for pools, paddings and kernel shapes; and whole simulations, held to the
literal reference. ``QSNN_SIM_KERNELS`` picks them (``numba``: wherever they apply) and says clearly when it
cannot."""

from __future__ import annotations

import numpy as np
import pytest

from qsnn_deploy.errors import IRValidationError
from qsnn_deploy.ir.ranges import analyse
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.sim import compiled, executor, kernels, simulate
from qsnn_deploy.sim.plan import build_plan
from qsnn_deploy.sim.reference import simulate_reference
from tests.unit.test_sim_fast_paths import GRAPHS, LIFS, _assert_same

pytest.importorskip("numba")  # the ``fast`` extra; setup.sh installs it


def _scan(mode: str, monkeypatch, prepared, op, static, steps, saturate, v0, record):
    monkeypatch.setenv(compiled.MODE_VARIABLE, mode)
    v = v0.copy()
    spikes, membranes = kernels.lif_scan_prepared(
        prepared, op, static=static, num_steps=steps, record=record, saturate=saturate, state=v
    )
    return spikes, membranes, v


@pytest.mark.parametrize("op", LIFS, ids=lambda op: op.name)
@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("record", [False, True])
def test_lif_scan_compiled_equals_numpy(op, static, record, monkeypatch):
    """Two calls of 7 and 5 steps (the membrane carried between them), from a nonzero membrane, against the
    NumPy scan; 2,100 neurons: more than one block of the compiled loop."""
    rng = np.random.default_rng(len(op.name))
    scale = 3 << 20 if op.state_type.bits == 32 else 2000
    neurons = (3, 700)
    currents = rng.integers(-scale // 3, scale, neurons if static else (12, *neurons))
    currents[..., 0] = scale  # fires (and saturates a 16-bit membrane without leak)
    prepared = kernels.lif_prepare(currents.astype(np.int64), op)
    v0 = rng.integers(-op.threshold, 2 * op.threshold + 1, neurons).astype(np.int64)
    got, want = [], []
    for mode, out in (("numba", got), ("numpy", want)):
        v = v0
        for part in (slice(0, 7), slice(7, 12)):
            steps = part.stop - part.start
            p = prepared if static else np.ascontiguousarray(prepared[part])
            spikes, membranes, v = _scan(mode, monkeypatch, p, op, static, steps, True, v, record)
            out.append((spikes, membranes, v))
    for (gs, gm, gv), (ws, wm, wv) in zip(got, want, strict=True):
        np.testing.assert_array_equal(gs, ws)
        np.testing.assert_array_equal(gv, wv)
        if record:
            assert gm.dtype == wm.dtype == op.state_type_numpy()
            np.testing.assert_array_equal(gm, wm)
        else:
            assert gm is None and wm is None
    assert 0 < sum(s.sum() for s, _, _ in want) < sum(s.size for s, _, _ in want)


def test_lif_scan_compiled_without_the_clamp_equals_numpy(monkeypatch):
    """``saturate=False`` (the range analysis proved the clamp is the identity): currents that stay inside."""
    op = LIFS[0]
    rng = np.random.default_rng(7)
    prepared = kernels.lif_prepare(rng.integers(-(1 << 18), 1 << 21, (20, 1500)), op)
    zero = np.zeros(1500, dtype=np.int64)
    got = _scan("numba", monkeypatch, prepared, op, False, 20, False, zero, True)
    want = _scan("numpy", monkeypatch, prepared, op, False, 20, False, zero, True)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def _numpy_conv_pool(weight, pool, padding, x):
    """The NumPy kernels' stride-1 conv, then the sum pool: int64, channels last."""
    conv = kernels.conv2d_weights(weight, 1, padding, x, 1, channels_last=True)
    if pool == 1:
        return conv
    n, h, w, o = conv.shape
    ho, wo = h // pool, w // pool
    return conv[:, : ho * pool, : wo * pool].reshape(n, ho, pool, wo, pool, o).sum(axis=(2, 4))


@pytest.mark.parametrize(
    ("pool", "padding", "kernel", "hw"),
    [(2, 0, (5, 5), (12, 12)), (1, 0, (3, 3), (9, 7)), (1, 2, (5, 3), (8, 10)), (2, 1, (3, 3), (9, 9)),
     (3, 0, (2, 4), (13, 14)), (1, 0, (1, 1), (1, 1)), (4, 2, (6, 6), (16, 16))],
)  # fmt: skip
def test_binary_conv_equals_the_gemm(pool, padding, kernel, hw):
    rng = np.random.default_rng(pool * 10 + padding)
    weight = rng.integers(-8, 8, (6, 5, *kernel))
    x = (rng.random((9, *hw, 5)) < 0.15).astype(np.uint8)
    x[0] = 0  # a frame without a spike
    x[1] = 1  # one with every input spiking
    table = compiled.binary_conv_table(weight, pool, padding, hw[1])
    assert table.dtype == np.int16
    got = compiled.binary_conv(x, table, weight.shape, pool, padding, None)
    want = _numpy_conv_pool(weight, pool, padding, x)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert np.abs(want[1]).max() > 0


def test_binary_conv_reads_only_the_inputs_that_can_spike():
    """With ``can_spike`` per sample (frames step-major: frame f is sample f % 3), the same sums; a value at an
    input marked silent is never read (the contract that lets each frame skip most of its inputs)."""
    rng = np.random.default_rng(5)
    weight = rng.integers(-8, 8, (4, 3, 3, 3))
    x = (rng.random((12, 8, 8, 3)) < 0.2).astype(np.uint8)  # 4 steps x 3 samples
    can_spike = x.reshape(4, 3, -1).any(axis=0)
    assert not can_spike.all()
    table = compiled.binary_conv_table(weight, 2, 1, 8)
    want = _numpy_conv_pool(weight, 2, 1, x)
    np.testing.assert_array_equal(compiled.binary_conv(x, table, weight.shape, 2, 1, None, can_spike), want)
    planted = x.copy().reshape(4, 3, -1)
    planted[:, ~can_spike] = 1
    got = compiled.binary_conv(planted.reshape(x.shape), table, weight.shape, 2, 1, None, can_spike)
    np.testing.assert_array_equal(got, want)


def test_binary_conv_widens_its_sums_where_int16_could_overflow():
    rng = np.random.default_rng(3)
    weight = rng.integers(-3000, 3000, (4, 3, 3, 3))  # 27 taps x 4 pooled copies x 3000 > 2^15
    x = (rng.random((5, 8, 8, 3)) < 0.5).astype(np.uint8)
    table = compiled.binary_conv_table(weight, 2, 0, 8)
    assert table.dtype == np.int32
    np.testing.assert_array_equal(
        compiled.binary_conv(x, table, weight.shape, 2, 0, None), _numpy_conv_pool(weight, 2, 0, x)
    )


def test_a_table_beyond_the_limit_is_not_built_and_the_gemm_runs_instead(monkeypatch):
    weight = np.ones((4, 3, 3, 3), dtype=np.int64)
    assert compiled.binary_conv_table(weight, 2, 0, 8) is not None
    graph = random_graph("mnist", seed=0, num_steps=6)
    x = random_inputs(graph, 2, seed=0)
    monkeypatch.setenv(compiled.MODE_VARIABLE, "numpy")
    want = simulate(graph, x, record=True)
    monkeypatch.setattr(compiled, "TABLE_LIMIT_BYTES", 1000)
    assert compiled.binary_conv_table(weight, 2, 0, 8) is None
    monkeypatch.setattr(compiled, "binary_conv", None)  # a call would fail: the GEMM must run
    monkeypatch.setattr(compiled, "binary_conv_lif", None)
    monkeypatch.setenv(compiled.MODE_VARIABLE, "numba")
    _assert_same(simulate(graph, x, record=True), want)


def test_the_cost_model_picks_events_for_sparse_convs_and_gemms_otherwise():
    """The bundled model's conv2 (16 x 12 x 12 spikes, 5 x 5 kernel, 64 outputs, 2 x 2 pool) at its 5.5% firing
    goes event by event, at 50% by GEMM; its fc1 (1,024 spikes at 1.1% into 10 outputs) by GEMM."""
    frames = 1000
    conv2 = ((64, 16, 5, 5), 2, 0, (frames, 12, 12, 16))
    assert compiled.binary_conv_pays(*conv2, spikes=int(0.055 * frames * 2304), inputs=650)
    assert not compiled.binary_conv_pays(*conv2, spikes=int(0.5 * frames * 2304), inputs=2304)
    fc1 = ((10, 1024, 1, 1), 1, 0, (frames, 1, 1, 1024))
    assert not compiled.binary_conv_pays(*fc1, spikes=int(0.011 * frames * 1024), inputs=1024)


def test_the_mode_variable(monkeypatch):
    monkeypatch.setenv(compiled.MODE_VARIABLE, "fastest")
    with pytest.raises(IRValidationError, match="QSNN_SIM_KERNELS='fastest': expected one of auto, numba"):
        compiled.use(1 << 30)
    monkeypatch.setenv(compiled.MODE_VARIABLE, "numpy")
    assert not compiled.use(1 << 30)
    monkeypatch.setenv(compiled.MODE_VARIABLE, "auto")
    assert compiled.use(compiled.MIN_WORK)
    assert not compiled.use(compiled.MIN_WORK - 1)  # too small to repay numba's start-up
    assert not compiled.use(1 << 30, pays=False)
    monkeypatch.setenv(compiled.MODE_VARIABLE, "numba")
    assert compiled.use(1, pays=False)
    monkeypatch.delenv(compiled.MODE_VARIABLE)
    assert compiled.mode() == "auto"


def test_without_numba_auto_runs_numpy_and_numba_is_refused(monkeypatch):
    monkeypatch.setattr(compiled, "_loops", lambda: None)
    monkeypatch.setenv(compiled.MODE_VARIABLE, "auto")
    assert not compiled.use(1 << 30)
    graph = random_graph("tiny", seed=3, num_steps=4)
    x = random_inputs(graph, 2, seed=3)
    monkeypatch.setenv(compiled.MODE_VARIABLE, "numba")
    refusal = r"numba is not installed \(pip install 'qsnn-deploy\[fast\]'\)"
    with pytest.raises(IRValidationError, match=refusal):
        simulate(graph, x)


@pytest.mark.parametrize(("arch", "kwargs"), GRAPHS)
def test_simulate_compiled_equals_numpy_and_the_reference(arch, kwargs, monkeypatch):
    """Every field of a recorded simulation, compiled wherever it applies against NumPy only, in one chunk
    and in chunks of 3 steps (membranes carried across); and the spikes and membranes of the reference. Each
    graph runs all three compiled paths: the LIF scan, the event-driven linear (a linear is never fused with
    its LIF) and a conv of spikes with the LIF after it."""
    graph = random_graph(arch, num_steps=8, **kwargs)
    x = random_inputs(graph, 3, seed=kwargs["seed"])
    calls = {"lif": 0, "conv": 0, "conv+lif": 0}
    for name, key in (("lif_scan_prepared", "lif"), ("binary_conv", "conv"), ("binary_conv_lif", "conv+lif")):
        original = getattr(compiled, name)

        def counted(*args, _original=original, _key=key, **kw):
            calls[_key] += 1
            return _original(*args, **kw)

        monkeypatch.setattr(compiled, name, counted)
    monkeypatch.setenv(compiled.MODE_VARIABLE, "numba")
    got = simulate(graph, x, record=True, batch_size=2)
    plan = build_plan(graph, set(), {r.name: r for r in analyse(graph)})
    largest = max(int(np.prod(stage.out_shape)) for stage in plan)
    monkeypatch.setattr(executor, "STREAM_ELEMENTS", 3 * 2 * largest)
    chunked = simulate(graph, x, record=True, batch_size=2)
    assert min(calls.values()) > 0  # the LIF scan, a conv (or linear) alone, and a conv into its LIF
    monkeypatch.setattr(executor, "STREAM_ELEMENTS", 1 << 40)
    monkeypatch.setenv(compiled.MODE_VARIABLE, "numpy")
    want = simulate(graph, x, record=True, batch_size=2)
    _assert_same(got, want)
    _assert_same(chunked, want)
    ref = simulate_reference(graph, x, record=True)
    for name, spikes in ref.layer_spikes.items():
        np.testing.assert_array_equal(got.layer_spikes[name], spikes)
        np.testing.assert_array_equal(got.layer_membranes[name], ref.layer_membranes[name])


def test_the_bundled_model_on_real_mnist_images_compiled_equals_numpy(data_dir, monkeypatch):
    """The paper's real checkpoint (examples/mnist/model.pt) on 24 real MNIST test images: every recorded
    spike, membrane, count and synaptic operation of the compiled run equals the NumPy run, and the default
    ``auto`` run (batches large enough to compile) equals both."""
    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.export import export_checkpoint
    from qsnn_deploy.paths import repo_root

    graph = export_checkpoint(repo_root() / "examples" / "mnist" / "model.pt", bits=4).graph
    images = load_dataset("mnist", "test", data_dir=data_dir, limit=24, num_steps=graph.num_steps).inputs
    monkeypatch.setenv(compiled.MODE_VARIABLE, "numpy")
    want = simulate(graph, images, record=True)
    assert 0 < want.firing_rates()["lif1"] < 0.2  # real, sparse spikes
    monkeypatch.setenv(compiled.MODE_VARIABLE, "numba")
    _assert_same(simulate(graph, images, record=True), want)
    monkeypatch.setenv(compiled.MODE_VARIABLE, "auto")
    monkeypatch.setattr(compiled, "MIN_WORK", 1)
    _assert_same(simulate(graph, images, record=True), want)
