"""Typed ``--option KEY=VALUE`` settings: each target declares its options once, ``parse`` reads them once.

A target's settings are a frozen dataclass that extends ``TargetOptions`` (the prefix and the raw strings) with
one typed field per option; each field comes from a constructor here (``choice``, ``integer``, ``flag``,
``number``, ``program``, ``name``, ``powers_of_two``, ``subset``) that records the option's allowed values, its
help line and whether it changes the files codegen writes (``codegen=True``: recorded in qsnn-target.json) or is
a build or run setting of the command that uses it (never recorded, never read from a folder). ``parse`` turns
the raw strings into that dataclass before any rule runs or any file is written; an unknown key or a bad value
is one ``DesignRuleError`` line naming the valid keys, with a close match where there is one (``lane`` ->
``lanes``). ``markdown_table`` and ``help_line`` write the docs' table and the CLI's help from the same fields.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.targets.base import TargetOptions

_OPTION = "qsnn_option"  # the dataclass field metadata key that marks a declared option
S = TypeVar("S", bound=TargetOptions)


class OptionValueError(ValueError):
    """A value an option cannot take; the message says what it takes (the caller adds ``--option KEY=...``)."""


@dataclass(frozen=True)
class Option:
    """How one option reads its text, what it accepts (for messages and docs) and what it is for."""

    read: Callable[[str], Any]  # the value of a text, or OptionValueError
    accepts: str  # the allowed values in words: "layered or serial", "an integer from 1 to 64"
    help: str
    codegen: bool  # True: changes the rendered files (recorded in qsnn-target.json)
    show: Callable[[Any], str] = str  # a value as the docs and summaries write it


@dataclass(frozen=True)
class Declared:
    """An option as a target declares it: its key, its default and how it is read."""

    name: str
    default: Any
    option: Option

    def text(self, value: Any) -> str:
        return self.option.show(value)


def _declare(default: Any, option: Option) -> Any:
    return field(default=default, metadata={_OPTION: option})


def _quoted(text: str, most: int = 40) -> str:
    """A user's text in a one-line message: its repr, cut to ``most`` characters."""
    shown = repr(text)
    return shown if len(shown) <= most else shown[: most - 4] + "...'"


# --- the constructors --------------------------------------------------------------------------------------------


def choice(values: Iterable[str], default: str, help: str, *, codegen: bool, what: str = "") -> Any:
    """One of ``values`` (exactly as written); ``what`` names an unknown one ("an unknown part")."""
    allowed = tuple(values)

    def read(text: str) -> str:
        if text not in allowed:
            raise OptionValueError(
                f"is an unknown {what}; choose one of {', '.join(allowed)}"
                if what
                else f"must be one of {', '.join(allowed)}"
            )
        return text

    return _declare(default, Option(read, ", ".join(f"`{v}`" for v in allowed), help, codegen))


def integer(lo: int, hi: int, default: int, help: str, *, codegen: bool) -> Any:
    """A whole number in ``lo..hi`` written in ASCII digits (``int`` alone takes "²", "1_0" and " 4 ")."""
    return _declare(default, Option(lambda text: count(text, lo, hi), f"{lo} to {hi}", help, codegen))


def count(text: str, lo: int, hi: int) -> int:
    """``text`` as a whole number in ``lo..hi`` (``lo`` >= 0); leading zeros count, and the digits are counted
    before ``int`` reads them (it refuses more than 4,300 digits with a ValueError: found by fuzzing)."""
    digits = text.lstrip("0") or ("0" if text else "") if text.isascii() and text.isdigit() else ""
    if not digits or len(digits) > len(str(hi)) or not lo <= int(digits) <= hi:
        raise OptionValueError(f"give an integer from {lo} to {hi}")
    return int(digits)


def integers(lo: int, hi: int, help: str, *, default: str, codegen: bool) -> Any:
    """Distinct whole numbers in ``lo..hi`` separated by commas (``1,2,3,4``); the default is none (``()``), which
    ``default`` says in words."""

    def read(text: str) -> tuple[int, ...]:
        values = _counts(text, lo, hi)
        if not values or len(set(values)) != len(values):
            raise OptionValueError(f"give distinct integers from {lo} to {hi}, separated by commas (1,2,3,4)")
        return values

    def show(value: tuple[int, ...]) -> str:
        return ",".join(map(str, value)) if value else default

    return _declare((), Option(read, f"integers {lo} to {hi}, separated by commas", help, codegen, show))


