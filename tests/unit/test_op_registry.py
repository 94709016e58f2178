"""An op lives in one place: its ir/ops module, plus one entry in the registration table of each target that
implements it (targets/<target>/ops.py). Nothing else in the package tests an op's class, every table names
only known kinds, and each docs/targets page lists its target's table."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from qsnn_deploy.ir.graph import IR_VERSION
from qsnn_deploy.ir.ops import OP_TYPES
from qsnn_deploy.ir.ops.base import ROLES
from qsnn_deploy.targets import registry
from qsnn_deploy.targets.base import ops_markdown

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "qsnn_deploy"
OP_MODULES = PACKAGE / "ir" / "ops"


def _ir_op_names(tree: ast.Module) -> set[str]:
    """Names a module imports from the IR's op package (``from qsnn_deploy.ir.ops[...] import X``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qsnn_deploy.ir.ops"):
            names |= {alias.asname or alias.name for alias in node.names}
    return names & ({cls.__name__ for cls in OP_TYPES.values()} | {"Op", "WindowPool"})


def _class_tests(path: Path) -> list[str]:
    """``isinstance``/``issubclass`` calls and ``type(x) is`` comparisons on an IR op class, as file:line."""
    tree = ast.parse(path.read_text(), str(path))
    op_names = _ir_op_names(tree)
    found = []
    for node in ast.walk(tree):
        tested = None
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("isinstance", "issubclass"):
            tested = node.args[1] if len(node.args) > 1 else None
        elif isinstance(node, ast.Compare) and any(isinstance(o, (ast.Is, ast.Eq)) for o in node.ops):
            tested = ast.Tuple(elts=node.comparators)
        elif isinstance(node, ast.Dict):  # {SumPool2d: ...}.get(type(op)): dispatch on the class
            tested = ast.Tuple(elts=[k for k in node.keys if k is not None])
        if tested is None:
            continue
        hits = {n.id for n in ast.walk(tested) if isinstance(n, ast.Name)} & op_names
        if hits:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} ({', '.join(sorted(hits))})")
    return found


def test_no_module_outside_the_op_package_tests_an_op_class() -> None:
    offenders = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if OP_MODULES not in path.parents
        for hit in _class_tests(path)
    ]
    assert offenders == [], "dispatch by kind through a registration table instead:\n" + "\n".join(offenders)


def test_the_scan_finds_a_class_test(tmp_path) -> None:
    """The scan can fail: a module that tests an op class the old way is reported."""
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from qsnn_deploy.ir.ops import Conv2d, MaxPool2d\n"
        "def f(op, layer):\n"
        "    if isinstance(op, Conv2d):\n"
        "        return 1\n"
        "    return {MaxPool2d: 2}.get(type(layer.pool))\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert _class_tests(planted) == ["planted.py:3 (Conv2d)", "planted.py:5 (MaxPool2d)"]
    finally:
        ROOT = saved


@pytest.mark.parametrize("kind", sorted(OP_TYPES))
def test_every_op_declares_what_the_rest_of_the_package_asks(kind: str) -> None:
    cls = OP_TYPES[kind]
    assert cls.kind == kind and cls.role in ROLES
    assert 1 <= cls.since <= IR_VERSION
    if cls.role == "synapse":
        for method in ("fanout", "fold_input_pool", "input_pool_problem"):
            assert callable(getattr(cls, method, None)), (kind, method)
        assert cls.layer_kind in ("conv", "linear") and isinstance(cls.takes_pool, bool)
    if cls.role == "pool":
        assert isinstance(cls.folds_into_synapse, bool) and hasattr(cls, "summed_area")


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_target_table_names_known_ops_and_its_docs_page_lists_them(name: str) -> None:
    target = registry()[name]
    assert set(target.ops) <= set(OP_TYPES), sorted(set(target.ops) - set(OP_TYPES))
    assert {"requantize", "lif"} <= set(target.ops)  # every layer has both
    assert all(impl.where for impl in target.ops.values())
    page = (ROOT / "docs" / "targets" / f"{name}.md").read_text()
    assert ops_markdown(target.ops) in page, (
        f'docs/targets/{name}.md: paste the table printed by python3 -c "from qsnn_deploy.targets import '
        f"registry; from qsnn_deploy.targets.base import ops_markdown; print(ops_markdown(registry()['{name}'].ops))\""
    )
