"""The paper's QSNN (jeshraghian/QSNNs): two quantized 5x5 convs and one quantized linear layer of LIF neurons.

Per time step (the paper's reference code; the layout is :mod:`qsnn_deploy.models.network`)::

    cur1 = BN1(avg_pool2d(conv1(x_t), 2));  spk1, mem1 = lif1(cur1, mem1)   (max_pool2d with pooling="max")
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

from qsnn_deploy.models import network
from qsnn_deploy.models.lif import leaky_scan
from qsnn_deploy.models.network import flattened_features
from qsnn_deploy.models.presets import ModelConfig
from qsnn_deploy.models.recurrent import RecurrentQSNN, is_recurrent

__all__ = ["QSNN", "build_model", "flattened_features", "predict", "quantized_weight", "to_input"]


def to_input(raw: Tensor, input_scale: float) -> Tensor:
    """Dataset samples (uint8 pixels or event counts) -> float32 model input: ``raw.float() * input_scale``."""
    return raw.to(torch.float32) * float(input_scale)


def quantized_weight(layer: nn.Module) -> Tensor:
    """The weight a layer multiplies with: Brevitas' ``quant_weight().value`` (bit for bit what its forward
    uses) or the float weight of a plain layer."""
    if isinstance(layer, (qnn.QuantConv2d, qnn.QuantLinear)):
        return layer.quant_weight().value
    return layer.weight


class QSNN(nn.Module):
    """The network of :func:`qsnn_deploy.models.network.layers`: one module per layer that has parameters or
    state, named as the layer (``conv1``, ``conv1_bn``, ``lif1``, ..., ``fc1``, ``dropout``, ``lif3``)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.reset != "subtract":
            raise ValueError(f"reset {config.reset!r} is not supported (only 'subtract')")
        if config.per_channel:
            raise ValueError("per-channel weight scales are built for the recurrent network only")
        if config.recurrent_layers != 1 or config.learn_neurons:
            raise ValueError(
                "stacked recurrent layers and learned neurons are built for the recurrent network only"
            )
        self.config = config
        #: training-mode speed-ups of :meth:`forward` (``_conv_pool``: the pool folded into a stride-2 conv,
        #: spikes held channels last); eval mode is always exact.
        self.fast_training = True
        self.layers = network.layers(config)
        self.stages = network.stages(config)
        for layer in self.layers:
            module = self._module(layer)
            if module is not None:
                self.add_module(layer.name, module)

    def _module(self, layer: network.Layer) -> nn.Module | None:
        config, bits = self.config, self.config.bits
        if layer.kind == "conv":
            if bits is None:
                return nn.Conv2d(layer.in_size, layer.out_size, layer.kernel, bias=False)
            return qnn.QuantConv2d(
                layer.in_size, layer.out_size, layer.kernel, bias=False, weight_bit_width=bits
            )
        if layer.kind == "linear":
            if bits is None:
                return nn.Linear(layer.in_size, layer.out_size, bias=False)
            return qnn.QuantLinear(layer.in_size, layer.out_size, bias=False, weight_bit_width=bits)
        if layer.kind == "batchnorm":
            return nn.BatchNorm2d(layer.out_size)
        if layer.kind == "dropout":
            return nn.Dropout(config.dropout)
        if layer.kind == "lif":
            return snn.Leaky(
                beta=config.beta,
                threshold=config.threshold,
                spike_grad=surrogate.fast_sigmoid(slope=config.slope),
                reset_mechanism=config.reset,
            )
        return None  # pooling and flattening are functional

    # ------------------------------------------------------------------ helpers
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
        """The reference loop: the layers in order, once per step. Returns the last LIF's spikes
        (T, B, classes), or ``(spikes, rec)`` with ``record=True`` where ``rec`` maps ``cur{i}, mem{i},
        spk{i}`` (the input current, membrane and spikes of the i-th LIF layer) to (T, B, ...) tensors."""
        static, steps = self._steps(x, num_steps)
        lifs = [layer.name for layer in self.layers if layer.kind == "lif"]
        mems = {name: getattr(self, name).init_leaky() for name in lifs}
        last = len(lifs)
        rec: dict[str, list[Tensor]] = {
            f"{k}{i}": [] for i in range(1, last + 1) for k in ("cur", "mem", "spk")
        }
        for t in range(steps):
            cur = x if static else x[:, t]
            for layer in self.layers:
                if layer.kind == "avgpool":
                    cur = F.avg_pool2d(cur, layer.kernel)
                elif layer.kind == "maxpool":
                    cur = F.max_pool2d(cur, layer.kernel)
                elif layer.kind == "flatten":
                    cur = cur.flatten(1)
                elif layer.kind == "lif":
                    index = lifs.index(layer.name) + 1
                    spk, mems[layer.name] = getattr(self, layer.name)(cur, mems[layer.name])
                    if record:
                        rec[f"cur{index}"].append(cur)
                        rec[f"mem{index}"].append(mems[layer.name])
                        rec[f"spk{index}"].append(spk)
                    elif index == last:
                        rec[f"spk{index}"].append(spk)
                    cur = spk
                else:
                    cur = getattr(self, layer.name)(cur)
        out = torch.stack(rec[f"spk{last}"])
        if record:
            return out, {k: torch.stack(v) for k, v in rec.items()}
        return out

    # ------------------------------------------------------------------ fast layer-by-layer
    def forward(self, x: Tensor, num_steps: int | None = None, record: bool = False):
        """Stage by stage over all steps; same outputs and ``record`` dict as :meth:`forward_stepwise`."""
        static, steps = self._steps(x, num_steps)
        weights = [quantized_weight(getattr(self, stage.weighted.name)) for stage in self.stages]
        batch = x.shape[0]
        rec: dict[str, Tensor] = {}
        spk = x
        for index, (stage, weight) in enumerate(zip(self.stages, weights, strict=True), start=1):
            lif = getattr(self, stage.lif.name)
            if index == 1 and static:
                # The same image at every step: the first stage's current is computed once per sample.
                cur = self._bn_static(stage, self._weighted(stage, x, weight), steps)
                if self.training and self.fast_training:
                    # spikes come out of the scan channels last, the layout the folded next conv reads: no
                    # copies of the (T*B, C, H, W) spikes forward or of their gradient backward.
                    cur = cur.contiguous(memory_format=torch.channels_last)
                spk, mem = leaky_scan(cur, lif, steps)
                cur = cur.unsqueeze(0).expand(steps, *cur.shape)
            else:
                flat = spk[:, :steps].transpose(0, 1) if index == 1 else spk
                cur = self._weighted(stage, flat.reshape(steps * batch, *flat.shape[2:]), weight, steps)
                cur = self._bn_steps(stage, cur.view(steps, batch, *cur.shape[1:]))
                if stage.dropout is not None:
                    # Elementwise over (T, B, ...): an independent mask per step, as in the reference loop.
                    cur = getattr(self, stage.dropout.name)(cur)
                spk, mem = leaky_scan(cur, lif)
            rec.update({f"cur{index}": cur, f"mem{index}": mem, f"spk{index}": spk})
        if record:
            return spk, rec
        return spk

    def _weighted(self, stage: network.Stage, x: Tensor, weight: Tensor, steps: int = 1) -> Tensor:
        """The stage's weighted layer and pool on (N, ...) inputs, N = ``steps`` x batch."""
        if stage.weighted.kind == "linear":
            x = x.flatten(1) if stage.flatten is not None else x
            if self.training:
                return F.linear(x, weight)
            # The GEMM kernel, and so its float summation order, depends on the number of rows: per step, as
            # the reference loop runs it, for bit-equal outputs (one GEMM over all T*B rows differs in the last
            # bits, measured on torch 2.13 CPU).
            return torch.cat([F.linear(rows, weight) for rows in x.split(x.shape[0] // steps)])
        if stage.pool is None:
            return F.conv2d(x, weight)
        if stage.pool.kind == "maxpool":
            return F.max_pool2d(F.conv2d(x, weight), stage.pool.kernel)
        if stage.pool.kernel != 2:
            return F.avg_pool2d(F.conv2d(x, weight), stage.pool.kernel)
        return self._conv_pool(x, weight)

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

    def _bn(self, stage: network.Stage) -> nn.BatchNorm2d | None:
        return None if stage.batchnorm is None else getattr(self, stage.batchnorm.name)

    def _bn_static(self, stage: network.Stage, cur: Tensor, steps: int) -> Tensor:
        """BN of a current that is identical at every step: one call. In training, the batch statistics equal
        every step's; the running statistics get the T momentum updates the reference loop applies."""
        bn = self._bn(stage)
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

    def _bn_steps(self, stage: network.Stage, cur: Tensor) -> Tensor:
        """BN of a (T, B, ...) current: elementwise in eval mode; per-step batch statistics in training."""
        bn = self._bn(stage)
        if bn is None:
            return cur
        if not bn.training:
            return bn(cur.flatten(0, 1)).view(cur.shape)
        return torch.stack([bn(step) for step in cur.unbind(0)])


def build_model(config: ModelConfig) -> QSNN | RecurrentQSNN:
    """A freshly initialised :class:`QSNN` for ``config``, or the :class:`RecurrentQSNN` of a config that sets
    ``recurrent_hidden``."""
    if is_recurrent(config):
        return RecurrentQSNN(config)
    return QSNN(config)


def predict(spk_out: Tensor) -> Tensor:
    """Class = argmax of output spike counts over time (lowest index on ties), as snntorch's accuracy_rate."""
    return spk_out.sum(dim=0).argmax(dim=1)
