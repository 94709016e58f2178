"""Which targets can build a model: the design rules asked of a graph, or of a torch model before training.

These sit with the targets, above the exporter and the NIR door, so that neither of those needs to know a
target (docs/architecture.md): ``qsnn-deploy import`` prints :func:`target_verdicts` of the graph it wrote, and
:func:`check_exportable_for` adds a target's rules to the exporter's own ``check_exportable``.
"""

from __future__ import annotations

from typing import Any

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.targets import check_model, registry

__all__ = ["check_exportable_for", "target_verdicts"]


def target_verdicts(graph: Graph) -> dict[str, str | None]:
    """Every registered target: None where its rules (and the shared layer rules) pass, else the reason."""
    verdicts: dict[str, str | None] = {}
    for name, target in registry().items():
        try:
            check_model(graph, target)
            verdicts[name] = None
        except QsnnError as exc:
            verdicts[name] = str(exc)
    return verdicts


def check_exportable_for(model: Any, target: str, **options: Any) -> list[str]:
    """``qsnn_deploy.export.check_exportable(model, **options)`` plus ``target``'s design rules on the trial
    export (for instance ``"nir"`` refuses max pooling): one message per problem, ``"target <name>: ..."`` for
    the target's, an empty list when the model exports and ``target`` builds it."""
    from qsnn_deploy.export import check_exportable

    def design_rules(graph: Graph) -> list[str]:
        try:
            check_model(graph, target)
        except QsnnError as exc:
            return [f"target {target}: {exc}"]
        return []

    return check_exportable(model, graph_checks=design_rules, **options)
