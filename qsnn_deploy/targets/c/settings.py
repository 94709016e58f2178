"""The C target's ``--option`` settings, declared once (targets/options.py): typed, with a default and help.

``board`` is recorded by codegen (the board the memory rule checked, whose core and QEMU machine ``verify
--executor cortex-m`` runs); the others are build settings of ``verify`` and ``report``, never recorded in a
folder. The command line's ``--board``, ``--sanitize`` and ``--baseline`` set ``board``, ``sanitize`` and
``baseline``.
"""

from __future__ import annotations

from dataclasses import dataclass

from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.c.boards import BOARDS, DEFAULT_BOARD
from qsnn_deploy.targets.options import choice, flag, program


@dataclass(frozen=True)
class CSettings(TargetOptions):
    board: str = choice(
        BOARDS, DEFAULT_BOARD, "the board whose flash and RAM the model must fit; `cortex-m` runs its core and "
        "QEMU machine (`--board`)", codegen=True, what="board",
    )  # fmt: skip
    cc: str = program("gcc", "the compiler of the `host` executor")
    sanitize: bool = flag(False, "`host`: build with ASan and UBSan (`--sanitize`)", codegen=False)
    dense: bool = flag(
        False, "`host`: build the dense baseline kernels (`-DQSNN_DENSE_BASELINE`), not the shipped event kernels",
        codegen=False,
    )  # fmt: skip
    baseline: bool = flag(
        False, "`report`: also measure the dense-kernel baseline (minutes under valgrind and QEMU; `--baseline`)",
        codegen=False,
    )  # fmt: skip


def c_settings(options: TargetOptions) -> CSettings:
    """``options`` as the C target's typed settings: what ``check_model`` made (never parsed again here)."""
    if not isinstance(options, CSettings):
        raise TypeError(f"expected the C target's checked settings, got {type(options).__name__}")
    return options
