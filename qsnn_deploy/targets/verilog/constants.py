"""The Verilog target's constants for the static check of ``verify --from --allow-edited``
(targets/static_check.py).

Where the Verilog target writes constants (render.py):

- the parameters of every module instance in ``<prefix>_top.v`` (``u_<lif>.THRESH``, ``.SHIFT``,
  ``.DECAY_MULT``, the geometry and widths, the names of the memory images), read by instance and name;
- with ``arch=serial``, the layer table in ``<prefix>_top.v`` (``layer N d_thresh``), read by case label;
- the ``$readmemh`` memory images (``.hex``), read by address (``@`` addresses and comments allowed), so the
  weights, the requantize multipliers and biases and the recurrent weights and multipliers are compared word
  by word and a differing word is named by the IR value it holds.

A synaptic current's decay is ``u_<lif>.SYN_MULT`` and ``.SYN_SHIFT``; a recurrent op's shift ``.RSHIFT``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.c_header import COMMENT
from qsnn_deploy.targets.static_check import (
    Constant,
    Decoder,
    Field,
    FolderFiles,
    Value,
    field_difference,
    line_of,
    line_starts,
    signed,
    weight_name,
)
from qsnn_deploy.targets.verilog.layout import LayerParams, weight_image
from qsnn_deploy.targets.verilog.render import context
from qsnn_deploy.targets.verilog.serial import SerialDesign

INSTANCE = re.compile(r"\b(\w+)\s*#\s*\(")
PARAMETER = re.compile(r"\.(\w+)\s*\(\s*([^()]*?)\s*\)")
NUMBER = re.compile(r"(\d[\d_]*)?\s*'\s*[sS]?([dDhHbBoO])\s*([0-9a-fA-F_xXzZ?]+)|(\d[\d_]*)")
CASE = re.compile(r"(?:\b\d+\s*'\s*[dD]\s*(\d+)|\bdefault)\s*:\s*begin\b(.*?)\bend\b", re.S)
TABLE_ENTRY = re.compile(r"\bd_(\w+)\s*=\s*([^;]+);")
RADIX = {"d": 10, "h": 16, "b": 2, "o": 8}
LAYER_PARAMS = {  # qsnn_layer parameter -> (IR op of the layer, what it holds)
    "THRESH": ("lif", "threshold"),
    "DECAY_MULT": ("lif", "decay multiplier"),
    "DECAY_SHIFT": ("lif", "decay shift"),
    "RESET_ZERO": ("lif", "reset (1: to zero)"),
    "SHIFT": ("rq", "shift"),
    "MUL_W": ("rq", "multiplier width"),
    "BIAS_W": ("rq", "bias width"),
    "WEIGHT_FILE": ("op", "weight memory image"),
    "RQ_FILE": ("rq", "requantize memory image"),
    "SYN_MULT": ("current", "decay multiplier"),
    "SYN_SHIFT": ("current", "decay shift"),
    "SYN_W": ("current", "state width"),
    "RSHIFT": ("recurrent", "shift"),
    "REC_W_FILE": ("recurrent", "weight memory image"),
    "REC_M_FILE": ("recurrent", "multiplier memory image"),
}
TABLE_FIELDS = {  # layer table entry (serial) -> (IR op of the layer, what it holds)
    "thresh": ("lif", "threshold"),
    "dmult": ("lif", "decay multiplier"),
    "dshift_rel": ("lif", "decay shift (less the smallest)"),
    "shift_rel": ("rq", "shift (less the smallest)"),
    "reset_zero": ("lif", "reset (1: to zero)"),
}


def verilog_value(text: str) -> Value:
    """The integer a Verilog number spells (``32'd5``, ``8'hff``, ``12``), or the text (a string, ``x``)."""
    m = NUMBER.fullmatch(text.strip())
    if m is None:
        return " ".join(text.split())
    if m.group(4) is not None:
        return int(m.group(4).replace("_", ""))
    digits = m.group(3).replace("_", "")
    try:
        return int(digits, RADIX[m.group(2).lower()])
    except ValueError:
        return " ".join(text.split())


def _blank(text: str) -> str:
    return COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


def _closing(text: str, start: int) -> int:
    """The offset just past the parenthesis that closes the one before ``start``."""
    depth, i = 1, start
    while i < len(text) and depth:
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    return i


def instance_parameters(source: str) -> list[tuple[str, Value, int]]:
    """(``instance.PARAM``, value, line) of every parameter of every ``module #(...) instance`` in order."""
    text = _blank(source)
    starts = line_starts(text)
    found = []
    for m in INSTANCE.finditer(text):
        end = _closing(text, m.end())
        name = re.match(r"\s*(\w+)", text[end:])
        label = name.group(1) if name else m.group(1)
        for p in PARAMETER.finditer(text, m.end(), end):
            found.append((f"{label}.{p.group(1)}", verilog_value(p.group(2)), line_of(starts, p.start(2))))
    return found


