"""Every IR op type survives save_graph/load_graph unchanged, and saving is atomic (docs/ir/file-format.md)."""

from __future__ import annotations

import os
import stat
import zipfile

import numpy as np
import pytest

from qsnn_deploy.errors import IRValidationError
from qsnn_deploy.ir import (
    INT8,
    INT16,
    INT64,
    LIF,
    OP_TYPES,
    UINT8,
    Conv2d,
    Graph,
    InputSpec,
    IntType,
    Linear,
    Requantize,
    SumPool2d,
    load_graph,
    save_graph,
)
from qsnn_deploy.ir import io as ir_io
from qsnn_deploy.ir.synthetic import SHAPES, random_graph


def _hand_graph() -> Graph:
    """Field values the synthetic graphs never use: stride, padding, 8-bit state, zero reset, int64 types,
    a static input of int16, odd pooling kernel, decay 0 and decay 1."""
    rng = np.random.default_rng(3)
    ops = (
        Conv2d("c", rng.integers(-2, 2, (3, 2, 3, 3)), IntType(2), stride=2, padding=1, acc_type=INT64),
        SumPool2d("p", 3, acc_type=INT64),
        Requantize("r", np.array([-5, 7, 1]), np.array([-100, 0, 2**40]), 17, INT16),
        LIF("l", threshold=100, decay_multiplier=0, decay_shift=0, reset="zero", state_type=INT8),
        Linear("fc", rng.integers(-128, 128, (4, 3 * 2 * 2)), IntType(8), acc_type=INT16),
        Requantize("r2", np.array([1, 2, 3, 4]), np.array([0, 0, 0, -1]), 0, INT16),
        LIF("out", threshold=7, decay_multiplier=8, decay_shift=3, reset="subtract", state_type=INT16),
    )
    spec = InputSpec((2, 13, 13), IntType(16), "stream", 0.125)
    return Graph(spec, ops, 3, metadata={"note": "hand-built", "nested": {"a": [1, 2.5, None]}}).validate()


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("state_bits", [16, 32])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("arch", sorted(SHAPES))
def test_synthetic_graph_round_trips(tmp_path, arch, reset, state_bits, bits):
    pool = "max" if bits % 2 else "sum"  # both pool kinds, on alternate widths
    graph = random_graph(
        arch, seed=bits, bits=bits, state_bits=state_bits, reset=reset, num_steps=7, pool=pool
    )
    path = save_graph(graph, tmp_path / "g.qsnn")
    loaded = load_graph(path)
    assert loaded.same_as(graph)
    other_pool = "sumpool2d" if pool == "max" else "maxpool2d"
    # every other op type is exercised (synaptic and recurrent, IR version 3: test_synaptic.py, test_recurrent.py)
    assert {op.kind for op in loaded.ops} == set(OP_TYPES) - {other_pool, "synaptic", "recurrent"}
    for a, b in zip(graph.ops, loaded.ops):
        for key, arr in b.tensors().items():
            assert arr.dtype == a.tensors()[key].dtype
            assert not arr.flags.writeable


def test_hand_built_graph_round_trips(tmp_path):
    graph = _hand_graph()
    loaded = load_graph(save_graph(graph, tmp_path / "h.qsnn"))
    assert loaded.same_as(graph)
    assert loaded.input == graph.input and loaded.metadata == graph.metadata


def test_same_as_notices_a_changed_tensor_or_field():
    graph = _hand_graph()
    ops = list(graph.ops)
    w = ops[0].weight.copy()
    w[0, 0, 0, 0] ^= 1
    changed_tensor = Graph(
        graph.input, (Conv2d("c", w, IntType(2), 2, 1, INT64), *ops[1:]), 3, graph.metadata
    )
    changed_field = Graph(graph.input, (*ops[:-1], LIF("out", 7, 8, 3, "zero", INT16)), 3, graph.metadata)
    assert not changed_tensor.same_as(graph)
    assert not changed_field.same_as(graph)


def test_loading_twice_gives_the_same_graph_and_saving_again_the_same_content(tmp_path):
    graph = random_graph("tiny", seed=5, num_steps=4)
    first = load_graph(save_graph(graph, tmp_path / "a.qsnn"))
    second = load_graph(tmp_path / "a.qsnn")
    assert first.same_as(second)
    again = load_graph(save_graph(first, tmp_path / "b.qsnn"))
    assert again.same_as(graph)
    # The manifest text is a pure function of the graph (sorted keys), only zip timestamps may differ.
    with zipfile.ZipFile(tmp_path / "a.qsnn") as za, zipfile.ZipFile(tmp_path / "b.qsnn") as zb:
        assert za.namelist() == zb.namelist()
        for name in za.namelist():
            assert za.read(name) == zb.read(name), name


def _invalid_graph() -> Graph:
    """Passes construction but not validation: its LIF does not follow a Requantize."""
    good = random_graph("tiny", seed=1, num_steps=2)
    ops = tuple(op for op in good.ops if op.name != "rq3")
    return Graph(good.input, ops, good.num_steps)


def test_saving_an_invalid_graph_leaves_the_previous_file_and_no_partial_file(tmp_path):
    target = tmp_path / "model.qsnn"
    save_graph(random_graph("tiny", seed=2, num_steps=3), target)
    before = target.read_bytes()
    with pytest.raises(IRValidationError):
        save_graph(_invalid_graph(), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.qsnn"]


def test_saving_an_invalid_graph_to_a_new_path_creates_nothing(tmp_path):
    with pytest.raises(IRValidationError):
        save_graph(_invalid_graph(), tmp_path / "new.qsnn")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_removes_the_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "model.qsnn"
    save_graph(random_graph("tiny", seed=2, num_steps=3), target)
    before = target.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ir_io.np, "save", broken_save)
    with pytest.raises(OSError, match="simulated"):
        save_graph(random_graph("tiny", seed=9, num_steps=3), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.qsnn"]


def test_uint8_static_input_spec_round_trips(tmp_path):
    graph = random_graph("mnist", seed=0, num_steps=2)
    assert graph.input == InputSpec((1, 28, 28), UINT8, "static", 1 / 255)
    assert load_graph(save_graph(graph, tmp_path / "m.qsnn")).input == graph.input


def test_saved_files_get_ordinary_permissions(tmp_path):
    """The temporary file is created private (0600); the saved file gets what open() would give it."""
    umask = os.umask(0o022)
    os.umask(umask)
    path = save_graph(random_graph("tiny", seed=2, num_steps=3), tmp_path / "p.qsnn")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
