"""Every defect of a ``.qsnn`` file raises IRFormatError (the container) or IRValidationError (the graph), with
a message that says what is wrong; nothing in a file is ever executed (docs/ir/file-format.md#errors)."""

from __future__ import annotations

import functools
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qsnn_deploy.errors import IRFormatError, IRValidationError, QsnnError
from qsnn_deploy.ir import IR_VERSION, load_graph, save_graph
from qsnn_deploy.ir.synthetic import random_graph

GRAPH = random_graph("tiny", seed=4, bits=4, num_steps=3)


def _valid_members(tmp_path: Path) -> tuple[dict, dict[str, bytes]]:
    path = save_graph(GRAPH, tmp_path / "valid.qsnn")
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    return json.loads(members.pop("manifest.json")), members


def _write(path: Path, manifest: dict | bytes | None, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if manifest is not None:
            zf.writestr("manifest.json", manifest if isinstance(manifest, bytes) else json.dumps(manifest))
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _op(manifest: dict, name: str) -> dict:
    return next(op for op in manifest["ops"] if op["name"] == name)


def _load_fails(path: Path, error: type, *fragments: str) -> str:
    with pytest.raises(error) as info:
        load_graph(path)
    message = str(info.value)
    assert str(path) in message  # the message names the file
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_the_unmodified_file_loads(tmp_path):
    manifest, members = _valid_members(tmp_path)
    assert load_graph(_write(tmp_path / "ok.qsnn", manifest, members)).same_as(GRAPH)


def test_a_missing_file_is_a_format_error(tmp_path):
    with pytest.raises(IRFormatError, match="no such IR file"):
        load_graph(tmp_path / "absent.qsnn")


def test_not_a_zip(tmp_path):
    path = tmp_path / "x.qsnn"
    path.write_bytes(b"\x89PNG\r\n\x1a\n not a zip at all" * 10)
    _load_fails(path, IRFormatError, "not a readable")


def test_an_empty_file(tmp_path):
    path = tmp_path / "x.qsnn"
    path.write_bytes(b"")
    _load_fails(path, IRFormatError)


def test_zip_without_manifest(tmp_path):
    _, members = _valid_members(tmp_path)
    _load_fails(_write(tmp_path / "x.qsnn", None, members), IRFormatError, "manifest.json is missing")


@pytest.mark.parametrize("text", [b"{not json", b"\xff\xfe\x00garbage", b"", b"[1, 2"])
def test_bad_json(tmp_path, text):
    _, members = _valid_members(tmp_path)
    _load_fails(_write(tmp_path / "x.qsnn", text, members), IRFormatError, "not valid JSON")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_constants_are_refused(tmp_path, constant):
    manifest, members = _valid_members(tmp_path)
    text = json.dumps(manifest).replace('"scale": 0.00392156862745098', f'"scale": {constant}')
    assert constant in text
    _load_fails(_write(tmp_path / "x.qsnn", text.encode(), members), IRFormatError, "not valid JSON")


@pytest.mark.parametrize("value", ["onnx", None, 1])
def test_foreign_format_name(tmp_path, value):
    manifest, members = _valid_members(tmp_path)
    manifest["format"] = value
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "not a qsnn-deploy IR file")


def test_a_manifest_that_is_not_an_object(tmp_path):
    _, members = _valid_members(tmp_path)
    _load_fails(_write(tmp_path / "x.qsnn", b"[]", members), IRFormatError, "not a qsnn-deploy IR file")


def test_newer_version_asks_to_upgrade(tmp_path):
    manifest, members = _valid_members(tmp_path)
    manifest["version"] = IR_VERSION + 1
    msg = _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "upgrade qsnn-deploy")
    assert f"version {manifest['version']}" in msg


@pytest.mark.parametrize("value", [0, -1, "1", 1.0, True])
def test_invalid_version(tmp_path, value):
    manifest, members = _valid_members(tmp_path)
    manifest["version"] = value
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "version")


def test_unknown_op(tmp_path):
    manifest, members = _valid_members(tmp_path)
    _op(manifest, "pool1")["op"] = "softmax"
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "unknown op 'softmax'")


def test_unknown_field(tmp_path):
    manifest, members = _valid_members(tmp_path)
    _op(manifest, "lif2")["leak_mode"] = "exp"
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "unknown fields ['leak_mode']")


@pytest.mark.parametrize(("op", "field"), [("conv1", "stride"), ("lif1", "threshold"), ("rq1", "bias")])
def test_missing_op_field(tmp_path, op, field):
    manifest, members = _valid_members(tmp_path)
    del _op(manifest, op)[field]
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, f"missing field {field!r}")


