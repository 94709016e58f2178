"""interop.torch_nir writes snnTorch's ``RLeaky`` and ``RSynaptic`` (all-to-all, a square Linear recurrent layer)
as the neuron node plus a ``<neuron>_w_rec`` Affine in a loop with it, the NIR paper's Braille layout; through a
file, ``import`` reads it back as ``requantize recurrent [synaptic] lif`` with the very recurrent integers the
exporter takes from the same network, and it spikes like snnTorch's own run. What has no form is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from qsnn_deploy.errors import UnsupportedLayerError  # noqa: E402
from qsnn_deploy.export.inference import float_outputs  # noqa: E402
from qsnn_deploy.interop.nir_import import import_nir, read_nir  # noqa: E402
from qsnn_deploy.interop.torch_nir import torch_to_nir, write_torch_nir  # noqa: E402
from qsnn_deploy.sim import simulate  # noqa: E402
from tests.unit.test_recurrent_export import FEATURES, STEPS, export, recurrent_mlp, rows  # noqa: E402

SHAPE = (FEATURES, 1, 1)


def _write(net, path: Path) -> Path:
    return write_torch_nir(path, net, SHAPE, num_steps=STEPS, encoding="stream", input_scale=1 / 255)


@pytest.mark.parametrize("kind", ["rleaky", "rsynaptic"])
def test_a_recurrent_network_round_trips_with_its_recurrent_weights(tmp_path: Path, kind: str) -> None:
    net = recurrent_mlp(kind)
    written = read_nir(_write(net, tmp_path / "net.nir"))
    assert isinstance(written.nodes["lif1"], nir.LIF if kind == "rleaky" else nir.CubaLIF)
    assert isinstance(written.nodes["lif1_w_rec"], nir.Affine)  # snnTorch's recurrent Linear has a bias
    assert {("lif1", "lif1_w_rec"), ("lif1_w_rec", "lif1")} <= set(written.edges)

    imported = import_nir(tmp_path / "net.nir", bits=4).graph
    raw = rows(32, seed=3)
    exported = export(net, raw[:8]).graph
    assert [op.kind for op in imported.ops] == [op.kind for op in exported.ops]
    assert "recurrent" in [op.kind for op in imported.ops] and imported.feedback() == {
        "lif1": "lif1_recurrent"
    }
    ours = next(op for op in imported.ops if op.kind == "recurrent")
    theirs = next(op for op in exported.ops if op.kind == "recurrent")
    assert np.array_equal(ours.weight, theirs.weight)  # the recurrent layer's own 4-bit integers

    frames = raw.reshape(len(raw), STEPS, *imported.input.shape)
    counts, totals = float_outputs(net, raw, STEPS, 1 / 255)
    sim = simulate(imported, frames, STEPS)
    f, i = totals["lif1"], int(sim.spike_counts["lif1"].sum())
    assert f > 0 and abs(i - f) <= 0.03 * f, (f, i)
    assert np.mean(np.argmax(counts, axis=1) == sim.predictions) >= 28 / 32


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"reset_mechanism": "zero"}, "'lif1' (RLeaky): reset_mechanism 'zero'"),
        ({"all_to_all": False}, "'lif1' (RLeaky): all_to_all=False"),
    ],
)
def test_what_has_no_form_is_refused_naming_the_layer(change: dict, fragment: str) -> None:
    net = recurrent_mlp("rleaky")
    for key, value in change.items():
        setattr(net.lif1, key, value)
    with pytest.raises(UnsupportedLayerError, match=fragment.replace("(", "\\(").replace(")", "\\)")):
        torch_to_nir(net, SHAPE, num_steps=STEPS)
