"""IR op names for NIR node names: any node name in, a safe identifier out, deterministic and collision-free.

NIR writers name nodes as they please: nirtorch uses the module path (``0``, ``1``, ``lif1.lif``), Rockpool
``0_LinearTorch``, Spyx its parameter keys (``linear_1``, ``layer_0``). The IR (ir/limits.py) and every target
(targets/rules.py ``identifiers``, on ir/identifiers.py) need ``[A-Za-z][A-Za-z0-9_]*``, at most 48 characters, no ``__``, no
reserved word of any emitted language, and no two names that differ only in case. The rule, in order:

1. every run of characters outside ``[A-Za-z0-9]`` becomes one ``_``; ``_`` at either end is dropped;
   upper case becomes lower case;
2. empty -> ``node``; a leading digit gets ``layer`` in front (``0`` -> ``layer0``, as ``export`` names a
   Sequential's children); a reserved word gets ``_op`` behind;
3. longer than 32 characters -> the first 24, ``_`` and 7 hex digits of the original name's SHA-256;
4. a name already taken, or whose ``<name>_current`` or ``<name>_synaptic`` is (the exporter names a LIF's
   requantizer and synaptic current so), gets ``_2``, ``_3``, ... in chain order.

The original name is kept in the IR's metadata (``nir_import.nodes``) and in messages; it never reaches
generated code (only ``safe_label`` strings do, targets/text.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from qsnn_deploy.ir.identifiers import RESERVED

MAX_BASE = 32  # leaves room for "_synaptic" (10) and a "_NN" suffix within the targets' 48
# export/quantize.py names each LIF's requantizer <lif>_current, its synaptic current <lif>_synaptic and its
# recurrent op <lif>_recurrent
SUFFIXES = ("_current", "_synaptic", "_recurrent")


def base_name(name: object) -> str:
    """Steps 1-3 of the module docstring for one node name (any object: h5py may hand back bytes)."""
    original = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
    safe = re.sub(r"[^A-Za-z0-9]+", "_", original).strip("_").lower()
    if not safe:
        safe = "node"
    elif safe[0].isdigit():
        safe = f"layer{safe}"
    if safe in RESERVED or safe.upper() in RESERVED:
        safe = f"{safe}_op"
    if len(safe) > MAX_BASE:
        digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:7]
        safe = f"{safe[:24].rstrip('_')}_{digest}"
    return safe


def ir_names(names: Iterable[object]) -> dict[object, str]:
    """IR op name of every node name, in the order given (the chain's): distinct, and distinct from each
    other's ``<name>_current`` and ``<name>_synaptic``."""
    taken: set[str] = set()
    out: dict[object, str] = {}
    for name in names:
        base = candidate = base_name(name)
        n = 1
        while candidate in taken or any(candidate + s in taken for s in SUFFIXES):
            n += 1
            candidate = f"{base}_{n}"
        taken.update((candidate, *(candidate + s for s in SUFFIXES)))
        out[name] = candidate
    return out


__all__ = ["base_name", "ir_names"]
