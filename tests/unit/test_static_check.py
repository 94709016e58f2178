"""The static check of ``verify --from DIR --allow-edited`` (issue 24, item 5; targets/static_check.py): before
anything is built, the constants in the folder's files must be the IR's. An edit of code that leaves them alone
passes; one changed weight nibble, requantize multiplier low bit, threshold or decay is named with its file,
line (or ONNX initializer) and both values. Nothing is built or run here."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.targets import check_model, generate, get_target
from qsnn_deploy.targets.base import CheckedModel, TargetOptions
from qsnn_deploy.targets.c_header import header_constants, int_value
from qsnn_deploy.targets.static_check import (
    Constant,
    FolderFiles,
    StaticCheckError,
    check_constants,
    first_difference,
    signed,
)
from qsnn_deploy.targets.verilog.constants import memory_image, verilog_value
from tests.cli_run import error_lines, run_main

TARGETS = ("c", "hls", "verilog", "onnx")


@pytest.fixture(scope="module")
def graph():
    return random_graph("tiny", 0, num_steps=6)


def _op(graph, name: str):
    return next(op for op in graph.ops if op.name == name)


def _model(graph, target: str, **extra: str) -> CheckedModel:
    return check_model(graph, get_target(target), TargetOptions("qsnn", extra))


@pytest.fixture
def rendered(graph, tmp_path: Path) -> Callable[..., tuple[CheckedModel, Path, Path]]:
    """(model, fresh render, a copy to edit) for a target and options."""

    def make(target: str, **extra: str) -> tuple[CheckedModel, Path, Path]:
        model = _model(graph, target, **extra)
        fresh, folder = tmp_path / f"fresh-{target}", tmp_path / f"edit-{target}"
        get_target(target).render(model, fresh)
        shutil.copytree(fresh, folder)
        return model, fresh, folder

    return make


def _error(target: str, model: CheckedModel, fresh: Path, folder: Path) -> str:
    with pytest.raises(StaticCheckError) as info:
        check_constants(target, model, fresh, folder)
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == 2
    return message


def _change(
    path: Path, pattern: str, new: Callable[[int], int], fmt: Callable[[int], str] = str
) -> tuple[int, int, int]:
    """Rewrite the number of group 1 at the first match of ``pattern`` in ``path``: (line, old, new value)."""
    text = path.read_text()
    m = re.search(pattern, text, re.S)
    assert m, f"{path.name} no longer holds {pattern!r}"
    old = int(m.group(1), 0)
    value = new(old)
    path.write_text(text[: m.start(1)] + fmt(value) + text[m.end(1) :])
    return text.count("\n", 0, m.start(1)) + 1, old, value


# ---------------------------------------------------------------- edits of code pass


def _edit_c_code(folder: Path) -> None:
    model_c = folder / "qsnn_model.c"
    model_c.write_text("/* my build */\n" + model_c.read_text().replace("{\n", "{ /* mine */\n", 3))
    data = folder / "qsnn_data.h"  # comments and moved lines: the constants stay
    text = data.read_text().replace(
        "#define QSNN_RQ1_SHIFT", "/* #define QSNN_RQ1_SHIFT 1 */\n#define QSNN_RQ1_SHIFT"
    )
    data.write_text("// edited by hand\n\n" + text.replace(", 0x", ",\n    0x", 5))


def _edit_hls_code(folder: Path) -> None:
    top = folder / "qsnn_top.cpp"
    top.write_text(top.read_text().replace("{\n", "{\n#pragma HLS inline off\n", 1))
    data = folder / "qsnn_data.h"
    data.write_text(data.read_text().replace("namespace qsnn_model {", "namespace qsnn_model {\n// tuned\n"))


def _edit_verilog_code(folder: Path) -> None:
    layer = folder / "qsnn_layer.v"
    layer.write_text("// reviewed\n" + layer.read_text())
    top = folder / "qsnn_top.v"
    top.write_text(top.read_text().replace("    qsnn_layer #(", "    // a layer\n    qsnn_layer #(", 1))
    rom = folder / "qsnn_rq1_rq.hex"  # $readmemh comments and an explicit address
    rom.write_text("// requantize ROM\n@0\n" + rom.read_text())


def _edit_onnx_code(folder: Path) -> None:
    import onnx

    proto = onnx.load(str(folder / "model.onnx"))
    proto.graph.node[0].name = "renamed_by_hand"
    proto.doc_string = "edited"
    onnx.save(proto, str(folder / "model.onnx"))


CODE_EDITS = {
    "c": _edit_c_code,
    "hls": _edit_hls_code,
    "verilog": _edit_verilog_code,
    "onnx": _edit_onnx_code,
}


@pytest.mark.parametrize("target", TARGETS)
def test_an_edit_of_code_that_keeps_the_constants_passes(rendered, target: str):
    model, fresh, folder = rendered(target)
    CODE_EDITS[target](folder)
    assert sorted(os.listdir(fresh)) == sorted(os.listdir(folder))
    changed = [n for n in os.listdir(fresh) if (fresh / n).read_bytes() != (folder / n).read_bytes()]
    assert changed, "the edit changed nothing"
    assert check_constants(target, model, fresh, folder) is True


# ---------------------------------------------------------------- changed constants are named


def _nibble(graph) -> tuple[int, int]:
    """conv1's weight[0, 0, 0, 0] and the value a flipped low bit makes of it (as a 4-bit field)."""
    w = int(_op(graph, "conv1").weight[0, 0, 0, 0])
    return w, signed((w & 0xF) ^ 1, 4)


