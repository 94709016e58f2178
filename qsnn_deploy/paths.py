"""Where packaged resources live: templates and runtimes, firmware projects, the demo's bundled files.

setup.py maps the top-level folders into the wheel as packages (``qsnn_deploy.templates``,
``qsnn_deploy.firmware``, ``qsnn_deploy.bundled``); in a checkout the same folders are read in place.
"""

from __future__ import annotations

import importlib
from pathlib import Path


def repo_root() -> Path:
    """The source checkout; only meaningful in a checkout."""
    return Path(__file__).resolve().parent.parent


def _resource(package: str, marker: str, folder: str) -> Path:
    """The installed ``qsnn_deploy.<package>`` folder holding ``marker``, else the checkout's ``folder``."""
    try:
        packaged = importlib.import_module(f"qsnn_deploy.{package}")
        for entry in getattr(packaged, "__path__", []):
            if Path(entry, marker).exists():
                return Path(entry)
    except ImportError:
        pass
    return repo_root() / folder


def templates_dir() -> Path:
    """The Jinja templates and hand-written runtimes of every target (``templates/``)."""
    return _resource("templates", "c", "templates")


def firmware_dir() -> Path:
    """The firmware projects: host harness, Cortex-M firmware, QEMU plugins (``firmware/``)."""
    return _resource("firmware", "host", "firmware")


def examples_dir() -> Path:
    """The bundled model and MNIST sample the demo uses (a subset of ``examples/`` in the wheel)."""
    return _resource("bundled", "mnist", "examples")
