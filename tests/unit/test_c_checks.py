"""Every design rule of the C target fails with its own name, before any file is written; rules are pure
functions of a frozen RuleInput, so each one checks something when run alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import LIF, Requantize, SumPool2d
from qsnn_deploy.ir.plan import plan_layers
from qsnn_deploy.ir.ranges import OpRange, analyse
from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.ir.types import IntType
from qsnn_deploy.targets import check_model, generate
from qsnn_deploy.targets.base import RuleInput, TargetOptions
from qsnn_deploy.targets.c import rules as c_rules
from qsnn_deploy.targets.rules import accumulator_width


def _replace_op(graph: Graph, op_name: str, **changes) -> Graph:
    ops = tuple(dataclasses.replace(op, **changes) if op.name == op_name else op for op in graph.ops)
    return dataclasses.replace(graph, ops=ops)


def _expect_rule(graph: Graph, rule: str, out: Path, prefix: str = "qsnn", board: str | None = None) -> None:
    with pytest.raises(DesignRuleError) as info:
        generate(graph, "c", out, prefix, board=board)
    assert rule in [r for r, _ in info.value.violations]
    assert rule in str(info.value)
    assert not out.exists(), "nothing may be written when a rule fails"


@pytest.fixture
def tiny() -> Graph:
    return random_graph("tiny", 0)


@pytest.mark.parametrize("prefix", ["int", "static", "9lives", "my-model", "__x", "_Model", "qsnn_x", "main"])
def test_bad_prefix_is_rejected(tiny: Graph, tmp_path: Path, prefix: str) -> None:
    _expect_rule(tiny, "identifiers", tmp_path / "out", prefix=prefix)


def test_op_name_that_is_a_keyword_is_rejected(tiny: Graph, tmp_path: Path) -> None:
    _expect_rule(_replace_op(tiny, "conv1", name="register"), "identifiers", tmp_path / "out")


def test_unsupported_op_sequence_has_no_template(tiny: Graph, tmp_path: Path) -> None:
    ops = list(tiny.ops)
    ops.insert(2, SumPool2d("pool1b", 1))  # conv, pool, pool: no template
    _expect_rule(dataclasses.replace(tiny, ops=tuple(ops)), "layer_pattern", tmp_path / "out")


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
    _expect_rule(tiny, "c_settings", tmp_path / "out", board="nope")  # the board option's choices
    with pytest.raises(DesignRuleError) as info:
        generate(tiny, "vhdl", tmp_path / "out")
    assert info.value.rule == "known_target"


def _rule_input(graph: Graph, **ranges: OpRange) -> RuleInput:
    table = {r.name: r for r in analyse(graph)}
    table.update(ranges)
    return RuleInput(graph, plan_layers(graph), table, TargetOptions())


def test_accumulator_overflow_is_caught_by_the_rule_alone(tiny: Graph) -> None:
    # No valid IR reaches 2**31 with the synthetic shapes, so feed the rule a range analysis that does.
    old = {r.name: r for r in analyse(tiny)}["conv2"]
    inp = _rule_input(tiny, conv2=OpRange(old.name, old.kind, old.lo, old.hi, 1 << 30, old.declared))
    violations = accumulator_width("accumulator_fits_int32", 32, "int32 accumulator")(inp)
    assert [v.rule for v in violations] == ["accumulator_fits_int32"]
    assert "'conv2'" in violations[0].message
    assert accumulator_width("accumulator_fits_int32", 32, "int32 accumulator")(_rule_input(tiny)) == []


def test_weights_outside_the_nibble_are_caught_by_the_rule_alone(tiny: Graph) -> None:
    # The IR itself rejects such weights; the rule guards the packer if that check is ever bypassed.
    inp = _rule_input(tiny)
    conv = inp.layers[0].op
    bad = conv.weight.copy()
    bad.flat[0] = 9
    object.__setattr__(conv, "weight", bad)
    violations = c_rules.weights_fit_storage(inp)
    assert [v.rule for v in violations] == ["weights_fit_storage"]


def test_every_violation_is_reported_at_once(tiny: Graph, tmp_path: Path) -> None:
    graph = random_graph("mnist", 0, state_bits=16)
    graph = _replace_op(graph, "conv1", name="register")
    with pytest.raises(DesignRuleError) as info:
        generate(graph, "c", tmp_path / "out", "9lives", board="cortex-m0-small")
    rules = [r for r, _ in info.value.violations]
    assert rules.count("identifiers") == 2 and "fits_board_memory" in rules
    assert not (tmp_path / "out").exists()


def test_every_rule_passes_on_the_synthetic_graphs() -> None:
    for arch in ("mnist", "dvs", "nmnist", "tiny", "tiny-stream"):
        assert check_model(random_graph(arch, 0), "c").layers


def test_lif_after_non_lif_reset_modes_both_render(tmp_path: Path) -> None:
    for reset in ("subtract", "zero"):
        graph = random_graph("tiny", 0, reset=reset)
        assert all(isinstance(op, LIF) and op.reset == reset for op in graph.lif_layers())
        assert len(generate(graph, "c", tmp_path / reset)) == 6  # 5 sources + qsnn-target.json
