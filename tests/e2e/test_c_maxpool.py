"""Max pooling on the C target: the conv's full map, then qsnn_maxpool (per channel a max, or a min where the
sign is -1), then the usual requantize and LIF; every layer of every step equals the simulator on the host,
both state widths, static and stream inputs; the Cortex-M build too; and a runtime that ignores the signs, or is
off by one in the reset, fails verify."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.ir.ops import MaxPool2d
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.targets import check_model, generate
from qsnn_deploy.targets.c.layout import acc_elements, layer_kernels
from qsnn_deploy.targets.verifier import verify
from tests.toolchains import WARNINGS, require_tools

pytestmark = pytest.mark.toolchain

STEPS = 8
# The per-channel choice in qsnn_maxpool, and the same line ignoring the sign (every channel a max).
SIGN_LINE = "const int is_min = mp->sign[o] < 0;"
SIGN_IGNORED = "const int is_min = 0;"
RESET_LINE, RESET_OFF_BY_ONE = "d -= th;", "d -= th + 1;"


def _graph(arch: str, seed: int, state_bits: int = 32):
    graph = random_graph(arch, seed, pool="max", state_bits=state_bits, num_steps=STEPS)
    assert any(isinstance(op, MaxPool2d) and (op.sign == -1).any() for op in graph.ops)
    return graph


@pytest.mark.parametrize("state_bits", [16, 32])
@pytest.mark.parametrize(("arch", "seed"), [("tiny", 3), ("mnist", 3), ("nmnist", 3)])
def test_host_equals_the_simulator_on_every_layer(arch: str, seed: int, state_bits: int) -> None:
    require_tools("gcc")
    graph = _graph(arch, seed, state_bits)
    n = 3
    result = verify(graph, random_inputs(graph, n, seed=1), target="c")
    assert result.compared.layer_values == 2 * n * STEPS * sum(
        layer.neurons for layer in check_model(graph, "c").layers
    )
    assert result.sim.spike_counts["lif2"].sum() > 0, "a silent pooled layer would prove little"


def test_cortex_m_equals_the_simulator_on_every_layer() -> None:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    graph = _graph("tiny", 3, state_bits=16)
    result = verify(graph, random_inputs(graph, 3, seed=1), target="c", executor="cortex-m")
    assert result.compared.layer_digests == 3 * STEPS * len(graph.lif_layers())


def _patched(graph, folder: Path, line: str, replacement: str) -> Path:
    generate(graph, "c", folder)
    runtime = folder / "qsnn_runtime.c"
    text = runtime.read_text()
    assert text.count(line) == 1, f"the mutation no longer finds {line!r} in the runtime"
    runtime.write_text(text.replace(line, replacement))
    return folder


@pytest.mark.parametrize(("line", "replacement"), [(SIGN_LINE, SIGN_IGNORED), (RESET_LINE, RESET_OFF_BY_ONE)])
def test_a_wrong_runtime_fails_verify(tmp_path: Path, line: str, replacement: str) -> None:
    require_tools("gcc")
    graph = _graph("tiny", 3, state_bits=16)
    inputs = random_inputs(graph, 3, seed=1)
    folder = _patched(graph, tmp_path / "gen", line, replacement)
    with pytest.raises(VerificationError, match=r"layer 'lif\d'"):
        verify(graph, inputs, target="c", from_dir=folder, allow_edited=True)


def test_the_scratch_holds_the_largest_max_pooled_conv_map(tmp_path: Path) -> None:
    """The static first layer's conv (16 x 24 x 24 on the MNIST shape) runs in the scratch once per sample, so
    the scratch and the board-memory estimate follow it; the sum-pooled graph of the same shape needs less."""
    graph = _graph("mnist", 3)
    model = check_model(graph, "c")
    conv_maps = [int(np.prod(layer.conv_shape)) for layer in model.layers if layer.pool is not None]
    fused = tuple(layer_kernels(layer, model.ranges).conv_fused for layer in model.layers)
    assert not any(fused), "a max-pooled conv cannot take the fused sum kernel"
    assert acc_elements(model.layers, True, fused) == max(conv_maps) == 16 * 24 * 24
    generate(graph, "c", tmp_path)
    header = (tmp_path / "qsnn_model.h").read_text()
    assert f"int32_t acc[{max(conv_maps)}];" in header
    summed = check_model(random_graph("mnist", 3, num_steps=STEPS), "c")
    assert acc_elements(summed.layers, True) < max(conv_maps)


def test_compiles_clean_with_the_warning_flags(tmp_path: Path) -> None:
    require_tools("gcc", "arm-none-eabi-gcc")
    generate(_graph("mnist", 3, state_bits=16), "c", tmp_path)
    for cc, flags in (("gcc", ["-O2"]), ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-Os"])):
        for src in ("qsnn_model.c", "qsnn_runtime.c"):
            proc = subprocess.run(
                [cc, *WARNINGS, *flags, "-c", str(tmp_path / src), "-o", str(tmp_path / f"{src}.{cc}.o")],
                capture_output=True,
                text=True,
            )
            assert proc.returncode == 0, f"{cc} {src}:\n{proc.stderr}"
