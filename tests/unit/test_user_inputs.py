"""``--inputs FILE.npy`` / ``--labels FILE.npy`` (qsnn_deploy/data/user_inputs.py): every bad file is one line
and exit code 2 through the real command line, never a traceback and never an unpickling; good files give the
simulator exactly the array they hold (C or Fortran order, static, stream, flattened for a flat model)."""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.data.user_inputs import MAX_INPUT_BYTES, load_user_inputs
from qsnn_deploy.errors import DatasetError
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.limits import MAX_NUM_STEPS
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.sim.executor import simulate
from tests.cli_run import error_lines, run_main
from tests.user_data import mlp_graph, npy_bytes, write

STATIC = random_graph("tiny", 1, state_bits=16, num_steps=4)  # uint8 (1, 16, 16), 3 classes
STREAM = random_graph("tiny-stream", 1, num_steps=6)  # uint8 (2, 16, 16) per step, 3 classes


class Bomb:
    """Unpickling it would create ``path``: proof that a file was unpickled."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Models, good files and one file per defect, written once for the module."""
    d = tmp_path_factory.mktemp("user_inputs")
    save_graph(STATIC, d / "static.qsnn")
    save_graph(STREAM, d / "stream.qsnn")
    x = random_inputs(STATIC, 6, seed=1)
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", np.array([0, 1, 2, 0, 1, 2]))
    np.save(d / "xs.npy", random_inputs(STREAM, 3, seed=1, num_steps=6))
    np.save(d / "float.npy", x.astype(np.float32))
    np.save(d / "ndim3.npy", x[:, 0])
    np.save(d / "frame.npy", x[:, :, :15])
    np.save(d / "empty.npy", x[:0])
    np.save(d / "y_short.npy", np.array([0, 1, 2]))
    np.save(d / "y_range.npy", np.array([0, 1, 2, 3, 1, 2]))
    np.save(d / "y_float.npy", np.array([0, 1, 2, 0, 1, 2], dtype=np.float64))
    np.save(d / "y_2d.npy", np.zeros((6, 1), dtype=np.int64))
    np.save(d / "pickle.npy", np.array([Bomb(d / "UNPICKLED")], dtype=object), allow_pickle=True)
    np.savez(d / "arch.npz", x=x)
    (d / "text.npy").write_text("0 1 2 3\n")
    good = (d / "x.npy").read_bytes()
    write(d / "cut_data.npy", good[:-100])
    write(d / "cut_header.npy", good[:9])
    write(d / "cut_header2.npy", good[:40])
    write(d / "trailing.npy", good + b"\0" * 7)
    write(d / "v3.npy", b"\x93NUMPY\x03\x00" + good[8:])
    write(d / "garbage_header.npy", good[:10] + b"{'descr': __import__('os'), }".ljust(118) + good[128:])
    write(d / "huge_header.npy", b"\x93NUMPY\x02\x00" + (1 << 31).to_bytes(4, "little") + b"{" * 64)
    # Headers claiming absurd arrays, with a few bytes of data: refused from the header alone.
    write(d / "absurd_n.npy", npy_bytes((1 << 40, 1, 16, 16)) + b"\0" * 256)
    write(d / "absurd_frame.npy", npy_bytes((1, 1, 5000, 5000)) + b"\0" * 256)
    write(d / "absurd_steps.npy", npy_bytes((1, MAX_NUM_STEPS + 1, 2, 16, 16)) + b"\0" * 256)
    write(d / "negative.npy", npy_bytes((-1, 1, 16, 16)))
    (d / "folder.npy").mkdir()
    os.mkfifo(d / "pipe.npy")
    return d


