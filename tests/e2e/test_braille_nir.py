"""The NIR paper's Braille layout from a graph (issue 25, item 5): built with nir's own API (12 inputs -> Affine 40
-> CubaLIF 40 with a recurrent Linear 40x40 -> Linear 7 -> CubaLIF 7, tau_syn of 4 and 3 steps), imported at 8
and 4 bits with a subtract or zero reset, simulated, and verified bit-exact (every layer's spikes, membranes and
synaptic currents at every step) on every target with an executor whose op table holds both ``recurrent`` and
``synaptic``: the loop picks up a target the day it registers them."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nir")

from qsnn_deploy.errors import DesignRuleError  # noqa: E402
from qsnn_deploy.interop.nir_import import import_nir  # noqa: E402
from qsnn_deploy.targets import registry  # noqa: E402
from qsnn_deploy.targets.verifier import verify  # noqa: E402
from tests.toolchains import require_hls, require_tools  # noqa: E402
from tests.unit.test_nir_cubalif import DT, probe  # noqa: E402
from tests.unit.test_nir_recurrent import braille  # noqa: E402

pytestmark = pytest.mark.toolchain

STEPS = 16
# what each target's verify runs on; a target not listed needs nothing beyond Python
TOOLS = {"c": ("gcc",), "verilog": ("verilator", "make", "g++")}
# targets whose design rules take narrower weights than 8 bits: at 8 bits they refuse by that rule's name
WEIGHT_BITS = {"verilog": (4, "weights_fit_nibbles")}
# with an executor: the nir target writes files for other tools (tests/unit/test_nir_recurrent_export.py)
RECURRENT_TARGETS = [
    name for name, t in registry().items() if {"recurrent", "synaptic"} <= set(t.ops) and t.executors
]


def _require(target: str) -> None:
    if target == "hls":
        require_hls()
    require_tools(*TOOLS.get(target, ()))


@pytest.mark.parametrize(("bits", "reset"), [(8, "subtract"), (4, "zero")])
@pytest.mark.parametrize("target", RECURRENT_TARGETS)
def test_braille_graph_is_bit_exact_on_every_recurrent_target(target: str, bits: int, reset: str) -> None:
    _require(target)
    result = import_nir(braille(layout="subgraph"), bits=bits, num_steps=STEPS, dt=DT, encoding="static",
                        input_scale=1 / 255, reset=reset, convention="nir")  # fmt: skip
    graph = result.graph
    assert {"recurrent", "synaptic"} <= {op.kind for op in graph.ops}
    n = 3
    widest, rule = WEIGHT_BITS.get(target, (8, ""))
    if bits > widest:
        with pytest.raises(DesignRuleError, match=rule):
            verify(graph, probe(n, seed=3), target=target)
        return
    checked = verify(graph, probe(n, seed=3), target=target)
    assert checked.compared.layer_values == n * STEPS * (40 + 7) * 3  # spikes, membranes, currents
    assert checked.sim.spike_counts["lif1_lif"].sum() > 0, "a silent recurrent layer exercises no weight"


def test_the_loop_covers_the_targets_that_take_recurrence() -> None:
    assert {"c", "onnx"} <= set(RECURRENT_TARGETS)
    assert np.all([{"recurrent", "synaptic"} <= set(registry()[t].ops) for t in RECURRENT_TARGETS])
