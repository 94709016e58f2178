"""Synaptic currents and recurrent weights on the C target (issue 25, item 3): the runtime's
qsnn_synaptic_step and qsnn_recurrent_add match the simulator on every spike, membrane and synaptic current of
every layer and step, on the host (the Braille layout with and without synaptic currents, static and stream,
both resets; conv layers with synaptic currents) and on the Cortex-M firmware under QEMU (the per-step digest
covers the currents); the generated C is -Wall -Wextra -Werror clean for gcc, clang and arm-none-eabi-gcc; a
decay or a recurrent weight changed by one unit in the data header fails verify, the static check naming the
file and line."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.ops import Synaptic
from qsnn_deploy.ir.synthetic import braille_graph, random_graph, random_inputs
from qsnn_deploy.ir.types import IntType
from qsnn_deploy.sim import simulate
from qsnn_deploy.targets import check_model, generate, get_target
from qsnn_deploy.targets.base import RuleInput, TargetOptions
from qsnn_deploy.targets.static_check import StaticCheckError
from qsnn_deploy.targets.verifier import verify
from tests.cli_run import run_main
from tests.toolchains import WARNINGS, require_tools

pytestmark = pytest.mark.toolchain


def conv_synaptic(state_bits: int = 16, reset: str = "subtract") -> Graph:
    """conv1 pool1 rq1 syn_lif1 lif1 conv2 pool2 rq2 syn_lif2 lif2 fc1 rq3 syn_lif3 lif3 (alpha 3/4)."""
    return random_graph("tiny", 3, synaptic=(3, 2), state_bits=state_bits, reset=reset)


def _neurons(graph: Graph) -> int:
    return sum(layer.neurons for layer in check_model(graph, "c").layers)


@pytest.mark.parametrize("synaptic", [True, False], ids=["synaptic", "leaky"])
@pytest.mark.parametrize("encoding", ["stream", "static"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_braille_layout_is_bit_exact_on_the_host(synaptic: bool, encoding: str, reset: str) -> None:
    require_tools("gcc")
    graph = braille_graph(1, synaptic=synaptic, encoding=encoding, reset=reset)
    n = 12
    result = verify(graph, random_inputs(graph, n, seed=2), target="c")
    states = 3 if synaptic else 2  # spikes, membranes [, synaptic currents] of every layer
    assert result.compared.layer_values == n * graph.num_steps * (40 + 7) * states
    assert result.sim.spike_counts["lif1"].sum() > 0, (
        "a silent recurrent layer would not exercise its weights"
    )
    assert result.sim.counts.sum() > 0


@pytest.mark.parametrize("state_bits,reset", [(16, "subtract"), (32, "zero")])
def test_conv_layers_with_synaptic_currents_are_bit_exact_on_the_host(state_bits: int, reset: str) -> None:
    """Conv currents are channels-last (slot order) in the scratch; qsnn_synaptic_step keeps its state in the
    record's (C, H, W) order."""
    require_tools("gcc")
    graph = conv_synaptic(state_bits, reset)
    result = verify(graph, random_inputs(graph, 8, seed=5), target="c")
    assert result.compared.layer_values == 8 * graph.num_steps * _neurons(graph) * 3
    assert result.sim.counts.sum() > 0


def test_a_saturating_int8_current_is_clamped_exactly() -> None:
    """An int8 synaptic state on the Braille layout reaches both bounds often: qsnn_synaptic_step saturates to
    the state type exactly as the IR says."""
    require_tools("gcc")
    base = braille_graph(1)
    ops = tuple(
        dataclasses.replace(op, state_type=IntType(8)) if isinstance(op, Synaptic) else op for op in base.ops
    )
    graph = Graph(base.input, ops, base.num_steps, metadata=base.metadata).validate()
    result = verify(graph, random_inputs(graph, 8, seed=2), target="c")
    assert result.compared.layer_values == 8 * graph.num_steps * 47 * 3
    currents = simulate(graph, random_inputs(graph, 8, seed=2), record=True).layer_currents["syn1"]
    assert (currents == 127).any() and (currents == -128).any(), "the clamp must be exercised"