@pytest.mark.parametrize("field", ["input", "ops", "num_steps", "metadata", "version"])
def test_missing_top_level_field(tmp_path, field):
    manifest, members = _valid_members(tmp_path)
    del manifest[field]
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, f"missing field {field!r}")


@pytest.mark.parametrize(
    ("op", "field", "value", "fragment"),
    [
        ("conv1", "stride", "1", "must be int"),
        ("conv1", "padding", 0.0, "must be int"),
        ("lif1", "threshold", True, "boolean"),
        ("lif1", "reset", 0, "must be str"),
        ("lif1", "name", None, "must be str"),
        ("conv1", "weight_type", "float32", "unknown integer type"),
        ("conv1", "weight_type", 8, "must be a string"),
        ("rq1", "out_type", "int", "out_type"),
        ("rq1", "multiplier", "rq1.multiplier", "missing field 'tensor'"),
        ("rq1", "bias", {"tensor": 3}, "must be str"),
    ],
)
def test_wrong_field_type(tmp_path, op, field, value, fragment):
    manifest, members = _valid_members(tmp_path)
    _op(manifest, op)[field] = value
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, fragment)


@pytest.mark.parametrize(
    ("path", "value"),
    [(("input", "shape"), [1, 16]), (("input", "shape"), [1, 16, 16.0]), (("input", "dtype"), "float"),
     (("input", "scale"), "1"), (("num_steps",), 2.5), (("metadata",), [])],
)  # fmt: skip
def test_wrong_top_level_type(tmp_path, path, value):
    manifest, members = _valid_members(tmp_path)
    target = manifest
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError)


def test_tensor_missing(tmp_path):
    manifest, members = _valid_members(tmp_path)
    del members["tensors/conv2.weight.npy"]
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "conv2.weight.npy is missing")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.complex64, np.bool_, np.uint64])
def test_tensor_with_a_non_integer_or_foreign_dtype(tmp_path, dtype):
    manifest, members = _valid_members(tmp_path)
    members["tensors/conv1.weight.npy"] = _npy(GRAPH.ops[0].weight.astype(dtype))
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "must hold integers")


def test_tensor_that_is_not_npy(tmp_path):
    manifest, members = _valid_members(tmp_path)
    members["tensors/conv1.weight.npy"] = b"\x93NUMPY garbage"
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "not a valid .npy")


def test_pickled_object_array_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    manifest, members = _valid_members(tmp_path)
    arr = np.empty(1, dtype=object)
    arr[0] = Payload()
    members["tensors/conv1.weight.npy"] = _npy(arr, allow_pickle=True)
    _load_fails(
        _write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "must hold integers, got object"
    )
    assert not marker.exists()


@pytest.mark.parametrize(
    ("shape", "fragment"),
    [
        ((1 << 40,), "more than the limit"),
        ((4, 1, 3, 3_000_000_000), "more than the limit"),
        ((4, 1, 5, 500), "holds only"),
    ],
)
def test_a_tensor_header_claiming_more_than_it_holds_is_refused_before_allocating(tmp_path, shape, fragment):
    from numpy.lib import format as npy_format

    manifest, members = _valid_members(tmp_path)
    header = io.BytesIO()
    npy_format.write_array_header_1_0(header, {"descr": "|i1", "fortran_order": False, "shape": shape})
    members["tensors/conv1.weight.npy"] = header.getvalue() + bytes(100)
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "conv1.weight.npy", fragment)


def test_weights_out_of_their_bit_range(tmp_path):
    manifest, members = _valid_members(tmp_path)
    w = GRAPH.ops[0].weight.copy()
    w[0, 0, 0, 0] = 8  # int4 holds [-8, 7]
    members["tensors/conv1.weight.npy"] = _npy(w)
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRValidationError, "outside int4")


def test_weights_beyond_int8_storage_are_not_wrapped(tmp_path):
    """259 stored as int16 must not wrap to 3 (a valid int4) when the op casts weights to int8 storage."""
    manifest, members = _valid_members(tmp_path)
    w = GRAPH.ops[0].weight.astype(np.int16)
    w[0, 0, 0, 0] = 259
    members["tensors/conv1.weight.npy"] = _npy(w)
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRValidationError, "conv1")


def test_weights_stored_in_a_wider_dtype_but_in_range_load(tmp_path):
    manifest, members = _valid_members(tmp_path)
    members["tensors/conv1.weight.npy"] = _npy(GRAPH.ops[0].weight.astype(np.int32))
    assert load_graph(_write(tmp_path / "x.qsnn", manifest, members)).same_as(GRAPH)


