"""A fused leaky integrate-and-fire scan over all time steps, bit-identical to ``snntorch.Leaky``.

Source checked: snntorch 1.0.0 ``_neurons/leaky.py`` and ``_neurons/neurons.py`` (subtract reset,
``reset_delay=True``, no ``state_quant``/``inhibition``). Per step, in this float32 operation order::

    reset = H(mem_prev - threshold)                    # detached, from the previous membrane
    mem   = (clamp(beta, 0, 1) * mem_prev + input) - reset * threshold
    spk   = H(mem - threshold) * graded_spikes_factor  # H(x) = x > 0

Backward (snntorch ``FastSigmoid``): dspk/dmem = 1 / (slope * |mem - threshold| + 1)^2; the reset path carries
no gradient, so dmem_t/dmem_{t-1} = clamp(beta, 0, 1).
"""

from __future__ import annotations

import torch
from torch import Tensor


class LeakyScan(torch.autograd.Function):
    """``spk, mem = LeakyScan.apply(inp, beta_c, threshold, slope, graded, steps)``.

    ``inp`` is (T, ...) with ``steps=None``, or one static current (...) fed at each of ``steps`` steps; the
    outputs are (T, ...) either way, each step in the memory layout of ``inp``'s steps (channels last stays
    channels last, so the next conv reads the spikes without a copy).
    """

    @staticmethod
    def forward(ctx, inp: Tensor, beta_c: Tensor, threshold: Tensor, slope: float, graded: Tensor, steps):
        static = steps is not None
        if static:
            inp = inp.unsqueeze(0).expand(steps, *inp.shape)
        spk_all, mem_all = _scan_forward(inp, beta_c, threshold)
        ctx.save_for_backward(mem_all, beta_c, threshold, graded)
        ctx.slope, ctx.static = slope, static
        ctx.set_materialize_grads(False)  # an unused output (usually mem) gets None, not a tensor of zeros
        out = spk_all if bool(graded == 1) else spk_all * graded
        return out, mem_all

    @staticmethod
    def backward(ctx, grad_spk: Tensor | None, grad_mem: Tensor | None):
        mem_all, beta_c, threshold, graded = ctx.saved_tensors
        if grad_spk is None and grad_mem is None:
            return None, None, None, None, None, None
        grad = _scan_backward(mem_all, beta_c, threshold, ctx.slope, graded, grad_spk, grad_mem)
        return (grad.sum(0) if ctx.static else grad), None, None, None, None, None


def _steps_like(step: Tensor, steps: int) -> Tensor:
    """An uninitialised (steps, *step.shape) tensor whose every step has ``step``'s dimension order in memory."""
    order = sorted(range(step.dim()), key=lambda d: -step.stride(d))  # outermost dimension first
    flat = torch.empty((steps, *(step.shape[d] for d in order)), dtype=step.dtype, device=step.device)
    return flat.permute(0, *(1 + order.index(d) for d in range(step.dim())))


def _scan_forward(inp: Tensor, beta_c: Tensor, threshold: Tensor) -> tuple[Tensor, Tensor]:
    num_steps = inp.shape[0]
    # Every step laid out like inp[0] (an expanded static input has no layout of its own over the steps).
    mem_all = _steps_like(inp[0], num_steps)
    spk_all = _steps_like(inp[0], num_steps)
    mem = torch.zeros_like(inp[0])
    # snnTorch's first reset comes from its zero initial membrane.
    reset = torch.gt(mem, threshold).to(inp.dtype)
    neg_thr = -threshold
    for t in range(num_steps):
        cur = mem_all[t]
        torch.mul(beta_c, mem, out=cur)  # round(beta * mem)
        cur.add_(inp[t])  # round(. + input)
        # reset * threshold is exactly 0 or threshold, so this equals snnTorch's "- reset * threshold"
        cur.addcmul_(reset, neg_thr)
        torch.gt(cur, threshold, out=spk_all[t])
        reset = spk_all[t]
        mem = cur
    return spk_all, mem_all


def _scan_backward(mem_all, beta_c, threshold, slope, graded, grad_spk, grad_mem) -> Tensor:
    # g_mem[t] = g_spk[t] * graded / (slope * |mem[t] - thr| + 1)^2 + g_memout[t] + beta * g_mem[t + 1].
    # Everything but the last term is elementwise over all steps: computed in a few whole-tensor passes (the
    # same operations in the same order as one step at a time, so the same floats); only the recurrence walks
    # the steps backwards.
    unit = bool(graded == 1)
    grad_in = torch.empty_like(mem_all)
    if grad_spk is not None:
        denom = torch.sub(mem_all, threshold, out=grad_in).abs_().mul_(slope).add_(1.0).square_()
        torch.div(grad_spk if unit else grad_spk * graded, denom, out=grad_in)
        if grad_mem is not None:
            grad_in.add_(grad_mem)
    else:
        grad_in.copy_(grad_mem)
    for t in range(mem_all.shape[0] - 2, -1, -1):
        grad_in[t].add_(torch.mul(grad_in[t + 1], beta_c))
    return grad_in


def leaky_scan(inp: Tensor, lif, steps: int | None = None) -> tuple[Tensor, Tensor]:
    """Run an ``snntorch.Leaky`` (subtract reset) over ``inp`` (T, ...) from a zero membrane; with ``steps``,
    ``inp`` (...) is a static current fed at every one of ``steps`` steps.

    Returns ``(spk, mem)``, both (T, ...), equal bit for bit to calling ``lif(inp[t], mem)`` step by step. Each
    step of the outputs has the memory layout of the input's steps (channels last stays channels last).
    """
    if getattr(lif, "reset_mechanism_val", None) is not None and int(lif.reset_mechanism_val) != 0:
        raise NotImplementedError("leaky_scan implements reset_mechanism='subtract' only")
    if lif.state_quant or lif.inhibition or not lif.reset_delay:
        raise NotImplementedError(
            "leaky_scan does not implement state_quant, inhibition or reset_delay=False"
        )
    for name in ("beta", "threshold", "graded_spikes_factor"):
        if getattr(lif, name).requires_grad:
            raise NotImplementedError(f"leaky_scan does not learn {name}")
    slope = getattr(lif.spike_grad, "slope", None)
    if slope is None:
        slope = _closure_slope(lif.spike_grad)
    beta_c = lif.beta.clamp(0, 1).to(inp.dtype)
    return LeakyScan.apply(
        inp, beta_c, lif.threshold.to(inp.dtype), slope, lif.graded_spikes_factor.to(inp.dtype), steps
    )


def _closure_slope(spike_grad) -> float:
    """The slope captured by ``snntorch.surrogate.fast_sigmoid(slope)``'s closure."""
    code = getattr(spike_grad, "__code__", None)
    closure = getattr(spike_grad, "__closure__", None)
    if code is not None and closure and "slope" in code.co_freevars:
        if "FastSigmoid" in code.co_names:
            return float(closure[code.co_freevars.index("slope")].cell_contents)
    raise NotImplementedError("leaky_scan needs snntorch.surrogate.fast_sigmoid(slope) as spike_grad")
