"""Typed target options (issue 24, item 1): each target declares its ``--option`` keys once
(``targets/<name>/settings.py`` on ``targets/options.py``), ``check_model`` reads them once into that typed value,
an unknown key or a bad value is one line before any file is written (with a close match), and the docs tables and
the CLI's help come from the declarations."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from qsnn_deploy.cli import cli
from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.targets import MANIFEST, check_model, generate, get_target, read_manifest, registry
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.options import count, declared, markdown_table, summary
from qsnn_deploy.targets.verilog.render import params_of
from tests.cli_run import error_lines, run_main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "targets"
ONNX = ("onnx", "onnxruntime")


@pytest.fixture(scope="module")
def tiny():
    return random_graph("tiny", 0, num_steps=4)


def _refused(graph, target: str, tmp_path: Path, **extra) -> str:
    """The one-line refusal of ``extra`` on ``target``; nothing is written."""
    out = tmp_path / "out"
    with pytest.raises(DesignRuleError) as info:
        generate(graph, target, out, options=TargetOptions(extra=extra))
    message = str(info.value)
    assert "\n" not in message and not out.exists(), message
    return message


@pytest.mark.parametrize(
    ("target", "typo", "meant"),
    [("c", "sanitise", "sanitize"), ("c", "bord", "board"), ("hls", "clock_mz", "clock_mhz"), ("nir", "dtt", "dt"),
     ("onnx", "thread", "threads"), ("verilog", "lane", "lanes"), ("verilog", "archh", "arch")],
)  # fmt: skip
def test_an_unknown_key_names_the_close_match_and_every_valid_key(tiny, tmp_path, target, typo, meant):
    message = _refused(tiny, target, tmp_path, **{typo: "8"})
    assert f"unknown --option {typo} for the {target} target; did you mean {meant!r}?" in message
    assert info_rule(message) == ("time_step" if target == "nir" else f"{target}_settings")
    keys = [d.name for d in declared(get_target(target).settings)]
    assert f"? It takes {', '.join(keys)}" in message


def info_rule(message: str) -> str:
    return message.split("'")[1]  # "design rule 'verilog_settings' failed: ..."


def test_an_unknown_key_without_a_close_match_only_lists_the_keys(tiny, tmp_path):
    message = _refused(tiny, "verilog", tmp_path, zzz="1")
    assert "unknown --option zzz for the verilog target; it takes arch, lanes," in message
    assert "did you mean" not in message
    # a hostile key is quoted, cut short and kept on one line
    message = _refused(tiny, "c", tmp_path, **{"x\ny" * 100: "1"})
    assert "unknown --option 'x\\ny" in message and len(message) < 400


def test_the_brief_typos_no_longer_give_the_default_design(tiny, tmp_path):
    """`--option lane=8 --option archh=serial` wrote 17 files of the default design; now both are named."""
    message = _refused(tiny, "verilog", tmp_path, lane="8", archh="serial")
    assert (
        "did you mean 'lanes'?" in message and "did you mean 'arch'?" in message and "2 violations" in message
    )


@pytest.mark.parametrize(
    ("target", "key", "value", "needle"),
    [
        ("verilog", "arch", "wide", "--option arch='wide' must be one of layered, serial"),  # choice
        ("verilog", "part", "xc7a35t", "is an unknown part; choose one of ecp5-25k"),  # choice, named
        ("onnx", "threads", "0", "--option threads='0': give an integer from 1 to 1024"),  # integer
        ("onnx", "threads", "\u00b2", "give an integer from 1 to 1024"),
        ("verilog", "jobs", "9" * 5000, "--option jobs='99999999"),  # cut short in the message
        ("c", "dense", "yes", "--option dense='yes' must be 0 or 1"),  # flag
        (
            "hls",
            "clock_mhz",
            "inf",
            "is not a clock in MHz (a finite number above 0 and at most 1000)",
        ),  # number
        ("hls", "clock_mhz", "1001", "is not a clock in MHz"),
        ("nir", "dt", "1e-400", "is not a time step in seconds (a finite number above 0)"),
        ("c", "cc", "gcc; rm -rf /", "is not a program name or path"),  # program
        ("hls", "part", "xc7 z020", "is not a device name"),  # name
        ("verilog", "lanes", "3", "give a power of two from 1 to 256"),  # powers of two
        ("verilog", "lanes", "4,,4", "give a power of two from 1 to 256"),
        ("verilog", "parts", "xilinx", "give some of ecp5, ice40"),  # subset
        ("verilog", "seeds", "1,1", "give distinct integers from 1 to 2147483647"),  # integers
        ("verilog", "seeds", "0", "give distinct integers from 1 to 2147483647"),
        ("verilog", "seeds", "1,,2", "give distinct integers"),
        ("verilog", "tool_minutes", "0", "--option tool_minutes='0': give an integer from 1 to 1440"),
    ],
)
def test_a_bad_value_of_each_type_is_one_line(tiny, tmp_path, target, key, value, needle):
    if ONNX[0] == target:
        pytest.importorskip("onnx")
    assert needle in _refused(tiny, target, tmp_path, **{key: value})


def test_every_bad_value_is_named_at_once(tiny, tmp_path):
    message = _refused(tiny, "hls", tmp_path, part="a b", clock_mhz="fast", cxx="$(id)")
    assert "3 violations" in message and "part=" in message and "clock_mhz=" in message and "cxx=" in message


@pytest.mark.parametrize("target", ["c", "hls", "verilog", "onnx", "nir"])
def test_defaults_are_the_declared_ones_and_typed(tiny, target):
    if target == "onnx":
        pytest.importorskip("onnx")
    model = check_model(tiny, target)
    assert type(model.options) is get_target(target).settings
    for d in declared(get_target(target).settings):
        assert getattr(model.options, d.name) == d.default, d.name


def test_values_are_read_once_into_types(tiny):
    verilog = check_model(
        tiny,
        "verilog",
        TargetOptions(extra={"lanes": "4,8,2", "fold": "1", "jobs": "007", "tool_minutes": "90"}),
    )
    assert verilog.options.lanes == (4, 8, 2) and verilog.options.fold is True and verilog.options.jobs == 7
    assert verilog.options.tool_minutes == 90
    assert verilog.options.extra == {"lanes": "4,8,2", "fold": "1", "jobs": "007", "tool_minutes": "90"}
    hls = check_model(tiny, "hls", TargetOptions(extra={"clock_mhz": "250"}))
    assert hls.options.clock_mhz == 250.0
    c = check_model(tiny, "c", TargetOptions(extra={"board": "mps2-an385", "sanitize": "1"}))
    assert c.options.board == "mps2-an385" and c.options.sanitize is True and c.options.dense is False
    assert count("0" * 300 + "12", 1, 64) == 12


def test_typed_values_reach_the_renderer_and_the_rules(tiny, tmp_path):
    lanes = params_of(check_model(tiny, "verilog", TargetOptions(extra={"lanes": "4", "neurons": "2"})))
    assert [(p.LANES, p.NLANES) for p in lanes] == [(4, 2), (4, 2), (4, 2)]
    generate(
        tiny, "hls", tmp_path / "hls", options=TargetOptions(extra={"clock_mhz": "250", "part": "xcku5p"})
    )
    tcl = (tmp_path / "hls" / "run_hls.tcl").read_text()
    assert "create_clock -period 4 " in tcl and "set_part {xcku5p}" in tcl
    serial = generate(tiny, "verilog", tmp_path / "v", options=TargetOptions(extra={"arch": "serial"}))
    assert "qsnn_serial.v" in {p.name for p in serial}
    # a per-layer list of the wrong length is the design rule's, which knows the layers
    with pytest.raises(DesignRuleError, match="gives 2 values for 3 layers") as info:
        check_model(tiny, "verilog", TargetOptions(extra={"lanes": "4,4"}))
    assert info.value.rule == "lanes_option"
    with pytest.raises(DesignRuleError, match="fits_board_memory"):
        check_model(random_graph("mnist", 0), "c", TargetOptions(extra={"board": "cortex-m0-small"}))


def test_the_summary_names_codegen_options_and_given_build_settings(tiny):
    model = check_model(tiny, "hls", TargetOptions(extra={"cxx": "clang++"}))
    assert summary(model.options) == {
        "prefix": "qsnn", "part": "xczu7ev-ffvc1156-2-e", "clock_mhz": "200", "cxx": "clang++"
    }  # fmt: skip
    assert summary(check_model(tiny, "c").options) == {"prefix": "qsnn", "board": "mps2-an386"}


def test_the_manifest_records_given_codegen_options_and_old_manifests_still_read(tiny, tmp_path):
    generate(tiny, "c", tmp_path / "c", board="mps2-an500")
    data = json.loads((tmp_path / "c" / MANIFEST).read_text())
    assert data["options"] == {"prefix": "qsnn", "extra": {"board": "mps2-an500"}}
    # the format before typed options: "board" beside "prefix", for every target
    for target, kept in (("c", {"board": "mps2-an385"}), ("hls", {})):
        folder = tmp_path / f"old-{target}"
        generate(tiny, target, folder)
        data = json.loads((folder / MANIFEST).read_text())
        data["options"] = {"prefix": "qsnn", "board": "mps2-an385", "extra": {}}
        (folder / MANIFEST).write_text(json.dumps(data))
        assert read_manifest(folder)[2].extra == kept


@pytest.mark.parametrize("target", ["c", "hls", "verilog", "onnx", "nir"])
def test_the_docs_table_is_the_declaration(target):
    """The table on docs/targets/<target>.md is ``markdown_table`` of the target's settings (regenerate it with
    ``python -c "from qsnn_deploy.targets import registry; from qsnn_deploy.targets.options import
    markdown_table; print(markdown_table(registry()['TARGET'].settings))"`` and paste it over the old one)."""
    page = (DOCS / f"{target}.md").read_text()
    assert markdown_table(get_target(target).settings) in page