def test_weight_type_too_wide(tmp_path):
    manifest, members = _valid_members(tmp_path)
    _op(manifest, "fc1")["weight_type"] = "int9"
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRValidationError, "int2..int8")


def test_weight_shape_mismatch(tmp_path):
    manifest, members = _valid_members(tmp_path)
    members["tensors/conv2.weight.npy"] = _npy(GRAPH.ops[4].weight[:, :3])  # 3 input channels, conv1 makes 4
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRValidationError, "conv2")


def test_requantize_channel_mismatch(tmp_path):
    manifest, members = _valid_members(tmp_path)
    members["tensors/rq3.bias.npy"] = _npy(np.zeros(2, dtype=np.int64))
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRValidationError, "rq3")


def test_input_shape_mismatch(tmp_path):
    manifest, members = _valid_members(tmp_path)
    manifest["input"]["shape"] = [2, 16, 16]
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRValidationError, "conv1")


def test_lif_not_after_requantize(tmp_path):
    manifest, members = _valid_members(tmp_path)
    manifest["ops"] = [op for op in manifest["ops"] if op["name"] != "rq2"]
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRValidationError, "must follow a requantize")


def test_last_op_not_lif(tmp_path):
    manifest, members = _valid_members(tmp_path)
    manifest["ops"] = manifest["ops"][:-1]
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRValidationError, "last op must be a lif")


@pytest.mark.parametrize(
    ("op", "field", "value", "fragment"),
    [
        ("lif1", "reset", "hard", "reset must be"),
        ("lif1", "threshold", 0, "threshold"),
        ("lif1", "decay_multiplier", 300, "decay"),
        ("lif1", "state_type", "int64", "state type"),
        ("rq1", "shift", 63, "shift"),
        ("conv1", "stride", 0, "stride"),
        ("pool1", "kernel", 0, "kernel"),
    ],
)
def test_field_values_out_of_range(tmp_path, op, field, value, fragment):
    manifest, members = _valid_members(tmp_path)
    _op(manifest, op)[field] = value
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRValidationError, fragment)


def test_duplicate_op_names(tmp_path):
    manifest, members = _valid_members(tmp_path)
    _op(manifest, "lif2")["name"] = "lif1"
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRValidationError, "unique")


def test_duplicate_zip_members_are_refused(tmp_path):
    """zipfile would silently read the last of two members with one name: a second manifest or tensor could
    hide behind the first from anyone who inspects the file."""
    manifest, members = _valid_members(tmp_path)
    for name in ("manifest.json", "tensors/conv1.weight.npy"):
        path = _write(tmp_path / "dup.qsnn", manifest, members)
        with zipfile.ZipFile(path, "a") as zf, pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr(name, b"second")
        _load_fails(path, IRFormatError, "appears more than once", name)


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_compression_other_than_stored_or_deflate_is_refused(tmp_path, method):
    manifest, members = _valid_members(tmp_path)
    path = tmp_path / "x.qsnn"
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for name, data in members.items():
            zf.writestr(name, data)
    _load_fails(path, IRFormatError, "compression method")


def test_stored_members_load(tmp_path):
    manifest, members = _valid_members(tmp_path)
    path = tmp_path / "x.qsnn"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for name, data in members.items():
            zf.writestr(name, data)
    assert load_graph(path).same_as(GRAPH)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda m: m.update(num_steps=10**12), "num_steps 1000000000000 is outside the limit [1, 10000]"),
        (lambda m: m.update(num_steps=10_001), "num_steps"),
        (lambda m: _op(m, "lif1").update(decay_multiplier=2**31, decay_shift=31), "decay_multiplier 2147483648"),
        (lambda m: _op(m, "lif1").update(threshold=2**40, state_type="int32"), "threshold"),
        (lambda m: _op(m, "conv1").update(padding=10**30), "padding"),
        (lambda m: _op(m, "conv1").update(padding=65), "padding 65 is outside the limit [0, 64]"),
        (lambda m: _op(m, "conv1").update(stride=10**6), "stride"),
        (lambda m: _op(m, "pool1").update(kernel=2**40), "kernel"),
        (lambda m: _op(m, "rq1").update(shift=2**63), "shift"),
        (lambda m: m["input"].update(shape=[1, 16, 10**9]), "shape W"),
        (lambda m: m["input"].update(shape=[4096, 4096, 4096]), "input"),
        (lambda m: _op(m, "conv1").update(name="conv1 */"), "not an identifier"),
        (lambda m: _op(m, "conv1").update(name="c" * 65), "not an identifier"),
        (lambda m: _op(m, "conv1").update(name="1conv"), "not an identifier"),
        (lambda m: _op(m, "conv2").update(name="CONV1"), "differ only in case"),
    ],
)  # fmt: skip
def test_fields_beyond_their_limits_are_refused_at_load(tmp_path, edit, fragment):
    manifest, members = _valid_members(tmp_path)
    edit(manifest)
    message = _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRValidationError, fragment)
    assert "\n" not in message


