"""Whether the float half of the toolchain can run: torch, snnTorch and Brevitas (``pip install
'qsnn-deploy[torch]'``). The base install (NumPy and friends) runs the integer simulator, codegen and verify
without them; training, export and the float comparison need them. Imports no torch itself."""

from __future__ import annotations

import importlib

from qsnn_deploy.errors import QsnnError

PACKAGES = ("torch", "snntorch", "brevitas")
INSTALL_HINT = "pip install 'qsnn-deploy[torch]' (after torch itself, see README)"


class TorchMissingError(QsnnError, ImportError):
    """torch, snnTorch or Brevitas cannot be imported: a one-line CLI error, and still an ImportError."""


def missing() -> list[str]:
    """The packages of the float toolchain that cannot be imported."""
    absent = []
    for name in PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            absent.append(name)
    return absent


def available() -> bool:
    return not missing()


def require(what: str) -> None:
    """Raise TorchMissingError naming ``what`` needs and which packages are absent."""
    absent = missing()
    if absent:
        raise TorchMissingError(f"{what} needs {', '.join(absent)}, which is not installed: {INSTALL_HINT}")
