"""Typed metadata of an IR file (docs/ir/file-format.md#metadata).

``Graph.metadata`` is the manifest's ``metadata`` object, kept as it was read so that a file round-trips. The
keys qsnn-deploy writes have types, checked by ``check_metadata`` when a file is loaded or saved: a wrong type
is an ``IRFormatError`` naming the key. Every other key is kept as an opaque JSON value and never interpreted.
Code reads the known keys through the accessors below, never through ``metadata[...]``, so that an edited
file gets a typed error or the documented default, not an AttributeError deep inside a command.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from qsnn_deploy.errors import IRFormatError

SHA256 = re.compile(r"[0-9a-f]{64}\Z")


def _fail(key: str, expected: str, value: Any) -> None:
    shown = type(value).__name__ if isinstance(value, (dict, list)) else repr(value)[:60]
    raise IRFormatError(f"metadata.{key} must be {expected}, got {shown}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _optional_str(key: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        _fail(key, "a string or null", value)


def _check_source(key: str, value: Any) -> None:
    """A label (``"synthetic:tiny:4"``) or the checkpoint the IR was exported from."""
    if isinstance(value, str):
        return
    if not isinstance(value, dict):
        _fail(key, "a string or an object", value)
    for field in ("checkpoint", "arch", "builder"):
        if field in value and not isinstance(value[field], str):
            _fail(f"{key}.{field}", "a string", value[field])
    if "sha256" in value and not (isinstance(value["sha256"], str) and SHA256.match(value["sha256"])):
        _fail(f"{key}.sha256", "64 lower-case hex digits", value["sha256"])


def _check_model_config(key: str, value: Any) -> None:
    """The float model's configuration; only ``bits`` and ``arch`` are read, the rest is kept as is."""
    if not isinstance(value, dict):
        _fail(key, "an object", value)
    bits = value.get("bits")
    if bits is not None and not (_is_int(bits) and 2 <= bits <= 8):
        _fail(f"{key}.bits", "an integer in [2, 8] or null", bits)
    if "arch" in value and not isinstance(value["arch"], str):
        _fail(f"{key}.arch", "a string", value["arch"])


def _check_state_bits(key: str, value: Any) -> None:
    if not (_is_int(value) and value in (8, 16, 32)):
        _fail(key, "8, 16 or 32", value)


def _check_lif_layers(key: str, value: Any) -> None:
    """Per LIF layer: the float values it was quantized from (numbers only)."""
    if not isinstance(value, dict):
        _fail(key, "an object", value)
    for name, layer in value.items():
        if not isinstance(layer, dict):
            _fail(f"{key}.{name}", "an object", layer)
        for field, number in layer.items():
            if not _is_number(number):
                _fail(f"{key}.{name}.{field}", "a finite number", number)


def _check_saturation_sites(key: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        _fail(key, "a list of strings", value)


NUM_STEPS_FROM = ("option", "checkpoint", "preset")


def _check_num_steps_from(key: str, value: Any) -> None:
    """Where export took the IR's ``num_steps`` from."""
    if value not in NUM_STEPS_FROM:
        _fail(key, f"one of {', '.join(NUM_STEPS_FROM)}", value)


KNOWN_KEYS: dict[str, Callable[[str, Any], None]] = {
    "source": _check_source,
    "dataset": _optional_str,
    "model_config": _check_model_config,
    "state_bits": _check_state_bits,
    "lif_layers": _check_lif_layers,
    "saturation_sites": _check_saturation_sites,
    "num_steps_from": _check_num_steps_from,
}


def check_metadata(metadata: Any) -> None:
    """Raise IRFormatError when ``metadata`` is not an object or a known key has the wrong type."""
    if not isinstance(metadata, dict):
        raise IRFormatError(f"metadata must be an object, got {type(metadata).__name__}")
    for key, check in KNOWN_KEYS.items():
        if key in metadata:
            check(key, metadata[key])


def _checked(metadata: Mapping[str, Any], key: str) -> Any:
    value = metadata.get(key)
    if value is not None:
        KNOWN_KEYS[key](key, value)
    return value


@dataclass(frozen=True)
class Source:
    """Where an IR came from: a checkpoint (path, sha256, how it was read: ``arch``, or the ``builder``
    MODULE:FUNCTION that built the network) or only a label."""

    label: str | None = None
    checkpoint: str | None = None
    sha256: str | None = None
    arch: str = "auto"
    builder: str | None = None


def source(metadata: Mapping[str, Any]) -> Source:
    value = _checked(metadata, "source")
    if isinstance(value, str):
        return Source(label=value)
    if isinstance(value, dict):
        return Source(
            checkpoint=value.get("checkpoint"),
            sha256=value.get("sha256"),
            arch=value.get("arch", "auto"),
            builder=value.get("builder"),
        )
    return Source()


def dataset(metadata: Mapping[str, Any]) -> str | None:
    """The dataset the model was trained on, when recorded."""
    return _checked(metadata, "dataset")


def model_bits(metadata: Mapping[str, Any]) -> int | None:
    """The float model's weight bits, when recorded."""
    config = _checked(metadata, "model_config")
    return config.get("bits") if isinstance(config, dict) else None


def model_config(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The float model's configuration as recorded (a copy; empty when absent)."""
    config = _checked(metadata, "model_config")
    return dict(config) if isinstance(config, dict) else {}


def state_bits(metadata: Mapping[str, Any]) -> int | None:
    return _checked(metadata, "state_bits")


@dataclass(frozen=True)
class LifLayerInfo:
    """The float values a LIF layer was quantized from (NaN where the file does not say)."""

    beta: float = math.nan
    beta_quantized: float = math.nan
    threshold: float = math.nan
    membrane_scale: float = math.nan
    current_bound: float = math.nan


def lif_layer(metadata: Mapping[str, Any], name: str) -> LifLayerInfo | None:
    layers = _checked(metadata, "lif_layers")
    layer = layers.get(name) if isinstance(layers, dict) else None
    if layer is None:
        return None
    known = LifLayerInfo.__dataclass_fields__
    return LifLayerInfo(**{k: float(v) for k, v in layer.items() if k in known})


def saturation_sites(metadata: Mapping[str, Any]) -> list[str]:
    return list(_checked(metadata, "saturation_sites") or [])


def num_steps_from(metadata: Mapping[str, Any]) -> str | None:
    """Where export took ``num_steps`` from (``option``, ``checkpoint`` or ``preset``), when recorded."""
    return _checked(metadata, "num_steps_from")


__all__ = [
    "KNOWN_KEYS",
    "LifLayerInfo",
    "Source",
    "check_metadata",
    "dataset",
    "lif_layer",
    "model_bits",
    "model_config",
    "num_steps_from",
    "saturation_sites",
    "source",
    "state_bits",
]
