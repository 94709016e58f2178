"""Precompiled headers kept in the build cache (build_cache.py), so that the C++ builds of one test run parse a
large third-party header once instead of once per build: Verilator's verilated.h (two thirds of a small
design's testbench build) and the Xilinx ap_types headers (half of an HLS C simulation's build).

Only with ``$QSNN_BUILD_CACHE`` set: without a cache a precompiled header would be built for one build and
cost more than it saves. g++ takes a ``NAME.h.gch`` beside ``NAME.h`` when a compile says ``-include NAME.h``
with the flags the header was compiled with; with other flags it reads NAME.h itself (same result, slower), so
a header that cannot be used costs time and never changes a build. The executables a build makes with one are
the same program as without (the header's text is what the compile would include first anyway).

A precompiled header lives in the cache folder and is read there, not copied: compilers only read it. It
enters the cache as a temporary file renamed into place, under the key's lock, like an executable."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from qsnn_deploy.targets.build_cache import build_key, cache_folder, locked, log_lookup, make_cache_folder
from qsnn_deploy.verify.tools import run_tool


def shared_header(
    kind: str, text: str, flags: Sequence[str], tools: Sequence[Sequence[str]], cwd: Path | None = None
) -> Path | None:
    """The header to name in ``-include`` for compiles with ``flags`` (the compiler first, then every switch
    that sets the language, macros and code generation, no source and no output): ``text`` precompiled with
    those flags in the build cache, or None when no cache is set. ``cwd``: the folder the compiles run in,
    where the flags name relative folders (``-I.``)."""
    cache = cache_folder()
    if cache is None:
        return None
    make_cache_folder(cache)
    command = [*flags, "-x", "c++-header", f"<{kind}.h>"]
    digest = build_key(f"pch-{kind}", [*command, text], inputs={}, tools=tools)
    folder = cache / f"{digest}.pch"
    header, compiled = folder / f"qsnn_pch_{kind}.h", folder / f"qsnn_pch_{kind}.h.gch"
    with locked(cache / f"{digest}.lock"):
        if compiled.is_file():
            log_lookup(cache, digest, f"pch-{kind}", "hit")
            return header
        folder.mkdir(exist_ok=True)
        header.write_text(text)
        fd, tmp = tempfile.mkstemp(prefix=f".{compiled.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        try:
            cmd = [*flags, "-x", "c++-header", str(header), "-o", tmp]
            run_tool(cmd, f"precompiling the {kind} header", cwd=cwd, timeout=600)
            os.replace(tmp, compiled)
        finally:
            Path(tmp).unlink(missing_ok=True)
        log_lookup(cache, digest, f"pch-{kind}", "miss")
    return header
