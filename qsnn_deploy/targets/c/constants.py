"""The C target's constants for the static check of ``verify --from --allow-edited`` (targets/static_check.py).

Every constant the C target writes is in ``<prefix>_data.h`` (templates/c/data.h.j2): the weights (packed bytes,
and the fused kernels' words under ``#else``), pool signs, requantize multipliers, biases and shift, and the
LIF threshold, decay and reset; a recurrent's weights (packed like a linear's), multipliers and shift, and a
synaptic current's decay and state width. They are read by name, wherever the user moved them in the file.
"""

from __future__ import annotations

from qsnn_deploy.ir.ops import Conv2d, Linear, Recurrent
from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.c.layout import GROUP_SLOTS, is_packed
from qsnn_deploy.targets.c_header import data_header_constants
from qsnn_deploy.targets.static_check import (
    Constant,
    Decoder,
    Field,
    FolderFiles,
    field_difference,
    signed,
    weight_name,
)


def _bytes_decoder(layer: Layer) -> Decoder:
    """Byte k of the generic weights: input-major elements 2k (low nibble) and 2k+1 (high), or element k."""
    return _packed_decoder(layer.op, is_packed(layer))


def _packed_decoder(op: Conv2d | Linear | Recurrent, packed: bool) -> Decoder:
    """Byte k of weights stored input-major (a recurrent's like a linear's, ``weight[to, from]`` at index
    from * N + to): elements 2k (low nibble) and 2k+1 (high) when packed, else element k."""
    bits = 4 if packed else 8
    per = 8 // bits

    def decode(i: int, got: object, want: object) -> tuple[str, str, str] | None:
        fields: list[Field] = [
            (bits * h, bits, weight_name(op.name, op.weight.shape, per * i + h), lambda v: signed(v, bits))
            for h in range(per)
            if per * i + h < op.weight.size
        ]
        return field_difference(got, want, fields)  # type: ignore[arg-type]

    return decode


def _words_decoder(layer: Layer) -> Decoder:
    """Word r * G + g of qsnn_conv_spikes_lif's weights: kernel row r, output channels 8g..8g+7, channel 8g+j
    as an offset-binary nibble (w + 8) at GROUP_SLOTS[j] (c/layout.py, pack_groups)."""
    op = layer.op
    out = op.weight.shape[0]
    groups = out // 8

    def decode(i: int, got: object, want: object) -> tuple[str, str, str] | None:
        row, g = divmod(i, groups)
        fields: list[Field] = [
            (8 * byte + (4 if high else 0), 4, weight_name(op.name, op.weight.shape, row * out + 8 * g + j),
             lambda v: v - 8)
            for j, (byte, high) in enumerate(GROUP_SLOTS)
            if row * out + 8 * g + j < op.weight.size
        ]  # fmt: skip
        return field_difference(got, want, fields)  # type: ignore[arg-type]

    return decode


def quantities(model: CheckedModel) -> dict[str, tuple[str, Decoder | None, str]]:
    """Each name the data header defines -> (the IR quantity it holds, how a stored element maps to it, its
    layer's LIF)."""
    p, P = model.options.prefix, model.options.prefix.upper()
    names: dict[str, tuple[str, Decoder | None, str]] = {}
    for layer in model.layers:
        op, rq, lif = layer.op, layer.rq, layer.lif
        held: dict[str, tuple[str, Decoder | None]] = {
            f"{p}_{op.name}_w": (f"{op.name} weight", _bytes_decoder(layer)),
            f"{p}_{op.name}_w#2": (f"{op.name} weight (fused-kernel words)", _words_decoder(layer)),
            f"{p}_{rq.name}_mult": (f"{rq.name} multiplier", None),
            f"{p}_{rq.name}_bias": (f"{rq.name} bias", None),
            f"{P}_{rq.name.upper()}_SHIFT": (f"{rq.name} shift", None),
            f"{P}_{lif.name.upper()}_THRESHOLD": (f"{lif.name} threshold", None),
            f"{P}_{lif.name.upper()}_DECAY_MULT": (f"{lif.name} decay multiplier", None),
            f"{P}_{lif.name.upper()}_DECAY_SHIFT": (f"{lif.name} decay shift", None),
            f"{P}_{lif.name.upper()}_RESET_ZERO": (f"{lif.name} reset (1: to zero)", None),
        }
        if layer.pool is not None:
            held[f"{p}_{layer.pool.name}_sign"] = (f"{layer.pool.name} sign", None)
        if (rc := layer.recurrent) is not None:
            held[f"{p}_{rc.name}_w"] = (f"{rc.name} weight", _packed_decoder(rc, rc.weight_type.bits <= 4))
            held[f"{p}_{rc.name}_mult"] = (f"{rc.name} multiplier", None)
            held[f"{P}_{rc.name.upper()}_SHIFT"] = (f"{rc.name} shift", None)
        if (syn := layer.current) is not None:
            held[f"{P}_{syn.name.upper()}_DECAY_MULT"] = (f"{syn.name} decay multiplier", None)
            held[f"{P}_{syn.name.upper()}_DECAY_SHIFT"] = (f"{syn.name} decay shift", None)
            held[f"{P}_{syn.name.upper()}_STATE_BITS"] = (f"{syn.name} state bits", None)
        names.update({name: (what, decode, lif.name) for name, (what, decode) in held.items()})
    return names


def constants(model: CheckedModel, files: FolderFiles) -> list[Constant]:
    """The constants of the folder's data header, in file order (none where it is missing)."""
    return data_header_constants(model, files, quantities(model), lambda key: key)


__all__ = ["constants", "quantities"]
