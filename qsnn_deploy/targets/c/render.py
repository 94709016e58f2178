"""Render the C target from templates/c/*.j2 into an output folder, one atomic write per file.

Only called with a ``CheckedModel`` (the design rules passed), so nothing is written for a model the target
cannot take. Templates only lay out data and the call sequence; every computation lives in the runtime. No
string from the IR reaches the files except op names (checked identifiers) and ``safe_label`` text.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.paths import templates_dir
from qsnn_deploy.targets.base import CheckedModel, RuleInput
from qsnn_deploy.targets.c.layout import (
    LayerKernels,
    fused_scratch,
    input_major,
    is_packed,
    layer_kernels,
    max_pooled,
    pack_groups,
    pack_weights,
    recurrent_scratch,
    scratch_elements,
    spike_words,
    state_bytes,
    streams_first_layer,
)
from qsnn_deploy.targets.c.rules import lean_layout
from qsnn_deploy.targets.files import template_environment, write_rendered
from qsnn_deploy.targets.names import Derived, fixed, from_patterns
from qsnn_deploy.targets.text import source_label

RUNTIME_FILES = ("qsnn_runtime.h", "qsnn_runtime.c")
# Every name templates/c/*.j2 derives from an op name (by role), and the model's fixed names: the shared rule
# unique_generated_names (targets/names.py) refuses two sources of one name; test_name_collisions.py renders the
# templates and checks that the lists are complete.
C_NAMES = {
    "synapse": ("{p}_{name}_cfg", "{p}_{name}_w"),
    "pool": ("{p}_{name}_cfg", "{p}_{name}_sign"),
    "requantize": ("{p}_{name}_cfg", "{p}_{name}_mult", "{p}_{name}_bias", "{P}_{NAME}_SHIFT"),
    "lif": ("{p}_{name}_cfg", "{P}_{NAME}_DECAY_MULT", "{P}_{NAME}_DECAY_SHIFT", "{P}_{NAME}_RESET_ZERO",
            "{P}_{NAME}_THRESHOLD", "mem_{name}", "spk_{name}"),
    "recurrent": ("{p}_{name}_cfg", "{p}_{name}_w", "{p}_{name}_mult", "{P}_{NAME}_SHIFT"),
    "synaptic": ("{p}_{name}_cfg", "{P}_{NAME}_DECAY_MULT", "{P}_{NAME}_DECAY_SHIFT", "{P}_{NAME}_STATE_BITS",
                 "syn_{name}"),
}  # fmt: skip
C_FIXED = ("{P}_DATA_H", "{P}_MODEL_H", "{P}_INPUT_C", "{P}_INPUT_H", "{P}_INPUT_W", "{P}_INPUT_SIZE",
           "{P}_NUM_CLASSES", "{P}_NUM_LAYERS", "{P}_NUM_STEPS", "{P}_STREAM", "{p}_state_t", "{p}_run",
           "{p}_step", "{p}_reset", "{p}_set_static_input", "{p}_profile_phase")  # fmt: skip


def runtime_symbols() -> set[str]:
    """The qsnn_* and QSNN_* names the runtime header declares (the model includes it)."""
    text = (templates_dir() / "c" / "runtime" / "qsnn_runtime.h").read_text()
    return set(re.findall(r"\b(?:qsnn|QSNN)_[A-Za-z0-9_]+", text))


def derived_names(inp: RuleInput) -> list[Derived]:
    """Every C name the model's files define from op names, beside the fixed names they could meet."""
    p = inp.options.prefix
    model = fixed((f.format(p=p, P=p.upper()) for f in C_FIXED), "a fixed name of the C model")
    return [
        *fixed(runtime_symbols(), "a name of the C runtime"),
        *model,
        *from_patterns(inp.layers, p, C_NAMES, "C name"),
        *extra_names(inp.layers, p),
    ]


def extra_names(layers: tuple[Layer, ...], prefix: str) -> list[Derived]:
    """The names C_NAMES gives the recurrent and synaptic ops (names.layer_roles lists the other roles)."""
    out = []
    for layer in layers:
        for op in (layer.recurrent, layer.current):
            if op is None:
                continue
            for pattern in C_NAMES[op.kind]:
                name = pattern.format(p=prefix, P=prefix.upper(), name=op.name, NAME=op.name.upper())
                shown = pattern.format(p="<prefix>", P="<PREFIX>", name="<name>", NAME="<NAME>")
                out.append(Derived(name, f"{op.kind} {op.name!r}", f"C name {shown}", False))
    return out


def c_int(value: int, bits: int) -> str:
    """A C literal of a signed ``bits``-wide value; the minimum is spelled (-MAX - 1) because ``-2147483648``
    is a unary minus applied to a constant too wide for int."""
    value = int(value)
    if bits == 64:
        return f"(INT64_C({value + 1}) - 1)" if value == -(1 << 63) else f"INT64_C({value})"
    return f"({value + 1} - 1)" if value == -(1 << (bits - 1)) else str(value)


