"""The real parts under QEMU: the MNIST shape in the micro:bit's 16 KB (the lean layout) bit-exact on every
layer, a small model on the 8 KB STM32F100 and on the STM32F405, and the instruction count on the Cortex-M0.
The bundled model on 100 real MNIST test images is behind ``-m slow``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.targets import check_model
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.verifier import verify
from tests.toolchains import require_tools

pytestmark = pytest.mark.toolchain


def _board(name: str) -> TargetOptions:
    return TargetOptions(extra={"board": name})


def test_the_mnist_shape_runs_bit_exact_in_the_micro_bits_16_kb(tmp_path: Path) -> None:
    """The lean layout (the first conv computed every step, the fused conv's list one channel long, spike
    bits) links into 16 KB and every layer's digest matches the simulator."""
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    graph = random_graph("mnist", 0)
    result = verify(
        graph, random_inputs(graph, 1, seed=3), 6, target="c", executor="cortex-m", options=_board("microbit"),
        workdir=tmp_path,
    )  # fmt: skip
    assert result.sim.spike_counts["lif1"].sum() > 0 and result.sim.spike_counts["lif2"].sum() > 0


def test_the_lean_layout_is_bit_exact_on_the_host(tmp_path: Path) -> None:
    """The micro:bit's files compiled for the host (its vector sums): every spike and membrane of every step,
    the lean kernels (qsnn_conv_u8_lif, the fused conv summed in parts) included."""
    require_tools("cc")
    graph = random_graph("mnist", 0)
    options = TargetOptions(extra={"board": "microbit"})
    result = verify(graph, random_inputs(graph, 2, seed=4), 6, target="c", options=options, workdir=tmp_path)
    assert result.sim.spike_counts["lif2"].sum() > 0


@pytest.mark.parametrize("board", ["stm32vldiscovery", "netduinoplus2"])
def test_a_small_model_runs_on_the_stm32_parts(tmp_path: Path, board: str) -> None:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    graph = random_graph("tiny", 0)
    verify(
        graph, random_inputs(graph, 3, seed=1), graph.num_steps, target="c", executor="cortex-m",
        options=_board(board), workdir=tmp_path,
    )  # fmt: skip


@pytest.mark.parametrize("board", ["microbit", "stm32vldiscovery", "netduinoplus2"])
def test_the_instruction_counting_plugin_runs_on_the_real_parts(tmp_path: Path, board: str) -> None:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make", "cc")
    from qsnn_deploy.targets.c import render
    from qsnn_deploy.targets.c.boards import BOARDS
    from qsnn_deploy.targets.c.report import _qemu_insns
    from qsnn_deploy.verify.vectors import vectors_header

    graph = random_graph("tiny", 0)
    model = check_model(graph, "c", _board(board))
    render.render(model, tmp_path / "model")
    vectors = tmp_path / "vectors.h"
    vectors.write_text(vectors_header(graph, random_inputs(graph, 1, 0), 4))
    insns = _qemu_insns(tmp_path / "model", vectors, tmp_path, False, BOARDS[board])
    assert 1000 < insns < 10_000_000  # one inference of 4 steps, by difference of two runs


@pytest.mark.slow
def test_report_counts_the_cortex_m0_on_the_micro_bit(tmp_path: Path) -> None:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    from qsnn_deploy.targets.c.report import cost_report

    graph = random_graph("tiny", 0)
    model = check_model(graph, "c", _board("microbit"))
    rep = cost_report(model, random_inputs(graph, 1, 0), 4, tmp_path, host=False)
    assert rep.board == "microbit" and rep.cores["cortex-m0 (microbit)"] > 0
    assert rep.ram_bytes <= 16 * 1024
    assert "cortex-m4 (mps2-an386)" in rep.cores  # the other cores still counted where the model fits


@pytest.mark.slow
def test_the_bundled_model_on_100_mnist_images_on_the_micro_bit(tmp_path: Path) -> None:
    """The acceptance check of issue 26: every layer identical (digests) on 100 MNIST test images."""
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    pytest.importorskip("torch")
    if not os.environ.get("QSNN_DATA_DIR"):
        pytest.skip("needs QSNN_DATA_DIR with MNIST")
    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.export.api import export_checkpoint
    from qsnn_deploy.paths import repo_root

    graph = export_checkpoint(repo_root() / "examples" / "mnist" / "model.pt", bits=4).graph
    images = load_dataset("mnist", "test", limit=100).inputs
    result = verify(
        graph, images, graph.num_steps, target="c", executor="cortex-m", options=_board("microbit"),
        workdir=tmp_path,
    )  # fmt: skip
    assert result.samples == 100