def test_the_cli_help_lists_every_targets_keys_and_executors():
    verify = cli.commands["verify"]
    ctx = click.Context(verify, info_name="verify")
    helps = {p.name: p.help or "" for p in verify.params if isinstance(p, click.Option)}
    flat = " ".join(helps["target_option"].split())
    for name, target in registry().items():
        keys = ", ".join(d.name for d in declared(target.settings)) or "none"
        assert f"{name}: {keys}" in flat
        assert f"{name}: {', '.join(target.executors) or 'none'}" in " ".join(helps["executor"].split())
    for flag in ("board", "sanitize"):
        assert helps[flag].startswith("(C target)")
    assert cli.commands["report"].params and any(
        (p.help or "").startswith("(C target)") for p in cli.commands["report"].params if p.name == "baseline"
    )
    assert "--option" in verify.get_help(ctx)


@pytest.mark.parametrize(
    ("command", "flag"),
    [("codegen", ("--board", "mps2-an385")), ("verify", ("--sanitize",)), ("report", ("--baseline",))],
)
def test_the_c_flags_are_refused_for_another_target(monkeypatch, capsys, tmp_path, tiny, command, flag):
    model = save_graph(tiny, tmp_path / "m.qsnn")
    args = [command, model, "--target", "hls", *flag]
    args += ["--out", tmp_path / "o"] if command == "codegen" else ["--inputs", tmp_path / "x.npy"]
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 2 and len(error_lines(err)) == 1, out + err
    assert (
        f"{flag[0]} is a setting of the C target (--target c); the hls target takes part, clock_mhz, cxx"
        in err
    )
    assert not (tmp_path / "o").exists()