def byte_rows(data: bytes, per_row: int = 16) -> list[str]:
    return [", ".join(f"0x{b:02x}" for b in data[i : i + per_row]) for i in range(0, len(data), per_row)]


def word_rows(words: list[int], per_row: int = 8) -> list[str]:
    return [", ".join(f"0x{w:08x}u" for w in words[i : i + per_row]) for i in range(0, len(words), per_row)]


def _stage_context(st: Layer, kernels: LayerKernels) -> dict:
    weights = pack_weights(input_major(st.op), is_packed(st))
    words = pack_groups(st.op) if kernels.conv_fused else []
    maxpool = max_pooled(st)
    # The conv's own pooling and output size: a max-pooled layer's conv computes its full map (pool 1).
    conv_pool, conv_out = (1, st.conv_shape[1:]) if maxpool else (st.pool_kernel, st.out_shape[1:])
    return {
        "maxpool": maxpool,
        "signs": [str(int(v)) for v in st.pool.sign.tolist()] if maxpool else [],
        "conv_pool": conv_pool,
        "conv_out": conv_out,
        "lif_fast": kernels.lif_fast,
        "syn_fast": kernels.synaptic_fast,
        "fused": kernels.conv_fused,
        "word_rows": word_rows(words),
        "word_len": len(words),
        "index": st.index,
        "kind": st.kind,
        "op": st.op,
        "pool": st.pool,
        "in_pool": st.in_pool,
        "rq": st.rq,
        "lif": st.lif,
        "in_shape": st.in_shape,
        "conv_shape": st.conv_shape,
        "out_shape": st.out_shape,
        "neurons": st.neurons,
        "spike_words": spike_words(st),
        "packed": int(is_packed(st)),
        "weight_rows": byte_rows(weights),
        "weight_len": len(weights),
        "weight_count": int(st.op.weight.size),
        "mults": [c_int(v, 32) for v in st.rq.multiplier.tolist()],
        "biases": [c_int(v, 64) for v in st.rq.bias.tolist()],
        "per_channel": st.per_channel,
        "state_bits": st.state_bits,
        "in_size": int(np.prod(st.in_shape)),
        "current": st.current,
        "recurrent": _recurrent_context(st),
    }


def _recurrent_context(st: Layer) -> dict | None:
    """The recurrent weights stored like a linear's (input-major, packed at 2..4 bits), its multipliers."""
    rc = st.recurrent
    if rc is None:
        return None
    packed = rc.weight_type.bits <= 4
    weights = pack_weights(input_major(rc), packed)  # type: ignore[arg-type]
    return {
        "op": rc,
        "packed": int(packed),
        "weight_rows": byte_rows(weights),
        "weight_len": len(weights),
        "mults": [c_int(v, 32) for v in rc.multiplier.tolist()],
    }


def render_files(model: CheckedModel) -> dict[str, str]:
    """File name -> text of every generated file (not written yet)."""
    graph, stages, prefix = model.graph, model.layers, model.options.prefix
    env = template_environment("c")
    static = graph.input.encoding == "static"
    kernels = tuple(layer_kernels(s, model.ranges) for s in stages)
    lean = lean_layout(RuleInput(graph, stages, model.ranges, model.options))
    streamed = streams_first_layer(stages, static, lean)
    fused = tuple(k.conv_fused for k in kernels)
    rows, events = fused_scratch(stages, kernels, lean)
    ctx = {
        "p": prefix,
        "P": prefix.upper(),
        "graph": graph,
        "source": source_label(graph.metadata),
        "static": static,
        "stages": [_stage_context(s, k) for s, k in zip(stages, kernels)],
        "input_size": int(np.prod(graph.input.shape)),
        "input_shape": tuple(graph.input.shape),
        "num_classes": stages[-1].neurons,
        "acc_size": scratch_elements(stages, static, None, streamed),
        "acc_fast": scratch_elements(stages, static, fused, streamed),
        "rows_size": rows,
        "events_size": events,
        "streamed": streamed,
        "state_estimate": state_bytes(stages, static, kernels, lean),
        "rec_size": recurrent_scratch(stages),
    }
    return {
        f"{prefix}_data.h": env.get_template("data.h.j2").render(ctx),
        f"{prefix}_model.h": env.get_template("model.h.j2").render(ctx),
        f"{prefix}_model.c": env.get_template("model.c.j2").render(ctx),
    }


def write_files(files: dict[str, str], out: Path) -> list[Path]:
    """Write the rendered files and copy the runtime into ``out``; returns the paths written."""
    return write_rendered(out, files, [f"c/runtime/{name}" for name in RUNTIME_FILES])


def render(model: CheckedModel, out: Path) -> list[Path]:
    return write_files(render_files(model), Path(out))


__all__ = ["derived_names", "render", "render_files", "write_files"]
