"""Where packaged resources live: the Jinja templates and the hand-written C runtime."""

from __future__ import annotations

from pathlib import Path


def templates_dir() -> Path:
    """The templates folder: inside the installed wheel, or the repository's top-level ``templates/``."""
    try:
        import qsnn_deploy.templates as packaged  # shipped by setup.py's package-dir mapping

        for entry in getattr(packaged, "__path__", []):
            if Path(entry, "c").is_dir():
                return Path(entry)
    except ImportError:
        pass
    return Path(__file__).resolve().parent.parent / "templates"


def repo_root() -> Path:
    """The source checkout (for firmware/ and examples/); only meaningful in a checkout."""
    return Path(__file__).resolve().parent.parent


def firmware_dir() -> Path:
    """The firmware projects (host harness, Cortex-M firmware, QEMU plugin): inside the installed wheel, or
    the repository's top-level ``firmware/``."""
    try:
        import qsnn_deploy.firmware as packaged  # shipped by setup.py's package-dir mapping

        for entry in getattr(packaged, "__path__", []):
            if Path(entry, "host").is_dir():
                return Path(entry)
    except ImportError:
        pass
    return repo_root() / "firmware"


def examples_dir() -> Path:
    """The bundled model and MNIST sample the demo uses: inside the installed wheel (``qsnn_deploy.bundled``,
    a subset of ``examples/``), or the repository's top-level ``examples/``."""
    try:
        import qsnn_deploy.bundled as packaged  # shipped by setup.py's package-dir mapping

        for entry in getattr(packaged, "__path__", []):
            if Path(entry, "mnist").is_dir():
                return Path(entry)
    except ImportError:
        pass
    return repo_root() / "examples"
