"""Hostile inputs end in one line and exit code 2, never a traceback (issue 23, item 7): each case of the
red-team list is built here, small, in ``tmp_path`` and run through the command line. The case names follow
the issue's groups: IR and target options, NIR import, checkpoint config, datasets."""

from __future__ import annotations

import gzip
import zipfile
from collections.abc import Callable
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from tests.cli_run import error_lines, run_main

BUNDLED = Path(__file__).resolve().parents[2] / "examples" / "mnist" / "model.pt"
DT = 1e-4
Case = Callable[[Path], list]  # builds its files in the folder, returns the command line


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A tiny valid IR (m.qsnn), its inputs (x.npy), its onnx folder, and the bundled checkpoint's payload."""
    root = tmp_path_factory.mktemp("hostile")
    graph = random_graph("tiny", 0, num_steps=4)
    save_graph(graph, root / "m.qsnn")
    np.save(root / "x.npy", random_inputs(graph, 2, seed=1).astype(np.uint8))
    return root


# ---- IR and target options ------------------------------------------------------------------------------


def _ir_with(base: Path, folder: Path, edit: Callable[[str], str]) -> Path:
    """m.qsnn with its manifest text passed through ``edit`` (the raw JSON, so 1e400 stays 1e400)."""
    path = folder / "hostile.qsnn"
    with zipfile.ZipFile(base / "m.qsnn") as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "manifest.json":
                data = edit(data.decode()).encode()
            dst.writestr(info.filename, data)
    return path


def _metadata_key(value: str) -> Callable[[str], str]:
    return lambda text: text.replace('"metadata": {', '"metadata": {"zz_unknown": ' + value + ", ", 1)


def _deep_manifest(base: Path, tmp: Path) -> list:
    folder = tmp / "gen"
    folder.mkdir()
    # the issue's 100k deep; a manifest's 64 KiB hold 32k levels, still far past the recursion limit
    (folder / "qsnn-target.json").write_text("[" * 30_000 + "]" * 30_000)
    return ["verify", base / "m.qsnn", "--inputs", base / "x.npy", "--from", folder]


IR_CASES: dict[str, Callable[[Path, Path], list]] = {
    "ir: 1e400 in an unknown metadata key (codegen)": lambda b, t: [
        "codegen", _ir_with(b, t, _metadata_key("1e400")), "--out", t / "o"
    ],
    "ir: -1e400 nested in metadata (verify)": lambda b, t: [
        "verify", _ir_with(b, t, _metadata_key('{"a": [-1e400]}')), "--inputs", b / "x.npy", "--target", "onnx"
    ],
    "ir: qsnn-target.json nested 30k deep": _deep_manifest,
    "options: threads=superscript-two (onnx)": lambda b, t: [
        "verify", b / "m.qsnn", "--inputs", b / "x.npy", "--target", "onnx", "--option", "threads=²"
    ],
    "options: threads=99999999999 (onnx)": lambda b, t: [
        "verify", b / "m.qsnn", "--inputs", b / "x.npy", "--target", "onnx", "--option", "threads=99999999999"
    ],
    "options: jobs=superscript-two (verilog)": lambda b, t: [
        "verify", b / "m.qsnn", "--inputs", b / "x.npy", "--target", "verilog", "--option", "jobs=²"
    ],
    "options: jobs=99999999999 (verilog)": lambda b, t: [
        "verify", b / "m.qsnn", "--inputs", b / "x.npy", "--target", "verilog", "--option", "jobs=99999999999"
    ],
}  # fmt: skip


# ---- NIR import -----------------------------------------------------------------------------------------


def _lif(n: int, **override) -> nir.LIF:
    tau = np.full(n, DT / (1 - 0.9))
    params = {"tau": tau, "r": tau / DT, "v_leak": np.zeros(n), "v_threshold": np.ones(n)}
    params.update({k: np.full(n, v) for k, v in override.items()})
    return nir.LIF(**params)


