"""The generated C compiles cleanly with gcc, clang and arm-none-eabi-gcc, matches the simulator bit for bit
(every output spike of every step), is clean under ASan/UBSan, and is stable (golden snapshots)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from qsnn_deploy.commands.targets import codegen_from_cli
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.targets import check_model, generate
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.verifier import verify_c
from tests.golden_check import check_golden
from tests.toolchains import WARNINGS, require_tools

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "c"
CONFIGS = [
    (arch, bits, reset)
    for arch in ("mnist", "dvs", "tiny")
    for bits in (16, 32)
    for reset in ("subtract", "zero")
]


def _compile(cc: str, model: Path, flags: list[str]) -> None:
    for src in ("qsnn_model.c", "qsnn_runtime.c"):
        obj = model / f"{src}.{cc}.o"
        proc = subprocess.run(
            [cc, *flags, "-c", str(model / src), "-o", str(obj)], capture_output=True, text=True
        )
        assert proc.returncode == 0, f"{cc} {src}:\n{proc.stderr}"


@pytest.mark.toolchain
@pytest.mark.parametrize("arch,state_bits,reset", CONFIGS)
def test_compiles_clean_with_gcc_and_clang(tmp_path: Path, arch: str, state_bits: int, reset: str) -> None:
    require_tools("gcc", "clang")
    generate(random_graph(arch, 1, state_bits=state_bits, reset=reset), "c", tmp_path, "qsnn")
    for cc in ("gcc", "clang"):
        _compile(cc, tmp_path, [*WARNINGS, "-O2"])


@pytest.mark.toolchain
@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m4", "cortex-m7"])
def test_compiles_clean_for_cortex_m(tmp_path: Path, cpu: str) -> None:
    require_tools("arm-none-eabi-gcc")
    generate(random_graph("mnist", 1, state_bits=16), "c", tmp_path, "qsnn")
    _compile("arm-none-eabi-gcc", tmp_path, [*WARNINGS, f"-mcpu={cpu}", "-mthumb", "-Os"])


@pytest.mark.toolchain
@pytest.mark.parametrize(
    "arch,state_bits,reset,cc",
    [
        ("tiny", 16, "subtract", "gcc"),
        ("tiny", 32, "zero", "clang"),
        ("mnist", 32, "subtract", "gcc"),
        ("mnist", 16, "zero", "gcc"),
        ("dvs", 32, "zero", "gcc"),
        ("dvs", 16, "subtract", "clang"),
    ],
)
def test_bit_exact_against_the_simulator(
    tmp_path: Path, arch: str, state_bits: int, reset: str, cc: str
) -> None:
    require_tools(cc)
    graph = random_graph(arch, 3, state_bits=state_bits, reset=reset)
    inputs = random_inputs(graph, 20, seed=4)
    result = verify_c(graph, inputs, workdir=tmp_path, cc=cc)
    assert result.samples == 20
    assert result.spikes_compared == 20 * graph.num_steps * graph.num_classes
    assert result.sim.counts.sum() > 0, "a silent network would prove nothing"


@pytest.mark.toolchain
def test_clean_under_address_and_undefined_sanitizers(tmp_path: Path) -> None:
    require_tools("gcc")
    graph = random_graph("tiny", 5, state_bits=16, reset="zero")
    verify_c(graph, random_inputs(graph, 10, seed=5), sanitize=True, workdir=tmp_path)


def test_golden_snapshot(tmp_path: Path) -> None:
    """Set QSNN_UPDATE_GOLDEN=1 to rewrite tests/golden/c/ after an intended change (see its README)."""
    paths = generate(random_graph("tiny", 0), "c", tmp_path, "qsnn")
    rendered = [p for p in paths if p.suffix in (".c", ".h") and not p.name.startswith("qsnn_runtime")]
    check_golden(rendered, GOLDEN)


def test_cli_writes_only_to_out(tmp_path: Path, capsys) -> None:
    model = save_graph(random_graph("tiny", 0), tmp_path / "m.qsnn")
    paths = codegen_from_cli(model, "c", tmp_path / "gen", TargetOptions(prefix="net"))
    assert sorted(p.name for p in paths) == sorted(
        ["net_data.h", "net_model.h", "net_model.c", "qsnn_runtime.h", "qsnn_runtime.c", "qsnn-target.json"]
    )
    assert all(p.parent == tmp_path / "gen" for p in paths)
    assert "wrote" in capsys.readouterr().out


@pytest.mark.toolchain
def test_cost_targets_on_the_mnist_shape(tmp_path: Path) -> None:
    """Weights exactly at the 4-bit floor, code <= 6 KB, RAM <= state + 2 KB (no instruction counts here:
    those run under valgrind/QEMU in `qsnn-deploy report`)."""
    require_tools("arm-none-eabi-gcc", "make")
    from qsnn_deploy.targets.c.report import cost_report

    graph = random_graph("mnist", 0)
    model = check_model(graph, "c")
    rep = cost_report(
        model, random_inputs(graph, 2, 0), graph.num_steps, tmp_path, host=False, cortex_m=False
    )
    assert rep.weight_bytes == rep.weight_floor_bytes
    assert rep.code_bytes <= 6 * 1024
    assert rep.ram_bytes <= rep.state_bytes + 2048


@pytest.mark.toolchain
@pytest.mark.parametrize("board", ["mps2-an385", "mps2-an500", "mps3-an547"])
def test_fast_kernels_match_every_layer_on_cortex_m3_m7_m55(tmp_path: Path, board: str) -> None:
    """The M3 has no DSP extension (the portable LIF and spike forms), the M7 and M55 have it (the M55 on its
    own memory map); all run the Thumb-2 sum loop of the fused spike conv, which the mnist shape takes (its
    conv2 has 8-channel groups)."""
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    from qsnn_deploy.targets.c.layout import layer_kernels
    from qsnn_deploy.targets.verifier import verify

    graph = random_graph("mnist", 2, state_bits=16, reset="subtract")
    model = check_model(graph, "c", TargetOptions(extra={"board": board}))
    assert any(layer_kernels(layer, model.ranges).conv_fused for layer in model.layers)
    result = verify(
        graph, random_inputs(graph, 2, seed=3), 8, target="c", executor="cortex-m",
        options=TargetOptions(extra={"board": board}), workdir=tmp_path,
    )  # fmt: skip
    assert result.sim.spike_counts["lif1"].sum() > 0


@pytest.mark.toolchain
def test_report_breaks_the_cortex_m_count_down_per_core_phase_and_function(tmp_path: Path) -> None:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make", "cc")
    from qsnn_deploy.targets.c.report import cost_report

    graph = random_graph("mnist", 0)
    model = check_model(graph, "c")
    rep = cost_report(model, random_inputs(graph, 1, 0), 4, tmp_path, host=False)
    total = rep.m4_insns["events"]
    assert set(rep.cores) == {
        "cortex-m4 (mps2-an386)", "cortex-m3 (mps2-an385)", "cortex-m7 (mps2-an500)", "cortex-m55 (mps3-an547)"
    }  # fmt: skip
    assert rep.cores["cortex-m4 (mps2-an386)"] == total
    # The marker build adds a few instructions per marker call (10 per step here), nothing else.
    phases = sum(rep.m4_phases.values())
    assert total <= phases <= total * 1.01 + 1000
    assert rep.m4_phases["conv2"] > 0 and rep.m4_phases["lif2"] == 0  # conv2 is fused with its LIF
    assert rep.m4_phases["conv1"] > 0 and rep.m4_phases["fc1"] > 0
    # 64 output channels: the Thumb-2 assembly sums 32 channels per pass (qsnn_runtime.c, qsnn_sum_quads_t2)
    assert "qsnn_conv_spikes_lif" in rep.m4_kernels and "qsnn_sum_quads_t2" in rep.m4_kernels
    assert abs(sum(rep.m4_kernels.values()) - phases) <= 0.01 * phases
