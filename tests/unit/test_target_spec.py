"""One ``TargetSpec`` per target (issue 24, item 4): every target folder registers a frozen spec, the registry
refuses anything else, and the spec's defaults (the pools, the settings rule, no cost report) are what
``check_model`` and ``report --target`` read."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.targets import check_model, get_target, register, registry
from qsnn_deploy.targets.base import TargetOptions, TargetSpec, no_cost_report


def test_every_target_registers_a_frozen_spec() -> None:
    targets = registry()
    assert sorted(targets) == ["c", "hls", "nir", "onnx", "verilog"]
    for name, spec in targets.items():
        assert isinstance(spec, TargetSpec) and spec.name == name
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.name = "other"  # type: ignore[misc]


def test_register_refuses_what_is_not_a_spec() -> None:
    fake = SimpleNamespace(
        **{f.name: getattr(get_target("c"), f.name) for f in dataclasses.fields(TargetSpec)}
    )
    with pytest.raises(TypeError, match="is not a TargetSpec"):
        register(fake)  # type: ignore[arg-type]


def test_the_cost_reports_are_the_targets_own() -> None:
    with_report = {name for name, spec in registry().items() if spec.cost_report is not no_cost_report}
    assert with_report == {"c", "hls", "verilog"}
    assert get_target("nir").cost_report(None, None, 1, None) is None  # type: ignore[arg-type]
    assert get_target("hls").cost_report.__name__ == "qsnn_deploy.targets.hls.cost.target_cost_report"


def test_a_bad_option_carries_the_spec_settings_rule() -> None:
    graph = random_graph("tiny", 0, num_steps=2)
    for target, rule in (("nir", "time_step"), ("onnx", "onnx_settings")):
        with pytest.raises(DesignRuleError) as info:
            check_model(graph, target, TargetOptions(extra={"nope": "1"}))
        assert info.value.rule == rule


def test_a_target_without_max_pooling_refuses_it_through_the_shared_rule() -> None:
    graph = random_graph("tiny", 0, num_steps=2, pool="max")
    check_model(graph, "c")
    with pytest.raises(DesignRuleError) as info:
        check_model(graph, "nir")
    assert info.value.rule == "op_supported" and "maxpool2d" in str(info.value)