def _mlp(shape=(1, 4, 4), weight=None, lif=None, metadata=None, conv=None) -> nir.NIRGraph:
    n_in = int(np.prod(shape)) if all(s > 0 for s in shape) else 16
    nodes = {"input": nir.Input(input_type={"input": np.array(shape)})}
    if conv is not None:
        nodes["conv"] = conv
    nodes["flat"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0)
    nodes["fc"] = nir.Linear(weight=np.full((3, n_in), 0.3, np.float32) if weight is None else weight)
    nodes["lif"] = lif or _lif(3)
    nodes["output"] = nir.Output(output_type={"output": np.array([3])})
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), metadata=metadata or {},
                        type_check=False)  # fmt: skip


def _nir(graph_or_edit, *flags: str) -> Callable[[Path, Path], list]:
    def build(base: Path, tmp: Path) -> list:
        path = tmp / "net.nir"
        graph = graph_or_edit() if callable(graph_or_edit) else graph_or_edit
        nir.write(path, graph)
        return ["import", path, "--out", tmp / "o.qsnn", *flags]

    return build


def _h5_weight(make: Callable) -> Callable[[Path, Path], list]:
    """The fixture-free MLP with its Linear weight replaced in the HDF5 file by ``make(h5file, key)``."""

    def build(base: Path, tmp: Path) -> list:
        import h5py

        path = tmp / "net.nir"
        nir.write(path, _mlp())
        with h5py.File(path, "r+") as f:
            key = "node/nodes/fc/weight"
            del f[key]
            make(f, key)
        return ["import", path, "--out", tmp / "o.qsnn", "--num-steps", "4", "--dt", str(DT)]

    return build


def _conv(weight=None, stride: int = 1, padding: int = 0) -> nir.Conv2d:
    w = np.full((2, 1, 3, 3), 0.1, np.float32) if weight is None else weight
    return nir.Conv2d(input_shape=(4, 4), weight=w, stride=stride, padding=padding, dilation=1, groups=1,
                      bias=np.zeros(2))  # fmt: skip


STEPS = ("--num-steps", "4", "--dt", str(DT))
NIR_CASES: dict[str, Callable[[Path, Path], list]] = {
    "nir: string weight dtype": _h5_weight(
        lambda f, k: f.create_dataset(k, data=np.full((3, 16), "1.5", dtype=object), dtype=__import__("h5py").string_dtype())
    ),
    "nir: compound weight dtype": _h5_weight(
        lambda f, k: f.create_dataset(k, data=np.zeros((3, 16), dtype=[("a", "f4"), ("b", "i4")]))
    ),
    "nir: v_threshold 1e-300": _nir(lambda: _mlp(lif=_lif(3, v_threshold=1e-300)), *STEPS),
    "nir: r 1e300": _nir(lambda: _mlp(lif=_lif(3, r=1e300)), *STEPS),
    "nir: metadata num_steps NaN": _nir(lambda: _mlp(metadata={"num_steps": float("nan"), "dt": DT})),
    "nir: metadata num_steps inf": _nir(lambda: _mlp(metadata={"num_steps": float("inf"), "dt": DT})),
    "nir: metadata num_steps 'abc'": _nir(lambda: _mlp(metadata={"num_steps": "abc", "dt": DT})),
    "nir: metadata num_steps array": _nir(lambda: _mlp(metadata={"num_steps": np.array([4, 5]), "dt": DT})),
    "nir: metadata dt 'abc'": _nir(lambda: _mlp(metadata={"num_steps": 4, "dt": "abc"})),
    "nir: metadata dt inf": _nir(lambda: _mlp(metadata={"num_steps": 4, "dt": float("inf")})),
    "nir: metadata input_scale 'abc'": _nir(lambda: _mlp(metadata={"num_steps": 4, "dt": DT, "input_scale": "abc"})),
    "nir: metadata input_scale inf": _nir(lambda: _mlp(metadata={"num_steps": 4, "dt": DT, "input_scale": float("inf")})),
    "nir: metadata num_steps 2e6": _nir(lambda: _mlp(metadata={"num_steps": 2e6, "dt": DT})),
    "nir: metadata num_steps 1e9": _nir(lambda: _mlp(metadata={"num_steps": 1e9, "dt": DT})),
    "nir: metadata input_scale 1e300": _nir(lambda: _mlp(metadata={"num_steps": 4, "dt": DT, "input_scale": 1e300})),
    "nir: a Linear after a conv of another size": _nir(lambda: _mlp(conv=_conv(stride=3)), *STEPS),
    "nir: conv padding -5": _nir(lambda: _mlp(conv=_conv(padding=-5)), *STEPS),
    "nir: conv with 2 biases for 5 channels": _nir(
        lambda: _mlp(conv=_conv(weight=np.full((5, 1, 3, 3), 0.1, np.float32))), *STEPS
    ),
    "nir: weight shape mismatch": _nir(lambda: _mlp(weight=np.full((3, 7), 0.3, np.float32)), *STEPS),
    "nir: zero input shape": _nir(lambda: _mlp(shape=(1, 0, 4)), *STEPS),
    "nir: negative input shape": _nir(lambda: _mlp(shape=(1, -4, 4)), *STEPS),
    "nir: kernel larger than its input": _nir(
        lambda: _mlp(shape=(1, 4, 4), conv=nir.Conv2d(input_shape=(4, 4), weight=np.full((2, 1, 9, 9), 0.1, np.float32),
                                                      stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(2))),
        *STEPS,
    ),
    "nir: an input of (3, 4096, 4096)": _nir(lambda: _mlp(shape=(3, 4096, 4096), weight=np.full((3, 16), 0.3, np.float32)), *STEPS),
}  # fmt: skip


