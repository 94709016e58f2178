"""The HLS target's C simulation matches the simulator bit for bit (every spike and membrane of every layer
and step) on synthetic graphs and on real MNIST test images with the bundled model; a runtime wrong by one
unit fails verify; the rendered project is stable (golden snapshots) and holds the vendor flow."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import DesignRuleError, VerificationError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import LIF, Requantize
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.ir.types import IntType
from qsnn_deploy.sim import simulate
from qsnn_deploy.targets import generate
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.verifier import verify
from tests.golden_check import check_golden
from tests.toolchains import require_hls, require_tools

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "hls"
RENDERED = ["qsnn_data.h", "qsnn_top.h", "qsnn_top.cpp", "qsnn_tb.cpp", "run_hls.tcl"]


def saturating_graph() -> Graph:
    """The tiny graph with int8 membranes and 4x the currents: every layer's membranes hit the clamp."""
    g = random_graph("tiny", 2, state_bits=16)
    ops = []
    for op in g.ops:
        if isinstance(op, LIF):
            op = dataclasses.replace(
                op, state_type=IntType(8), threshold=20, decay_multiplier=250, decay_shift=8
            )
        elif isinstance(op, Requantize):
            op = dataclasses.replace(op, multiplier=op.multiplier * 4)
        ops.append(op)
    return Graph(g.input, tuple(ops), g.num_steps, g.metadata).validate()


@pytest.mark.toolchain
@pytest.mark.parametrize(
    "arch,state_bits,reset",
    [("tiny", 32, "subtract"), ("tiny-stream", 16, "zero"), ("tiny", 16, "zero")],
)
def test_csim_bit_exact_on_synthetic_graphs(tmp_path: Path, arch: str, state_bits: int, reset: str) -> None:
    require_hls()
    graph = random_graph(arch, 3, state_bits=state_bits, reset=reset)
    result = verify(graph, random_inputs(graph, 12, seed=4), target="hls", workdir=tmp_path)
    assert result.executor == "csim"
    assert result.compared.layer_values == 12 * graph.num_steps * sum(
        2 * n for n in result.sim.neurons.values()
    )  # every layer's spikes and membranes, in full
    assert result.sim.counts.sum() > 0, "a silent network would prove nothing"


@pytest.mark.toolchain
def test_csim_with_clang(tmp_path: Path) -> None:
    """Vitis HLS parses C++ with a clang front end: the project also builds warning-free with clang++."""
    require_hls()
    require_tools("clang++")
    graph = random_graph("tiny-stream", 2, state_bits=16, reset="zero")
    options = TargetOptions(extra={"cxx": "clang++"})
    verify(graph, random_inputs(graph, 4, seed=1), target="hls", options=options, workdir=tmp_path)


@pytest.mark.toolchain
def test_csim_saturates_like_the_simulator(tmp_path: Path) -> None:
    require_hls()
    graph = saturating_graph()
    inputs = random_inputs(graph, 8, seed=1)
    sim = simulate(graph, inputs, record=True)
    clamped = sum(int(((m == 127) | (m == -128)).sum()) for m in sim.layer_membranes.values())
    assert clamped > 100, "the graph must drive membranes into the clamp"
    verify(graph, inputs, target="hls", workdir=tmp_path)


@pytest.mark.toolchain
def test_generated_names_cannot_hide_each_other(tmp_path: Path) -> None:
    """Prefix 'mem' and a LIF named 'conv1_w': the top's local membrane array is mem_conv1_w, the name the conv's
    ROM would have had without the model's namespace."""
    g = random_graph("tiny", 6)
    ops = tuple(dataclasses.replace(op, name="conv1_w") if op.name == "lif1" else op for op in g.ops)
    graph = Graph(g.input, ops, g.num_steps, g.metadata).validate()
    result = verify(graph, random_inputs(graph, 4, seed=3), target="hls", options=TargetOptions(prefix="mem"),
                    workdir=tmp_path)  # fmt: skip
    assert "conv1_w" in result.sim.neurons


@pytest.fixture(scope="module")
def bundled_mnist():
    from qsnn_deploy.export import export_checkpoint

    return export_checkpoint(ROOT / "examples" / "mnist" / "model.pt").graph