def test_sanitizers_and_the_dense_baseline_agree() -> None:
    require_tools("gcc")
    graph = braille_graph(2, encoding="static")
    inputs = random_inputs(graph, 6, seed=3)
    for extra in ({"sanitize": "1"}, {"dense": "1"}):
        result = verify(graph, inputs, target="c", options=TargetOptions(extra=extra))
        assert result.compared.layer_values == 6 * graph.num_steps * 47 * 3


@pytest.mark.parametrize(
    "graph_of", [lambda: braille_graph(3), lambda: conv_synaptic(16)], ids=["braille", "conv"]
)
def test_cortex_m_digests_cover_the_currents(graph_of) -> None:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    graph = graph_of()
    result = verify(graph, random_inputs(graph, 4, seed=1), target="c", executor="cortex-m")
    assert result.compared.layer_digests == 4 * graph.num_steps * len(graph.lif_layers())


def test_the_cli_verifies_a_recurrent_graph_on_both_executors(monkeypatch, capsys, tmp_path: Path) -> None:
    require_tools("gcc", "arm-none-eabi-gcc", "qemu-system-arm", "make")
    graph = braille_graph(4)
    model = save_graph(graph, tmp_path / "braille.qsnn")
    inputs = tmp_path / "inputs.npy"
    np.save(inputs, random_inputs(graph, 4, seed=3))
    full, digests = (
        "layer spikes, membranes and synaptic currents",
        "digests (CRC-32 of spikes, membranes and synaptic",
    )
    for executor, what in (("host", full), ("cortex-m", digests)):
        args = ("verify", model, "--target", "c", "--executor", executor, "--inputs", inputs)
        code, out, err = run_main(monkeypatch, capsys, *args)
        assert code == 0, out + err
        assert f"verified c/{executor}" in out and what in out


def test_compiles_clean_with_the_warning_flags(tmp_path: Path) -> None:
    require_tools("gcc", "clang", "arm-none-eabi-gcc")
    for name, graph in (("braille", braille_graph(1, encoding="static")), ("conv", conv_synaptic(32))):
        folder = tmp_path / name
        generate(graph, "c", folder)
        for cc, flags in (
            ("gcc", ["-O2"]),
            ("clang", ["-O2"]),
            ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-Os"]),
        ):
            # the runtime is the same file for every model (the first model's compiles cover it)
            for src in ("qsnn_model.c", "qsnn_runtime.c") if name == "braille" else ("qsnn_model.c",):
                for record in ([], ["-DQSNN_RECORD"]):
                    obj = folder / f"{src}.{cc}.o"
                    cmd = [cc, *WARNINGS, *flags, *record, "-c", str(folder / src), "-o", str(obj)]
                    proc = subprocess.run(cmd, capture_output=True, text=True)
                    assert proc.returncode == 0, f"{name} {cc} {src}:\n{proc.stderr}"
        if name != "braille":
            assert (folder / "qsnn_runtime.c").read_bytes() == (
                tmp_path / "braille" / "qsnn_runtime.c"
            ).read_bytes()
            continue
        symbols = subprocess.run(["nm", str(folder / "qsnn_runtime.c.gcc.o")], capture_output=True, text=True)
        writable = [
            line
            for line in symbols.stdout.splitlines()
            if line.split()[-2:-1] in (["b"], ["B"], ["d"], ["D"])
        ]
        assert writable == [], "the runtime must hold no state of its own"


def test_the_state_struct_holds_the_currents_and_the_recurrent_scratch(tmp_path: Path) -> None:
    """No static state: the currents live in the caller's qsnn_state_t, the previous spikes are the layer's
    spike array, and graphs without the new ops render none of it. The unclamped synaptic kernel is called
    only where the range analysis proves the current cannot saturate."""
    generate(braille_graph(1, encoding="static"), "c", tmp_path / "braille")
    header = (tmp_path / "braille" / "qsnn_model.h").read_text()
    for field in (
        "int32_t syn_syn1[40];",
        "int32_t syn_syn2[7];",
        "int32_t rec_acc[40];",
        "int32_t acc[40];",
    ):
        assert field in header
    model = (tmp_path / "braille" / "qsnn_model.c").read_text()
    assert "qsnn_recurrent_add(&qsnn_rec1_cfg, s->spk_lif1, s->cur_static, s->acc, s->rec_acc);" in model
    # syn1 can saturate (range bound 79320 > int16): always the clamping step; syn2 cannot: the int32 fast form
    assert "qsnn_synaptic_fast(&qsnn_syn1_cfg" not in model and "qsnn_synaptic_step(&qsnn_syn1_cfg" in model
    assert "qsnn_synaptic_fast(&qsnn_syn2_cfg" in model
    generate(random_graph("tiny", 1), "c", tmp_path / "plain")
    plain = (tmp_path / "plain" / "qsnn_model.h").read_text() + (
        tmp_path / "plain" / "qsnn_model.c"
    ).read_text()
    assert "syn_" not in plain and "rec_acc" not in plain and "qsnn_synaptic" not in plain


