"""The training plot names the loss the preset trains with: ``ce_count_loss`` for the smnist preset, not the
``mse_count_loss`` every plot said before (issue 26 item 5)."""

from __future__ import annotations

import pytest

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.models.presets import PRESETS
from qsnn_deploy.train.loop import LOSSES, loss_label, make_loss


def test_each_preset_is_labelled_with_the_loss_it_trains_with() -> None:
    labels = {name: loss_label(preset.train.loss) for name, preset in PRESETS.items()}
    assert labels["mnist"] == "mse_count_loss"
    assert labels["smnist"] == "ce_count_loss"
    for name, preset in PRESETS.items():  # the label is the snnTorch loss make_loss builds
        assert type(make_loss(preset.train)).__name__ == labels[name]
    assert sorted(loss_label(loss) for loss in LOSSES) == ["ce_count_loss", "mse_count_loss"]


def test_an_unknown_loss_has_no_label() -> None:
    with pytest.raises(QsnnError, match="unknown loss 'nll'"):
        loss_label("nll")