def test_activations_beyond_the_limit_are_refused(tmp_path):
    """Small tensors can still ask for a huge activation: 4096 1x1 filters over a 4096x4096 frame make 2^36
    values before two poolings shrink them. Sizes are checked once the shapes are known."""
    from qsnn_deploy.ir import LIF, Conv2d, Graph, InputSpec, Linear, Requantize, SumPool2d
    from qsnn_deploy.ir.io import graph_to_manifest

    ops = (
        Conv2d("conv1", np.ones((4096, 1, 1, 1), np.int8)),
        SumPool2d("pool1", 64),
        SumPool2d("pool2", 64),
        Requantize("rq1", np.ones(4096, np.int64), np.zeros(4096, np.int64)),
        LIF("lif1"),
        Linear("fc1", np.ones((10, 4096), np.int8)),
        Requantize("rq2", np.ones(10, np.int64), np.zeros(10, np.int64)),
        LIF("lif2"),
    )
    graph = Graph(InputSpec((1, 4096, 4096), GRAPH.input.dtype), ops, 2)
    assert graph.validate() is graph  # a consistent graph, only too large
    manifest, tensors = graph_to_manifest(graph)
    members = {f"tensors/{key}.npy": _npy(arr) for key, arr in tensors.items()}
    message = _load_fails(
        _write(tmp_path / "x.qsnn", manifest, members), IRValidationError, "more than the limit"
    )
    assert "conv1" in message
    with pytest.raises(IRValidationError, match="more than the limit"):
        save_graph(graph, tmp_path / "y.qsnn")


@pytest.mark.parametrize("value", ["1e400", "-1e400", "1" + "0" * 400, "0", "-0.5"])
def test_input_scale_must_be_finite_and_positive(tmp_path, value):
    manifest, members = _valid_members(tmp_path)
    text = json.dumps(manifest).replace('"scale": 0.00392156862745098', f'"scale": {value}')
    assert value in text
    message = _load_fails(_write(tmp_path / "x.qsnn", text.encode(), members), QsnnError, "scale")
    assert "\n" not in message


def test_save_refuses_what_load_would_refuse(tmp_path):
    from qsnn_deploy.ir.graph import Graph

    long_run = Graph(GRAPH.input, GRAPH.ops, 10**12, GRAPH.metadata)
    with pytest.raises(IRValidationError, match="num_steps"):
        save_graph(long_run, tmp_path / "x.qsnn")
    mistyped = Graph(GRAPH.input, GRAPH.ops, GRAPH.num_steps, {"state_bits": "32"})
    with pytest.raises(IRFormatError, match="metadata.state_bits"):
        save_graph(mistyped, tmp_path / "x.qsnn")
    assert not (tmp_path / "x.qsnn").exists()


# --- typed metadata ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("source", 5, "metadata.source must be a string or an object"),
        ("source", ["a"], "metadata.source"),
        ("source", {"checkpoint": 5}, "metadata.source.checkpoint"),
        ("source", {"checkpoint": "m.pt", "sha256": "xyz"}, "metadata.source.sha256"),
        ("source", {"arch": None}, "metadata.source.arch"),
        ("dataset", 3, "metadata.dataset"),
        ("model_config", "qsnn-mnist", "metadata.model_config"),
        ("model_config", {"bits": "4"}, "metadata.model_config.bits"),
        ("model_config", {"bits": 9}, "metadata.model_config.bits"),
        ("model_config", {"bits": True}, "metadata.model_config.bits"),
        ("model_config", {"arch": 1}, "metadata.model_config.arch"),
        ("state_bits", 12, "metadata.state_bits"),
        ("lif_layers", [], "metadata.lif_layers"),
        ("lif_layers", {"lif1": 0.5}, "metadata.lif_layers.lif1"),
        ("lif_layers", {"lif1": {"beta": "0.9"}}, "metadata.lif_layers.lif1.beta"),
        ("saturation_sites", "none", "metadata.saturation_sites"),
        ("saturation_sites", [1], "metadata.saturation_sites"),
        ("num_steps_from", "guess", "metadata.num_steps_from"),
        ("source", {"builder": ["m", "f"]}, "metadata.source.builder"),
    ],
)
def test_a_known_metadata_key_with_the_wrong_type_is_named(tmp_path, key, value, fragment):
    manifest, members = _valid_members(tmp_path)
    manifest["metadata"][key] = value
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, fragment)


