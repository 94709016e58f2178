"""The arithmetic the C target's fast kernels rely on (templates/c/runtime/qsnn_runtime.c, "Fast kernels"),
checked in Python against the IR's definitions: the grouped offset-binary weight words unpack to the weights
in channel order, the byte-lane sums equal the per-channel sums, and the LIF decay as the high word of one
32x32->64 product equals the IR's rounded shift."""

from __future__ import annotations

import numpy as np

from qsnn_deploy.ir.ops import Conv2d
from qsnn_deploy.ir.types import IntType
from qsnn_deploy.targets.c.layout import pack_groups

M4, M8 = 0x0F0F0F0F, 0x00FF00FF


def lanes_of(words: list[int]) -> list[int]:
    """sum_groups for one group over the given words: byte lanes widened to 16-bit lanes every 17 rows."""
    t = [0, 0, 0, 0]
    for start in range(0, len(words), 17):
        block = words[start : start + 17]
        lo = sum(w & M4 for w in block)
        hi = sum((w >> 4) & M4 for w in block)
        for word_sum, shift in ((lo, 0), (hi, 4)):  # no byte lane carries into the next one
            per_byte = [sum((w >> (8 * b + shift)) & 15 for w in block) for b in range(4)]
            assert max(per_byte) <= 255 and word_sum == sum(x << (8 * b) for b, x in enumerate(per_byte))
        t = [t[0] + (lo & M8), t[1] + ((lo >> 8) & M8), t[2] + (hi & M8), t[3] + ((hi >> 8) & M8)]
    return [(t[j >> 1] >> (16 * (j & 1))) & 0xFFFF for j in range(8)]


def test_grouped_words_sum_to_the_per_channel_weights() -> None:
    rng = np.random.default_rng(0)
    out_c, in_c, k = 24, 3, 3  # three groups: odd, so a padding word follows the last row
    w = rng.integers(-8, 8, (out_c, in_c, k, k))
    words = pack_groups(Conv2d("conv", w, IntType(4)))
    rows, groups = in_c * k * k, out_c // 8
    assert len(words) == rows * groups + 1 and words[-1] == 0
    picked = rng.integers(
        0, rows, 40
    )  # a list of weight rows, with repeats, longer than two byte-lane blocks
    flat = w.transpose(1, 2, 3, 0).reshape(rows, out_c)
    for g in range(groups):
        lanes = lanes_of([words[r * groups + g] for r in picked])
        expected = flat[picked, 8 * g : 8 * g + 8].sum(axis=0) + 8 * len(picked)
        assert lanes == expected.tolist()


def decay_high_word(v: int, m: int, s: int) -> int:
    """lif_consts + lif_fast_update's decay: high32(v m2 + 2^31) + (v if wrap)."""
    scaled = m << (32 - s)
    wrap = scaled > (1 << 31) - 1
    m2 = scaled - (1 << 32) if wrap else scaled
    assert -(1 << 31) <= m2 < 1 << 31
    return ((v * m2 + (1 << 31)) >> 32) + (v if wrap else 0)


def test_decay_as_a_high_word_equals_the_rounded_shift() -> None:
    rng = np.random.default_rng(1)
    for s in (1, 2, 8, 15, 16, 17, 24, 31):
        ms = {0, 1, (1 << s) - 1, 1 << (s - 1), (1 << (s - 1)) - 1, *rng.integers(0, 1 << s, 20).tolist()}
        vs = [0, 1, -1, (1 << 31) - 1, -(1 << 31), *rng.integers(-(1 << 31), 1 << 31, 200).tolist()]
        for m in ms:
            for v in vs:
                assert decay_high_word(v, m, s) == (v * m + (1 << (s - 1))) >> s, (v, m, s)