def _counts(text: str, lo: int, hi: int) -> tuple[int, ...]:
    """The comma-separated whole numbers of ``text``, each in ``lo..hi``; ``()`` if any is not one."""
    try:
        return tuple(count(v, lo, hi) for v in text.split(","))
    except OptionValueError:
        return ()


def flag(default: bool, help: str, *, codegen: bool) -> Any:
    """``0`` or ``1``."""

    def read(text: str) -> bool:
        if text not in ("0", "1"):
            raise OptionValueError("must be 0 or 1")
        return text == "1"

    return _declare(default, Option(read, "`0` or `1`", help, codegen, lambda v: "1" if v else "0"))


def number(default: float, help: str, *, what: str, most: float | None = None, codegen: bool) -> Any:
    """A finite number above 0 (at most ``most``); ``what`` names it in the message ("a clock in MHz").
    "inf", "nan", "1e400" (which Python reads as inf), "1e-400" (0.0), zero or a negative value is refused."""
    limit = "" if most is None else f" and at most {most:g}"

    def read(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0 and (most is None or value <= most)):
            raise OptionValueError(f"is not {what} (a finite number above 0{limit})")
        return value

    accepts = f"a number above 0{limit}"
    return _declare(default, Option(read, accepts, help, codegen, lambda v: f"{v:g}"))


PROGRAM = re.compile(r"[A-Za-z0-9_./+-]{1,200}\Z")


def program(default: str, help: str) -> Any:
    """A program to run (a name on PATH or a path); never recorded in a folder (docs/trust-model.md), so it is
    a build setting by construction. The text is one argument (no shell), of plain path characters."""

    def read(text: str) -> str:
        if not PROGRAM.match(text):
            raise OptionValueError("is not a program name or path (letters, digits, and _ . / + -)")
        return text

    return _declare(default, Option(read, "a program on PATH or a path", help, codegen=False))


def name(pattern: re.Pattern[str], default: str, help: str, *, what: str, codegen: bool) -> Any:
    """A plain name matching ``pattern`` (it reaches a script: a device name, not a command)."""

    def read(text: str) -> str:
        if not pattern.match(text):
            raise OptionValueError(f"is not {what}")
        return text

    return _declare(default, Option(read, what, help, codegen))


def powers_of_two(most: int, help: str, *, default: str, codegen: bool) -> Any:
    """A power of two in ``1..most`` for every layer (``16``) or one per layer (``16,64,16``); the default is
    None (the target's own, which may depend on another option: ``default`` says it in words). Whether a list
    has one value per layer is a design rule: the option alone cannot know the layers."""

    def read(text: str) -> tuple[int, ...]:
        values = _counts(text, 1, most)
        if not values or any(v & (v - 1) for v in values):
            raise OptionValueError(
                f"give a power of two from 1 to {most}, or one per layer separated by commas (16,64,16)"
            )
        return values

    def show(value: tuple[int, ...] | None) -> str:
        return default if value is None else ",".join(map(str, value))

    accepts = f"powers of two 1 to {most}, one or one per layer"
    return _declare(None, Option(read, accepts, help, codegen, show))


def subset(values: Iterable[str], default: tuple[str, ...], help: str, *, codegen: bool) -> Any:
    """A comma-separated list of some of ``values`` (``ecp5,ice40``)."""
    allowed = tuple(values)

    def read(text: str) -> tuple[str, ...]:
        picked = tuple(v for v in text.split(",") if v)
        if not picked or any(v not in allowed for v in picked):
            raise OptionValueError(f"give some of {', '.join(allowed)}, separated by commas")
        return picked

    accepts = "some of " + ", ".join(f"`{v}`" for v in allowed)
    return _declare(default, Option(read, accepts, help, codegen, ",".join))


# --- reading the declarations ------------------------------------------------------------------------------------


