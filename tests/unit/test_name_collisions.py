"""Generated names are unique by construction (issue 23, item 4): the shared rule ``unique_generated_names``
refuses two ops (or an op and a fixed name) that give one generated name, naming both, before a file is written;
each target's list of derived names is complete (checked against what it renders); and over a family of op names
built from the targets' own suffixes, whatever the rule lets through renders without a duplicate name."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.plan import plan_layers
from qsnn_deploy.ir.synthetic import braille_graph, random_graph
from qsnn_deploy.targets import check_model, generate, get_target
from qsnn_deploy.targets.c.render import C_NAMES
from qsnn_deploy.targets.c.render import render_files as c_files
from qsnn_deploy.targets.hls.render import render_files as hls_files
from qsnn_deploy.targets.names import layer_roles
from qsnn_deploy.targets.verilog.render import render_files as verilog_files
from tests.cli_run import error_lines, run_main

onnx = pytest.importorskip("onnx")
from qsnn_deploy.targets.onnx.graph import ONNX_NAMES, build_model  # noqa: E402


def renamed(graph: Graph, names: dict[str, str]) -> Graph:
    return replace(
        graph, ops=tuple(replace(op, name=names.get(op.name, op.name)) for op in graph.ops)
    ).validate()


@pytest.fixture(scope="module")
def tiny() -> Graph:
    return random_graph("tiny", 0, num_steps=4)  # conv1 pool1 rq1 lif1 conv2 pool2 rq2 lif2 fc1 rq3 lif3


# The issue's renames: the requantize op lif1_current -> lif1_decay, and lif2 -> lif1_reset.
ISSUE_CASES = [
    ("c", {"rq1": "lif1_decay"}, "'QSNN_LIF1_DECAY_SHIFT'", "requantize 'lif1_decay'", "lif 'lif1'"),
    ("onnx", {"rq1": "lif1_decay"}, "'lif1_decay_multiplier'", "requantize 'lif1_decay'", "lif 'lif1'"),
    ("onnx", {"lif2": "lif1_reset"}, "'lif1_reset_threshold'", "lif 'lif1_reset'", "lif 'lif1'"),
    ("c", {"lif3": "LIF1"}, "'QSNN_LIF1_DECAY_MULT' (and 3 more names)", "lif 'LIF1'", "lif 'lif1'"),
]


@pytest.mark.parametrize(("target", "names", "name", "one", "other"), ISSUE_CASES)
def test_a_collision_is_refused_naming_both_ops(tmp_path, tiny, target, names, name, one, other) -> None:
    ordinary = renamed(tiny, {"rq1": "lif1_current"})  # the bundled model's name: no collision
    check_model(ordinary, target)
    with pytest.raises(DesignRuleError) as info:
        generate(renamed(tiny, names), target, tmp_path / "out")
    text = str(info.value)
    assert info.value.rule == "unique_generated_names" and f"generated name {name}" in text
    assert one in text and other in text and "rename one of the ops" in text
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_in_one_line_and_writes_nothing(monkeypatch, capsys, tmp_path, tiny) -> None:
    model = save_graph(renamed(tiny, {"lif2": "lif1_reset"}), tmp_path / "m.qsnn")
    code, out, err = run_main(
        monkeypatch, capsys, "codegen", model, "--target", "onnx", "--out", tmp_path / "o"
    )
    assert code == 2 and len(error_lines(err)) == 1 and "lif1_reset_threshold" in err, out + err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


# Op names that mark every identifier built from them: MARK<role><n> is found in any case.
MARK = "zq"


def _marked(graph: Graph) -> Graph:
    return renamed(graph, {op.name: f"{MARK}{op.kind[:3]}{i}" for i, op in enumerate(graph.ops)})


def _rendered_names(files: dict[str, str]) -> set[str]:
    """Identifiers and file names in rendered output that contain a marked op name (not the bare name, which
    comments and labels quote)."""
    token = r"\b[A-Za-z_][A-Za-z0-9_]*(?:\.(?:hex|vh|v|h|c|cpp|tcl)\b)?"  # a file name whole
    words = {w for text in files.values() for w in re.findall(token, text)}
    words |= set(files)
    bare = re.compile(rf"{MARK}[a-z0-9]{{3}}\d+\Z")
    return {w for w in words if MARK in w.lower() and not bare.match(w)}


GRAPHS = {
    "sum pools, subtract reset": lambda: random_graph("tiny", 1, num_steps=4),
    "max pools, zero reset, stream": lambda: random_graph(
        "tiny-stream", 2, num_steps=4, pool="max", reset="zero"
    ),
}


@pytest.mark.parametrize("graph_of", GRAPHS.values(), ids=GRAPHS.keys())
def test_every_name_a_target_writes_from_an_op_name_is_on_its_list(graph_of) -> None:
    graph = _marked(graph_of())
    for target, render in (("c", c_files), ("hls", hls_files), ("verilog", verilog_files)):
        model = check_model(graph, target)
        listed = {d.name for d in get_target(target).derived_names(model_input(model))}
        missing = _rendered_names(render(model)) - listed
        assert not missing, f"{target} writes names its derived_names does not list: {sorted(missing)}"
    model = check_model(graph, "onnx")
    proto = build_model(model).graph
    written = [i.name for i in proto.initializer] + [o for n in proto.node for o in n.output]
    written += [n.name for n in proto.node] + [v.name for v in (*proto.input, *proto.output)]
    listed = {d.name for d in get_target("onnx").derived_names(model_input(model))}
    assert not set(written) - listed, sorted(set(written) - listed)


def model_input(model):
    from qsnn_deploy.targets.base import RuleInput

    return RuleInput(model.graph, model.layers, model.ranges, model.options)


# The family of names the targets' own suffixes make collide: an op of role B named after an op of role A plus X
# meets it wherever A's pattern is X plus B's ("_decay": a LIF's <NAME>_DECAY_SHIFT, a requantize's <NAME>_SHIFT).
def _family() -> list[tuple[str, str, str, str]]:
    """(target, role A, role B, X) for every such pair of patterns of the C and ONNX targets."""
    found = set()
    for target, table in (("c", C_NAMES), ("onnx", ONNX_NAMES)):
        pairs = [(role, *re.split(r"\{(?:name|NAME)\}", p)) for role, ps in table.items() for p in ps]
        for role_a, head_a, tail_a in pairs:
            for role_b, head_b, tail_b in pairs:
                if head_a == head_b and tail_b and tail_a != tail_b and tail_a.endswith(tail_b):
                    found.add((target, role_a, role_b, tail_a[: -len(tail_b)]))
    return sorted(found)


FAMILY = _family()


def _ops_by_role(graph: Graph) -> dict[str, list[str]]:
    """Role (as the targets' name tables key it) -> the names of the graph's ops in that role."""
    found: dict[str, list[str]] = {}
    for role, op in layer_roles(plan_layers(graph)):
        found.setdefault(role, []).append(op.name)  # type: ignore[attr-defined]
    return found


def test_every_name_of_the_family_is_refused_naming_both_ops(tiny) -> None:
    assert len(FAMILY) >= 8 and any(t == "c" for t, *_ in FAMILY), FAMILY
    # The first graph that has both roles: tiny, then one with synaptic currents, then a recurrent one.
    graphs = [(g, _ops_by_role(g)) for g in (tiny, random_graph("tiny", 0, num_steps=4, synaptic=(3, 2)),
                                               braille_graph(0))]  # fmt: skip
    for target, role_a, role_b, x in FAMILY:
        graph, ops = next((g, o) for g, o in graphs if role_a in o and role_b in o)
        a = ops[role_a][0]
        b = next(op for op in ops[role_b] if op != a)
        with pytest.raises(DesignRuleError, match="unique_generated_names") as info:
            check_model(renamed(graph, {b: a + x}), target)
        assert f"{a!r}" in str(info.value) and f"{a + x!r}" in str(info.value), (target, role_a, role_b, x)


# Random renames over the same suffixes: whatever the rule lets through renders without a duplicate name.
SUFFIXES = sorted({x for *_, x in FAMILY} | {"", "_w", "_cfg", "_in", "_v"})
PICKS = st.lists(
    st.tuples(st.integers(0, 10), st.booleans(), st.sampled_from(SUFFIXES)), min_size=11, max_size=11
)


def family(picks: list[tuple[int, bool, str]]) -> list[str]:
    """Op i is renamed to op j's current name (j != i; maybe in upper case) plus a suffix, in turn."""
    names = [f"n{i}" for i in range(len(picks))]
    for i, (j, upper, suffix) in enumerate(picks):
        base = names[j]
        name = (base.upper() if upper else base) + suffix
        if j != i and len(name) <= 40 and name not in names:
            names[i] = name
    return names


def _duplicates(names: list[str]) -> set[str]:
    return {name for name, n in Counter(names).items() if n > 1}


def _c_defined(model) -> set[str]:
    """Names the C files define more than once (a macro of both #if branches, e.g. QSNN_PHASE, counts twice:
    the ordinary graph's are the baseline)."""
    text = "\n".join(c_files(model).values())
    return _duplicates(re.findall(r"#define (\w+)", text) + re.findall(r"static const \w+ (\w+)", text))


# No shrinking: a failure prints its example at once (shrinking 11 names costs minutes).
@settings(max_examples=30, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate])
@given(picks=PICKS)
def test_whatever_the_rule_lets_through_renders_without_a_duplicate(tiny, picks) -> None:
    graph = renamed(tiny, {op.name: new for op, new in zip(tiny.ops, family(picks))})
    try:
        model = check_model(graph, "c")
    except DesignRuleError as exc:
        assert exc.rule == "unique_generated_names"
    else:
        assert not _c_defined(model) - _c_defined(check_model(tiny, "c"))
    try:
        model = check_model(graph, "onnx")
    except DesignRuleError as exc:
        assert exc.rule == "unique_generated_names"
    else:
        proto = build_model(model).graph
        assert not _duplicates(
            [i.name for i in proto.initializer] + [o for n in proto.node for o in n.output]
        )
