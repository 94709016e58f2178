"""``check_exportable``: whether a model can be exported, asked before training rather than after.

Two looks at the model, both on its current (for instance untrained) weights:

1. the handler walk: every layer is converted on its own, so the answer names *every* layer that export would
   refuse, not only the first (a model that is neither a ``QSNN`` nor an ``nn.Sequential`` has each of its leaf
   modules walked, so an LSTM inside it is named too); for an ``nn.Sequential`` also every snnTorch ``Leaky``
   that would hand ``(spk, mem)`` to the next layer (:func:`.sequential.structure_problems`);
2. when every layer converts and the input is known, one torch step layer by layer on a zero input
   (:func:`.sequential.trace_problems`: a Linear without a Flatten before it, sizes that do not fit), then a
   trial export without the float-vs-integer check: the folding passes, the integer IR and the layer pattern
   every target implements (and, given ``graph_checks``, further checks of that graph, such as a target's
   design rules: ``qsnn_deploy.targets.buildable.check_exportable_for``). This finds what no single layer
   shows, such as a pool that does not follow a conv or a network that does not end with a LIF layer.

Export runs the same steps in the same order and raises the first problem, so the first message here is the
line export refuses with, and an empty list means export succeeds on the same input description.

Training changes numbers, never which layers there are, so a model that passes here exports after training too,
unless training leaves numbers export refuses (NaN or Inf, a learned threshold <= 0). Design rules that bound
values, such as a target's accumulator width, are judged on the current weights.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from qsnn_deploy.errors import QsnnError, UnsupportedLayerError
from qsnn_deploy.export import handlers
from qsnn_deploy.export.inference import layer_name
from qsnn_deploy.ir.graph import Graph

__all__ = ["check_exportable"]


def _leaves(model: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """The layers of a model with its own forward: modules a handler takes (a Brevitas layer is not opened up)
    and modules without children; containers are walked into."""
    found = []
    for name, child in model.named_children():
        path = f"{prefix}.{name}" if prefix else name
        if handlers.is_handled(child) or not list(child.children()):
            found.append((layer_name(path), child))
        else:
            found += _leaves(child, path)
    return found


def _layer_problems(model: nn.Module) -> list[str]:
    """One message per layer the handlers refuse (the handler walk of the export, not stopping at the first)."""
    from qsnn_deploy.export.sequential import structure_problems
    from qsnn_deploy.models import network
    from qsnn_deploy.models.qsnn import QSNN
    from qsnn_deploy.models.recurrent import RecurrentQSNN

    if isinstance(model, RecurrentQSNN):
        from qsnn_deploy.models.recurrent import module_names

        modules = [(name, getattr(model, name)) for name in module_names(model.config)]
        problems = []
    elif isinstance(model, QSNN):
        modules = [
            (layer.name, getattr(model, layer.name))
            for layer in network.layers(model.config)
            if layer.kind not in ("avgpool", "maxpool", "flatten")  # functional in the QSNN's forward
        ]
        problems = []
    elif isinstance(model, nn.Sequential):
        modules = [(layer_name(name), module) for name, module in model.named_children()]
        problems = []
    else:
        modules = _leaves(model)
        problems = [
            f"cannot export a {type(model).__name__} (its own forward): pass a qsnn-deploy QSNN or an "
            "nn.Sequential of supported layers (docs/export.md)"
        ]
    for name, module in modules:
        try:
            handlers.convert(name, module)
        except UnsupportedLayerError as exc:
            problems.append(str(exc))
    if isinstance(model, nn.Sequential):
        problems += structure_problems(model)
    return problems


def _trial_export(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    input_scale: float,
    encoding: str,
    graph_checks: Callable[[Graph], list[str]] | None,
) -> list[str]:
    """Fold and quantize the model as export does (no fidelity check); the problems it meets, if any."""
    from qsnn_deploy.export.api import probe_inputs, qsnn_layers, recurrent_qsnn_layers, sequential_layers
    from qsnn_deploy.export.float_graph import FloatGraph
    from qsnn_deploy.export.passes import PROBE_STEPS, fold
    from qsnn_deploy.export.quantize import QuantOptions, to_ir
    from qsnn_deploy.ir.plan import layer_pattern_violations
    from qsnn_deploy.models.qsnn import QSNN
    from qsnn_deploy.models.recurrent import RecurrentQSNN

    try:
        if isinstance(model, RecurrentQSNN):
            layers = recurrent_qsnn_layers(model)
        elif isinstance(model, QSNN):
            layers = qsnn_layers(model)
        else:
            layers = sequential_layers(model, input_shape)
        fg = FloatGraph(tuple(layers), tuple(input_shape), float(input_scale), encoding, PROBE_STEPS)
        folded, _ = fold(fg, probe_inputs(fg.input_shape, encoding, PROBE_STEPS))
        graph, _, _ = to_ir(folded, input_scale, QuantOptions())
        graph.validate()
    except QsnnError as exc:
        return [str(exc)]
    problems = layer_pattern_violations(graph)
    if graph_checks is not None and not problems:
        problems += graph_checks(graph)
    return problems


def check_exportable(
    model: nn.Module,
    *,
    input_shape: tuple[int, int, int] | None = None,
    input_scale: float | None = None,
    encoding: str | None = None,
    graph_checks: Callable[[Graph], list[str]] | None = None,
    raise_error: bool = False,
) -> list[str]:
    """The reasons ``model`` cannot be exported, one message each; an empty list when it can.

    Call it on the untrained model. ``input_shape`` (C, H, W), ``encoding`` ("static" or "stream", default
    static) and ``input_scale`` (default 1/255 static, 1 stream) describe an ``nn.Sequential``'s input, as for
    :func:`~qsnn_deploy.export.export_model`; a ``QSNN`` knows its own. Without ``input_shape`` an
    ``nn.Sequential`` gets the handler walk only. ``graph_checks`` runs on the trial-exported IR graph and
    returns problems of its own: a target's design rules come this way from
    ``qsnn_deploy.targets.buildable.check_exportable_for(model, "nir", ...)`` (the exporter knows no target).
    ``raise_error=True`` raises ``UnsupportedLayerError`` listing every problem instead of returning them."""
    from qsnn_deploy.export.builder import default_input_scale
    from qsnn_deploy.models import network
    from qsnn_deploy.models.qsnn import QSNN
    from qsnn_deploy.models.recurrent import RecurrentQSNN

    problems = _layer_problems(model)
    if not problems:
        if isinstance(model, RecurrentQSNN):
            input_shape = input_shape or (model.config.input_hw[1], 1, 1)
            encoding = encoding or "stream"
            input_scale = input_scale if input_scale is not None else 1 / 255
        elif isinstance(model, QSNN):
            cfg = model.config
            input_shape = input_shape or (cfg.in_channels, *cfg.input_hw)
            encoding = encoding or network.input_encoding(cfg)
            input_scale = input_scale if input_scale is not None else network.input_scale(cfg)
        encoding = encoding or "static"
        if input_scale is None:
            input_scale = default_input_scale(encoding)
        if input_shape is not None:
            problems = _trial_export(
                model, tuple(int(v) for v in input_shape), input_scale, encoding, graph_checks
            )
    if problems and raise_error:
        raise UnsupportedLayerError(
            f"the model cannot be exported ({len(problems)} problem(s)): " + "; ".join(problems)
        )
    return problems
