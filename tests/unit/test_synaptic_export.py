"""snnTorch ``Synaptic`` (current-based neurons) exported to ``requantize synaptic lif``: the float model and the
integer simulator agree on predictions and per-layer spike totals (as for ``Leaky``), the simulator equals the
int64 reference on every spike, membrane and current, alpha is quantized exactly as beta is, the zero reset is
refused in one line naming the layer, and ``--builder`` takes a Synaptic network."""

from __future__ import annotations

import textwrap
from collections import OrderedDict
from pathlib import Path

import brevitas.nn as qnn
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from qsnn_deploy.errors import UnsupportedLayerError
from qsnn_deploy.export import check_exportable, export_model
from qsnn_deploy.export.quantize import quantize_decay
from qsnn_deploy.ir.io import load_graph, save_graph
from qsnn_deploy.ir.ops import Synaptic
from qsnn_deploy.ir.ranges import overflow_sites
from qsnn_deploy.ir.types import IntType
from qsnn_deploy.sim import simulate
from qsnn_deploy.sim.reference import simulate_reference
from tests.cli_run import run_cli
from tests.unit.test_export_fidelity import assert_faithful, digit_like

STEPS = 25


@torch.no_grad()
def synaptic_mlp(alpha1: float = 0.8, alpha2: float = 0.7, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(
        OrderedDict(
            flat=nn.Flatten(),
            fc1=qnn.QuantLinear(14 * 14, 32, bias=True, weight_bit_width=4),
            syn1=snn.Synaptic(alpha=alpha1, beta=0.9, threshold=1.0, init_hidden=True),
            fc2=qnn.QuantLinear(32, 10, bias=False, weight_bit_width=4),
            syn2=snn.Synaptic(alpha=alpha2, beta=0.85, threshold=1.0, init_hidden=True, output=True),
        )
    ).eval()
    net.fc1.weight.mul_(0.5)
    net.fc2.weight.mul_(3.0)
    return net


@torch.no_grad()
def synaptic_cnn(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(
        OrderedDict(
            conv=qnn.QuantConv2d(1, 6, 5, bias=False, weight_bit_width=4),
            pool=nn.AvgPool2d(2),
            syn1=snn.Synaptic(alpha=0.75, beta=0.9, threshold=1.0, init_hidden=True),
            flat=nn.Flatten(),
            fc=qnn.QuantLinear(6 * 5 * 5, 10, bias=False, weight_bit_width=4),
            lif2=snn.Leaky(beta=0.8, threshold=1.0, init_hidden=True, output=True),
        )
    ).eval()
    net.conv.weight.mul_(0.6)
    net.fc.weight.mul_(2.0)
    return net


def export(net: nn.Sequential, raw: np.ndarray, state_bits: int = 32):
    return export_model(
        net, num_steps=STEPS, state_bits=state_bits, input_shape=(1, 14, 14), input_scale=1 / 255,
        encoding="static", check_inputs=raw,
    )  # fmt: skip


def assert_simulator_equals_reference(graph, raw: np.ndarray) -> None:
    fast = simulate(graph, raw, STEPS, record=True)
    ref = simulate_reference(graph, raw, STEPS, record=True)
    np.testing.assert_array_equal(fast.output_spikes, ref.output_spikes)
    for name in ref.layer_spikes:
        np.testing.assert_array_equal(fast.layer_spikes[name], ref.layer_spikes[name])
        np.testing.assert_array_equal(fast.layer_membranes[name], ref.layer_membranes[name])
    currents = [op for op in graph.ops if isinstance(op, Synaptic)]
    assert currents
    for op in currents:
        recorded = fast.layer_currents[op.name]
        np.testing.assert_array_equal(recorded, ref.op_outputs[op.name])
        assert np.abs(recorded).max() > 0


def test_synaptic_mlp_exports_to_requantize_synaptic_lif_and_matches_the_float_model() -> None:
    net = synaptic_mlp()
    raw = digit_like(16, 1, 14)
    result = export(net, raw)
    graph = result.graph
    assert [op.kind for op in graph.ops] == ["linear", "requantize", "synaptic", "lif"] * 2
    assert not result.warnings, result.warnings
    for op, alpha in zip((o for o in graph.ops if isinstance(o, Synaptic)), (0.8, 0.7), strict=True):
        # alpha quantized exactly like beta: the same function, on the float32 value snnTorch holds
        assert (op.decay_multiplier, op.decay_shift) == quantize_decay(float(torch.tensor(alpha)), 16)
        assert op.state_type == IntType(32)
    assert graph.metadata["lif_layers"]["syn1"]["alpha_quantized"] == pytest.approx(0.8, abs=1e-5)
    assert_faithful(result.check)
    assert result.check["count_agreement"] >= 0.9, result.check["count_agreement"]
    assert_simulator_equals_reference(graph, raw)


def test_synaptic_cnn_with_a_leaky_after_it_matches_the_float_model(tmp_path: Path) -> None:
    raw = digit_like(16, 2, 14)
    result = export(synaptic_cnn(), raw)
    graph = result.graph
    kinds = [op.kind for op in graph.ops]
    assert kinds == ["conv2d", "sumpool2d", "requantize", "synaptic", "lif", "linear", "requantize", "lif"]
    syn = next(op for op in graph.ops if isinstance(op, Synaptic))
    assert (syn.decay_multiplier, syn.decay_shift) == (3, 2)  # 0.75: an exact pure shift, as for beta
    assert not result.warnings, result.warnings
    assert_faithful(result.check)
    assert_simulator_equals_reference(graph, raw)
    save_graph(graph, tmp_path / "syn.qsnn")
    assert load_graph(tmp_path / "syn.qsnn").same_as(graph)


def test_the_synaptic_current_changes_what_the_network_computes() -> None:
    """A Synaptic with alpha 0 is a Leaky; with alpha 0.8 the currents accumulate: the integer model follows."""
    raw = digit_like(8, 3, 14)
    slow, none = (export(synaptic_mlp(alpha1=a, alpha2=a), raw) for a in (0.8, 0.0))
    assert slow.check["int_spikes"]["syn1"] > none.check["int_spikes"]["syn1"]
    assert slow.check["float_spikes"]["syn1"] > none.check["float_spikes"]["syn1"]


def test_16_bit_state_warns_exactly_where_the_range_analysis_allows_saturation() -> None:
    raw = digit_like(4, 4, 14)
    result = export(synaptic_mlp(alpha1=0.95, alpha2=0.95), raw, state_bits=16)
    graph = result.graph
    assert all(op.state_type == IntType(16) for op in graph.ops if isinstance(op, Synaptic))
    sites = {site.split(":")[0].removesuffix("_synaptic") for site in overflow_sites(graph)}
    warned = {w.split(":")[0] for w in result.warnings if "saturate" in w}
    assert sites == warned == {"syn1", "syn2"}  # alpha 0.95 at int16: the current and the membrane can
    assert all("synaptic current" in w for w in result.warnings if "saturate" in w)
    simulate(graph, raw, STEPS)  # the simulator saturates instead of refusing


@pytest.mark.parametrize("reset", ["zero", "none"])
def test_a_synaptic_reset_the_ir_does_not_have_is_one_line_naming_the_layer(reset: str) -> None:
    net = synaptic_mlp()
    net.syn1.reset_mechanism = reset  # snnTorch validates the name at construction
    with pytest.raises(UnsupportedLayerError) as err:
        export(net, digit_like(2, 5, 14))
    message = str(err.value)
    assert "\n" not in message and "'syn1'" in message and f"reset_mechanism {reset!r}" in message
    assert "use 'subtract'" in message
    problems = check_exportable(net, input_shape=(1, 14, 14))
    assert problems and "'syn1'" in problems[0] and reset in problems[0]


def test_zero_reset_refusal_is_true_to_snntorch() -> None:
    """What the refusal says, measured: snnTorch 1.0.0's Synaptic with the zero reset sets the membrane to 0 at
    the reset step (the step's current is dropped, the IR's zero reset keeps it) and keeps its current."""
    m = snn.Synaptic(
        alpha=0.5, beta=0.5, threshold=1.0, reset_mechanism="zero", init_hidden=True, output=True
    )
    trace = [tuple(float(v) for v in m(torch.tensor([1.5]))) for _ in range(3)]
    assert trace == [(1.0, 1.5, 1.5), (0.0, 2.25, 0.0), (1.0, 2.625, 2.625)]
    with pytest.raises(UnsupportedLayerError, match="dropping that step's current"):
        net = synaptic_mlp()
        net.syn1.reset_mechanism = "zero"
        export(net, digit_like(2, 5, 14))


def test_a_synaptic_that_hands_a_tuple_on_is_named() -> None:
    net = synaptic_mlp()
    net.syn1 = snn.Synaptic(alpha=0.8, beta=0.9)  # no init_hidden: returns (spk, syn, mem)
    problems = check_exportable(net, input_shape=(1, 14, 14))
    assert problems[0].startswith(
        "layer 'syn1' (Synaptic): without init_hidden=True it returns (spk, syn, mem)"
    )


def test_per_neuron_alpha_is_refused() -> None:
    net = synaptic_mlp()
    net.syn1.alpha = torch.full((32,), 0.8)
    with pytest.raises(UnsupportedLayerError, match="'syn1': per-neuron alpha"):
        export(net, digit_like(2, 5, 14))


BUILDER = textwrap.dedent(
    """
    from collections import OrderedDict

    import brevitas.nn as qnn
    import snntorch as snn
    from torch import nn


    def build():
        return nn.Sequential(
            OrderedDict(
                flat=nn.Flatten(),
                fc1=qnn.QuantLinear(14 * 14, 32, bias=True, weight_bit_width=4),
                syn1=snn.Synaptic(alpha=0.8, beta=0.9, threshold=1.0, init_hidden=True),
                fc2=qnn.QuantLinear(32, 10, bias=False, weight_bit_width=4),
                syn2=snn.Synaptic(alpha=0.7, beta=0.85, threshold=1.0, init_hidden=True, output=True),
            )
        )
    """
)


def test_export_builder_takes_a_synaptic_network(tmp_path: Path) -> None:
    (tmp_path / "my_syn_net.py").write_text(BUILDER)
    torch.save(synaptic_mlp().state_dict(), tmp_path / "weights.pt")
    out = tmp_path / "net.qsnn"
    proc = run_cli(
        "export", str(tmp_path / "weights.pt"), "--builder",
        "my_syn_net:build", "--input-shape", "1,14,14", "--num-steps", str(STEPS), "--out", str(out), cwd=tmp_path
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "IR v3" in proc.stdout
    graph = load_graph(out)
    assert [op.kind for op in graph.ops] == ["linear", "requantize", "synaptic", "lif"] * 2
    same = export(synaptic_mlp(), digit_like(2, 6, 14)).graph
    assert [op.name for op in graph.ops] == [op.name for op in same.ops]
    for a, b in zip(graph.ops, same.ops, strict=True):
        if isinstance(a, Synaptic):
            assert (a.decay_multiplier, a.decay_shift) == (b.decay_multiplier, b.decay_shift)
