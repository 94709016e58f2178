"""Reads the named constants of a generated C or C++ data header for the static check (static_check.py).

Not a C parser: it finds the three shapes the data templates write (templates/c/data.h.j2,
templates/hls/data.h.j2) wherever they sit in the file, with comments blanked first so that a comment never
hides or fakes a constant:

- ``#define NAME VALUE``
- ``static const TYPE A = 1, B = 2;`` (inside ``struct S { ... }`` the names are ``S::A``, ``S::B``)
- ``static const TYPE NAME[N][M] = { {...}, ... };`` (every element, in order)
- ``typedef ap_int<W> NAME;`` (an HLS width: a narrower multiplier type would cut the multipliers)

A name defined twice (the C target's generic and fused weights under ``#ifdef``) is keyed ``NAME#2``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.static_check import Constant, FolderFiles, Value, line_of, line_starts

COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+([^\n]*?)[ \t]*$", re.M)
STATIC_CONST = re.compile(r"\bstatic\s+const\b([^;]*);")
TYPEDEF = re.compile(r"\btypedef\s+ap_u?int\s*<\s*([^<>]+?)\s*>\s*(\w+)\s*;")
STRUCT = re.compile(r"\bstruct\s+(\w+)[^{;]*\{")
ARRAY_NAME = re.compile(r"(\w+)\s*\[")
SCALAR = re.compile(r"(\w+)\s*=\s*([^,]+)")
ELEMENT = re.compile(r"[^,{}\s][^,{}]*")
NUMBER = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b")
INT64_C = re.compile(r"\b(?:U?INT64_C|U?INT32_C)\s*\(([^()]*)\)")


@dataclass(frozen=True)
class Found:
    """A constant of the header: its key (``NAME``, ``S::NAME``, ``NAME#2``), values and their lines."""

    key: str
    values: tuple[Value, ...]
    lines: tuple[int, ...]


def int_value(text: str) -> Value:
    """The integer a C literal expression spells (``(-2147483647 - 1)``, ``INT64_C(5)``, ``0x3au``,
    ``128LL``), or the text with its spaces collapsed where it is not one (``true``)."""
    plain = NUMBER.sub(lambda m: m.group(1), INT64_C.sub(r"(\1)", text.strip()))
    try:
        return _evaluate(ast.parse(plain, mode="eval").body)
    except (SyntaxError, ValueError, RecursionError):
        return " ".join(text.split())


def _evaluate(node: ast.AST) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _evaluate(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        a, b = _evaluate(node.left), _evaluate(node.right)
        return a + b if isinstance(node.op, ast.Add) else a - b
    raise ValueError("not an integer literal expression")


def _blank_comments(text: str) -> str:
    """Comments replaced by spaces (newlines kept), so offsets and line numbers stay those of the file."""
    return COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


def _scopes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, name) of every ``struct NAME ... { ... }`` body."""
    found = []
    for m in STRUCT.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        found.append((m.end(), i, m.group(1)))
    return found


def header_constants(source: str) -> list[Found]:
    """Every named constant of a C/C++ header, in file order."""
    text = _blank_comments(source)
    starts = line_starts(text)
    scopes = _scopes(text)
    raw: list[tuple[int, str, tuple[Value, ...], tuple[int, ...]]] = []

    def scoped(name: str, at: int) -> str:
        inner = [s for s in scopes if s[0] <= at < s[1]]
        return "::".join([s[2] for s in inner] + [name])

    for m in DEFINE.finditer(text):
        if m.group(2):
            raw.append((m.start(), m.group(1), (int_value(m.group(2)),), (line_of(starts, m.start(2)),)))
    for m in TYPEDEF.finditer(text):
        raw.append(
            (
                m.start(),
                scoped(m.group(2), m.start()),
                (int_value(m.group(1)),),
                (line_of(starts, m.start(1)),),
            )
        )
    for m in STATIC_CONST.finditer(text):
        body, base = m.group(1), m.start(1)
        if "{" in body:
            name = ARRAY_NAME.search(body[: body.index("{")])
            if name is None:
                continue
            opened = base + body.index("{")
            elements = list(ELEMENT.finditer(text, opened, m.end(1)))
            values = tuple(int_value(e.group()) for e in elements)
            lines = tuple(line_of(starts, e.start()) for e in elements)
            raw.append((m.start(), scoped(name.group(1), m.start()), values, lines))
            continue
        for s in SCALAR.finditer(body):
            raw.append((base + s.start(), scoped(s.group(1), m.start()), (int_value(s.group(2)),),
                        (line_of(starts, base + s.start(2)),)))  # fmt: skip
    seen: dict[str, int] = {}
    out = []
    for _, name, values, lines in sorted(raw, key=lambda r: r[0]):
        seen[name] = seen.get(name, 0) + 1
        out.append(Found(name if seen[name] == 1 else f"{name}#{seen[name]}", values, lines))
    return out


__all__ = ["Found", "header_constants", "int_value"]


Quantities = dict[str, tuple[str, object, str]]
"""A header constant's key -> (the IR quantity it holds, its decoder or None, the LIF layer it belongs to)."""


def data_header_constants(
    model: CheckedModel, files: FolderFiles, known: Quantities, unnamed: Callable[[str], str]
) -> list[Constant]:
    """The constants of the folder's data header (``<prefix>_data.h``, which the C and HLS targets both write),
    in file order, named by ``known`` (``unnamed(key)`` for a key it lacks); none where the header is missing.
    Decoded constants (packed bytes, ROM words) are written in hex, the others in decimal."""
    name = f"{model.options.prefix}_data.h"
    text = files.text(name)
    if text is None:
        return []
    found = []
    for c in header_constants(text):
        quantity, decode, layer = known.get(c.key, (unnamed(c.key), None, ""))
        radix = 16 if decode else 10
        found.append(Constant(name, c.key, quantity, c.values, c.lines, decode, radix, layer))
    return found
