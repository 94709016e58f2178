"""Typed errors. Every user mistake raises a ``QsnnError`` subclass whose message says what to do next;
the CLI prints it as one line and exits non-zero, never with a traceback."""

from __future__ import annotations


class QsnnError(Exception):
    """Base class of every error the toolchain raises on bad input."""

    exit_code = 2


class DatasetError(QsnnError):
    """A dataset is missing, truncated, corrupt or unknown."""


class CheckpointError(QsnnError):
    """A checkpoint cannot be read, is foreign, or belongs to another architecture."""


class UnsupportedLayerError(QsnnError):
    """A model contains a layer or an option the exporter does not handle."""


class IRFormatError(QsnnError):
    """An IR file is malformed, foreign, or written by a newer version."""


class IRValidationError(QsnnError):
    """An IR graph breaks a rule of the spec (shapes, value ranges, widths)."""


class DesignRuleError(QsnnError):
    """A target cannot take this IR (a named design-rule check failed)."""

    def __init__(self, rule: str, message: str, violations: tuple = ()):
        self.rule = rule
        self.violations = violations or ((rule, message),)
        super().__init__(f"design rule {rule!r} failed: {message}")

    @classmethod
    def collect(cls, violations) -> DesignRuleError:
        """One error for every violation (objects with ``rule`` and ``message``); named after the first."""
        pairs = tuple((v.rule, v.message) for v in violations)
        if len(pairs) == 1:
            return cls(*pairs[0])
        text = "; ".join(f"[{r}] {m}" for r, m in pairs)
        return cls(pairs[0][0], f"{len(pairs)} violations: {text}", pairs)


class ToolchainError(QsnnError):
    """An external compiler, emulator or simulator is missing or failed."""


class ToolTimeout(ToolchainError):
    """An external tool ran past its time limit and was stopped; the message's first line says which and after
    how long, the rest is what it had written by then."""


class VerificationError(QsnnError):
    """An executor disagrees with the simulator."""

    exit_code = 1
