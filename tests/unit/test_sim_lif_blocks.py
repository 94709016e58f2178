"""The prepared LIF scan runs block by block of ``kernels.LIF_BLOCK`` neurons (each block over all steps, to
stay in cache): with blocks that split rows, samples and the last block short, spikes, membranes and the
carried state equal the op's own step semantics, for every reset, static and per-step currents, and a scan cut
into two calls (the executor's time chunks)."""

from __future__ import annotations

import numpy as np
import pytest

from qsnn_deploy.ir import INT16, INT32, LIF
from qsnn_deploy.sim import kernels

LIFS = [
    LIF("sub", 1 << 20, 65143, 16, "subtract", INT32),
    LIF("zero", 300, 250, 8, "zero", INT16),
    LIF("sat", 300, 256, 8, "subtract", INT16),  # no leak: the membrane saturates
]


def _literal(currents, op, static, steps):
    v = None
    spikes, mems = [], []
    for t in range(steps):
        s, v = op.reference(currents if static else currents[t], v)
        spikes.append(s.astype(np.uint8))
        mems.append(v.astype(np.int64))
    return np.stack(spikes), np.stack(mems), v


@pytest.mark.parametrize("op", LIFS, ids=lambda op: op.name)
@pytest.mark.parametrize("static", [False, True])
def test_blocks_of_neurons_scan_exactly(op, static, monkeypatch):
    monkeypatch.setattr(kernels, "LIF_BLOCK", 7)  # 5 x 3 x 4 = 60 neurons: 8 full blocks and one of 4
    rng = np.random.default_rng(1)
    scale = 3 << 20 if op.state_type.bits == 32 else 2000
    steps = 30
    currents = rng.integers(-scale // 3, scale, (5, 3, 4) if static else (steps, 5, 3, 4))
    want_s, want_m, want_v = _literal(currents, op, static, steps)
    state = np.zeros((5, 3, 4), dtype=np.int64)
    parts = []
    for t0, t1 in ((0, 11), (11, steps)):  # two calls carrying the state, as the executor's time chunks
        piece = currents if static else currents[t0:t1]
        parts.append(
            kernels.lif_scan(
                piece, op, static=static, num_steps=t1 - t0, record=True, saturate=True, state=state
            )
        )
    spikes = np.concatenate([p[0] for p in parts])
    mems = np.concatenate([p[1] for p in parts]).astype(np.int64)
    np.testing.assert_array_equal(spikes, want_s)
    np.testing.assert_array_equal(mems, want_m)
    np.testing.assert_array_equal(state, want_v)
    assert 0 < spikes.sum() < spikes.size
