"""The only way a string from an input file (IR metadata, a checkpoint path, a dataset name) reaches
generated code: through ``safe_label``, a strict whitelist, or as a hash (docs/trust-model.md).

Generated files are C, C++, Verilog, Tcl and scripts; comments in them can be ended (``*/``), spliced (a
backslash before a newline), rewritten by trigraphs (``??/``), broken by line separators (``\\r``, U+2028) or
cut by a NUL. Rather than escape each language's rules, only ``[A-Za-z0-9_.-]`` (at most ``MAX_LABEL``
characters, not starting with ``.`` or ``-``, so never an option or a hidden file in a script) passes
unchanged; anything else is replaced by ``sha256-`` and 16 hex digits of its hash, which still tells two
sources apart.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

MAX_LABEL = 64
SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")
HASH_PREFIX = "sha256-"


def safe_label(value: object) -> str:
    """A label safe inside a comment or string of any generated language (see the module docstring).

    A path keeps only its last component (``runs/x/model.pt`` -> ``model.pt``) when that passes."""
    text = str(value)
    last = re.split(r"[/\\]", text)[-1]
    if SAFE.match(last):
        return last
    return HASH_PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def source_label(metadata: Mapping[str, Any]) -> str:
    """``safe_label`` of where a graph came from: the exporter's checkpoint, or a plain ``source`` label."""
    from qsnn_deploy.ir import metadata as meta

    source = meta.source(metadata) if isinstance(metadata, Mapping) else meta.Source()
    return safe_label(source.checkpoint or source.label or "unknown")


__all__ = ["MAX_LABEL", "safe_label", "source_label"]