BAD = {
    # name: (command tail, the message's distinctive part)
    "dtype": (["--inputs", "float.npy"], "dtype float32, expected uint8 (N, C, H, W) frames"),
    "ndim": (
        ["--inputs", "ndim3.npy"],
        "an array of shape (6, 16, 16); a static model takes uint8 (N, C, H, W)",
    ),
    "frame": (["--inputs", "frame.npy"], "frames of shape (1, 15, 16), the model takes (1, 16, 16)"),
    "empty": (["--inputs", "empty.npy"], "holds no samples"),
    "stream_as_static": (["--inputs", "xs.npy"], "an array of shape (3, 6, 2, 16, 16); a static model takes"),
    "pickle": (["--inputs", "pickle.npy"], "holds Python objects (a pickle), which are never loaded"),
    "npz": (["--inputs", "arch.npz"], "not a .npy file (it is a zip: a .npz archive?"),
    "text": (["--inputs", "text.npy"], "not a .npy file;"),
    "cut_data": (
        ["--inputs", "cut_data.npy"],
        "truncated: the header announces an array of shape (6, 1, 16, 16)",
    ),
    "cut_header": (["--inputs", "cut_header.npy"], "truncated in its header (9 bytes)"),
    "cut_header2": (["--inputs", "cut_header2.npy"], "truncated in its header (40 bytes)"),
    "trailing": (["--inputs", "trailing.npy"], "7 bytes follow the array of shape (6, 1, 16, 16)"),
    "v3": (["--inputs", "v3.npy"], ".npy format version 3.0 is not read"),
    "garbage_header": (["--inputs", "garbage_header.npy"], "malformed .npy header"),
    "huge_header": (["--inputs", "huge_header.npy"], "its header claims 2147483648 bytes, more than 10000"),
    "absurd_n": (
        ["--inputs", "absurd_n.npy"],
        "truncated: the header announces an array of shape (1099511627776,",
    ),
    "absurd_frame": (["--inputs", "absurd_frame.npy"], "frames of shape (1, 5000, 5000) exceed the limits"),
    "negative": (["--inputs", "negative.npy"], "malformed .npy header (shape (-1, 1, 16, 16))"),
    "folder": (["--inputs", "folder.npy"], "is a directory"),
    "fifo": (["--inputs", "pipe.npy"], "is not a regular file (a FIFO, socket or device)"),
    "missing": (["--inputs", "nothing.npy"], "--inputs nothing.npy: no such file"),
    "labels_short": (["--inputs", "x.npy", "--labels", "y_short.npy"], "shape (3,), expected (6,)"),
    "labels_range": (["--inputs", "x.npy", "--labels", "y_range.npy"], "label 3 is outside [0, 3)"),
    "labels_float": (["--inputs", "x.npy", "--labels", "y_float.npy"], "dtype float64, expected integer"),
    "labels_2d": (["--inputs", "x.npy", "--labels", "y_2d.npy"], "shape (6, 1), expected (6,)"),
    "labels_pickle": (
        ["--inputs", "x.npy", "--labels", "pickle.npy"],
        "--labels pickle.npy: holds Python objects",
    ),
    "labels_fifo": (
        ["--inputs", "x.npy", "--labels", "pipe.npy"],
        "--labels pipe.npy: is not a regular file",
    ),
    "with_dataset": (["--inputs", "x.npy", "--dataset", "mnist"], "--inputs and --dataset are exclusive"),
    "labels_alone": (["--labels", "y.npy", "--dataset", "mnist"], "--labels goes with --inputs"),
}


