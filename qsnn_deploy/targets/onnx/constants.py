"""The ONNX target's constants for the static check of ``verify --from --allow-edited``
(targets/static_check.py).

Every constant of ``model.onnx`` is an initializer named after the IR op it implements (graph.py): weights,
requantize multipliers and bias-plus-rounding, the divisors that carry the shifts, the LIF threshold, decay
multiplier, decay rounding and state limits, a recurrent op's weights, multipliers and rounding, a synaptic
current's decay multiplier, rounding and state limits. The model is read with the ``onnx`` package and never run. An
initializer whose data lives in an external file is refused, never read: a folder does not choose a file to
open (docs/trust-model.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.onnx.executor import MODEL_FILE
from qsnn_deploy.targets.static_check import Constant, Decoder, FolderFiles, StaticCheckError

SUFFIXES = {  # initializer name after the op's name -> what it holds
    "synapse": {"_weight": "weight"},
    "requantize": {"_multiplier": "multiplier", "_bias_round": "bias + 2^(shift-1)",
                   "_current_divisor": "2^shift", "_current_round_down": "2^shift - 1"},
    "lif": {"_threshold": "threshold", "_reset_threshold": "threshold (subtract reset)",
            "_decay_multiplier": "decay multiplier", "_decay_half": "2^(decay shift-1)",
            "_decayed_divisor": "2^(decay shift)", "_decayed_round_down": "2^(decay shift) - 1",
            "_state_min": "state minimum", "_state_max": "state maximum"},
    "pool": {"_sign": "sign"},
    "recurrent": {"_weight": "recurrent weight", "_multiplier": "multiplier", "_half": "2^(shift-1)",
                  "_rescaled_divisor": "2^shift", "_rescaled_round_down": "2^shift - 1"},
    "synaptic": {"_decay_multiplier": "decay multiplier", "_decay_half": "2^(decay shift-1)",
                 "_decayed_divisor": "2^(decay shift)", "_decayed_round_down": "2^(decay shift) - 1",
                 "_state_min": "state minimum", "_state_max": "state maximum"},
}  # fmt: skip


def _index_decoder(quantity: str, shape: Sequence[int], transposed: bool) -> Decoder:
    """Element i of an initializer of ``shape`` -> the IR index (a linear layer's weights are stored (I, O))."""

    def decode(i: int, got: object, want: object) -> tuple[str, str, str]:
        index = [int(x) for x in np.unravel_index(i, tuple(shape))] if shape else []
        if transposed:
            index.reverse()
        return f"{quantity}[{', '.join(map(str, index))}]" if index else quantity, str(got), str(want)

    return decode


# How each kind stores its weight initializer: a conv's as the IR's (O, C, kh, kw), a linear's and a recurrent
# op's transposed to MatMulInteger's (I, O).
WEIGHT_AXES = {"conv2d": "ir", "linear": "reversed", "recurrent": "reversed"}


def quantities(model: CheckedModel) -> dict[str, tuple[str, str, str]]:
    """Initializer name -> (the IR quantity it holds, its axes, its layer's LIF). Axes: "ir" (a conv's weights),
    "reversed" (a linear's or a recurrent op's, stored (I, O)) or "channel" (per-channel constants broadcast as
    (C, 1, 1): the channel is the index)."""
    names: dict[str, tuple[str, str, str]] = {}
    for layer in model.layers:
        ops = {"synapse": layer.op, "requantize": layer.rq, "lif": layer.lif, "pool": layer.pool,
               "recurrent": layer.recurrent, "synaptic": layer.current}  # fmt: skip
        for role, op in ops.items():
            if op is None:
                continue
            for suffix, what in SUFFIXES[role].items():
                axes = WEIGHT_AXES[op.kind] if suffix == "_weight" else "channel"
                names[op.name + suffix] = (f"{op.name} {what}", axes, layer.lif.name)
    return names


def _load(data: bytes):
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise StaticCheckError("the static check of an onnx folder needs the onnx package") from None
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf's DecodeError and friends: a file that is not a model
        raise StaticCheckError(
            f"static check: {MODEL_FILE} is not an ONNX model ({type(e).__name__})"
        ) from None
    return proto, numpy_helper


def constants(model: CheckedModel, files: FolderFiles) -> list[Constant]:
    """The initializers of the folder's model, in the model's order (none where it is missing)."""
    data = files.data(MODEL_FILE)
    if data is None:
        return []
    proto, numpy_helper = _load(data)
    known = quantities(model)
    found = []
    for tensor in proto.graph.initializer:
        if tensor.data_location == tensor.EXTERNAL or tensor.external_data:
            raise StaticCheckError(
                f"static check: {MODEL_FILE}'s initializer {tensor.name!r} keeps its data in another file, "
                "which the check never opens; regenerate the folder"
            )
        try:
            values = numpy_helper.to_array(tensor)
        except Exception as e:  # a tensor whose data does not match its type or shape
            raise StaticCheckError(
                f"static check: {MODEL_FILE}'s initializer {tensor.name!r} cannot be read ({type(e).__name__})"
            ) from None
        quantity, axes, layer = known.get(tensor.name, (f"initializer {tensor.name}", "channel", ""))
        flat = tuple(v.item() if isinstance(v, np.generic) else v for v in values.reshape(-1))
        decode = None
        if axes != "channel" and values.ndim > 1:
            decode = _index_decoder(quantity, values.shape, axes == "reversed")
        found.append(
            Constant(MODEL_FILE, f"initializer {tensor.name}", quantity, flat, (), decode, layer=layer)
        )
    return found


__all__ = ["constants", "quantities"]