def table_entries(source: str, last: int) -> list[tuple[str, Value, int]]:
    """(``layer N d_NAME``, value, line) of the serial layer table (``default`` is layer ``last``)."""
    text = _blank(source)
    starts = line_starts(text)
    found = []
    for case in CASE.finditer(text):
        index = int(case.group(1)) if case.group(1) is not None else last
        for e in TABLE_ENTRY.finditer(text, case.start(2), case.end(2)):
            found.append(
                (f"layer {index} d_{e.group(1)}", verilog_value(e.group(2)), line_of(starts, e.start(2)))
            )
    return found


def memory_image(source: str) -> tuple[tuple[Value, ...], tuple[int, ...]]:
    """The words of a ``$readmemh`` image by address (an address no word sets reads as ``unset``)."""
    text = _blank(source)
    starts = line_starts(text)
    words: dict[int, tuple[Value, int]] = {}
    address = 0
    for token in re.finditer(r"\S+", text):
        word, line = token.group(), line_of(starts, token.start())
        if word.startswith("@"):
            value = verilog_value(f"'h{word[1:]}")
            address = value if isinstance(value, int) else -1
            continue
        value = verilog_value(f"'h{word}")
        words[address] = (value, line)
        address += 1
    top = max((a for a in words if a >= 0), default=-1) + 1
    values = tuple(words[a][0] if a in words else "unset" for a in range(top))
    lines = tuple(words[a][1] if a in words else 0 for a in range(top))
    return values, lines


def _lane_decoder(lanes: int, width: int, name: Callable[[int, int], str | None]) -> Decoder:
    """Words of ``lanes`` signed ``width``-bit lanes: lane l of word i holds the IR value ``name(i, l)`` (None:
    a padding lane, not decoded)."""

    def decode(i: int, got: object, want: object) -> tuple[str, str, str] | None:
        fields: list[Field] = [
            (lane * width, width, label, lambda v: signed(v, width))
            for lane in range(lanes)
            if (label := name(i, lane)) is not None
        ]
        return field_difference(got, want, fields)  # type: ignore[arg-type]

    return decode


def _weight_decoder(layer: Layer, p: LayerParams) -> Decoder:
    """Word ``tap * GROUPS + g``: output channel ``g*LANES + l`` of input tap ``tap`` in lane l (layout.py,
    weight_image); with a folded pool the taps are the folded kernel's."""
    op = layer.op

    def name(i: int, lane: int) -> str | None:
        tap, g = divmod(i, p.GROUPS)
        o = g * p.LANES + lane
        if o >= p.OC:
            return None
        if p.FOLD:
            return f"{op.name} folded weight (tap {tap}, output channel {o})"
        return weight_name(op.name, op.weight.shape, tap * p.OC + o)

    return _lane_decoder(p.LANES, p.W_BITS, name)


def _rq_fields(layer: Layer, channel: int, at: int, mul_w: int, bias_w: int, max_pool: int) -> list[Field]:
    rq = layer.rq
    fields: list[Field] = [
        (at, mul_w, f"{rq.name} multiplier[{channel}]", lambda v: signed(v, mul_w)),
        (at + mul_w, bias_w, f"{rq.name} bias[{channel}]", lambda v: signed(v, bias_w)),
    ]
    if max_pool and layer.pool is not None:
        fields.append((at + mul_w + bias_w, 1, f"{layer.pool.name} sign[{channel}] (1: minimum)", int))
    return fields


def _rq_decoder(layer: Layer, p: LayerParams) -> Decoder:
    """Word b: channel ``b*NLANES + j`` in bits ``j*RQ_W +: RQ_W`` as {min, bias, multiplier} (requant_image)."""
    width = p.MUL_W + p.BIAS_W + p.MAX_POOL

    def decode(i: int, got: object, want: object) -> tuple[str, str, str] | None:
        fields = [
            f
            for j in range(p.NLANES)
            if i * p.NLANES + j < p.OC
            for f in _rq_fields(layer, i * p.NLANES + j, j * width, p.MUL_W, p.BIAS_W, p.MAX_POOL)
        ]
        return field_difference(got, want, fields)  # type: ignore[arg-type]

    return decode


def _recurrent_weight_decoder(layer: Layer, p: LayerParams) -> Decoder:
    """Word ``j * rec_stride + b``: weight[b*NLANES + l, j] in lane l (layout.py, recurrent_weight_image)."""
    rec = layer.recurrent.name  # type: ignore[union-attr]

    def name(i: int, lane: int) -> str | None:
        j, b = divmod(i, p.rec_stride)
        n = b * p.NLANES + lane
        return f"{rec} weight[{n}, {j}]" if n < p.OC else None

    return _lane_decoder(p.NLANES, p.REC_WB, name)


