"""The saturation warning of ``export`` is true: it follows the range analysis (an unbounded run, as the IR's
``saturation_sites`` record it), and its advice fits the layer: an IF layer (β = 1) is never told to use the
32 bits it already has, nor that 32 bits would prove it safe. (``import`` bounds the run by ``num_steps``
instead: ir/saturation.py, tested in test_nir_import_door.py.)"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
qnn = pytest.importorskip("brevitas.nn")

from torch import nn  # noqa: E402

from qsnn_deploy.export.api import export_model  # noqa: E402


def _mlp(beta: float) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(),
        qnn.QuantLinear(64, 16, bias=True, weight_bit_width=4),
        snn.Leaky(beta=beta, init_hidden=True),
        qnn.QuantLinear(16, 4, bias=True, weight_bit_width=4),
        snn.Leaky(beta=beta, init_hidden=True),
    )


def _saturation(beta: float, state_bits: int, steps: int) -> list[str]:
    result = export_model(
        _mlp(beta), num_steps=steps, input_shape=(1, 8, 8), input_scale=1 / 255, encoding="static",
        state_bits=state_bits,
    )  # fmt: skip
    return [w for w in result.warnings if "saturate" in w]


def test_an_if_layer_at_32_bits_is_not_told_to_use_32_bits() -> None:
    found = _saturation(1.0, 32, 10)
    assert found and all("int32" in w and "--state-bits 32" not in w for w in found), found
    assert all("without leak no width bounds it" in w for w in found)


def test_an_if_layer_at_16_bits_is_told_32_bits_is_headroom_not_a_proof() -> None:
    found = _saturation(1.0, 16, 10)
    assert found and all("--state-bits 32 gives it more headroom" in w for w in found), found
    assert not any("a proof" in w for w in found)


def test_a_leaky_layer_that_cannot_saturate_is_not_reported() -> None:
    assert _saturation(0.5, 32, 10) == []
