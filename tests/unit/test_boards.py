"""The C target's boards: each real part's linker script holds its real flash and RAM, the docs list every
board with its part, the memory rule refuses the MNIST shape on an 8 KB part in one line naming the sizes, and
the lean layout is chosen exactly where the default one does not fit the board's RAM."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.paths import firmware_dir, repo_root
from qsnn_deploy.targets import check_model
from qsnn_deploy.targets.base import RuleInput, TargetOptions
from qsnn_deploy.targets.c.boards import BOARDS, Board
from qsnn_deploy.targets.c.layout import streams_first_layer
from qsnn_deploy.targets.c.rules import lean_layout, ram_estimate

REAL_PARTS = ("microbit", "netduinoplus2", "stm32vldiscovery")
UNITS = {"K": 1024, "M": 1024 * 1024}


def _memory(script: Path) -> dict[str, int]:
    """LENGTH of each MEMORY region of a linker script, in bytes."""
    regions = re.findall(
        r"^\s*(\w+)\s*\([rwx]+\)\s*:\s*ORIGIN\s*=\s*\w+,\s*LENGTH\s*=\s*(\d+)([KM]?)",
        script.read_text(),
        re.M,
    )
    return {name: int(n) * UNITS.get(unit, 1) for name, n, unit in regions}


@pytest.mark.parametrize("name", REAL_PARTS)
def test_the_linker_script_holds_the_parts_flash_and_ram(name: str) -> None:
    board = BOARDS[name]
    memory = _memory(firmware_dir() / "cortex-m" / board.memory_map)
    assert memory == {"FLASH": board.flash, "RAM": board.ram}


def test_the_real_parts_sizes() -> None:
    kb = 1024
    sizes = {
        name: (BOARDS[name].cpu, BOARDS[name].flash // kb, BOARDS[name].ram // kb) for name in REAL_PARTS
    }
    # The STM32F405's 192 KB are 128 KB of SRAM (the firmware's) and 64 KB of CCM (boards.py).
    assert sizes == {
        "microbit": ("cortex-m0", 256, 16),
        "netduinoplus2": ("cortex-m4", 1024, 128),
        "stm32vldiscovery": ("cortex-m3", 128, 8),
    }


def test_the_docs_list_every_board_with_its_part() -> None:
    page = (repo_root() / "docs" / "targets" / "c.md").read_text()
    for board in BOARDS.values():
        assert f"| `{board.name}` | {board.part} |" in page, board.name


def _rule_input(board: str, graph_name: str = "mnist") -> RuleInput:
    model = check_model(random_graph(graph_name, 0), "c", TargetOptions(extra={"board": board}))
    return RuleInput(model.graph, model.layers, model.ranges, model.options)


def test_the_mnist_shape_is_refused_on_the_8_kb_part_in_one_line_with_the_sizes() -> None:
    with pytest.raises(DesignRuleError) as info:
        check_model(random_graph("mnist", 0), "c", TargetOptions(extra={"board": "stm32vldiscovery"}))
    text = str(info.value)
    assert "fits_board_memory" in text and "\n" not in text
    assert "8192 B RAM" in text and "131072 B flash" in text and "STM32F100" in text


def test_the_lean_layout_only_where_the_default_does_not_fit() -> None:
    big, small = _rule_input("mps2-an386"), _rule_input("microbit")
    assert not lean_layout(big) and lean_layout(small)
    assert ram_estimate(small) <= BOARDS["microbit"].ram < ram_estimate(small, lean=False)
    assert streams_first_layer(small.layers, True, True) and not streams_first_layer(big.layers, True, False)
    assert not lean_layout(_rule_input("stm32vldiscovery", "tiny"))  # a small model keeps the default layout


def test_a_board_without_a_linker_script_is_not_listed() -> None:
    for board in BOARDS.values():
        assert isinstance(board, Board)
        if board.qemu_machine:
            assert (firmware_dir() / "cortex-m" / board.memory_map).is_file()