@pytest.mark.parametrize("target", ("c", "hls"))
def test_a_changed_weight_nibble_in_a_data_header_is_named(rendered, graph, target: str):
    model, fresh, folder = rendered(target)
    name = "qsnn_conv1_w" if target == "c" else "conv1_w"
    line, _, _ = _change(folder / "qsnn_data.h", rf"\b{name}\[[^=]*=\s*\{{\s*\{{?\s*(0x[0-9a-f]+)", lambda b: b ^ 1,
                         lambda b: f"0x{b:02x}")  # fmt: skip
    was, now = _nibble(graph)
    message = _error(target, model, fresh, folder)
    assert (
        f"qsnn_data.h:{line}: conv1 weight[0, 0, 0, 0] in layer 'lif1' is {now}, the IR gives {was} ({name}[0]"
        in message
    )


@pytest.mark.parametrize("target", ("c", "hls"))
def test_a_changed_multiplier_low_bit_in_a_data_header_is_named(rendered, graph, target: str):
    model, fresh, folder = rendered(target)
    name = "qsnn_rq2_mult" if target == "c" else "rq2_mult"
    line, old, new = _change(folder / "qsnn_data.h", rf"\b{name}\[\w*\]\s*=\s*\{{\s*(-?\d+)", lambda m: m ^ 1)
    assert old == int(_op(graph, "rq2").multiplier[0])
    message = _error(target, model, fresh, folder)
    assert (
        f"qsnn_data.h:{line}: rq2 multiplier[0] in layer 'lif2' is {new}, the IR gives {old} ({name}[0])"
        in message
    )


THRESHOLD = {"c": r"#define QSNN_LIF2_THRESHOLD (\d+)", "hls": r"struct lif2_cfg \{.*?THRESHOLD = (\d+)"}
DECAY = {"c": r"#define QSNN_LIF3_DECAY_MULT (\d+)", "hls": r"struct lif3_cfg \{.*?DECAY_MULT = (\d+)"}
STORED = {
    "c": ("QSNN_LIF2_THRESHOLD", "QSNN_LIF3_DECAY_MULT"),
    "hls": ("lif2_cfg::THRESHOLD", "lif3_cfg::DECAY_MULT"),
}


