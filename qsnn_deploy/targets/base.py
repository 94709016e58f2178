"""What a target is: the ``TargetSpec`` every target folder registers, and the design-rule runner.

A target is a sub-package ``qsnn_deploy/targets/<name>/`` whose ``__init__`` calls ``register(TargetSpec(...))``:
its name, its design rules, ``render`` and its executors (what builds and runs the rendered files for
``verify``), its ``--option`` declarations, and optionally the names it derives from op names, the pools it
implements and a cost report. Nothing outside the folder names the target: the CLI takes its choices from the
registry (targets/__init__.py), the verifier knows records, not targets.

Design rules are pure functions of a frozen ``RuleInput`` (graph, layer plan, ranges, options) returning
their violations; ``check`` runs every rule and raises one ``DesignRuleError`` listing all of them, before any
file is written.
"""

from __future__ import annotations

import importlib
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

    from qsnn_deploy.targets.names import Derived
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


def lazy(module: str, name: str) -> Callable[..., Any]:
    """``module.name``, imported on its first call: a cost report pulls in the simulator and the toolchains,
    which ``codegen`` and ``verify`` do not need."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__qualname__ = call.__name__ = f"{module}.{name}"
    return call


def no_cost_report(model: CheckedModel, inputs: Any, steps: int, work: Path, **kwargs: Any) -> None:
    """The cost report of a target that has none: ``report --target`` says so."""
    return None


@dataclass(frozen=True)
class OpImpl:
    """One target's implementation of one IR op kind: an entry of the target's registration table
    (``TargetSpec.ops``, kind -> OpImpl). The shared rule ``op_supported`` refuses, by kind, every op a target
    does not list; nothing else in a target tests an op's class.

    ``where`` names the code that runs the op (a runtime routine, an RTL module, ONNX nodes), as the target's
    docs page lists it. ``separate_pass``: a pool the target runs over the synapse's full map after it (a max
    pool), rather than summing inside the synapse's accumulators. ``emit``: for targets that write op by op
    (ONNX, NIR), the function that writes it."""

    where: str
    separate_pass: bool = False
    emit: Callable[..., Any] | None = None


OPS_BEGIN = "<!-- ops: generated from the target's registration table (targets/<target>/ops.py); a test keeps it equal -->"
OPS_END = "<!-- end of ops -->"


def ops_markdown(ops: Mapping[str, OpImpl]) -> str:
    """The op table of a docs/targets page: every IR op kind the target implements, and what runs it."""
    rows = ["| IR op | implemented by |", "|---|---|"]
    rows += [f"| `{kind}` | {impl.where} |" for kind, impl in ops.items()]
    return "\n".join([OPS_BEGIN, *rows, OPS_END])


def separate_pool(layer: Layer, ops: Mapping[str, OpImpl]) -> bool:
    """Whether ``layer``'s pool runs as its own pass over the synapse's full map on a target whose table is
    ``ops``."""
    return layer.pool is not None and ops[layer.pool.kind].separate_pass


@dataclass(frozen=True)
class TargetSpec:
    """One target, as its folder registers it."""

    name: str
    description: str
    rules: tuple[Rule, ...]
    executors: Mapping[str, Executor]  # the first one is the default of ``verify``; none: nothing to run
    render: Callable[[CheckedModel, Path], list[Path]]  # writes the files into a folder, returns their paths
    settings: type[TargetOptions]  # its --option declarations (targets/options.py): typed, parsed once
    # The names it derives from op names, checked by the shared rule unique_generated_names (targets/names.py)
    derived_names: Callable[[RuleInput], list[Derived]] | None = None
    # Its registration table: op kind -> OpImpl; the shared rule op_supported refuses every other kind
    ops: Mapping[str, OpImpl] = field(default_factory=dict)
    # The rule whose name a bad --option carries (default ``<name>_settings``)
    settings_rule: str = ""
    # ``report --target``: (model, inputs, steps, work, **kwargs) -> a report with ``to_dict``, or None
    cost_report: Callable[..., Any] = no_cost_report
    format_cost: Callable[[Any], str] = str  # the report as text
