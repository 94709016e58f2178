"""The run's order (tests/conftest.py): every file named as long exists, and they come first, longest first."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import LONG_FILES, file_rank

TESTS = Path(__file__).resolve().parents[1]


def test_every_long_file_exists() -> None:
    missing = [name for name in LONG_FILES if not (TESTS / name).is_file()]
    assert missing == [], f"LONG_FILES names files that are gone: {missing}"


def test_long_files_first_in_their_order() -> None:
    ids = [
        "tests/unit/test_a.py::test_x",
        "tests/e2e/test_wheel.py::test_y",
        "tests/e2e/test_verilog.py::t[1]",
    ]
    assert sorted(ids, key=file_rank) == [ids[2], ids[1], ids[0]]
    assert file_rank("tests/e2e/test_verilog.py::t") == 0 and file_rank("tests/x.py::t") == len(LONG_FILES)
