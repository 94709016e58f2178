"""Fuzzing ``--option KEY=VALUE``: whatever a command line sets, ``codegen`` and ``verify``'s option handling
for every target end in files or a ``QsnnError`` subclass, never anything else.

Each case picks a target and one to four ``KEY=VALUE`` pairs: the keys every target reads (part, clock_mhz,
arch, lanes, neurons, fold, dt, threads, jobs, cc, cxx, dense, sanitize, parts, synth) and unknown ones; the
values a stranger types (empty, unicode digits, ``1_0``, huge integers, ``1e400``, NaN, inf, lists, paths,
control characters, 5,000 characters). The pairs go through the same path as the command line: ``parse_options``,
the target's design rules (``check_model``), ``render`` into a folder, the executors' summary of the build
settings (``describe``), and for onnx the executor's ``build`` (an onnxruntime session, with ``threads``).
Cases run as tests/fuzz_cases.py describes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qsnn_deploy.commands.targets import parse_options
from qsnn_deploy.errors import QsnnError
from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.targets import check_model, get_target, target_names
from qsnn_deploy.targets.options import count, declared
from tests.fuzz_cases import SLOW_CASES, Rng, case_rng, outcome, pick, tally

FAST_CASES = 40
KEYS = ["part", "clock_mhz", "arch", "lanes", "neurons", "fold", "dt", "threads", "jobs", "cc", "cxx", "dense",
        "sanitize", "parts", "synth", "unknown", "PART", "thr\u0435ads", "\u00b2", "a b", "x" * 300]  # fmt: skip
VALUES = [
    "", "0", "1", "2", "-1", "3.5", "\u00b2", "\u0661\u0662", "\uff14", "1_0", " 4 ", "0x10", "99999999999",
    str(2**64), "9" * 5000, "1e400", "-1e400", "1e-400", "nan", "NaN", "inf", "-inf", "4,4", "16,64,16", "1,,2",
    "layered", "serial", "ecp5-25k", "ecp5-45k", "ice40-up5k", "xc7z020clg400-1", "ecp5,ice40", "../../x",
    "gcc", "/bin/sh", "$(id)", "a;b", "\x00", "\n", "\u2028", "100", "200", "1000.0001", "1e-3", "0.0001",
]  # fmt: skip


def _pairs(rng: Rng, own: list[str]) -> tuple[str, ...]:
    """One to four pairs; half the keys are the target's own (``own``: an unknown key is refused at once)."""
    keys = [
        pick(rng, own) if own and rng.random() < 0.5 else pick(rng, KEYS)
        for _ in range(int(rng.integers(1, 5)))
    ]
    pairs = [f"{key}={pick(rng, VALUES)}" for key in keys]
    if rng.random() < 0.05:
        pairs.append(pick(rng, ["novalue", "=1", " =2", "k=="]))  # not KEY=VALUE at all
    return tuple(pairs)


def _run_option_case(graph, target_name: str, pairs: tuple[str, ...], out: Path) -> None:
    """What codegen and verify do with ``--option`` pairs, short of compiling: parse, check, render, and the
    executors' handling of the build settings."""
    options = parse_options(pairs)
    target = get_target(target_name)
    model = check_model(graph, target, options)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    target.render(model, out)
    for executor in target.executors.values():
        describe = getattr(executor, "describe", None)
        if describe is not None:
            describe(model.options)
    if target_name == "onnx":
        runner = target.executors["onnxruntime"].build(model, out, out)
        del runner


@pytest.fixture(scope="module")
def graphs():
    return [random_graph("tiny", 1, bits=4, num_steps=3), random_graph("tiny-stream", 2, bits=8, num_steps=3)]


def _run_cases(graphs, tmp_path: Path, cases: int, seed: int) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    names = target_names()
    for case in range(cases):
        rng = case_rng(seed, case)
        target = names[case % len(names)]
        pairs = _pairs(rng, [d.name for d in declared(get_target(target).settings)])
        graph = graphs[int(rng.integers(len(graphs)))]
        what = f"options case {case} (seed {seed}, target {target}, {pairs!r})"
        result = outcome(lambda g=graph, t=target, p=pairs: _run_option_case(g, t, p, tmp_path / "out"), what)
        tally(outcomes, f"{target}:{result}")
    return outcomes


def test_fuzzed_target_options_render_or_raise_typed_errors(graphs, tmp_path):
    outcomes = _run_cases(graphs, tmp_path, FAST_CASES, seed=23)
    assert sum(outcomes.values()) == FAST_CASES
    assert any(k.endswith(":ok") for k in outcomes) and any(not k.endswith(":ok") for k in outcomes), outcomes


@pytest.mark.slow
def test_fuzzed_target_options_many_cases(graphs, tmp_path):
    outcomes = _run_cases(graphs, tmp_path, SLOW_CASES, seed=2026)
    print(f"{SLOW_CASES} fuzzed --option sets: {dict(sorted(outcomes.items()))}")
    assert sum(outcomes.values()) == SLOW_CASES >= 1000
    assert {k.split(":")[0] for k in outcomes if k.endswith(":ok")} == set(target_names()), outcomes


# --- regressions: what the fuzzer found ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["9" * 5000, "0" * 5000])
def test_a_count_of_thousands_of_digits_is_one_line(graphs, tmp_path, value):
    """``threads=<5,000 digits>`` raised int()'s ValueError (more than 4,300 digits) at onnx verify's build."""
    with pytest.raises(QsnnError, match="give an integer from 1 to"):
        _run_option_case(graphs[0], "onnx", (f"threads={value}",), tmp_path / "out")


def test_leading_zeros_still_count():
    assert count("0" * 5000 + "2", 1, 1024) == 2


# --- the command line's own number types (cli_params.py) ------------------------------------------------------------


def test_every_number_option_takes_hostile_text_as_a_value_or_a_usage_error():
    """``--bits``, ``--limit``, ``--num-steps``, ``--seed``, ``--patience``, ``--dt`` and friends: each of the
    fuzz values (and a few made of them) is a value in range or click's one-line usage error (exit 2)."""
    import math

    import click

    from qsnn_deploy import cli_params

    types = {name: getattr(cli_params, name) for name in
             ("COUNT", "NUM_STEPS", "WEIGHT_BITS", "EXPORT_BITS", "PATIENCE", "SEED", "POSITIVE_REAL")}  # fmt: skip
    values = VALUES + ["-" + v for v in VALUES[:20]] + [v + v for v in VALUES[:20]]
    taken = 0
    for name, kind in types.items():
        for value in values:
            try:
                number = kind.convert(value, None, None)
            except click.BadParameter as exc:
                assert "\n" not in exc.format_message(), (name, value)
                continue
            taken += 1
            if name == "POSITIVE_REAL":
                assert math.isfinite(number) and number > 0, (value, number)
            else:
                assert isinstance(number, int) and number >= 0, (name, value, number)
    assert taken > 0
