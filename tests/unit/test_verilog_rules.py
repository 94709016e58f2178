"""Design rules and memory layout of the Verilog target: what the RTL cannot take is refused before any file
is written, widths come from the range analysis, and the memory images pack what the RTL reads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.ops import Conv2d, SumPool2d
from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.ir.types import IntType, bits_for_range
from qsnn_deploy.targets import check_model, generate
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.verilog.layout import fold_kernel, requant_image, weight_image
from qsnn_deploy.targets.verilog.parts import blocks_for
from qsnn_deploy.targets.verilog.render import params_of


def _opts(**extra: str) -> TargetOptions:
    return TargetOptions(extra=extra)


def _with_op(graph: Graph, name: str, **changes) -> Graph:
    ops = tuple(replace(op, **changes) if op.name == name else op for op in graph.ops)
    return replace(graph, ops=ops)


@pytest.mark.parametrize("lanes", ["3", "0", "512", "many", "4,4"])
def test_lanes_must_be_a_power_of_two(lanes: str, tmp_path: Path) -> None:
    with pytest.raises(DesignRuleError, match="lanes"):
        generate(random_graph("tiny", 0), "verilog", tmp_path / "out", options=_opts(lanes=lanes))
    assert not (tmp_path / "out").exists()


def test_wide_weights_refused(tmp_path: Path) -> None:
    graph = random_graph("tiny", 0, bits=6)
    with pytest.raises(DesignRuleError, match="4-bit weights"):
        generate(graph, "verilog", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("stride", "refused"), [(3, True), (2, False), (4, False)])
def test_stride_not_a_power_of_two_refused(stride: int, refused: bool) -> None:
    graph = random_graph("tiny", 0)
    conv = next(op for op in graph.ops if isinstance(op, Conv2d))
    # a strided conv whose output still feeds the pool: only the rule is under test, so check it directly
    from qsnn_deploy.targets.base import RuleInput
    from qsnn_deploy.targets.verilog.rules import conv_geometry_supported

    model = check_model(graph, "verilog")
    layers = tuple(replace(layer, op=replace(conv, stride=stride)) if layer.op.name == conv.name else layer
                   for layer in model.layers)  # fmt: skip
    problems = conv_geometry_supported(RuleInput(graph, layers, model.ranges, model.options))
    assert [v.rule for v in problems] == (["conv_geometry_supported"] if refused else [])


def test_memories_beyond_the_part_refused(tmp_path: Path) -> None:
    graph = random_graph("mnist", 0)
    check_model(graph, "verilog", _opts(part="ecp5-25k"))
    with pytest.raises(DesignRuleError, match="block RAMs; up5k has 30"):
        generate(graph, "verilog", tmp_path / "out", options=_opts(part="up5k"))
    with pytest.raises(DesignRuleError, match="unknown part"):
        check_model(graph, "verilog", _opts(part="xc7a35t"))


def test_widths_come_from_the_range_analysis() -> None:
    graph = random_graph("tiny", 0)
    model = check_model(graph, "verilog", _opts(lanes="4"))
    for layer, p in zip(model.layers, params_of(model)):
        bound = model.ranges[layer.op.name].peak * layer.pool_kernel**2
        assert p.ACC_W >= bits_for_range(-bound, bound)
        assert p.ACC_W <= max(bits_for_range(-bound, bound), p.VAL_W + 6)
        assert p.PROD_W >= model.ranges[layer.rq.name].peak_bits
        assert p.CUR_W == max(2, model.ranges[layer.rq.name].bits)
        assert p.STATE_W <= layer.lif.state_type.bits
        assert p.LANES * p.GROUPS >= p.OC and p.LANES <= 4


def test_saturating_membrane_keeps_the_state_width() -> None:
    graph = random_graph("tiny", 0, state_bits=16)
    graph = _with_op(graph, "lif1", decay_multiplier=1 << graph.ops[3].decay_shift)  # no leak: can saturate
    model = check_model(graph, "verilog")
    first = params_of(model)[0]
    assert first.SATURATE == 1 and first.STATE_W == 16


def test_weight_image_packs_input_major_nibbles() -> None:
    model = check_model(random_graph("tiny", 0), "verilog", _opts(lanes="2"))
    layer, p = model.layers[0], params_of(model)[0]
    words = [int(line, 16) for line in weight_image(layer, p).split()]
    assert len(words) == p.taps * p.GROUPS
    w = layer.op.weight
    for tap in (0, 7, p.taps - 1):
        c, rest = divmod(tap, p.KH * p.KW)
        kh, kw = divmod(rest, p.KW)
        for o in range(p.OC):
            g, lane = divmod(o, p.LANES)
            nib = (words[tap * p.GROUPS + g] >> (4 * lane)) & 0xF
            assert nib - 16 * (nib >> 3) == w[o, c, kh, kw]


def test_requant_image_holds_bias_and_multiplier() -> None:
    model = check_model(random_graph("tiny", 0), "verilog")
    layer, p = model.layers[1], params_of(model)[1]
    for o, line in enumerate(requant_image(layer, p).split()):
        word = int(line, 16)
        m, b = word & ((1 << p.MUL_W) - 1), word >> p.MUL_W
        assert m - ((m >> (p.MUL_W - 1)) << p.MUL_W) == layer.rq.multiplier[o]
        assert b - ((b >> (p.BIAS_W - 1)) << p.BIAS_W) == layer.rq.bias[o]


def test_block_estimate() -> None:
    assert blocks_for(8, 16, "ecp5-25k") == 0  # small: LUT RAM
    assert blocks_for(36, 512, "ecp5-25k") == 1
    assert blocks_for(64, 1600, "ecp5-25k") == 8  # 4096 x 4: 16 wide -> 16; 1024 x 18: 4 x 2 = 8
    assert blocks_for(16, 256, "up5k") == 1


def test_report_parses_yosys_and_nextpnr() -> None:
    from qsnn_deploy.targets.verilog.report import PartResult, parse_nextpnr, parse_stat

    stat = """