def declared(settings: type[TargetOptions]) -> tuple[Declared, ...]:
    """The options a settings class declares, in declaration order (``prefix`` and ``extra`` are not options)."""
    out = []
    for f in fields(settings):
        option = f.metadata.get(_OPTION)
        if option is not None:
            assert f.default is not MISSING, f.name
            out.append(Declared(f.name, f.default, option))
    return tuple(out)


def codegen_keys(settings: type[TargetOptions]) -> frozenset[str]:
    return frozenset(d.name for d in declared(settings) if d.option.codegen)


def _shown_key(key: str) -> str:
    return key if key.isascii() and key.isidentifier() and len(key) <= 40 else _quoted(key)


def unknown_key_message(key: str, keys: Iterable[str], target: str) -> str:
    """``unknown --option lane for the verilog target; did you mean 'lanes'? It takes arch, lanes, ...``
    (difflib's close match, when there is one)."""
    keys = list(keys)
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6) if len(key) <= 100 else []
    hint = f"; did you mean {close[0]!r}? It" if close else "; it"
    takes = ", ".join(keys) if keys else "no --option"
    return f"unknown --option {_shown_key(key)} for the {target} target{hint} takes {takes}"


def parse(settings: type[S], options: TargetOptions, target: str, rule: str) -> S:
    """``options`` (prefix and raw strings) as ``settings``: every raw value read by its option, defaults for
    the rest. Every unknown key and bad value is one violation of ``rule``, all raised at once as one line."""
    options_by_key = {d.name: d for d in declared(settings)}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, raw in options.extra.items():
        text = str(raw)  # the library takes numbers too (extra={"lanes": 4})
        known = options_by_key.get(key)
        if known is None:
            problems.append(unknown_key_message(key, options_by_key, target))
            continue
        try:
            values[key] = known.option.read(text)
        except OptionValueError as exc:  # "must be ..." follows the value, "give ..." after a colon
            sep = ": " if str(exc).startswith("give") else " "
            problems.append(f"--option {key}={_quoted(text)}{sep}{exc}")
    if problems:
        raise DesignRuleError.collect([_Violation(rule, p) for p in problems])
    return settings(prefix=options.prefix, extra=dict(options.extra), **values)


@dataclass(frozen=True)
class _Violation:
    rule: str
    message: str


def summary(settings: TargetOptions) -> dict[str, str]:
    """What a build used, as text: the prefix, every codegen option (given or default), and the build settings
    given on the command line (verify's summary and JSON)."""
    out = {"prefix": settings.prefix}
    for d in declared(type(settings)):
        if d.option.codegen:
            out[d.name] = str(settings.extra[d.name]) if d.name in settings.extra else d.text(d.default)
        elif d.name in settings.extra:
            out[d.name] = str(settings.extra[d.name])
    return out


# --- docs and help -----------------------------------------------------------------------------------------------

TABLE_BEGIN = (
    "<!-- options: generated from the target's settings (targets/options.py); a test keeps it equal -->"
)
TABLE_END = "<!-- end of options -->"


def markdown_table(settings: type[TargetOptions]) -> str:
    """The option table of a docs/targets page (between ``TABLE_BEGIN`` and ``TABLE_END``)."""
    rows = [
        "| `--option` | values | default | recorded by codegen | what it sets |",
        "|---|---|---|---|---|",
    ]
    for d in declared(settings):
        recorded = "yes" if d.option.codegen else "no: a build or run setting"
        rows.append(
            f"| `{d.name}` | {d.option.accepts} | {d.text(d.default)} | {recorded} | {d.option.help} |"
        )
    return "\n".join([TABLE_BEGIN, *rows, TABLE_END])


def help_line(tables: Mapping[str, type[TargetOptions]]) -> str:
    """``c: board, cc, ...; hls: part, ...`` for the CLI's --option help."""
    return "; ".join(f"{t}: {', '.join(d.name for d in declared(s)) or 'none'}" for t, s in tables.items())


__all__ = [
    "Declared",
    "Option",
    "OptionValueError",
    "choice",
    "codegen_keys",
    "count",
    "declared",
    "flag",
    "help_line",
    "integer",
    "markdown_table",
    "name",
    "number",
    "parse",
    "powers_of_two",
    "program",
    "subset",
    "summary",
    "unknown_key_message",
]
