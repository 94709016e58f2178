"""The HLS target's constants for the static check of ``verify --from --allow-edited`` (targets/static_check.py).

Every constant the HLS target writes is in ``<prefix>_data.h`` (templates/hls/data.h.j2): per layer a
configuration struct (``<lif>_cfg``: geometry, widths, the requantize shift and rounding, the LIF threshold and
decay), the weight ROM, the pool signs and the requantize multipliers and biases; for a recurrent layer its
``<rec>_cfg`` (shift, rounding), ROM and multipliers, and for a synaptic current its ``<syn>_cfg`` (decay,
state bounds). They are read by name (a
struct member as ``<lif>_cfg::NAME``), wherever the user moved them in the file.
"""

from __future__ import annotations

from qsnn_deploy.ir.ops import Conv2d, Linear, Recurrent
from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.c_header import data_header_constants
from qsnn_deploy.targets.hls.layout import is_packed, recurrent_rom, row_bytes
from qsnn_deploy.targets.static_check import (
    Constant,
    Decoder,
    Field,
    FolderFiles,
    field_difference,
    signed,
    weight_name,
)


def _rom_decoder(layer: Layer) -> Decoder:
    """Element i of the ROM ``[taps][row_bytes]``: row t holds the O weights of input tap t, byte k weights 2k
    (low nibble) and 2k+1, or weight k (hls/layout.py, rom_rows)."""
    return _rows_decoder(layer.op, is_packed(layer), row_bytes(layer))


def _rows_decoder(op: Conv2d | Linear | Recurrent, packed: bool, width: int) -> Decoder:
    """Element i of a ROM of ``width`` bytes per row, row t holding the weights input t meets (a recurrent's
    row j: the N weights ``weight[:, j]`` spike j meets), packed as ``_rom_decoder`` says."""
    bits = 4 if packed else 8
    out, per = op.weight.shape[0], (2 if packed else 1)

    def decode(i: int, got: object, want: object) -> tuple[str, str, str] | None:
        tap, k = divmod(i, width)
        fields: list[Field] = [
            (bits * h, bits, weight_name(op.name, op.weight.shape, tap * out + per * k + h), lambda v: signed(v, bits))
            for h in range(per)
            if per * k + h < out
        ]  # fmt: skip
        return field_difference(got, want, fields)  # type: ignore[arg-type]

    return decode


MEMBERS = {  # <lif>_cfg member -> (IR op of the layer, what it holds)
    "SHIFT": ("rq", "shift"),
    "ROUND": ("rq", "rounding 2^(shift-1)"),
    "THRESHOLD": ("lif", "threshold"),
    "DECAY_MULT": ("lif", "decay multiplier"),
    "DECAY_SHIFT": ("lif", "decay shift"),
    "DECAY_HALF": ("lif", "decay rounding 2^(decay shift-1)"),
    "RESET_ZERO": ("lif", "reset (true: to zero)"),
    "mult_t": ("rq", "multiplier width"),
}
RECURRENT_MEMBERS = {  # <rec>_cfg member -> what it holds
    "SHIFT": "shift",
    "ROUND": "rounding 2^(shift-1)",
    "PACKED": "weight packing",
    "mult_t": "multiplier width",
}
SYNAPTIC_MEMBERS = {  # <syn>_cfg member -> what it holds
    "DECAY_MULT": "decay multiplier",
    "DECAY_SHIFT": "decay shift",
    "DECAY_HALF": "decay rounding 2^(decay shift-1)",
    "STATE_MIN": "state minimum",
    "STATE_MAX": "state maximum",
    "syn_t": "current width",
}


def quantities(model: CheckedModel) -> dict[str, tuple[str, Decoder | None, str]]:
    """Each name the data header defines -> (the IR quantity it holds, how a stored element maps to it, its
    layer's LIF)."""
    names: dict[str, tuple[str, Decoder | None, str]] = {}
    for layer in model.layers:
        op, rq, lif = layer.op, layer.rq, layer.lif
        names[f"{op.name}_w"] = (f"{op.name} weight", _rom_decoder(layer), lif.name)
        if layer.pool is not None:
            names[f"{layer.pool.name}_sign"] = (f"{layer.pool.name} sign", None, lif.name)
        names[f"{rq.name}_mult"] = (f"{rq.name} multiplier", None, lif.name)
        names[f"{rq.name}_bias"] = (f"{rq.name} bias", None, lif.name)
        for member, (role, what) in MEMBERS.items():
            owner = rq.name if role == "rq" else lif.name
            names[f"{lif.name}_cfg::{member}"] = (f"{owner} {what}", None, lif.name)
        if (rc := layer.recurrent) is not None:
            packed, width = rc.weight_type.bits <= 4, recurrent_rom(rc).shape[1]
            names[f"{rc.name}_w"] = (f"{rc.name} weight", _rows_decoder(rc, packed, width), lif.name)
            names[f"{rc.name}_mult"] = (f"{rc.name} multiplier", None, lif.name)
            for member, what in RECURRENT_MEMBERS.items():
                names[f"{rc.name}_cfg::{member}"] = (f"{rc.name} {what}", None, lif.name)
        if (syn := layer.current) is not None:
            for member, what in SYNAPTIC_MEMBERS.items():
                names[f"{syn.name}_cfg::{member}"] = (f"{syn.name} {what}", None, lif.name)
    return names


def constants(model: CheckedModel, files: FolderFiles) -> list[Constant]:
    """The constants of the folder's data header, in file order (none where it is missing)."""
    return data_header_constants(model, files, quantities(model), lambda key: key.replace("::", " "))


__all__ = ["constants", "quantities"]
