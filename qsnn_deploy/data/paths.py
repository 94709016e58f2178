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


def dataset_folders(name: str | None, data_dir: Path | str | None = None) -> list[Path]:
    """The folders a reader of ``name`` reads its files from under the dataset root (none for an unknown or
    missing name): a command's outputs must not go there (qsnn_deploy/outputs.py)."""
    from qsnn_deploy.data.dvs_gesture import FOLDER as DVS_FOLDER
    from qsnn_deploy.data.idx import IDX_SOURCES
    from qsnn_deploy.data.nmnist import FOLDERS as NMNIST_FOLDERS

    root = resolve_data_dir(data_dir)
    names = {"nmnist": NMNIST_FOLDERS, "dvs": (DVS_FOLDER,)}
    names.update({key: (source.folder,) for key, source in IDX_SOURCES.items()})
    names["smnist"] = names["mnist"]  # sequential MNIST reads the MNIST IDX files
    return [root / folder for folder in names.get(name or "", ())]