def test_unknown_metadata_keys_are_kept_as_they_are(tmp_path):
    manifest, members = _valid_members(tmp_path)
    extra = {"note": "*/ anything", "nested": {"a": [1, None, {"b": True}]}, "n": 2**70}
    manifest["metadata"].update(extra)
    graph = load_graph(_write(tmp_path / "x.qsnn", manifest, members))
    assert {k: graph.metadata[k] for k in extra} == extra
    again = load_graph(save_graph(graph, tmp_path / "again.qsnn"))
    assert again.metadata == graph.metadata


def test_metadata_accessors_give_typed_values_and_defaults():
    from qsnn_deploy.ir import metadata as meta

    exported = {
        "source": {"checkpoint": "/runs/model.pt", "sha256": "ab" * 32, "arch": "seed-mnist"},
        "dataset": "mnist",
        "model_config": {"bits": 4, "arch": "qsnn-mnist", "beta": 0.9},
        "state_bits": 32,
        "lif_layers": {"lif1": {"beta": 0.5, "beta_quantized": 0.5, "extra": 1}},
        "saturation_sites": ["lif1: x"],
    }
    assert meta.source(exported) == meta.Source(None, "/runs/model.pt", "ab" * 32, "seed-mnist")
    assert (meta.dataset(exported), meta.model_bits(exported), meta.state_bits(exported)) == ("mnist", 4, 32)
    assert meta.lif_layer(exported, "lif1").beta == 0.5 and meta.lif_layer(exported, "lif9") is None
    assert meta.saturation_sites(exported) == ["lif1: x"]
    empty: dict = {}
    assert meta.source(empty) == meta.Source() and meta.source(empty).arch == "auto"
    assert (meta.dataset(empty), meta.model_bits(empty), meta.model_config(empty)) == (None, None, {})
    assert meta.source({"source": "synthetic:tiny:4"}).label == "synthetic:tiny:4"
    with pytest.raises(IRFormatError, match="metadata.model_config"):
        meta.model_bits({"model_config": ["bits", 4]})


# --- fuzzing: whatever the bytes, a typed error or a graph, quickly ------------------------------------------

_FUZZ = settings(
    max_examples=int(os.environ.get("QSNN_FUZZ_EXAMPLES", "200")),
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    buf = bytearray(data)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    return bytes(buf)


_EDITS = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=8)


def _load_or_typed_error(path: Path) -> None:
    try:
        load_graph(path)
    except (IRFormatError, IRValidationError):
        pass


@functools.cache
def _valid_file() -> tuple[bytes, bytes, dict[str, bytes]]:
    """(file bytes, manifest bytes, other members) of GRAPH; a plain function, so hypothesis does not print
    it in every falsifying example."""
    with tempfile.TemporaryDirectory() as tmp:
        path = save_graph(GRAPH, Path(tmp) / "valid.qsnn")
        with zipfile.ZipFile(path) as zf:
            members = {name: zf.read(name) for name in zf.namelist()}
        return path.read_bytes(), members.pop("manifest.json"), members


@_FUZZ
@given(edits=_EDITS, truncate=st.one_of(st.none(), st.integers(0, 1 << 20)))
def test_fuzz_file_bytes(tmp_path, edits, truncate):
    data = _mutate(_valid_file()[0], edits)
    if truncate is not None:
        data = data[: truncate % (len(data) + 1)]
    path = tmp_path / "fuzz.qsnn"
    path.write_bytes(data)
    _load_or_typed_error(path)


@_FUZZ
@given(edits=_EDITS)
def test_fuzz_manifest_json(tmp_path, edits):
    _, manifest, members = _valid_file()
    path = _write(tmp_path / "fuzz.qsnn", _mutate(manifest, edits), members)
    _load_or_typed_error(path)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@_FUZZ
@given(data=st.data())
def test_fuzz_manifest_values(tmp_path, data):
    """Replace one value anywhere in the manifest by arbitrary JSON."""
    _, manifest_bytes, members = _valid_file()
    manifest = json.loads(manifest_bytes)
    slots = []

    def walk(node):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            slots.append((node, key))
            if isinstance(child, (dict, list)):
                walk(child)

    walk(manifest)
    node, key = data.draw(st.sampled_from(slots))
    node[key] = data.draw(_JSON)
    path = _write(tmp_path / "fuzz.qsnn", json.dumps(manifest).encode(), members)
    _load_or_typed_error(path)