# ---- checkpoint config ----------------------------------------------------------------------------------


def _checkpoint(edit: Callable[[dict], None]) -> Callable[[Path, Path], list]:
    def build(base: Path, tmp: Path) -> list:
        payload = torch.load(BUNDLED, weights_only=True)
        edit(payload)
        torch.save(payload, tmp / "ck.pt")
        return ["export", tmp / "ck.pt", "--out", tmp / "o.qsnn"]

    return build


def _set_config(**values) -> Callable[[dict], None]:
    return lambda p: p["config"].update(values)


def _negative_running_var(p: dict) -> None:
    p["state_dict"]["conv1_bn.running_var"] = -p["state_dict"]["conv1_bn.running_var"].abs()


CHECKPOINT_CASES: dict[str, Callable[[Path, Path], list]] = {
    "checkpoint: input_hw [inf, 28]": _checkpoint(_set_config(input_hw=[float("inf"), 28])),
    "checkpoint: input_hw [1e5, 1e5]": _checkpoint(_set_config(input_hw=[100_000, 100_000])),
    "checkpoint: num_classes -1": _checkpoint(_set_config(num_classes=-1)),
    "checkpoint: conv2_channels 1e12": _checkpoint(_set_config(conv2_channels=10**12)),
    "checkpoint: metrics given as a list": _checkpoint(lambda p: p.update(metrics=[1.0, 2.0])),
    "checkpoint: train given as a list": _checkpoint(lambda p: p.update(train=[50], metrics={})),
    "checkpoint: negative BatchNorm running_var": _checkpoint(_negative_running_var),
    "checkpoint: bits given as a string": _checkpoint(_set_config(bits="4")),
    "checkpoint: batch_norm given as a string": _checkpoint(_set_config(batch_norm="yes")),
    "checkpoint: a complex weight tensor": _checkpoint(
        lambda p: p["state_dict"].update(
            {"conv1.weight": p["state_dict"]["conv1.weight"].to(torch.complex64)}
        )
    ),
    # item 5: steps are bounded when read, before a run of that many steps (16 GB RSS at 40000)
    "checkpoint: metrics num_steps 40000": _checkpoint(lambda p: p["metrics"].update(num_steps=40000.0)),
    "checkpoint: train num_steps 1e9": _checkpoint(
        lambda p: p.update(metrics={}, train={**p["train"], "num_steps": 1e9})
    ),
}


# ---- datasets -------------------------------------------------------------------------------------------

NOT_UTF8 = b"\xff\xfe\x80 1 2\n"


def _nmnist_list(base: Path, tmp: Path) -> list:
    folder = tmp / "data" / "nmnist-small"
    folder.mkdir(parents=True)
    (folder / "test100.txt").write_bytes(NOT_UTF8)
    return ["simulate", "--model", base / "m.qsnn", "--dataset", "nmnist", "--data-dir", tmp / "data"]


