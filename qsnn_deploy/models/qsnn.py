"""The paper's QSNN (jeshraghian/QSNNs): two quantized 5x5 convs and one quantized linear layer of LIF neurons.

Per time step (FACTS.md, reference code)::

    cur1 = BN1(avg_pool2d(conv1(x_t), 2));  spk1, mem1 = lif1(cur1, mem1)
    cur2 = BN2(avg_pool2d(conv2(spk1), 2)); spk2, mem2 = lif2(cur2, mem2)
    cur3 = dropout(fc1(spk2.flatten(1)));   spk3, mem3 = lif3(cur3, mem3)

Static inputs (B, C, H, W) are the same current at every step (pixels * input_scale, no rate coding); stream
inputs (B, T, C, H, W) feed ``x[:, t]`` at step t. The output is the stacked ``spk3``, shape (T, B, classes).

Two forwards:

* :meth:`QSNN.forward_stepwise` -- the reference loop: the whole network once per step, ``snntorch.Leaky`` with an
  explicit membrane.
* :meth:`QSNN.forward` -- layer by layer: weights quantized once per call, the static first layer computed once
  per sample, one conv over all T*B inputs, then a fused LIF scan (:mod:`qsnn_deploy.models.lif`). In eval mode
  its outputs are ``torch.equal`` to the stepwise ones. In training mode BatchNorm still uses per-step batch
  statistics and dropout draws an independent mask per step (docs/training.md).
"""

from __future__ import annotations

import brevitas.nn as qnn
import snntorch as snn
import torch
import torch.nn.functional as F
from snntorch import surrogate
from torch import Tensor, nn

from qsnn_deploy.models.lif import leaky_scan
from qsnn_deploy.models.presets import ModelConfig

LAYERS = ("1", "2", "3")


def to_input(raw: Tensor, input_scale: float) -> Tensor:
    """Dataset samples (uint8 pixels or event counts) -> float32 model input: ``raw.float() * input_scale``."""
    return raw.to(torch.float32) * float(input_scale)


def _pooled(size: int) -> int:
    return (size - 4) // 2  # 5x5 valid conv, then 2x2 average pool (floor)


def flattened_features(config: ModelConfig) -> int:
    h, w = config.input_hw
    h, w = _pooled(_pooled(h)), _pooled(_pooled(w))
    if h < 1 or w < 1:
        raise ValueError(f"input_hw {config.input_hw} is too small for two 5x5 convs with 2x2 pooling")
    return config.conv2_channels * h * w


def quantized_weight(layer: nn.Module) -> Tensor:
    """The weight a layer multiplies with: Brevitas' ``quant_weight().value`` (bit for bit what its forward
    uses) or the float weight of a plain layer."""
    if isinstance(layer, (qnn.QuantConv2d, qnn.QuantLinear)):
        return layer.quant_weight().value
    return layer.weight


