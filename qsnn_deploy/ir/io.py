"""The ``.qsnn`` file format (docs/ir/file-format.md): a zip holding ``manifest.json`` and one ``.npy`` per
tensor. Nothing in it can execute code: JSON is parsed strictly and arrays load with ``allow_pickle=False``.
Every way a file can be wrong raises ``IRFormatError`` (the container) or ``IRValidationError`` (the graph),
including a file that asks more than the limits of ``ir/limits.py`` and metadata of the wrong type
(``ir/metadata.py``); a file may come from a stranger (docs/trust-model.md).
"""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import numpy as np

from qsnn_deploy import __version__
from qsnn_deploy.atomic import write_atomic
from qsnn_deploy.errors import IRFormatError, IRValidationError, QsnnError
from qsnn_deploy.ir import limits
from qsnn_deploy.ir.graph import IR_VERSION, Graph, InputSpec, written_version
from qsnn_deploy.ir.metadata import check_metadata
from qsnn_deploy.ir.ops import OP_TYPES, Op
from qsnn_deploy.ir.types import IntType

FORMAT_NAME = "qsnn-ir"
MANIFEST = "manifest.json"
MAX_MEMBER_BYTES = 256 * 1024 * 1024  # refuse zip bombs before inflating them
MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # a manifest holds scalars and metadata; tensors are members
COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
ALLOWED_TENSOR_DTYPES = {np.dtype(d) for d in ("int8", "int16", "int32", "int64", "uint8")}


def _op_to_json(op: Op, tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    entry: dict[str, Any] = {"op": op.kind}
    for f in fields(op):
        value = getattr(op, f.name)
        kind = f.metadata.get("kind")
        if kind == "tensor":
            key = f"{op.name}.{f.name}"
            tensors[key] = value
            entry[f.name] = {"tensor": key}
        elif kind == "itype":
            entry[f.name] = value.to_json()
        else:
            entry[f.name] = value
    return entry


def graph_to_manifest(graph: Graph) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    tensors: dict[str, np.ndarray] = {}
    manifest = {
        "format": FORMAT_NAME,
        "version": written_version(graph.ops),
        "producer": f"qsnn-deploy {__version__}",
        "input": {
            "shape": list(graph.input.shape),
            "dtype": graph.input.dtype.to_json(),
            "encoding": graph.input.encoding,
            "scale": graph.input.scale,
        },
        "num_steps": graph.num_steps,
        "ops": [_op_to_json(op, tensors) for op in graph.ops],
        "metadata": graph.metadata,
    }
    return manifest, tensors


def check_graph(graph: Graph) -> Graph:
    """Everything a file must satisfy beyond its syntax: typed metadata, the limits of ``ir/limits.py`` and
    the graph's own rules (``Graph.validate``). Run on every load and every save; returns ``graph``."""
    check_metadata(graph.metadata)
    limits.check_fields(graph)
    graph.validate()
    limits.check_sizes(graph)
    return graph


def save_graph(graph: Graph, path: Path | str) -> Path:
    """Check ``graph`` (``check_graph``) and write it to ``path`` atomically (a temporary file renamed into
    place)."""
    check_graph(graph)
    manifest, tensors = graph_to_manifest(graph)
    path = Path(path)

    def write(raw) -> None:
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False))
            for key, arr in sorted(tensors.items()):
                buf = io.BytesIO()
                np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
                zf.writestr(f"tensors/{key}.npy", buf.getvalue())

    write_atomic(path, write)
    return path


