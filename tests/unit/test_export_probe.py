"""export's check without data: its random stream probes carry ``2 / input_scale`` units, so the recurrent
preset's network, fed pixel rows (sequential MNIST, scale 1/255), is driven as by real rows and not called
silent (with 2 units, 2/255 of a pixel, neither layer spiked); event counts (scale 1) keep their 2 events a
bin; and a layer that truly never spikes is still reported."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from qsnn_deploy.export.api import export_model, probe_inputs
from qsnn_deploy.models import build_model, model_config


def _silent(net) -> list[str]:
    result = export_model(net, num_steps=28)  # the preset's stream input (28, 1, 1), scale 1/255
    assert result.random_check
    return [w for w in result.warnings if "never spikes" in w]


def test_stream_probes_carry_two_real_units() -> None:
    events = probe_inputs((2, 4, 4), "stream", 5, scale=1.0)
    assert set(np.unique(events)) == {0, 2}  # event counts: as before
    rows = probe_inputs((28, 1, 1), "stream", 5, scale=1 / 255)
    assert set(np.unique(rows)) == {0, 255}  # a full pixel: real rows carry ink of 200-255


def test_the_recurrent_preset_is_not_called_silent_but_a_silent_layer_is() -> None:
    config = dataclasses.replace(model_config("smnist"), recurrent_hidden=24)
    torch.manual_seed(0)
    net = build_model(config).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(4.0)  # as tests/unit/test_recurrent_export.py: a random net that spikes on real rows
    assert _silent(net) == []
    with torch.no_grad():
        net.fc2.weight.copy_(-net.fc2.weight.abs())  # every output current <= 0: lif2 can never spike
    assert _silent(net) == [
        "lif2: never spikes on the 8 random probe inputs (may be false: check on real samples with --dataset "
        "NAME (in Python: check_inputs=))"
    ]