def _empty_event_set(dataset: str, command: str) -> Callable[[Path, Path], list]:
    def build(base: Path, tmp: Path) -> list:
        if dataset == "nmnist":
            (tmp / "data" / "nmnist-small").mkdir(parents=True)
            (tmp / "data" / "nmnist-small" / "test100.txt").write_text("# no samples\n")
        else:
            (tmp / "data" / "DvsGesture").mkdir(parents=True)
            (tmp / "data" / "DvsGesture" / "trials_to_test.txt").write_text("")
        model = ["--model", base / "m.qsnn"] if command == "simulate" else [base / "m.qsnn"]
        return [command, *model, "--dataset", dataset, "--data-dir", tmp / "data"]

    return build


def _dvs(trials: bytes, labels: bytes | None) -> Callable[[Path, Path], list]:
    def build(base: Path, tmp: Path) -> list:
        folder = tmp / "data" / "DvsGesture"
        folder.mkdir(parents=True)
        (folder / "trials_to_test.txt").write_bytes(trials)
        (folder / "trials_to_train.txt").write_bytes(trials)
        (folder / "user01_fluorescent.aedat").write_bytes(b"#!AER-DAT2.0\r\n")
        if labels is None:
            (folder / "user01_fluorescent_labels.csv").mkdir()
        else:
            (folder / "user01_fluorescent_labels.csv").write_bytes(labels)
        return ["simulate", "--model", base / "m.qsnn", "--dataset", "dvs", "--data-dir", tmp / "data"]

    return build


def _empty_mnist(command: str) -> Callable[[Path, Path], list]:
    def build(base: Path, tmp: Path) -> list:
        folder = tmp / "data" / "mnist"
        folder.mkdir(parents=True)
        with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\x00\x00\x08\x03" + np.array([0, 28, 28], ">u4").tobytes())
        with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\x00\x00\x08\x01" + np.array([0], ">u4").tobytes())
        model = _mnist_model(tmp)
        if command == "simulate":
            return ["simulate", "--model", model, "--dataset", "mnist", "--data-dir", tmp / "data"]
        return [command, model, "--dataset", "mnist", "--data-dir", tmp / "data"]

    return build


def _mnist_model(tmp: Path) -> Path:
    """A small IR taking MNIST's (1, 28, 28) frames, recording dataset mnist."""
    graph = random_graph("mnist", 0, num_steps=2, conv1_channels=2)
    graph.metadata["dataset"] = "mnist"
    return save_graph(graph, tmp / "mnist.qsnn")


DATASET_CASES: dict[str, Callable[[Path, Path], list]] = {
    "data: non-UTF-8 N-MNIST list": _nmnist_list,
    "data: non-UTF-8 DVS trial list": _dvs(NOT_UTF8, b"class,startTime_usec,endTime_usec\n1,0,10\n"),
    "data: non-UTF-8 DVS labels CSV": _dvs(b"user01_fluorescent.aedat\n", NOT_UTF8),
    "data: a DVS labels CSV that is a folder": _dvs(b"user01_fluorescent.aedat\n", None),
    "data: MNIST test set of 0 images (verify)": _empty_mnist("verify"),
    "data: MNIST test set of 0 images (simulate)": _empty_mnist("simulate"),
    "data: MNIST test set of 0 images (report)": _empty_mnist("report"),
    "data: N-MNIST list of 0 samples (verify)": _empty_event_set("nmnist", "verify"),
    "data: N-MNIST list of 0 samples (report)": _empty_event_set("nmnist", "report"),
    "data: DVS trial list of 0 segments (simulate)": _empty_event_set("dvs", "simulate"),
}

CASES = {**IR_CASES, **NIR_CASES, **CHECKPOINT_CASES, **DATASET_CASES}