def _require(mapping: dict, key: str, kind: type | tuple, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise IRFormatError(f"{where}: missing field {key!r}")
    value = mapping[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    name = "/".join(k.__name__ for k in kinds)
    # JSON true is a Python int: a boolean is never read as a number (``"scale": true`` is not 1.0).
    if isinstance(value, bool) and bool not in kinds:
        raise IRFormatError(f"{where}: field {key!r} must be {name}, got a boolean")
    if not isinstance(value, kind):
        raise IRFormatError(f"{where}: field {key!r} must be {name}, got {type(value).__name__}")
    return value


def _check_npy_header(data: io.BytesIO, size: int) -> None:
    """Read the .npy header and refuse, before numpy allocates anything, an array of a foreign dtype, of more
    values than ``limits.MAX_TENSOR_ELEMENTS`` or of more bytes than the member holds; rewinds ``data``."""
    version = np.lib.format.read_magic(data)
    read_header = (
        np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read_header(data)
    if dtype not in ALLOWED_TENSOR_DTYPES:
        raise IRFormatError(f"must hold integers, got {dtype}")
    count = math.prod(shape)
    if count > limits.MAX_TENSOR_ELEMENTS:
        raise IRFormatError(f"declares {count} values, more than the limit {limits.MAX_TENSOR_ELEMENTS}")
    if count * dtype.itemsize > size - data.tell():
        raise IRFormatError(f"declares shape {shape} but holds only {size - data.tell()} bytes of data")
    data.seek(0)


def _read_tensor(zf: zipfile.ZipFile, key: str, where: str) -> np.ndarray:
    member = f"tensors/{key}.npy"
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise IRFormatError(f"{where}: tensor {member} is missing from the file") from None
    if info.file_size > MAX_MEMBER_BYTES:
        raise IRFormatError(f"{where}: tensor {member} is too large ({info.file_size} bytes)")
    data = io.BytesIO(zf.read(member))
    try:
        _check_npy_header(data, len(data.getbuffer()))
        arr = np.load(data, allow_pickle=False)
    except IRFormatError as exc:
        raise IRFormatError(f"{where}: tensor {member} {exc}") from None
    except Exception as exc:  # any decoding failure of an untrusted file
        raise IRFormatError(f"{where}: tensor {member} is not a valid .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype not in ALLOWED_TENSOR_DTYPES:
        raise IRFormatError(f"{where}: tensor {member} must hold integers, got {getattr(arr, 'dtype', arr)}")
    return arr


def _op_from_json(entry: Any, index: int, zf: zipfile.ZipFile) -> Op:
    where = f"ops[{index}]"
    kind = _require(entry, "op", str, where)
    cls = OP_TYPES.get(kind)
    if cls is None:
        raise IRFormatError(f"{where}: unknown op {kind!r} (this version knows {sorted(OP_TYPES)})")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(entry) - known - {"op"})
    if unknown:
        raise IRFormatError(f"{where} ({kind}): unknown fields {unknown}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in entry:
            raise IRFormatError(f"{where} ({kind}): missing field {f.name!r}")
        value = entry[f.name]
        kind_of_field = f.metadata.get("kind")
        if kind_of_field == "tensor":
            ref = _require(value if isinstance(value, dict) else {}, "tensor", str, f"{where}.{f.name}")
            kwargs[f.name] = _read_tensor(zf, ref, f"{where}.{f.name}")
        elif kind_of_field == "itype":
            try:
                kwargs[f.name] = IntType.from_json(value)
            except (ValueError, TypeError) as exc:
                raise IRFormatError(f"{where}.{f.name}: {exc}") from None
        else:
            # Plain fields are typed by their default (int or str); ``name`` has none and is a str.
            expected = str if f.default is MISSING else type(f.default)
            kwargs[f.name] = _require(entry, f.name, expected, where)
    try:
        op = cls(**kwargs)
    except (ValueError, TypeError, OverflowError) as exc:
        raise IRFormatError(f"{where} ({kind}): {exc}") from None
    for key, stored in op.tensors().items():
        # Ops cast tensors to their storage dtype (int8 weights, int64 requantize constants); an array cast
        # from a wider file dtype would wrap silently (259 -> 3), so insist that the values survived.
        if not np.array_equal(stored, kwargs[key]):
            raise IRValidationError(
                f"{where} ({kind} {op.name!r}): tensor {key!r} has values outside its {stored.dtype} storage "
                f"(file dtype {kwargs[key].dtype}, range [{int(kwargs[key].min())}, {int(kwargs[key].max())}])"
            )
    return op


def _upgrade(manifest: dict) -> dict:
    """Bring an older manifest up to IR_VERSION, one version at a time; add steps here, never remove them.

    1 -> 2: version 2 added the ``maxpool2d`` op, the field limits (ir/limits.py) and the typed metadata keys
    (ir/metadata.py). A version 1 file has no max pool and its fields and keys mean what they meant, so it
    reads unchanged; the limits and key types are checked on every load, of either version.
    2 -> 3: version 3 added the ``synaptic`` and ``recurrent`` ops (and let a ``lif`` follow them); every other
    op means what it meant, so a version 2 file reads unchanged.

    An op newer than the file's version (its class's ``since``) is refused: the file claims an older format
    than its contents need."""
    ops = manifest.get("ops")
    for op in ops if isinstance(ops, list) else []:
        kind = op.get("op") if isinstance(op, dict) else None
        cls = OP_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is not None and cls.since > manifest["version"]:
            raise IRFormatError(
                f"a {cls.kind} op in an IR version {manifest['version']} file: {cls.kind} came with version "
                f"{cls.since}"
            )
    for step in range(manifest["version"], IR_VERSION):
        manifest = {**manifest, "version": step + 1}  # 1 -> 2 and 2 -> 3 change nothing else
    return manifest


def _finite(value: int | float, where: str) -> float:
    # json reads 1e400 as inf, and an integer of 400 digits does not convert to a float at all.
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise IRFormatError(f"{where} must be a finite number, got {str(value)[:40]}")
    return number


def manifest_to_graph(manifest: Any, zf: zipfile.ZipFile) -> Graph:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise IRFormatError(f"not a qsnn-deploy IR file (manifest format is not {FORMAT_NAME!r})")
    version = _require(manifest, "version", int, "manifest")
    if version > IR_VERSION:
        raise IRFormatError(
            f"IR version {version} was written by a newer qsnn-deploy ({manifest.get('producer', '?')}); "
            f"this one ({__version__}) reads up to version {IR_VERSION}: upgrade qsnn-deploy"
        )
    if version < 1:
        raise IRFormatError(f"IR version {version} is not a valid version")
    manifest = _upgrade(manifest)
    spec = _require(manifest, "input", dict, "manifest")
    shape = _require(spec, "shape", list, "input")
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) for s in shape):
        raise IRFormatError(f"input.shape must be three integers, got {shape!r}")
    try:
        dtype = IntType.from_json(_require(spec, "dtype", str, "input"))
    except ValueError as exc:
        raise IRFormatError(f"input.dtype: {exc}") from None
    input_spec = InputSpec(
        shape=tuple(shape),
        dtype=dtype,
        encoding=_require(spec, "encoding", str, "input"),
        scale=_finite(_require(spec, "scale", (int, float), "input"), "input.scale"),
    )
    ops_json = _require(manifest, "ops", list, "manifest")
    ops: tuple[Op, ...] = ()
    for i, entry in enumerate(ops_json):
        ops += (_op_from_json(entry, i, zf),)
        limits.check_tensor_total(ops)  # before the next op's tensors are read
    return Graph(
        input=input_spec,
        ops=ops,
        num_steps=_require(manifest, "num_steps", int, "manifest"),
        metadata=_require(manifest, "metadata", dict, "manifest"),
        version=IR_VERSION,
    )


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity, which save_graph never writes (allow_nan=False).
    raise IRFormatError(f"{MANIFEST} is not valid JSON ({name} is not a JSON number)")


def _finite_float(text: str) -> float:
    # json reads 1e400 as inf, which no writer can write back (graph_fingerprint, save_graph): refuse it here,
    # wherever it stands, metadata keys nobody reads included.
    value = float(text)
    if not math.isfinite(value):
        raise IRFormatError(f"{MANIFEST} holds the number {text[:40]}, out of a float's range")
    return value


def _check_members(zf: zipfile.ZipFile) -> None:
    """Refuse what a reader could misread: a member name given twice (zipfile would silently take the last),
    encrypted members and compression methods other than stored and deflate."""
    seen: set[str] = set()
    for info in zf.infolist():
        if info.filename in seen:
            raise IRFormatError(f"member {info.filename!r} appears more than once in the zip")
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise IRFormatError(f"member {info.filename!r} is encrypted")
        if info.compress_type not in COMPRESSIONS:
            raise IRFormatError(
                f"member {info.filename!r} uses zip compression method {info.compress_type}; "
                "only stored and deflate are read"
            )


def load_graph(path: Path | str) -> Graph:
    """Read and validate a ``.qsnn`` file; any defect raises a typed error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise IRFormatError(f"{path}: no such IR file (write one with `qsnn-deploy export CHECKPOINT`)")
    try:
        with zipfile.ZipFile(path) as zf:
            _check_members(zf)
            try:
                info = zf.getinfo(MANIFEST)
            except KeyError:
                raise IRFormatError(f"{MANIFEST} is missing: not a qsnn-deploy IR file") from None
            if info.file_size > MAX_MANIFEST_BYTES:
                raise IRFormatError(f"{MANIFEST} is too large ({info.file_size} bytes)")
            try:
                manifest = json.loads(
                    zf.read(MANIFEST).decode("utf-8"),
                    parse_constant=_reject_constant,
                    parse_float=_finite_float,
                )
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise IRFormatError(f"{MANIFEST} is not valid JSON ({exc})") from None
            graph = manifest_to_graph(manifest, zf)
        return check_graph(graph)
    except QsnnError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,  # corrupt deflate stream
        NotImplementedError,  # unsupported compression method
        RuntimeError,  # encrypted member; RecursionError from deeply nested JSON
        EOFError,
        OSError,
        ValueError,
        OverflowError,  # a number too large for a float or a C integer somewhere in numpy
    ) as exc:
        raise IRFormatError(
            f"{path}: not a readable qsnn-deploy IR file ({type(exc).__name__}: {exc})"
        ) from None


__all__ = ["FORMAT_NAME", "IRFormatError", "IRValidationError", "check_graph", "load_graph", "save_graph"]


def graph_fingerprint(graph: Graph) -> str:
    """sha256 of the graph's canonical content (manifest without the producer, then every tensor): equal for
    equal graphs however they were written, so generated files can name the IR they came from."""
    import hashlib

    manifest, tensors = graph_to_manifest(graph)
    manifest.pop("producer", None)
    h = hashlib.sha256(json.dumps(manifest, sort_keys=True, allow_nan=False).encode())
    for key, arr in sorted(tensors.items()):
        h.update(key.encode() + str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()