@pytest.mark.parametrize("target", ("c", "hls"))
def test_a_changed_threshold_or_decay_in_a_data_header_is_named(rendered, graph, target: str):
    model, fresh, folder = rendered(target)
    line, old, new = _change(folder / "qsnn_data.h", THRESHOLD[target], lambda t: t + 1)
    assert old == _op(graph, "lif2").threshold
    message = _error(target, model, fresh, folder)
    assert f"qsnn_data.h:{line}: lif2 threshold is {new}, the IR gives {old} ({STORED[target][0]})" in message
    shutil.copy(fresh / "qsnn_data.h", folder / "qsnn_data.h")
    line, old, new = _change(folder / "qsnn_data.h", DECAY[target], lambda d: d - 1)
    assert old == _op(graph, "lif3").decay_multiplier
    message = _error(target, model, fresh, folder)
    assert (
        f"qsnn_data.h:{line}: lif3 decay multiplier is {new}, the IR gives {old} ({STORED[target][1]})"
        in message
    )


def _flip_word(path: Path, index: int, bit: int = 0) -> int:
    words = path.read_text().split("\n")
    words[index] = f"{int(words[index], 16) ^ (1 << bit):0{len(words[index])}x}"
    path.write_text("\n".join(words))
    return index + 1


def test_a_changed_low_bit_of_a_verilog_requantize_rom_is_named(rendered, graph):
    """The issue's case: a multiplier's low bit that 20 samples did not reach."""
    model, fresh, folder = rendered("verilog")
    line = _flip_word(folder / "qsnn_rq1_rq.hex", 2)
    m = int(_op(graph, "rq1").multiplier[2])  # one neuron lane per word in this layout
    message = _error("verilog", model, fresh, folder)
    assert (
        f"qsnn_rq1_rq.hex:{line}: rq1 multiplier[2] in layer 'lif1' is {m ^ 1}, the IR gives {m} (qsnn_rq1_rq.hex[2], stored"
        in message
    )


def test_a_changed_weight_nibble_in_a_verilog_rom_is_named(rendered, graph):
    model, fresh, folder = rendered("verilog")
    line = _flip_word(folder / "qsnn_conv1_w.hex", 0)
    was, now = _nibble(graph)
    message = _error("verilog", model, fresh, folder)
    assert (
        f"qsnn_conv1_w.hex:{line}: conv1 weight[0, 0, 0, 0] in layer 'lif1' is {now}, the IR gives {was}"
        in message
    )


def test_a_changed_threshold_or_decay_parameter_in_verilog_is_named(rendered, graph):
    model, fresh, folder = rendered("verilog")
    top = folder / "qsnn_top.v"
    line, old, new = _change(top, r"u_lif1 \(.*?\.THRESH\(32'd(\d+)\)", lambda t: t - 1)
    assert old == _op(graph, "lif2").threshold
    message = _error("verilog", model, fresh, folder)
    assert f"qsnn_top.v:{line}: lif2 threshold is {new}, the IR gives {old} (u_lif2.THRESH)" in message
    shutil.copy(fresh / "qsnn_top.v", top)
    line, old, new = _change(top, r"u_lif2 \(.*?\.DECAY_MULT\(33'd(\d+)\)", lambda d: d + 1)
    assert old == _op(graph, "lif3").decay_multiplier
    message = _error("verilog", model, fresh, folder)
    assert (
        f"qsnn_top.v:{line}: lif3 decay multiplier is {new}, the IR gives {old} (u_lif3.DECAY_MULT)"
        in message
    )