=== qsnn_synth ===
        +----------Local Count, excluding submodules.
    13850 cells
       20   $scopeinfo
     1142   CCU2C
       40   DP16KD
     5767   LUT4
       12   MULT18X18D
      217   TRELLIS_DPR16X4
     5753   TRELLIS_FF
"""
    part = PartResult("ecp5", cells=parse_stat(stat))
    assert (part.luts, part.ffs, part.brams, part.dsps) == (5767 + 2 * 1142, 5753, 40, 12)
    assert part.lutram == 217  # LUTs as memory: reported beside the LUT4 count, not in it
    log = """Info: Device utilisation:
Info: \t          TRELLIS_COMB:    8661/  24288    35%
Info: \t              DP16KD:      40/     56    71%
Info: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 73.58 MHz (FAIL at 100.00 MHz)
Warning: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 81.45 MHz (FAIL at 100.00 MHz)
"""
    fmax, placed = parse_nextpnr(log)
    assert fmax == 81.45 and placed["TRELLIS_COMB"] == (8661, 24288) and placed["DP16KD"] == (40, 56)


def test_multipliers_beyond_the_part_refused() -> None:
    graph = random_graph("mnist", 0)
    check_model(graph, "verilog", _opts(lanes="4,64,16", neurons="4,2,1"))  # 28 of the 28 DSP blocks
    with pytest.raises(DesignRuleError, match="DSP blocks; ecp5-25k has 28"):
        check_model(graph, "verilog", _opts(lanes="16", neurons="8"))
    check_model(graph, "verilog", _opts(lanes="16", neurons="8", part="ecp5-85k"))
    with pytest.raises(DesignRuleError, match="DSP blocks; up5k has 8"):  # its 8 SB_MAC16 of 16 x 16
        check_model(random_graph("tiny", 0), "verilog", _opts(lanes="1", part="up5k"))


def test_max_pool_layout() -> None:
    """Under a max pool each accumulator holds one conv output (ACC_W from the conv's peak alone), the
    accumulators cover the conv map the kept windows reach, and the requantize word carries the pool's sign
    (1 = take the min) above {bias, multiplier}."""
    graph = random_graph("tiny", 3, pool="max")
    model = check_model(graph, "verilog", _opts(lanes="4", neurons="2"))
    for layer, p in zip(model.layers, params_of(model)):
        if layer.pool is None:
            assert p.MAX_POOL == 0
            continue
        assert p.MAX_POOL == 1
        peak = model.ranges[layer.op.name].peak
        assert p.ACC_W == max(bits_for_range(-peak, peak), p.VAL_W + 6 if p.VAL_W > 1 else 5)
        k = layer.pool_kernel
        assert p.memories()["acc"][1] == layer.out_shape[1] * k * layer.out_shape[2] * k * p.GROUPS
        rq_w = p.MUL_W + p.BIAS_W + 1
        words = [int(line, 16) for line in requant_image(layer, p).split()]
        for c, sign in enumerate(layer.pool.sign.tolist()):
            b, j = divmod(c, p.NLANES)
            lane = (words[b] >> (j * rq_w)) & ((1 << rq_w) - 1)
            assert lane >> (p.MUL_W + p.BIAS_W) == int(sign == -1)
            assert lane & ((1 << p.MUL_W) - 1) == int(layer.rq.multiplier[c]) & ((1 << p.MUL_W) - 1)


@pytest.mark.parametrize(
    ("kernel", "padding", "pool"), [(5, 0, 2), (3, 1, 2), (3, 1, 4), (1, 0, 2), (4, 2, 2)]
)
def test_fold_kernel_gives_the_pooled_sums(kernel: int, padding: int, pool: int) -> None:
    """Scattering every input through the folded kernel, over the pooled outputs the RTL's tap walk visits
    (pooled row q - a for a in [max(0, q - OUT_H + 1), min(q, (K + P - 2 - r) >> L)], columns alike), gives
    exactly the IR's conv2d followed by sumpool2d."""
    rng = np.random.default_rng(kernel * 10 + pool)
    conv = Conv2d("c", rng.integers(-8, 8, (3, 2, kernel, kernel)), IntType(4), padding=padding)
    x = rng.integers(0, 256, (1, 2, 11, 11))
    want = SumPool2d("p", pool).reference(conv.reference(x)[0])[0][0]
    log2 = pool.bit_length() - 1
    folded = fold_kernel(conv.weight, log2)
    out_h, out_w = want.shape[1:]
    got = np.zeros_like(want)
    for c, y, xx in zip(*np.nonzero(x[0])):
        ty, tx = y + padding, xx + padding
        (qy, ry), (qx, rx) = divmod(ty, pool), divmod(tx, pool)
        for a in range(max(0, qy - out_h + 1), min(qy, (kernel + pool - 2 - ry) >> log2) + 1):
            for b in range(max(0, qx - out_w + 1), min(qx, (kernel + pool - 2 - rx) >> log2) + 1):
                got[:, qy - a, qx - b] += x[0, c, y, xx] * folded[ry, rx, c, a, b]
    np.testing.assert_array_equal(got, want)


def test_fold_option(tmp_path: Path) -> None:
    with pytest.raises(DesignRuleError, match="fold"):
        generate(random_graph("tiny", 0), "verilog", tmp_path / "out", options=_opts(fold="yes"))
    assert not (tmp_path / "out").exists()
    folded = params_of(check_model(random_graph("tiny", 0), "verilog", _opts(fold="1")))
    plain = params_of(check_model(random_graph("tiny", 0), "verilog"))
    assert [p.FOLD for p in folded] == [1, 1, 0] and [p.FOLD for p in plain] == [0, 0, 0]
    assert [p.FORWARD for p in folded] == [0, 0, 1] and [p.FORWARD for p in plain] == [1, 1, 1]
    # 2x2 phases x 3x3 folded taps of 6 bits against 5x5 taps of 4 bits
    assert folded[1].memories()["weights"] == (4 * 6, 4 * 4 * 9)
    assert plain[1].memories()["weights"] == (16, 100)


def test_report_writes_every_seed_and_their_median() -> None:
    from qsnn_deploy.targets.verilog.report import PartResult, VerilogCost, format_report

    part = PartResult("ice40", fmax_mhz=36.345, seed_fmax={1: 36.13, 2: 36.56, 3: 36.59, 4: None})
    rep = VerilogCost(
        [8], [1], 2, 50, [400_000, 500_000], 25, parts={"ice40": part}, arch="serial", part="up5k"
    )
    text = format_report(rep)
    assert "Fmax 36.3 MHz (median of nextpnr seeds 1: 36.13, 2: 36.56, 3: 36.59, 4: none MHz)" in text
    assert "latency 12,381 us" in text  # 450,000 cycles / 36.345 MHz
    assert rep.to_dict()["parts"]["ice40"]["seed_fmax_mhz"] == {"1": 36.13, "2": 36.56, "3": 36.59, "4": None}
    one = PartResult("ice40", fmax_mhz=37.2)
    assert "median" not in format_report(VerilogCost([8], [1], 1, 50, [1], 25, parts={"ice40": one}))


def test_report_names_a_timed_out_place_and_route_by_its_limit() -> None:
    """A failure's line is its last ERROR line, else its last line; a time-out's is the line naming the tool and
    its limit and the option that sets it, not the last line of the output it had written (nextpnr's arcs left to
    route)."""
    from qsnn_deploy.errors import ToolchainError, ToolTimeout
    from qsnn_deploy.targets.verilog.report import _reason

    timed_out = ToolTimeout(
        "nextpnr-ecp5 timed out after 3600 s: nextpnr-ecp5 --25k\nits last output:\nInfo: 35000 | 51458"
    )
    assert _reason(timed_out) == (
        "nextpnr-ecp5 timed out after 3600 s: nextpnr-ecp5 --25k (--option tool_minutes=N sets the limit)"
    )
    failed = ToolchainError(
        "nextpnr-ecp5 failed (exit 255): nextpnr-ecp5\nERROR: Max frequency not met\nInfo: done"
    )
    assert _reason(failed) == "ERROR: Max frequency not met"
    assert (
        _reason(ToolchainError("yosys failed (exit 1): yosys\nread_verilog: syntax error"))
        == "read_verilog: syntax error"
    )