class QSNN(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.reset != "subtract":
            raise ValueError(f"reset {config.reset!r} is not supported (only 'subtract')")
        self.config = config
        #: training-mode speed-ups of :meth:`forward` (``_conv_pool``: the pool folded into a stride-2 conv,
        #: spikes held channels last); eval mode is always exact.
        self.fast_training = True
        bits = config.bits
        c1, c2 = config.conv1_channels, config.conv2_channels

        def conv(cin: int, cout: int) -> nn.Module:
            if bits is None:
                return nn.Conv2d(cin, cout, 5, bias=False)
            return qnn.QuantConv2d(cin, cout, 5, bias=False, weight_bit_width=bits)

        def lif() -> snn.Leaky:
            return snn.Leaky(
                beta=config.beta,
                threshold=config.threshold,
                spike_grad=surrogate.fast_sigmoid(slope=config.slope),
                reset_mechanism=config.reset,
            )

        self.conv1 = conv(config.in_channels, c1)
        if config.batch_norm:
            self.conv1_bn = nn.BatchNorm2d(c1)
        self.lif1 = lif()
        self.conv2 = conv(c1, c2)
        if config.batch_norm:
            self.conv2_bn = nn.BatchNorm2d(c2)
        self.lif2 = lif()
        features = flattened_features(config)
        if bits is None:
            self.fc1 = nn.Linear(features, config.num_classes, bias=False)
        else:
            self.fc1 = qnn.QuantLinear(features, config.num_classes, bias=False, weight_bit_width=bits)
        self.dropout = nn.Dropout(config.dropout)
        self.lif3 = lif()

    # ------------------------------------------------------------------ helpers
    def _bn(self, index: int) -> nn.BatchNorm2d | None:
        return getattr(self, f"conv{index}_bn", None)

    def _steps(self, x: Tensor, num_steps: int | None) -> tuple[bool, int]:
        if x.dim() == 4:
            if num_steps is None:
                raise ValueError("num_steps is required for static (B, C, H, W) inputs")
            return True, int(num_steps)
        if x.dim() == 5:
            available = x.shape[1]
            steps = available if num_steps is None else int(num_steps)
            if steps > available:
                raise ValueError(f"num_steps={steps} but the stream has only {available} time steps")
            return False, steps
        raise ValueError(f"expected input (B, C, H, W) or (B, T, C, H, W), got shape {tuple(x.shape)}")

    # ------------------------------------------------------------------ reference loop
    def forward_stepwise(self, x: Tensor, num_steps: int | None = None, record: bool = False):
        """The reference loop. Returns spk3 (T, B, classes), or ``(spk3, rec)`` with ``record=True`` where
        ``rec`` maps ``cur1, mem1, spk1, cur2, mem2, spk2, cur3, mem3, spk3`` to (T, B, ...) tensors."""
        static, steps = self._steps(x, num_steps)
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()
        mem3 = self.lif3.init_leaky()
        rec: dict[str, list[Tensor]] = {f"{k}{i}": [] for i in LAYERS for k in ("cur", "mem", "spk")}
        for t in range(steps):
            xt = x if static else x[:, t]
            cur1 = F.avg_pool2d(self.conv1(xt), 2)
            if self._bn(1) is not None:
                cur1 = self.conv1_bn(cur1)
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = F.avg_pool2d(self.conv2(spk1), 2)
            if self._bn(2) is not None:
                cur2 = self.conv2_bn(cur2)
            spk2, mem2 = self.lif2(cur2, mem2)
            cur3 = self.dropout(self.fc1(spk2.flatten(1)))
            spk3, mem3 = self.lif3(cur3, mem3)
            if record:
                for name, value in zip(
                    rec, (cur1, mem1, spk1, cur2, mem2, spk2, cur3, mem3, spk3), strict=True
                ):
                    rec[name].append(value)
            else:
                rec["spk3"].append(spk3)
        out = torch.stack(rec["spk3"])
        if record:
            return out, {k: torch.stack(v) for k, v in rec.items()}
        return out

    # ------------------------------------------------------------------ fast layer-by-layer
    def forward(self, x: Tensor, num_steps: int | None = None, record: bool = False):
        """Layer by layer over all steps; same outputs and ``record`` dict as :meth:`forward_stepwise`."""
        static, steps = self._steps(x, num_steps)
        w1, w2, w3 = (quantized_weight(m) for m in (self.conv1, self.conv2, self.fc1))
        batch = x.shape[0]
        if static:
            cur1 = self._conv_pool(x, w1)
            cur1 = self._bn_static(cur1, steps)
            if self.training and self.fast_training:
                # spk1 comes out of the scan channels last, the layout the folded conv2 reads: no copies of
                # the (T*B, C, H, W) spikes forward or of their gradient backward.
                cur1 = cur1.contiguous(memory_format=torch.channels_last)
            spk1, mem1 = leaky_scan(cur1, self.lif1, steps)
            cur1 = cur1.unsqueeze(0).expand(steps, *cur1.shape)
        else:
            xs = x[:, :steps].transpose(0, 1).reshape(steps * batch, *x.shape[2:])
            cur1 = self._conv_pool(xs, w1)
            cur1 = self._bn_steps(1, cur1.view(steps, batch, *cur1.shape[1:]))
            spk1, mem1 = leaky_scan(cur1, self.lif1)
        cur2 = self._conv_pool(spk1.reshape(steps * batch, *spk1.shape[2:]), w2)
        cur2 = self._bn_steps(2, cur2.view(steps, batch, *cur2.shape[1:]))
        spk2, mem2 = leaky_scan(cur2, self.lif2)
        cur3 = F.linear(spk2.reshape(steps * batch, -1), w3)
        # Elementwise dropout over (T*B, classes): an independent mask per step, as in the reference loop.
        cur3 = self.dropout(cur3).view(steps, batch, -1)
        spk3, mem3 = leaky_scan(cur3, self.lif3)
        if record:
            rec = {"cur1": cur1, "mem1": mem1, "spk1": spk1, "cur2": cur2, "mem2": mem2, "spk2": spk2}
            rec.update(cur3=cur3, mem3=mem3, spk3=spk3)
            return spk3, rec
        return spk3

    def _conv_pool(self, x: Tensor, weight: Tensor) -> Tensor:
        """``avg_pool2d(conv2d(x, weight), 2)``. Exactly that in eval mode (bit for bit the reference). In
        training mode, the same linear map computed ~3x faster on CPU: one stride-2 convolution with the 2x2
        pool folded into a 6x6 kernel, channels-last (float rounding differs in the last bits only)."""
        if not self.training or not self.fast_training:
            return F.avg_pool2d(F.conv2d(x, weight), 2)
        kernel = (
            F.pad(weight, (0, 1, 0, 1))
            + F.pad(weight, (1, 0, 0, 1))
            + F.pad(weight, (0, 1, 1, 0))
            + F.pad(weight, (1, 0, 1, 0))
        ) * 0.25
        channels_last = torch.channels_last
        x = x.contiguous(memory_format=channels_last)
        return F.conv2d(x, kernel.contiguous(memory_format=channels_last), stride=2).contiguous()

    def _bn_static(self, cur: Tensor, steps: int) -> Tensor:
        """BN of a current that is identical at every step: one call. In training, the batch statistics equal
        every step's; the running statistics get the T momentum updates the reference loop applies."""
        bn = self._bn(1)
        if bn is None:
            return cur
        if not (bn.training and bn.track_running_stats) or bn.momentum is None:
            if bn.training and bn.momentum is None:
                raise NotImplementedError(
                    "BatchNorm with momentum=None (cumulative average) is not supported"
                )
            return bn(cur)
        momentum = 1.0 - (1.0 - bn.momentum) ** steps
        out = F.batch_norm(cur, bn.running_mean, bn.running_var, bn.weight, bn.bias, True, momentum, bn.eps)
        bn.num_batches_tracked.add_(steps)
        return out

    def _bn_steps(self, index: int, cur: Tensor) -> Tensor:
        """BN of a (T, B, ...) current: elementwise in eval mode; per-step batch statistics in training."""
        bn = self._bn(index)
        if bn is None:
            return cur
        if not bn.training:
            return bn(cur.flatten(0, 1)).view(cur.shape)
        return torch.stack([bn(step) for step in cur.unbind(0)])


def build_model(config: ModelConfig) -> QSNN:
    """A freshly initialised :class:`QSNN` for ``config``."""
    return QSNN(config)


def predict(spk_out: Tensor) -> Tensor:
    """Class = argmax of output spike counts over time (lowest index on ties), as snntorch's accuracy_rate."""
    return spk_out.sum(dim=0).argmax(dim=1)