def test_the_serial_layer_table_and_rom_are_checked(rendered, graph):
    model, fresh, folder = rendered("verilog", arch="serial")
    top = folder / "qsnn_top.v"
    line, old, new = _change(top, r"2'd1: begin.*?d_thresh = \d+'d(\d+);", lambda t: t + 2)
    message = _error("verilog", model, fresh, folder)
    assert f"qsnn_top.v:{line}: lif2 threshold is {new}, the IR gives {old} (layer 1 d_thresh)" in message
    shutil.copy(fresh / "qsnn_top.v", top)
    channels = len(_op(graph, "rq1").multiplier)  # word k: channel k of all layers in order
    line = _flip_word(folder / "qsnn_rq.hex", channels + 1)
    m = int(_op(graph, "rq2").multiplier[1])
    assert f"qsnn_rq.hex:{line}: rq2 multiplier[1] is {m ^ 1}, the IR gives {m}" in _error(
        "verilog", model, fresh, folder
    )


def _set_initializer(path: Path, name: str, index: int, change: Callable[[int], int]) -> tuple[int, int]:
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    for tensor in proto.graph.initializer:
        if tensor.name == name:
            values = numpy_helper.to_array(tensor).copy()
            old = int(values.reshape(-1)[index])
            values.reshape(-1)[index] = change(old)
            tensor.CopyFrom(numpy_helper.from_array(values, name))
            onnx.save(proto, str(path))
            return old, change(old)
    raise AssertionError(f"model.onnx has no initializer {name}")


@pytest.mark.parametrize(
    ("initializer", "index", "change", "named"),
    [
        (
            "conv2_weight",
            1 * 4 * 25 + 2 * 25 + 3 * 5 + 4,
            lambda w: w ^ 1,
            "conv2 weight[1, 2, 3, 4] in layer 'lif2'",
        ),
        ("fc1_weight", 2 * 3 + 1, lambda w: w ^ 1, "fc1 weight[1, 2] in layer 'lif3'"),  # stored (I, O)
        ("rq1_multiplier", 3, lambda m: m ^ 1, "rq1 multiplier[3] in layer 'lif1'"),
        ("lif2_threshold", 0, lambda t: t + 1, "lif2 threshold"),
        ("lif3_decay_multiplier", 0, lambda d: d - 1, "lif3 decay multiplier"),
    ],
)
def test_a_changed_onnx_initializer_is_named(rendered, graph, initializer, index, change, named):
    assert _op(graph, "conv2").weight.shape == (4, 4, 5, 5) and _op(graph, "fc1").weight.shape == (3, 4)
    model, fresh, folder = rendered("onnx")
    old, new = _set_initializer(folder / "model.onnx", initializer, index, change)
    stored = f"[{index}]" if initializer in ("conv2_weight", "fc1_weight", "rq1_multiplier") else ""
    message = _error("onnx", model, fresh, folder)
    assert f"model.onnx, initializer {initializer}{stored}: {named} is {new}, the IR gives {old}" in message


# ---------------------------------------------------------------- what cannot be compared is refused


def test_a_constant_moved_out_of_its_place_is_named(rendered):
    model, fresh, folder = rendered("c")
    data = folder / "qsnn_data.h"
    data.write_text(data.read_text().replace("QSNN_LIF1_THRESHOLD", "MY_THRESHOLD"))
    message = _error("c", model, fresh, folder)
    assert (
        "qsnn_data.h no longer holds QSNN_LIF1_THRESHOLD (lif1 threshold; codegen writes it at line"
        in message
    )


def test_a_missing_or_deleted_file_is_named(rendered):
    model, fresh, folder = rendered("verilog")
    (folder / "qsnn_fc1_w.hex").unlink()
    assert "qsnn_fc1_w.hex no longer holds qsnn_fc1_w.hex (fc1 weight" in _error(
        "verilog", model, fresh, folder
    )


def test_a_shorter_rom_is_named(rendered):
    model, fresh, folder = rendered("verilog")
    rom = folder / "qsnn_conv2_w.hex"
    words = rom.read_text().split()
    rom.write_text("\n".join(words[:-1]) + "\n")
    message = _error("verilog", model, fresh, folder)
    assert (
        f"qsnn_conv2_w.hex (conv2 weight) holds {len(words) - 1} values, the IR gives {len(words)}" in message
    )


