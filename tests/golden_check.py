"""The golden-snapshot check every target's codegen test shares: the rendered files equal the ones under
tests/golden/<target>/, or with QSNN_UPDATE_GOLDEN=1 (after an intended change, see each folder's README) the
snapshots are rewritten from them first."""

from __future__ import annotations

import os
from pathlib import Path


def check_golden(rendered: list[Path], golden_dir: Path) -> None:
    update = os.environ.get("QSNN_UPDATE_GOLDEN") == "1"
    if update:
        golden_dir.mkdir(exist_ok=True)
    for path in rendered:
        golden = golden_dir / path.name
        if update:
            golden.write_text(path.read_text())
        assert golden.exists(), f"{golden} missing; run with QSNN_UPDATE_GOLDEN=1"
        assert path.read_text() == golden.read_text(), f"{path.name} differs from {golden}"