@pytest.mark.parametrize("graph_of", [braille_graph, lambda: conv_synaptic()], ids=["braille", "conv"])
def test_every_name_the_files_define_is_on_the_targets_list(tmp_path: Path, graph_of) -> None:
    """The shared rule unique_generated_names sees every name the templates derive (C_NAMES)."""
    graph = graph_of()
    model = check_model(graph, "c")
    generate(graph, "c", tmp_path)
    text = "".join((tmp_path / f).read_text() for f in ("qsnn_data.h", "qsnn_model.h", "qsnn_model.c"))
    defined = set(re.findall(r"\b(?:qsnn|QSNN)_(?:rec1|REC1|syn\w*|SYN\w*)\w*", text))
    defined |= set(re.findall(r"\bsyn_\w+(?=\[)", text))
    inp = RuleInput(model.graph, model.layers, model.ranges, model.options)
    listed = {d.name for d in get_target("c").derived_names(inp)}
    assert defined and defined - listed == set()


def _data_header(folder: Path) -> tuple[Path, str]:
    path = folder / "qsnn_data.h"
    return path, path.read_text()


def _bump_decay(text: str, name: str) -> str:
    pattern = rf"(#define QSNN_{name.upper()}_DECAY_MULT )(\d+)"
    assert re.search(pattern, text), f"no decay of {name} in the data header"
    return re.sub(pattern, lambda m: m.group(1) + str(int(m.group(2)) + 1), text)


def _bump_first_recurrent_weight(text: str) -> str:
    """Add one to the low nibble of the first byte of qsnn_rec1_w: weight[0, 0] (4-bit, packed)."""
    m = re.search(r"qsnn_rec1_w\[\d+\] = \{\n\s+0x([0-9a-f]{2})", text)
    assert m, "no recurrent weights in the data header"
    byte = int(m.group(1), 16)
    bumped = (byte & 0xF0) | ((byte + 1) & 0x0F)
    return text[: m.start(1)] + f"{bumped:02x}" + text[m.end(1) :]


@pytest.mark.parametrize(
    "graph_of,mutate,quantity,layer",
    [
        (braille_graph, lambda t: _bump_decay(t, "syn1"), "syn1 decay multiplier", "lif1"),
        (braille_graph, lambda t: _bump_decay(t, "syn2"), "syn2 decay multiplier", "lif2"),
        (braille_graph, _bump_first_recurrent_weight, "rec1 weight[0, 0]", "lif1"),
        (lambda: conv_synaptic(), lambda t: _bump_decay(t, "syn_lif2"), "syn_lif2 decay multiplier", "lif2"),
    ],
    ids=["braille-syn1-decay", "braille-syn2-decay", "braille-recurrent-weight", "conv-syn-decay"],
)
def test_a_one_unit_change_fails_verify(tmp_path: Path, graph_of, mutate, quantity: str, layer: str) -> None:
    require_tools("gcc")
    graph = graph_of()
    inputs = random_inputs(graph, 8, seed=1)
    generate(graph, "c", tmp_path)
    verify(graph, inputs, target="c", from_dir=tmp_path)  # the unmutated folder passes
    path, text = _data_header(tmp_path)
    path.write_text(mutate(text))
    with pytest.raises(StaticCheckError) as static:
        verify(graph, inputs, target="c", from_dir=tmp_path, allow_edited=True)
    assert re.search(r"qsnn_data\.h:\d+: ", str(static.value)) and quantity in str(static.value)
    assert f"in layer {layer!r}" in str(static.value)
    with pytest.raises(VerificationError, match=f"layer {layer!r} .* differs at sample"):
        verify(graph, inputs, target="c", from_dir=tmp_path, allow_edited=True, check_constants_first=False)