def test_a_fifo_or_link_in_place_of_a_file_is_refused_without_blocking(rendered, tmp_path: Path):
    model, fresh, folder = rendered("c")
    data = folder / "qsnn_data.h"
    data.unlink()
    os.mkfifo(data)
    assert "qsnn_data.h is not a regular file" in _error("c", model, fresh, folder)
    data.unlink()
    data.symlink_to(fresh / "qsnn_data.h")
    assert "qsnn_data.h is not a regular file" in _error("c", model, fresh, folder)


def test_a_file_far_larger_than_codegens_is_not_read(rendered):
    model, fresh, folder = rendered("c")
    data = folder / "qsnn_data.h"
    data.write_bytes(data.read_bytes() + b" " * (17 * data.stat().st_size + (1 << 20)))
    assert "more than the" in _error("c", model, fresh, folder)


def test_an_onnx_initializer_in_an_external_file_is_never_opened(rendered, tmp_path: Path):
    import onnx

    model, fresh, folder = rendered("onnx")
    proto = onnx.load(str(folder / "model.onnx"))
    tensor = proto.graph.initializer[0]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"
    tensor.ClearField("raw_data")
    onnx.save(proto, str(folder / "model.onnx"))
    assert "keeps its data in another file, which the check never opens" in _error(
        "onnx", model, fresh, folder
    )
    (folder / "model.onnx").write_bytes(b"not a model")
    assert "model.onnx is not an ONNX model" in _error("onnx", model, fresh, folder)


def test_a_target_without_constants_is_not_checked(graph, tmp_path: Path):
    model = _model(graph, "nir")
    assert check_constants("nir", model, tmp_path, tmp_path) is False


# ---------------------------------------------------------------- the readers


def test_c_literals_are_read_as_the_integers_they_spell():
    assert [int_value(t) for t in ("(-2147483647 - 1)", "(INT64_C(-9223372036854775807) - 1)", "0x3au", "128LL")] == [
        -(1 << 31), -(1 << 63), 0x3A, 128,
    ]  # fmt: skip
    assert int_value(" true ") == "true"
    found = header_constants("/* static const int X = 1; */\nstatic const int A = 1, B = (2 + 1);\n"
                             "struct s { static const long long T = 5LL; };\n#define D 7 // seven\n"
                             "static const uint8_t w[2][2] = {\n { 0x01, 0x02 },\n { 3, 4 }\n};\n")  # fmt: skip
    assert [(f.key, f.values, f.lines) for f in found] == [
        ("A", (1,), (2,)), ("B", (3,), (2,)), ("s::T", (5,), (3,)), ("D", (7,), (4,)),
        ("w", (1, 2, 3, 4), (6, 6, 7, 7)),
    ]  # fmt: skip


def test_verilog_numbers_and_memory_images_are_read_by_address():
    assert [verilog_value(t) for t in ("32'd17", "8'hff", "4'b1010", "12", '"a.hex"')] == [
        17,
        255,
        10,
        12,
        '"a.hex"',
    ]
    values, lines = memory_image("// head\n0a\n@3 ff /* x */\n1\n")
    assert values == (10, "unset", "unset", 255, 1) and lines == (2, 0, 0, 3, 4)


def test_first_difference_prefers_the_first_constant_in_the_fresh_order():
    want = [Constant("f", "a", "op a", (1, 2), (1, 1)), Constant("f", "b", "op b", (3,), (2,))]
    got = [Constant("f", "b", "op b", (4,), (9,)), Constant("f", "a", "op a", (1, 5), (7, 8)),
           Constant("f", "extra", "mine", (0,), (1,))]  # fmt: skip
    assert first_difference(want, got) == "f:8: op a[1] is 5, the IR gives 2 (a[1])"
    assert first_difference(want, want) is None


def test_folder_files_reads_nothing_codegen_does_not_write(tmp_path: Path):
    (tmp_path / "mine.h").write_text("x")
    with pytest.raises(StaticCheckError, match="more than the 0 the check reads"):
        FolderFiles(tmp_path, {}).data("mine.h")
    assert FolderFiles(tmp_path, {}).data("absent.h") is None


