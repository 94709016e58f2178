"""The option types mean what the rest of the toolchain accepts: ``train --bits`` takes exactly the widths an
IR weight may have (so every trained model can be exported), ``--num-steps`` exactly what a file may hold."""

from __future__ import annotations

import click
import numpy as np
import pytest

from qsnn_deploy import cli_params as params
from qsnn_deploy.errors import IRValidationError
from qsnn_deploy.ir import Linear
from qsnn_deploy.ir.limits import MAX_NUM_STEPS
from qsnn_deploy.ir.types import IntType


def _accepts(param_type: click.ParamType, value: int) -> bool:
    try:
        param_type.convert(str(value), None, None)
        return True
    except click.BadParameter:
        return False


def _ir_takes_weight_bits(bits: int) -> bool:
    try:
        Linear("fc", np.zeros((2, 3), np.int8), IntType(bits)).check((3,))
        return True
    except (IRValidationError, ValueError):
        return False


@pytest.mark.parametrize("bits", range(-2, 18))
def test_train_bits_are_the_widths_an_ir_weight_may_have_or_float(bits):
    assert _accepts(params.WEIGHT_BITS, bits) == (bits == 0 or _ir_takes_weight_bits(bits))
    assert _accepts(params.EXPORT_BITS, bits) == (bits != 0 and _ir_takes_weight_bits(bits))


@pytest.mark.parametrize("steps", [-1, 0, 1, MAX_NUM_STEPS, MAX_NUM_STEPS + 1, 10**12])
def test_num_steps_is_the_range_a_file_may_hold(steps):
    assert _accepts(params.NUM_STEPS, steps) == (1 <= steps <= MAX_NUM_STEPS)


@pytest.mark.parametrize(("value", "ok"), [(-1, False), (0, False), (1, True), (10**22, True)])
def test_counts_start_at_one_and_have_no_ceiling(value, ok):
    assert _accepts(params.COUNT, value) == ok


@pytest.mark.parametrize(("value", "ok"), [(-1, False), (0, True), (2**32 - 1, True), (2**32, False)])
def test_seeds_are_what_numpy_accepts(value, ok):
    assert _accepts(params.SEED, value) == ok
    if ok:
        np.random.seed(value)
    else:
        with pytest.raises(ValueError):
            np.random.seed(value)
