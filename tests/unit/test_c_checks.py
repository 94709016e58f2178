"""Every design rule of the C target fails with its own name, before any file is written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import LIF, Requantize, SumPool2d
from qsnn_deploy.ir.ranges import OpRange
from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.ir.types import IntType
from qsnn_deploy.targets import generate
from qsnn_deploy.targets.c import checks


def _replace_op(graph: Graph, op_name: str, **changes) -> Graph:
    ops = tuple(dataclasses.replace(op, **changes) if op.name == op_name else op for op in graph.ops)
    return dataclasses.replace(graph, ops=ops)


def _expect_rule(graph: Graph, rule: str, out: Path, prefix: str = "qsnn", board: str = "mps2-an386") -> None:
    with pytest.raises(DesignRuleError) as info:
        generate(graph, "c", out, prefix, board=board)
    assert info.value.rule == rule
    assert rule in str(info.value)
    assert not out.exists(), "nothing may be written when a rule fails"


@pytest.fixture
def tiny() -> Graph:
    return random_graph("tiny", 0)


@pytest.mark.parametrize("prefix", ["int", "static", "9lives", "my-model", "__x", "_Model", "qsnn_x", "main"])
def test_bad_prefix_is_rejected(tiny: Graph, tmp_path: Path, prefix: str) -> None:
    _expect_rule(tiny, "c_identifier", tmp_path / "out", prefix=prefix)


def test_op_name_that_is_a_keyword_is_rejected(tiny: Graph, tmp_path: Path) -> None:
    _expect_rule(_replace_op(tiny, "conv1", name="register"), "c_identifier", tmp_path / "out")


def test_unsupported_op_sequence_has_no_template(tiny: Graph, tmp_path: Path) -> None:
    ops = list(tiny.ops)
    ops.insert(2, SumPool2d("pool1b", 1))  # conv, pool, pool: no template
    _expect_rule(dataclasses.replace(tiny, ops=tuple(ops)), "op_has_template", tmp_path / "out")


def test_int8_state_is_not_supported(tiny: Graph, tmp_path: Path) -> None:
    graph = random_graph("tiny", 0, state_bits=16)  # threshold 16 fits int8
    _expect_rule(_replace_op(graph, "lif2", state_type=IntType(8)), "state_width_supported", tmp_path / "out")


def test_uint16_input_is_not_supported(tiny: Graph, tmp_path: Path) -> None:
    graph = dataclasses.replace(tiny, input=dataclasses.replace(tiny.input, dtype=IntType(16, signed=False)))
    _expect_rule(graph, "input_type_supported", tmp_path / "out")


def test_requant_product_beyond_int64(tiny: Graph, tmp_path: Path) -> None:
    rq: Requantize = tiny.ops[2]
    huge = rq.bias.copy()
    huge[0] = 1 << 62
    _expect_rule(_replace_op(tiny, "rq1", bias=huge), "requant_product_fits_int64", tmp_path / "out")


def test_mnist_does_not_fit_a_small_cortex_m0(tmp_path: Path) -> None:
    _expect_rule(random_graph("mnist", 0), "fits_board_memory", tmp_path / "out", board="cortex-m0-small")


def test_unknown_board_and_target(tiny: Graph, tmp_path: Path) -> None:
    _expect_rule(tiny, "known_board", tmp_path / "out", board="nope")
    with pytest.raises(DesignRuleError) as info:
        generate(tiny, "vhdl", tmp_path / "out")
    assert info.value.rule == "known_target"


def test_accumulator_overflow_is_caught(tiny: Graph) -> None:
    # No valid IR reaches 2**31 with the synthetic shapes, so feed the rule a range analysis that does.
    ctx = checks.CheckContext(tiny, "qsnn", checks.BOARDS["mps2-an386"])
    checks.op_has_template(ctx)
    assert ctx.ranges is not None
    old = ctx.ranges["conv2"]
    ctx.ranges["conv2"] = OpRange(old.name, old.kind, old.lo, old.hi, 1 << 30, old.declared)
    with pytest.raises(DesignRuleError) as info:
        checks.accumulator_fits_int32(ctx)
    assert info.value.rule == "accumulator_fits_int32"


def test_weights_outside_the_nibble_are_caught(tiny: Graph) -> None:
    # The IR itself rejects such weights; the rule guards the packer if that check is ever bypassed.
    ctx = checks.CheckContext(tiny, "qsnn", checks.BOARDS["mps2-an386"])
    checks.op_has_template(ctx)
    conv = ctx.stages[0].op
    bad = conv.weight.copy()
    bad.flat[0] = 9
    object.__setattr__(conv, "weight", bad)
    with pytest.raises(DesignRuleError) as info:
        checks.weights_fit_storage(ctx)
    assert info.value.rule == "weights_fit_storage"


def test_every_rule_passes_on_the_synthetic_graphs() -> None:
    for arch in ("mnist", "dvs", "nmnist", "tiny", "tiny-stream"):
        assert checks.run_checks(random_graph(arch, 0), "qsnn")


def test_lif_after_non_lif_reset_modes_both_render(tmp_path: Path) -> None:
    for reset in ("subtract", "zero"):
        graph = random_graph("tiny", 0, reset=reset)
        assert all(isinstance(op, LIF) and op.reset == reset for op in graph.lif_layers())
        assert len(generate(graph, "c", tmp_path / reset)) == 5