# ---------------------------------------------------------------- through the command line


def test_verify_from_allow_edited_fails_on_the_rom_bit_before_building(
    monkeypatch, capsys, graph, tmp_path: Path
):
    """The issue's reproduction through ``verify --from --allow-edited``: exit 2 with the ROM word named, before
    any build (the target's simulator is never needed)."""
    save_graph(graph, tmp_path / "m.qsnn")
    np.save(tmp_path / "x.npy", random_inputs(graph, 2, seed=1).astype(np.uint8))
    folder = tmp_path / "gen"
    generate(graph, "verilog", folder)
    line = _flip_word(folder / "qsnn_rq1_rq.hex", 0)
    monkeypatch.setenv("PATH", "/nonexistent")  # nothing could be built: the check must come first
    code, out, err = run_main(monkeypatch, capsys, "verify", tmp_path / "m.qsnn", "--target", "verilog",
                              "--inputs", tmp_path / "x.npy", "--from", folder, "--allow-edited")  # fmt: skip
    assert code == 2 and len(error_lines(err)) == 1, out + err
    m = int(_op(graph, "rq1").multiplier[0])
    assert f"qsnn_rq1_rq.hex:{line}: rq1 multiplier[0] in layer 'lif1' is {m ^ 1}, the IR gives {m}" in err


# ---------------------------------------------------------------- decoded names are the IR's


NAMED = re.compile(r"^(\w+) (weight|multiplier|bias|sign)\[([\d, ]+)\]")
LAYOUTS = [
    ("c", "tiny", "sum", {}),
    ("c", "mnist", "sum", {}),  # conv2 takes the fused kernel: its weights are also stored as words
    ("c", "tiny", "max", {}),
    ("hls", "tiny", "max", {}),
    ("verilog", "tiny", "sum", {}),
    ("verilog", "tiny", "max", {"lanes": "2", "neurons": "2"}),
    ("verilog", "tiny", "sum", {"arch": "serial"}),
]


@pytest.mark.parametrize(("target", "arch", "pool", "extra"), LAYOUTS)
def test_every_decoded_element_names_the_ir_value_it_holds(tmp_path: Path, target, arch, pool, extra):
    """For every bit of every stored weight and requantize element, the decoder's name and IR value agree with
    the graph: flipping any bit is reported as the IR element it changes."""
    graph = random_graph(arch, 1, num_steps=4, pool=pool)
    model = _model(graph, target, **extra)
    get_target(target).render(model, tmp_path)
    constants = [c for c in get_module(target).constants(model, FolderFiles(tmp_path)) if c.decode]
    assert constants
    if (target, arch) == ("c", "mnist"):
        assert any(c.name.endswith("#2") for c in constants), "no fused-kernel words: that layout is untested"
    ops = {op.name: op for op in graph.ops}
    checked = 0
    for c in constants:
        for i in range(0, len(c.values), max(1, len(c.values) // 40)):
            value = c.values[i]
            assert isinstance(value, int)
            for bit in range(max(value.bit_length(), 8)):
                decoded = c.decode(i, value ^ (1 << bit), value)
                if decoded is None:
                    continue  # a padding bit
                name, got, want = decoded
                m = NAMED.match(name)
                assert m and got != want, name
                op, tensor = ops[m.group(1)], m.group(2)
                index = tuple(int(x) for x in m.group(3).split(", "))
                array = op.weight if tensor == "weight" else getattr(op, tensor)
                # a max pool's sign is a ROM bit: 1 pools by the minimum
                ir = int(array[index]) < 0 if tensor == "sign" else int(array[index])
                assert ir == int(want), (c.name, i, bit, name)
                checked += 1
    assert checked > 100


def get_module(target: str):
    import importlib

    return importlib.import_module(f"qsnn_deploy.targets.{target}.constants")