# What each refusal must name: the right reader refused, for the right reason (not a later, incidental one).
EXPECT = {
    "ir: 1e400": "1e400, out of a float's range",
    "ir: -1e400": "-1e400, out of a float's range",
    "nested 30k deep": "unreadable target manifest",
    "threads=": "give an integer from 1 to 1024",
    "jobs=": "--option jobs=",
    "string weight dtype": "holds strings",
    "compound weight dtype": "not a plain int",
    "v_threshold 1e-300": "outside the range an integer layer represents",
    "r 1e300": "outside the range an integer layer represents",
    "num_steps NaN": "metadata num_steps must be a finite number",
    "num_steps inf": "metadata num_steps must be a finite number",
    "num_steps 'abc'": "metadata num_steps is 'abc', not one number",
    "num_steps array": "metadata num_steps is '[4 5]', not one number",
    "dt 'abc'": "metadata dt is 'abc'",
    "dt inf": "metadata dt must be a finite number",
    "input_scale 'abc'": "metadata input_scale is 'abc'",
    "input_scale inf": "metadata input_scale must be a finite number",
    "weight shape mismatch": "takes 7 features, its input has 16",
    "input_scale 1e300": "input scale 1e+300 is outside 2^-80 to 2^80",
    "Linear after a conv": "takes 16 features, its input has 2",
    "padding -5": "stride 1 and padding -5",
    "2 biases for 5": "2 biases for 5 output channels",
    "zero input shape": "every size must be at least 1",
    "negative input shape": "every size must be at least 1",
    "kernel larger": "window is larger than its input",
    "(3, 4096, 4096)": "more than an IR input's",
    "input_hw [inf": "'input_hw' must be an integer",
    "input_hw [1e5": "'input_hw' must be an integer from 1 to",
    "num_classes -1": "'num_classes' must be an integer from 1 to",
    "conv2_channels": "'conv2_channels' must be an integer from 1 to",
    "metrics given": "'metrics' is a list, not a dict",
    "train given": "'train' is a list, not a dict",
    "running_var": "negative variance",
    "bits given as a string": "'bits' must be null or an integer 1 to 16",
    "batch_norm given": "'batch_norm' must be true or false",
    "complex weight": "holds complex numbers",
    "num_steps 40000": "invalid number of time steps 40000.0",
    "train num_steps 1e9": "invalid number of time steps 1000000000.0",
    "metadata num_steps 2e6": "metadata num_steps must be a whole number from 1 to 10000",
    "metadata num_steps 1e9": "metadata num_steps must be a whole number from 1 to 10000",
    "non-UTF-8 N-MNIST list": "cannot be read as UTF-8 text",
    "non-UTF-8 DVS trial list": "split list",
    "DVS labels CSV": "label file",
    "that is a folder": "Is a directory",
    "0 images": "holds no images",
    "0 samples": "lists no samples",
    "0 segments": "lists no labelled segments",
}


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_input_is_one_line_and_exit_code_2(monkeypatch, capsys, base: Path, tmp_path: Path, case):
    args = CASES[case](base, tmp_path)
    code, out, err = run_main(monkeypatch, capsys, *args)  # an exception let through fails the test
    lines = error_lines(err)
    assert code == 2, f"exit {code}\n{out}\n{err}"
    assert len(lines) == 1 and len(lines[0]) < 600, err
    assert "Traceback" not in err
    fragments = [text for key, text in EXPECT.items() if key in case]
    assert fragments and all(text in lines[0] for text in fragments), lines[0]


@pytest.mark.parametrize("recorded", ["/proc/self/pagemap"])
def test_a_recorded_checkpoint_that_is_no_file_on_disk_is_never_hashed(
    monkeypatch, capsys, base, tmp_path, recorded
):
    """Item 5: an IR recording /proc/self/pagemap (256 GiB behind a size of 0) as its float checkpoint: simulate
    never opens a path the IR records (only one the user names), says so, and gives the integer results."""
    graph = random_graph("tiny", 0, num_steps=4)
    graph.metadata["source"] = {"checkpoint": recorded, "sha256": "0" * 64, "arch": "auto"}
    model = save_graph(graph, tmp_path / "m.qsnn")
    code, out, err = run_main(monkeypatch, capsys, "simulate", "--model", model, "--inputs", base / "x.npy")
    assert code in (0, 1) and not error_lines(err), out + err  # 1: a DRIFT/FAIL verdict, not an error
    assert "simulate opens only files you name" in out and "Integer results only" in out, out + err


def test_file_sha256_reads_regular_files_only(tmp_path):
    import hashlib
    import os

    from qsnn_deploy.errors import QsnnError
    from qsnn_deploy.models.provenance import file_sha256

    path = tmp_path / "a.bin"
    path.write_bytes(b"abc" * 1000)
    assert file_sha256(path) == hashlib.sha256(b"abc" * 1000).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()
    os.mkfifo(tmp_path / "pipe")
    for special in (tmp_path / "pipe", Path("/proc/self/pagemap"), tmp_path):
        with pytest.raises(QsnnError):
            file_sha256(special)
