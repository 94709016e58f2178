"""The suite's own hygiene: tests/ is a package, so shared helpers are imported as ``tests.<module>``. A test
that puts tests/ (or its own folder) on sys.path to import a helper by its bare name breaks that: the module is
imported twice under two names, and two test modules with the same basename in different folders clash."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
HELPERS = sorted(p.stem for p in TESTS.glob("*.py") if not p.stem.startswith(("test_", "__", "conftest")))


def _sys_path_edits_of_the_suite(tree: ast.AST) -> list[int]:
    """Lines that call sys.path.insert/append with a path built from ``__file__`` (the suite's own folders;
    a test that puts a tmp_path on sys.path to import a user's module is fine)."""
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("insert", "append")
            and ast.unparse(node.func.value) == "sys.path"
            and "__file__" in ast.unparse(node)
        ):
            lines.append(node.lineno)
    return lines


def _bare_helper_imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return [n for n in names if n.split(".")[0] in HELPERS or n.split(".")[0].startswith("test_")]


def test_helpers_exist_to_be_checked():
    assert {"cli_run", "toolchains", "golden_check", "verilog_checks"} <= set(HELPERS)


def test_no_test_module_puts_the_suite_on_sys_path_or_imports_a_helper_by_its_bare_name():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        if "fixtures" in path.relative_to(TESTS).parts:
            continue  # scripts that remake fixtures in their own environments
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(TESTS.parent)
        offenders += [f"{where}:{line} edits sys.path" for line in _sys_path_edits_of_the_suite(tree)]
        offenders += [f"{where} imports {name} (use tests.{name})" for name in _bare_helper_imports(tree)]
    assert not offenders, "\n".join(offenders)
