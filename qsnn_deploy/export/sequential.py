"""What an ``nn.Sequential`` must satisfy beyond its single layers, checked the same way by export and by
``check_exportable`` (so that the checker's first line is the line export refuses with).

Two looks, before any folding:

1. :func:`structure_problems`, the layers' roles: an snnTorch ``Leaky`` that returns ``(spk, mem)`` (no
   ``init_hidden``, or ``output=True``) can only be the last layer, since ``nn.Sequential`` hands that tuple to
   the next layer and torch fails there; and the order of the layers (:func:`layout_problem`): every layer is
   ``QuantConv2d|QuantLinear``, then at most one pool (after a conv) and any BatchNorms, then a ``Leaky``;
   ``Dropout``, ``Flatten`` and ``Identity`` may stand anywhere. A pool or BatchNorm on spikes, two weighted
   layers without a Leaky between them, or a network that does not end with a Leaky is named here, before the
   folding passes would fail on it with a message about their own working form.
2. :func:`trace_problems`, one step of the torch model on a zero input of the given shape, layer by layer. It
   names a layer whose input torch cannot take, and a layer that torch and the IR would compute differently:
   torch applies a ``Linear`` to the last axis only while the IR's ``Linear`` flattens the whole sample (C, H,
   W order), so a ``Linear`` must see a flat sample (after ``nn.Flatten``, or an input such as (1, 1, 784)
   whose other axes are 1); and a conv, pool or ``BatchNorm2d`` after the activation is flat has no IR form.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from qsnn_deploy.export.inference import layer_name

__all__ = ["structure_problems", "trace_problems"]

_SPATIAL = (nn.Conv2d, nn.AvgPool2d, nn.MaxPool2d, nn.BatchNorm2d)
_POOLS = (nn.AvgPool2d, nn.MaxPool2d)
_PASSIVE = (nn.Dropout, nn.Flatten, nn.Identity)  # removed at export; they stand anywhere


def _children(model: nn.Sequential) -> list[tuple[str, nn.Module]]:
    return [(layer_name(name), module) for name, module in model.named_children()]


def _neurons() -> tuple[type, ...]:
    """The snnTorch neurons a layer ends with: ``Leaky``, ``Synaptic`` (a synaptic current before it) and their
    recurrent forms ``RLeaky`` and ``RSynaptic``."""
    import snntorch as snn

    return (snn.Leaky, snn.Synaptic, snn.RLeaky, snn.RSynaptic)


def structure_problems(model: nn.Sequential) -> list[str]:
    """One message per ``Leaky`` (or ``Synaptic``) that hands a tuple to the layer after it."""
    children = _children(model)
    problems = []
    for (name, module), (after, _) in zip(children, children[1:], strict=False):
        if not isinstance(module, _neurons()):
            continue
        kind = type(module).__name__
        returns = "(spk, syn, mem)" if hasattr(module, "syn") else "(spk, mem)"
        if not module.init_hidden:
            problems.append(
                f"layer {name!r} ({kind}): without init_hidden=True it returns {returns}, which layer {after!r} "
                f"cannot take; construct it as snn.{kind}(..., init_hidden=True)"
            )
        elif module.output:
            problems.append(
                f"layer {name!r} ({kind}): output=True returns {returns}, which layer {after!r} cannot take; "
                "set output=True only on the last layer"
            )
    layout = layout_problem(children)
    return problems + ([layout] if layout else [])


def layout_problem(children: list[tuple[str, nn.Module]]) -> str | None:
    """The first layer out of the order ``(weighted, [pool], [BatchNorm...], Leaky)+`` (module kinds the
    handlers take; an unknown kind is the handlers' to name). A ``Synaptic`` stands where a ``Leaky`` does."""
    weighted: tuple[str, nn.Module] | None = None  # the open layer's conv or linear, until its Leaky
    pooled = False
    spikes_of: str | None = None  # the Leaky just before, when no weighted layer came since
    for name, module in children:
        kind = type(module).__name__
        if isinstance(module, _PASSIVE):
            continue
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if weighted is not None:
                return (
                    f"layer {name!r} ({kind}) follows {weighted[0]!r} without a Leaky between them: put an "
                    f"snn.Leaky(..., init_hidden=True) after {weighted[0]!r}"
                )
            weighted, pooled, spikes_of = (name, module), False, None
        elif isinstance(module, _neurons()):
            if weighted is None:
                where = f"follows the Leaky {spikes_of!r}" if spikes_of else "is the first layer"
                return f"layer {name!r} ({kind}) {where}: put a QuantConv2d or QuantLinear before it (each Leaky needs one)"
            weighted, spikes_of = None, name
        elif weighted is None:
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and spikes_of is None:
                return (
                    f"layer {name!r}: a BatchNorm before the first QuantConv2d/QuantLinear is not supported; "
                    "normalise the input in the data pipeline or put the BatchNorm after a weighted layer"
                )
            what = "pools" if isinstance(module, _POOLS) else "normalises"
            on = f"the spikes of {spikes_of!r}" if spikes_of else "the raw input"
            return (
                f"layer {name!r} ({kind}) {what} {on}: export takes pools and BatchNorms between a weighted "
                "layer and its Leaky (conv -> pool -> Leaky); move it there"
            )
        elif isinstance(module, _POOLS):
            if isinstance(weighted[1], nn.Linear):
                return (
                    f"layer {name!r} ({kind}) follows the Linear {weighted[0]!r}: move it between a conv and "
                    "its Leaky, or remove it"
                )
            if pooled:
                return (
                    f"layer {name!r} ({kind}) is a second pool after {weighted[0]!r}: one pool per conv; use one "
                    "pool with the product of the kernels"
                )
            pooled = True
    if weighted is not None:
        return (
            f"the network ends with {weighted[0]!r} ({type(weighted[1]).__name__}), not a Leaky: put "
            "snn.Leaky(..., init_hidden=True, output=True) after it"
        )
    if spikes_of is None:
        return (
            "the network has no QuantConv2d/QuantLinear followed by a Leaky: put at least one such pair in it"
        )
    return None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _before_run(name: str, module: nn.Module, shape: tuple[int, ...], flat_after: str | None) -> str | None:
    """The problem of ``module`` on a per-sample input of ``shape``, judged before torch runs it."""
    kind = type(module).__name__
    if isinstance(module, nn.Linear):
        if math.prod(shape[:-1]) != 1:
            return (
                f"layer {name!r} ({kind}) gets an input of shape {shape} per sample; torch applies a Linear to "
                "the last axis only and the IR to the whole sample: put nn.Flatten() before it"
            )
        if shape[-1] != module.in_features:
            return (
                f"layer {name!r} ({kind}) takes {module.in_features} features but gets {shape[-1]} (an input of "
                f"shape {shape} per sample): check --input-shape and the layer sizes"
            )
    elif isinstance(module, nn.BatchNorm1d) and len(shape) != 1:
        return (
            f"layer {name!r} ({kind}) gets an input of shape {shape} per sample but needs a flat one: put "
            "nn.Flatten() before the first Linear"
        )
    elif isinstance(module, _SPATIAL):
        if flat_after is not None or len(shape) != 3:
            where = f" after {flat_after!r}" if flat_after is not None else ""
            return (
                f"layer {name!r} ({kind}) gets a flat input{where} (shape {shape} per sample) but needs "
                "(C, H, W): put convolutions and pools before the first Flatten or Linear"
            )
        if isinstance(module, nn.Conv2d) and shape[0] != module.in_channels:
            return (
                f"layer {name!r} ({kind}) takes {module.in_channels} input channel(s) but gets an input of shape "
                f"{shape} per sample: check --input-shape C,H,W"
            )
    return None


@torch.no_grad()
def trace_problems(model: nn.Sequential, input_shape: tuple[int, int, int]) -> list[str]:
    """The first layer (if any) that cannot take what the layers before it give, on a zero input of
    ``input_shape`` (one sample, one step); at most one message, since later shapes depend on it."""
    was_training = model.training
    # the membranes (and synaptic currents) as they were: the trace leaves the model's state untouched
    # (utils.reset would zero every Leaky in the process, the user's other networks too)
    saved = [
        (m, m.mem, getattr(m, "syn", None), getattr(m, "spk", None))
        for m in model.modules()
        if isinstance(m, _neurons())
    ]
    model.eval()
    x = torch.zeros(1, *input_shape)
    flat_after: str | None = None
    try:
        for name, module in _children(model):
            shape = tuple(int(v) for v in x.shape[1:])
            problem = _before_run(name, module, shape, flat_after)
            if problem is not None:
                return [problem]
            try:
                y = module(x)
            except Exception as exc:  # torch's own shape errors, reported as the one line below
                return [
                    f"layer {name!r} ({type(module).__name__}) cannot take an input of shape {shape} per sample "
                    f"({_first_line(exc)}): check --input-shape and the layer sizes"
                ]
            x = y[0] if isinstance(y, tuple) else y
            if isinstance(module, (nn.Linear, nn.Flatten)):
                flat_after = flat_after or name
    finally:
        for module, mem, syn, spk in saved:
            module.mem = mem
            if syn is not None:
                module.syn = syn
            if spk is not None:  # an RLeaky's or RSynaptic's spikes of the previous step
                module.spk = spk
        model.train(was_training)
    return []