@pytest.mark.toolchain
def test_csim_bit_exact_on_20_mnist_test_images(tmp_path: Path, data_dir: Path, bundled_mnist: Graph) -> None:
    """Every layer of the bundled model on real images (the 10,000 are the opt-in test below)."""
    require_hls()
    from qsnn_deploy.data import load_dataset

    graph = bundled_mnist
    data = load_dataset("mnist", "test", data_dir=data_dir, limit=20, num_steps=graph.num_steps)
    result = verify(graph, np.asarray(data.inputs, dtype=np.uint8), target="hls", workdir=tmp_path)
    assert result.samples == 20 and result.steps == graph.num_steps
    assert result.compared.layer_values > 0
    assert (result.predictions == np.asarray(data.labels)).mean() >= 0.95


@pytest.mark.slow
@pytest.mark.toolchain
def test_csim_bit_exact_on_all_mnist_test_images(
    tmp_path: Path, data_dir: Path, bundled_mnist: Graph
) -> None:
    """Opt-in (-m slow): the 10,000 MNIST test images, every layer in full."""
    require_hls()
    from qsnn_deploy.data import load_dataset

    data = load_dataset("mnist", "test", data_dir=data_dir, num_steps=bundled_mnist.num_steps)
    result = verify(bundled_mnist, np.asarray(data.inputs, dtype=np.uint8), target="hls", workdir=tmp_path)
    assert result.samples == 10_000
    assert (result.predictions == np.asarray(data.labels)).mean() > 0.98


@pytest.mark.toolchain
def test_lif_reset_off_by_one_fails_verify(tmp_path: Path) -> None:
    """Mutation: a kernel that subtracts threshold + 1 on reset must be caught."""
    require_hls()
    graph = random_graph("tiny", 3)
    model = tmp_path / "model"
    generate(graph, "hls", model)
    kernel = model / "qsnn_hls.h"
    text = kernel.read_text()
    assert text.count("u -= threshold;") == 1
    kernel.write_text(text.replace("u -= threshold;", "u -= threshold + 1;"))
    with pytest.raises(VerificationError, match="lif1"):
        verify(
            graph,
            random_inputs(graph, 6, seed=2),
            target="hls",
            from_dir=model,
            workdir=tmp_path / "w",
            allow_edited=True,
        )


def test_golden_snapshot(tmp_path: Path) -> None:
    """Set QSNN_UPDATE_GOLDEN=1 to rewrite tests/golden/hls/ after an intended change (see its README)."""
    paths = generate(random_graph("tiny", 0), "hls", tmp_path, "qsnn")
    names = sorted(p.name for p in paths)
    assert names == sorted([*RENDERED, "qsnn_hls.h", "qsnn-target.json"])
    check_golden([tmp_path / name for name in RENDERED], GOLDEN)


def test_project_holds_the_vendor_flow_and_the_interfaces(tmp_path: Path) -> None:
    options = TargetOptions(prefix="net", extra={"part": "xcku5p-ffvb676-2-e", "clock_mhz": "250"})
    generate(random_graph("tiny-stream", 1), "hls", tmp_path, options=options)
    tcl = (tmp_path / "run_hls.tcl").read_text()
    for command in ("set_top net_top", "csim_design", "csynth_design", "cosim_design", "export_design"):
        assert command in tcl
    assert "set_part {xcku5p-ffvb676-2-e}" in tcl and "create_clock -period 4 " in tcl
    top = (tmp_path / "net_top.cpp").read_text()
    assert "#pragma HLS INTERFACE mode = axis port = frames" in top
    assert "#pragma HLS INTERFACE mode = axis port = spikes_out" in top
    assert "mode = s_axilite port = return bundle = control" in top
    data = (tmp_path / "net_data.h").read_text()
    assert "typedef ap_int<" in data and "ap_int.h" not in os.listdir(tmp_path)  # vendor headers not copied


@pytest.mark.parametrize(
    "extra,needle",
    [
        ({"part": "xc7z020; exec rm -rf /"}, "not a device name"),
        ({"clock_mhz": "fast"}, "not a clock"),
        ({"clock_mhz": "inf"}, "not a clock"),
        ({"clock_mhz": "0"}, "not a clock"),
        ({"board": "zcu104"}, "unknown --option board"),
    ],
)
def test_bad_settings_are_design_rule_errors_and_write_nothing(
    tmp_path: Path, extra: dict, needle: str
) -> None:
    with pytest.raises(DesignRuleError, match=needle) as info:
        generate(random_graph("tiny", 0), "hls", tmp_path / "out", options=TargetOptions(extra=extra))
    assert info.value.rule == "hls_settings"
    assert not (tmp_path / "out").exists()
