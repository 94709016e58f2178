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

from qsnn_deploy.errors import IRFormatError, IRValidationError
from qsnn_deploy.ir import load_graph, save_graph
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
    manifest["version"] += 1
    msg = _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "upgrade qsnn-deploy")
    assert f"version {manifest['version']}" in msg


@pytest.mark.parametrize("value", [0, -1, "1", 1.0, True])
def test_invalid_version(tmp_path, value):
    manifest, members = _valid_members(tmp_path)
    manifest["version"] = value
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "version")


def test_unknown_op(tmp_path):
    manifest, members = _valid_members(tmp_path)
    _op(manifest, "pool1")["op"] = "maxpool2d"
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "unknown op 'maxpool2d'")


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
    _load_fails(_write(tmp_path / "x.qsnn", manifest, members), IRFormatError, "not a valid .npy")
    assert not marker.exists()


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