def test_the_c_flags_still_work_for_the_c_target(monkeypatch, capsys, tmp_path, tiny):
    model = save_graph(tiny, tmp_path / "m.qsnn")
    code, out, err = run_main(
        monkeypatch,
        capsys,
        "codegen",
        model,
        "--target",
        "c",
        "--board",
        "mps2-an385",
        "--out",
        tmp_path / "o",
    )
    assert code == 0, out + err
    assert read_manifest(tmp_path / "o")[2].extra == {"board": "mps2-an385"}
    code, out, err = run_main(
        monkeypatch, capsys, "codegen", model, "--board", "cortex-m0-small", "--out", tmp_path / "p"
    )
    assert code == 0 and (tmp_path / "p" / MANIFEST).exists(), out + err  # the tiny model fits 32 KB / 8 KB


def test_a_from_folder_compares_codegen_options_with_their_defaults(tiny, tmp_path):
    """``verify --from DIR --board mps2-an386`` on a folder generated without --board is the same board; another
    board is refused in one line naming the folder's."""
    from qsnn_deploy.errors import QsnnError
    from qsnn_deploy.targets.folder import open_generated

    generate(tiny, "c", tmp_path)
    target = get_target("c")
    opened = open_generated(
        tiny, target, tmp_path, TargetOptions(extra={"board": "mps2-an386", "dense": "1"})
    )
    assert opened.model.options.board == "mps2-an386" and opened.model.options.dense is True
    with pytest.raises(QsnnError, match=r"--option board differs .* \(board=mps2-an386 \(default\)\)"):
        open_generated(tiny, target, tmp_path, TargetOptions(extra={"board": "mps2-an385"}))
