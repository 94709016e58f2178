"""Where datasets live: one root folder with one sub-folder per dataset."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "QSNN_DATA_DIR"
DEFAULT_DATA_DIR = Path("~/.cache/qsnn-deploy/data")


def resolve_data_dir(data_dir: Path | str | None = None) -> Path:
    """The dataset root: ``data_dir`` if given, else ``$QSNN_DATA_DIR``, else ``~/.cache/qsnn-deploy/data``.

    The folder is not created here; readers say which files they expected if it is missing.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return DEFAULT_DATA_DIR.expanduser()