@pytest.mark.parametrize("command", ["simulate", "verify"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_file_is_one_line_and_exit_2(files, monkeypatch, capsys, command, case):
    monkeypatch.chdir(files)
    tail, expected = BAD[case]
    model = ["--model", "static.qsnn"] if command == "simulate" else ["static.qsnn"]
    code, out, err = run_main(monkeypatch, capsys, command, *model, *tail)
    lines = error_lines(err)
    assert code == 2, (out, err)
    assert len(lines) == 1 and expected in lines[0], err
    assert "Traceback" not in err
    assert not (files / "UNPICKLED").exists()


def test_report_refuses_a_bad_file_the_same_way(files, monkeypatch, capsys):
    monkeypatch.chdir(files)
    code, _, err = run_main(
        monkeypatch, capsys, "report", "static.qsnn", "--target", "hls", "--inputs", "ndim3.npy"
    )
    assert code == 2
    assert error_lines(err) == [
        "error: --inputs ndim3.npy: an array of shape (6, 16, 16); a static model takes uint8 (N, C, H, W) with "
        "(C, H, W) = (1, 16, 16)"
    ]


def test_a_stream_file_needs_the_steps_of_the_run(files, monkeypatch, capsys):
    monkeypatch.chdir(files)
    code, _, err = run_main(
        monkeypatch, capsys, "simulate", "--model", "stream.qsnn", "--inputs", "xs.npy", "--num-steps", "7"
    )
    assert code == 2
    assert error_lines(err) == [
        "error: --inputs xs.npy: 6 frames per sample, fewer than the 7 steps of the run; record more frames or "
        "pass --num-steps 6"
    ]


def test_absurd_steps_are_refused_from_the_header(files):
    with pytest.raises(
        DatasetError, match=f"10001 frames per sample, outside the limit \\[1, {MAX_NUM_STEPS}\\]"
    ):
        load_user_inputs(STREAM, files / "absurd_steps.npy")


def test_a_real_file_beyond_the_memory_bound_needs_limit(tmp_path):
    """A sparse file of 4 GiB + 256 bytes: the first samples are read on their own (fast, no 4 GiB read); the
    whole file is refused before any allocation."""
    n = MAX_INPUT_BYTES // 256 + 1
    path = tmp_path / "big.npy"
    with open(path, "wb") as f:
        f.write(npy_bytes((n, 1, 16, 16)))
        f.write(np.arange(512, dtype=np.uint8).tobytes())  # samples 0 and 1
        f.truncate(128 + n * 256)
    assert np.array_equal(
        load_user_inputs(STATIC, path, limit=2).inputs.ravel(), np.arange(512, dtype=np.uint8)
    )
    with pytest.raises(DatasetError, match=f"reading {n} samples needs {n * 256} bytes, more than the limit"):
        load_user_inputs(STATIC, path)


def test_values_beyond_a_narrow_input_type_are_named(files):
    from dataclasses import replace

    from qsnn_deploy.ir.types import IntType

    graph = replace(STATIC, input=replace(STATIC.input, dtype=IntType(4, signed=False)))
    with pytest.raises(DatasetError, match=r"values 0\.\.255 leave the model's input type uint4"):
        load_user_inputs(graph, files / "x.npy")


def test_a_static_file_simulates_exactly_what_it_holds(files, monkeypatch, capsys):
    monkeypatch.chdir(files)
    x, y = np.load(files / "x.npy"), np.load(files / "y.npy")
    code, out, err = run_main(
        monkeypatch, capsys, "simulate", "--model", "static.qsnn", "--inputs", "x.npy", "--labels", "y.npy",
        "--limit", "5", "--json", "r.json",
    )  # fmt: skip
    assert code in (0, 1), err  # 1: a verdict (this random net has a silent layer), not an input error
    assert out.startswith("--inputs x.npy: 5 samples x 4 steps")
    report = json.loads((files / "r.json").read_text())
    sim = simulate(STATIC, x[:5])
    assert report["samples"] == 5 and report["inputs_file"] == "x.npy" and report["dataset"] == "x.npy"
    assert report["int_accuracy"] == float(np.mean(sim.predictions == y[:5]))
    assert report["int_firing_rates"] == sim.firing_rates()


def test_without_labels_there_is_no_accuracy(files, monkeypatch, capsys):
    monkeypatch.chdir(files)
    code, out, err = run_main(
        monkeypatch, capsys, "simulate", "--model", "static.qsnn", "--inputs", "x.npy", "--json", "n.json"
    )
    assert code in (0, 1), err
    assert "accuracy              - (no --labels)" in out and "integer accuracy" not in out
    report = json.loads((files / "n.json").read_text())
    assert report["int_accuracy"] is None and report["samples"] == 6
    assert report["int_firing_rates"] == simulate(STATIC, np.load(files / "x.npy")).firing_rates()


def test_fortran_order_reads_the_same_array(files, tmp_path):
    x = np.load(files / "x.npy")
    np.save(tmp_path / "f.npy", np.asfortranarray(x))
    assert np.load(tmp_path / "f.npy", mmap_mode="r").flags.f_contiguous
    got = load_user_inputs(STATIC, tmp_path / "f.npy", limit=4).inputs
    assert got.flags.c_contiguous and np.array_equal(got, x[:4])


def test_a_longer_stream_uses_the_first_steps_and_says_so(tmp_path):
    xs = random_inputs(STREAM, 4, seed=2, num_steps=9)
    np.save(tmp_path / "long.npy", xs)
    np.save(tmp_path / "labels.npy", np.array([2, 0, 1, 1], dtype=np.uint8))
    user = load_user_inputs(STREAM, tmp_path / "long.npy", tmp_path / "labels.npy")
    assert user.inputs.shape == (4, 6, 2, 16, 16) and np.array_equal(user.inputs, xs[:, :6])
    assert user.notes == ("long.npy holds 9 frames per sample; the first 6 are used",)
    assert user.labels.dtype == np.int64 and user.labels.tolist() == [2, 0, 1, 1]
    sim = simulate(STREAM, user.inputs)
    assert np.array_equal(sim.counts, simulate(STREAM, xs).counts)  # the simulator also uses the first 6


def test_a_flat_model_takes_image_frames_flattened_in_chw_order(tmp_path, monkeypatch, capsys):
    graph = mlp_graph((1, 1, 512), "static", hidden=16, classes=3, num_steps=4)
    frames = np.random.default_rng(3).integers(0, 256, (5, 2, 16, 16)).astype(np.uint8)
    np.save(tmp_path / "img.npy", frames)
    user = load_user_inputs(graph, tmp_path / "img.npy")
    assert user.inputs.shape == (5, 1, 1, 512)
    assert np.array_equal(user.inputs[:, 0, 0], frames.reshape(5, -1))  # C, H, W order
    assert user.notes == (
        "img.npy: frames of shape (2, 16, 16) read in C, H, W order as the model's input (1, 1, 512)",
    )
    save_graph(graph, tmp_path / "mlp.qsnn")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(monkeypatch, capsys, "simulate", "--model", "mlp.qsnn", "--inputs", "img.npy")
    assert code in (0, 1), err
    assert "note: img.npy: frames of shape (2, 16, 16) read in C, H, W order" in out
    np.save(tmp_path / "odd.npy", frames[:, :, :, :15])
    with pytest.raises(DatasetError, match=r"frames of shape \(2, 16, 15\), the model takes \(1, 1, 512\)"):
        load_user_inputs(graph, tmp_path / "odd.npy")


def test_the_reader_never_calls_pickle(files, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    assert load_user_inputs(STATIC, files / "x.npy", files / "y.npy").labels.tolist() == [0, 1, 2, 0, 1, 2]
    with pytest.raises(DatasetError, match="never loaded"):
        load_user_inputs(STATIC, files / "pickle.npy")
    assert zipfile.is_zipfile(files / "arch.npz")  # the .npz case above is a real archive


def test_flat_frames_feed_an_image_model_in_chw_order(files, tmp_path):
    """The other direction of the same rule (data/frames.py): (N, 1, 1, C*H*W) for a (C, H, W) model."""
    x = np.load(files / "x.npy")
    np.save(tmp_path / "flat.npy", x.reshape(6, 1, 1, 256))
    user = load_user_inputs(STATIC, tmp_path / "flat.npy")
    assert np.array_equal(user.inputs, x)
    assert user.notes == (
        "flat.npy: frames of shape (1, 1, 256) read in C, H, W order as the model's input (1, 16, 16)",
    )
    np.save(tmp_path / "other.npy", x.reshape(6, 1, 16, 16).transpose(0, 1, 3, 2).reshape(6, 2, 8, 16))
    with pytest.raises(DatasetError, match=r"frames of shape \(2, 8, 16\), the model takes \(1, 16, 16\)"):
        load_user_inputs(STATIC, tmp_path / "other.npy")  # same count, neither side flat: refused
