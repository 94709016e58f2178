"""What a target is: the typed protocol every target folder implements, and the design-rule runner.

A target is a sub-package ``qsnn_deploy/targets/<name>/`` whose ``__init__`` calls ``register(TARGET)`` with
an object of this protocol: its name, its design rules, ``render`` and its executors (what builds and runs the
rendered files for ``verify``), and optionally a cost report. Nothing outside the folder names the target: the
CLI takes its choices from the registry (targets/__init__.py), the verifier knows records, not targets.

Design rules are pure functions of a frozen ``RuleInput`` (graph, layer plan, ranges, options) returning
their violations; ``check`` runs every rule and raises one ``DesignRuleError`` listing all of them, before any
file is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from qsnn_deploy.errors import DesignRuleError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.plan import Layer, layer_pattern_violations, plan_layers
from qsnn_deploy.ir.ranges import OpRange, analyse

if TYPE_CHECKING:  # only for annotations: the verifier imports this module
    import numpy as np

    from qsnn_deploy.verify.record import Record


@dataclass(frozen=True)
class TargetOptions:
    """What every target means: ``prefix`` names generated identifiers (C symbols, HDL modules); ``extra`` holds
    the ``--option KEY=VALUE`` strings as given.

    Each target declares its own options once, as a frozen subclass with one typed field per option
    (targets/options.py, and ``settings.py`` beside each target's code); ``check_model`` reads ``extra`` into
    that subclass, so rules, renderers and executors read typed values and nothing parses a string again."""

    prefix: str = "qsnn"
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleInput:
    """Everything a design rule may look at; frozen so that rules cannot pass state to each other. ``options``
    is the target's typed settings (a ``TargetOptions`` subclass) once ``check_model`` has read them."""

    graph: Graph
    layers: tuple[Layer, ...]
    ranges: Mapping[str, OpRange]
    options: TargetOptions


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str


Rule = Callable[[RuleInput], list[Violation]]


def rule(name: str) -> Callable[[Callable[[RuleInput], list[str]]], Rule]:
    """Decorator: a function returning messages becomes a named rule returning ``Violation``s."""

    def wrap(fn: Callable[[RuleInput], list[str]]) -> Rule:
        def run(inp: RuleInput) -> list[Violation]:
            return [Violation(name, m) for m in fn(inp)]

        run.__name__ = run.rule_name = name  # type: ignore[attr-defined]
        run.__doc__ = fn.__doc__
        return run

    return wrap


@dataclass(frozen=True)
class CheckedModel:
    """A graph that passed a target's design rules, with what the rules computed (the renderer's input);
    ``options`` is the target's typed settings (targets/options.py)."""

    graph: Graph
    layers: tuple[Layer, ...]
    ranges: Mapping[str, OpRange]
    options: TargetOptions


def check(graph: Graph, rules: tuple[Rule, ...], options: TargetOptions) -> CheckedModel:
    """Run the shared layer-pattern rule, then every rule in ``rules``; raise one DesignRuleError naming every
    violation (the first rule's name is the error's ``rule``)."""
    graph.validate()
    pattern = layer_pattern_violations(graph)
    if pattern:  # the other rules read the layer plan: without one they cannot run
        raise DesignRuleError.collect([Violation("layer_pattern", m) for m in pattern])
    layers = plan_layers(graph)
    inp = RuleInput(graph, layers, {r.name: r for r in analyse(graph)}, options)
    violations = [v for r in rules for v in r(inp)]
    if violations:
        raise DesignRuleError.collect(violations)
    return CheckedModel(graph, layers, inp.ranges, options)


@runtime_checkable
class Runner(Protocol):
    """A built executable of one target: runs samples and returns the common record."""

    def run(self, inputs: np.ndarray, steps: int) -> Record: ...


@runtime_checkable
class Executor(Protocol):
    """Builds what ``render`` wrote in ``model_dir`` (in ``work``) into a ``Runner``."""

    name: str
    description: str

    def build(self, model: CheckedModel, model_dir: Path, work: Path) -> Runner: ...


@runtime_checkable
class Target(Protocol):
    name: str
    description: str
    rules: tuple[Rule, ...]
    executors: Mapping[str, Executor]  # the first one is the default of ``verify``
    settings: type[TargetOptions]  # its --option declarations (targets/options.py): typed, parsed once
    # Optional: ``pools``, the pool op kinds the target implements (default ("sumpool2d",)); the shared rule
    # ``pool_supported`` refuses the others.

    def render(self, model: CheckedModel, out: Path) -> list[Path]: ...

    def cost_report(self, model: CheckedModel, inputs: Any, steps: int, work: Path, **kwargs: Any) -> Any:
        """Optional: a measured or estimated cost (``report --target``); None when the target has none."""
        ...

    def format_cost(self, report: Any) -> str: ...
