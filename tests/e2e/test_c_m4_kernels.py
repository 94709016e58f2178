"""The Cortex-M4 assembly of the C runtime (qsnn_runtime.c): the fast LIF loop (lif_span: int32 membranes,
subtract reset, wrapped decay, SMMLAR) and the 32-channel sum of the fused spike conv (qsnn_sum_quads_t2) are
bit-exact under QEMU, and a one-unit change in either fails verify (so the mnist shape takes both paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.targets import generate
from qsnn_deploy.targets.verifier import verify
from tests.toolchains import require_tools

pytestmark = pytest.mark.toolchain

# One instruction of each assembly loop, and the same instruction off by one unit.
MUTATIONS = {
    "lif_span": (
        '"add    %[a], %[a], %[v]\\n\\t"',
        '"add    %[a], %[a], %[v]\\n\\tadd    %[a], %[a], #1\\n\\t"',
    ),
    "sum_quads": ('"add    r4, r4, lr\\n\\t"', '"add    r4, r4, lr\\n\\tadd    r4, r4, #1\\n\\t"'),
}

# Steps per check: enough for both conv layers to spike, few enough to keep each test a few seconds.
STEPS = 8


def _graph():
    # int32 membranes, subtract reset, decay 246/2^8 (>= 1/2: the wrapped form), conv2 with 64 channels
    graph = random_graph("mnist", 0)
    assert all(op.reset == "subtract" for op in graph.lif_layers())
    return graph


def test_the_assembly_paths_are_bit_exact_on_the_m4(tmp_path: Path) -> None:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    graph = _graph()
    result = verify(
        graph, random_inputs(graph, 1, seed=3), STEPS, target="c", executor="cortex-m", workdir=tmp_path
    )
    assert result.compared.layer_digests == STEPS * len(graph.lif_layers())
    assert result.sim.spike_counts["lif1"].sum() > 0 and result.sim.spike_counts["lif2"].sum() > 0


@pytest.mark.slow  # one build and QEMU run each; the bit-exact test above catches a wrong instruction too
@pytest.mark.parametrize("kernel", sorted(MUTATIONS))
def test_a_one_unit_change_in_the_assembly_fails_verify(tmp_path: Path, kernel: str) -> None:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    graph = _graph()
    folder = tmp_path / "gen"
    generate(graph, "c", folder)
    runtime = folder / "qsnn_runtime.c"
    text = runtime.read_text()
    old, new = MUTATIONS[kernel]
    assert text.count(old) >= 1, f"the mutation no longer finds {kernel}'s instruction: update MUTATIONS"
    runtime.write_text(text.replace(old, new, 1))
    with pytest.raises(VerificationError, match=r"layer 'lif\d'"):
        verify(
            graph, random_inputs(graph, 1, seed=3), STEPS, target="c", executor="cortex-m", from_dir=folder,
            allow_edited=True, workdir=tmp_path / "work",
        )  # fmt: skip