def _recurrent_mult_decoder(layer: Layer, p: LayerParams) -> Decoder:
    """Word b: multiplier[b*NLANES + l] in lane l (layout.py, recurrent_mult_image)."""
    rec = layer.recurrent.name  # type: ignore[union-attr]

    def name(i: int, lane: int) -> str | None:
        n = i * p.NLANES + lane
        return f"{rec} multiplier[{n}]" if n < p.OC else None

    return _lane_decoder(p.NLANES, p.RMUL_W, name)


def _serial_weight_decoder(layers: tuple[Layer, ...], params: list[LayerParams], d: SerialDesign) -> Decoder:
    """The layers' weight images one after the other, each laid out as a layered image with the engine's lanes
    and weight width, folded where the design folds (serial.py, design: ``weight_image`` of ``d.wide``); a
    word wider than one load unit (a line) is not decoded."""
    spans = []
    start = 0
    for layer, wide in zip(layers, d.wide if d.load_bytes == d.word_bytes else ()):
        words = len(weight_image(layer, wide).split())
        spans.append((start, start + words, _weight_decoder(layer, wide)))
        start += words

    def decode(i: int, got: object, want: object) -> tuple[str, str, str] | None:
        for first, end, layer_decode in spans:
            if first <= i < end:
                return layer_decode(i - first, got, want)  # type: ignore[arg-type]
        return None

    return decode


def _serial_rq_decoder(layers: tuple[Layer, ...], d: SerialDesign) -> Decoder:
    """Word k: channel k of all layers in order, {bias, multiplier} (serial.py, rq_hex)."""
    owners = [(layer, c) for layer in layers for c in range(len(layer.rq.multiplier))]
    mul_w, bias_w = d.params["MUL_W"], d.params["BIAS_W"]

    def decode(i: int, got: object, want: object) -> tuple[str, str, str] | None:
        if i >= len(owners):
            return None
        layer, channel = owners[i]
        return field_difference(got, want, _rq_fields(layer, channel, 0, mul_w, bias_w, 0))  # type: ignore[arg-type]

    return decode


def _top_quantities(
    model: CheckedModel, params: list[LayerParams], serial: bool
) -> dict[str, tuple[str, str]]:
    """Parameter or table entry -> (the IR quantity it holds, its layer's LIF)."""
    names = {}
    for layer, p in zip(model.layers, params):
        owners = {"lif": layer.lif.name, "rq": layer.rq.name, "op": layer.op.name}
        owners.update(
            current=getattr(layer.current, "name", ""), recurrent=getattr(layer.recurrent, "name", "")
        )
        for key, (role, what) in (TABLE_FIELDS if serial else LAYER_PARAMS).items():
            label = f"layer {p.index} d_{key}" if serial else f"u_{layer.lif.name}.{key}"
            names[label] = (f"{owners[role]} {what}", layer.lif.name)
    return names


Image = tuple[str, str, "Decoder | None", str]  # file, IR quantity, decoder, layer's LIF ("" for all layers)


def _images(model: CheckedModel, ctx: dict) -> list[Image]:
    """Every memory image the top level reads."""
    p = ctx["p"]
    if ctx["arch"] == "serial":
        weights = _serial_weight_decoder(model.layers, ctx["layers"], ctx["design"])
        return [(f"{p}_weights.hex", "weight word of all layers", weights, ""),
                (f"{p}_rq.hex", "requantize word of all layers", _serial_rq_decoder(model.layers, ctx["design"]),
                 "")]  # fmt: skip
    images: list[Image] = []
    for layer, params in zip(model.layers, ctx["layers"]):
        lif = layer.lif.name
        images.append((params.weight_file, f"{layer.op.name} weight", _weight_decoder(layer, params), lif))
        images.append((params.rq_file, f"{layer.rq.name} requantize word", _rq_decoder(layer, params), lif))
        if layer.recurrent is not None:
            rec = layer.recurrent.name
            images.append(
                (params.rec_weight_file, f"{rec} weight", _recurrent_weight_decoder(layer, params), lif)
            )
            images.append(
                (params.rec_mult_file, f"{rec} multiplier", _recurrent_mult_decoder(layer, params), lif)
            )
    return images


def constants(model: CheckedModel, files: FolderFiles) -> list[Constant]:
    """The constants of the folder's top level and memory images, file by file in order."""
    ctx = context(model)
    serial = ctx["arch"] == "serial"
    top = f"{ctx['p']}_top.v"
    found: list[Constant] = []
    text = files.text(top)
    if text is not None:
        known = _top_quantities(model, ctx["layers"], serial)
        entries = instance_parameters(text)
        if serial:
            entries += table_entries(text, len(model.layers) - 1)
        for key, value, line in entries:
            quantity, layer = known.get(key, (key.replace(".", " parameter "), ""))
            found.append(Constant(top, key, quantity, (value,), (line,), layer=layer))
    for name, quantity, decode, layer in _images(model, ctx):
        image = files.text(name)
        if image is not None:
            values, lines = memory_image(image)
            found.append(Constant(name, name, quantity, values, lines, decode, 16, layer))
    return found


__all__ = ["constants", "instance_parameters", "memory_image", "table_entries", "verilog_value"]
