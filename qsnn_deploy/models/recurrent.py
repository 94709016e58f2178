"""A 4-bit recurrent spiking network for sequential inputs (issue 25, item 4: sequential MNIST).

Per time step t, from zero states (snnTorch 1.0.0 ``RLeaky`` with ``all_to_all=True`` and ``Leaky``, subtract
reset, ``reset_delay=True``)::

    cur1[t] = fc1(x[t])                                           # QuantLinear(features -> hidden)
    mem1[t] = clamp(beta,0,1)*mem1[t-1] + cur1[t] + rec(spk1[t-1]) - H(mem1[t-1] - thr)*thr
    spk1[t] = H(mem1[t] - thr)                                    # lif1: RLeaky, rec = QuantLinear(hidden -> hidden)
    cur2[t] = fc2(spk1[t])                                        # QuantLinear(hidden -> classes)
    mem2[t] = clamp(beta,0,1)*mem2[t-1] + cur2[t] - H(mem2[t-1] - thr)*thr
    spk2[t] = H(mem2[t] - thr)                                    # lif2: Leaky

with H(v) = (v > 0). In training only, with ``config.dropout`` > 0, the hidden spikes pass through dropout
(an independent mask per step and per consumer) before ``rec`` and before ``fc2``; the state itself, ``spk1`` as
recorded, and every eval-mode output are untouched. All three weight layers are Brevitas ``QuantLinear``
without bias (the IR's weighted ops carry no bias), at ``config.bits`` bits with one scale per layer (or, with
``config.per_channel``, one per output neuron), or plain ``nn.Linear`` for the float variant. The input ``x`` is
(B, T, features): one row of pixels per step for sequential MNIST. The output is the stacked ``spk2``,
(T, B, classes); the class is the argmax of the spike counts, as for the convolutional QSNN.

With ``config.learn_neurons`` the hidden layers' beta and threshold are trained (one value each per layer; the
output layer's stay fixed). With ``config.recurrent_layers`` > 1 the hidden layer is repeated: ``fch2``
(QuantLinear hidden -> hidden) and ``lifh2`` (RLeaky with its own recurrent QuantLinear) take ``spk1`` within the
same step, and so on; the output layer reads the last hidden layer's spikes.

The hidden layer is run as snnTorch runs it, one ``lif1(cur, spk, mem)`` call per step, so the recurrent
weights are whatever module ``lif1.recurrent`` holds. The feed-forward layers are applied to all steps at once
(one GEMM) in training; in eval mode row block by row block, one step at a time, so that the outputs are
``torch.equal`` to a step-by-step loop (the GEMM's summation order depends on its number of rows).
"""

from __future__ import annotations

import dataclasses

import brevitas.nn as qnn
import snntorch as snn
import torch
from snntorch import surrogate
from torch import Tensor, nn

from qsnn_deploy.models.lif import leaky_scan
from qsnn_deploy.models.presets import ModelConfig

__all__ = ["RecurrentQSNN", "hidden_layer_names", "is_recurrent", "module_names", "stack_onto"]


def hidden_layer_names(config: ModelConfig) -> list[tuple[str, str]]:
    """(feed-forward layer, RLeaky) attribute names of each hidden layer, input side first: ``fc1``/``lif1``,
    then ``fch2``/``lifh2``, ... for ``config.recurrent_layers`` > 1 (the output layer stays ``fc2``/``lif2``,
    so a one-layer network's names are those of every earlier checkpoint)."""
    return [("fc1", "lif1")] + [(f"fch{k}", f"lifh{k}") for k in range(2, config.recurrent_layers + 1)]


def module_names(config: ModelConfig) -> list[str]:
    """Names of the modules that hold the layers, input side first (what export walks)."""
    return [name for pair in hidden_layer_names(config) for name in pair] + ["fc2", "lif2"]


def is_recurrent(config: ModelConfig) -> bool:
    """Whether ``config`` describes a :class:`RecurrentQSNN` (it sets ``recurrent_hidden``)."""
    return config.recurrent_hidden is not None


def _linear(config: ModelConfig, in_features: int, out_features: int) -> nn.Module:
    if config.bits is None:
        return nn.Linear(in_features, out_features, bias=False)
    return qnn.QuantLinear(
        in_features,
        out_features,
        bias=False,
        weight_bit_width=config.bits,
        weight_scaling_per_output_channel=config.per_channel,
    )


class RecurrentQSNN(nn.Module):
    """``fc1 -> lif1 (RLeaky, recurrent QuantLinear) -> fc2 -> lif2 (Leaky)``; see the module docstring.

    ``config.input_hw`` = (steps, features): the sequence length the network was made for and the features fed
    per step (28 x 28 for sequential MNIST). ``config.recurrent_hidden`` is the hidden width. With
    ``config.recurrent_layers`` = L > 1, L such hidden layers run one after the other within each step:
    ``fc1 -> lif1 -> fch2 -> lifh2 -> ... -> fchL -> lifhL -> fc2 -> lif2``, each ``lifh`` an RLeaky of the same
    width with its own recurrent QuantLinear (:func:`hidden_layer_names`).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.reset != "subtract":
            raise ValueError(f"reset {config.reset!r} is not supported (only 'subtract')")
        if config.recurrent_hidden is None:
            raise ValueError("a RecurrentQSNN needs config.recurrent_hidden (the hidden width)")
        self.config = config
        hidden, features = config.recurrent_hidden, config.input_hw[1]
        spike_grad = surrogate.fast_sigmoid(slope=config.slope)
        for k, (fc, lif) in enumerate(hidden_layer_names(config)):
            setattr(self, fc, _linear(config, features if k == 0 else hidden, hidden))
            rleaky = snn.RLeaky(
                beta=config.beta,
                threshold=config.threshold,
                spike_grad=spike_grad,
                all_to_all=True,
                linear_features=hidden,
                reset_mechanism=config.reset,
                learn_beta=config.learn_neurons,
                learn_threshold=config.learn_neurons,
            )
            # snnTorch makes an nn.Linear with bias; ours is quantized like the other weights and bias-free.
            rleaky.recurrent = _linear(config, hidden, hidden)
            setattr(self, lif, rleaky)
        self.fc2 = _linear(config, hidden, config.num_classes)
        self.lif2 = snn.Leaky(
            beta=config.beta,
            threshold=config.threshold,
            spike_grad=spike_grad,
            reset_mechanism=config.reset,
        )
        # No parameters, so the state_dict (and every checkpoint's keys) are the same with or without it.
        self.hidden_dropout = nn.Dropout(config.dropout)

    def _drop(self, spikes: Tensor) -> Tensor:
        """The hidden spikes as a weight layer sees them: dropped out in training, unchanged otherwise."""
        if self.training and self.config.dropout > 0:
            return self.hidden_dropout(spikes)
        return spikes

    def _steps(self, x: Tensor, num_steps: int | None) -> int:
        if x.dim() != 3 or x.shape[2] != self.config.input_hw[1]:
            raise ValueError(
                f"expected input (B, T, {self.config.input_hw[1]}) (one row of features per step), "
                f"got shape {tuple(x.shape)}"
            )
        steps = x.shape[1] if num_steps is None else int(num_steps)
        if not 1 <= steps <= x.shape[1]:
            raise ValueError(f"num_steps={steps} but the sequence has {x.shape[1]} steps")
        return steps

    def _feed_forward(self, layer: nn.Module, rows: Tensor) -> Tensor:
        """``layer`` on (T, B, in) -> (T, B, out): one GEMM in training, one per step in eval mode."""
        if self.training:
            return layer(rows)
        return torch.stack([layer(step) for step in rows.unbind(0)])

    def hidden_layers(self) -> list[tuple[nn.Module, snn.RLeaky]]:
        """(feed-forward layer, RLeaky) of each hidden layer, input side first."""
        return [(getattr(self, fc), getattr(self, lif)) for fc, lif in hidden_layer_names(self.config)]

    def forward(self, x: Tensor, num_steps: int | None = None, record: bool = False):
        """Output spikes (T, B, classes); with ``record=True`` also ``{cur1, mem1, spk1, cur2, mem2, spk2}``,
        each (T, B, ...) (``cur1``/``mem1``/``spk1``: the last hidden layer's), and ``spk_<lif>`` of every
        hidden layer (``spk_lif1``, ``spk_lifh2``, ...)."""
        steps = self._steps(x, num_steps)
        spk1 = x[:, :steps].transpose(0, 1)
        hidden_spikes = {}
        for k, (fc_name, lif_name) in enumerate(hidden_layer_names(self.config)):
            fc, lif = getattr(self, fc_name), getattr(self, lif_name)
            cur1 = self._feed_forward(fc, spk1 if k == 0 else self._drop(spk1))
            spk, mem = lif.reset_mem()
            spks, mems = [], []
            for t in range(steps):
                spk, mem = lif(cur1[t], self._drop(spk), mem)
                spks.append(spk)
                mems.append(mem)
            spk1, mem1 = torch.stack(spks), torch.stack(mems)
            hidden_spikes[f"spk_{lif_name}"] = spk1
        cur2 = self._feed_forward(self.fc2, self._drop(spk1))
        spk2, mem2 = leaky_scan(cur2, self.lif2)
        if record:
            rec = {"cur1": cur1, "mem1": mem1, "spk1": spk1, "cur2": cur2, "mem2": mem2, "spk2": spk2}
            return spk2, rec | hidden_spikes
        return spk2

    def forward_stepwise(self, x: Tensor, num_steps: int | None = None, record: bool = False):
        """The same network one whole step at a time (the reference loop); the outputs of :meth:`forward` in
        eval mode, bit for bit."""
        steps = self._steps(x, num_steps)
        layers = self.hidden_layers()
        states = [lif.reset_mem() for _, lif in layers]
        mem2 = self.lif2.init_leaky()
        rec: dict[str, list[Tensor]] = {k: [] for k in ("cur1", "mem1", "spk1", "cur2", "mem2", "spk2")}
        for t in range(steps):
            spk1 = x[:, t]
            for k, (fc, lif) in enumerate(layers):
                cur1 = fc(spk1 if k == 0 else self._drop(spk1))
                spk1, mem1 = lif(cur1, self._drop(states[k][0]), states[k][1])
                states[k] = (spk1, mem1)
            cur2 = self.fc2(self._drop(spk1))
            spk2, mem2 = self.lif2(cur2, mem2)
            for name, value in zip(rec, (cur1, mem1, spk1, cur2, mem2, spk2), strict=True):
                rec[name].append(value)
        stacked = {k: torch.stack(v) for k, v in rec.items()}
        if record:
            return stacked["spk2"], stacked
        return stacked["spk2"]


def stack_onto(model: RecurrentQSNN, shallow: RecurrentQSNN, gain: float = 1.05) -> None:
    """Start the deeper ``model`` as the one-hidden-layer ``shallow`` network with pass-through layers added.

    ``fc1``, ``lif1`` and the output layer are copied; each added ``fchK`` starts as ``gain`` x threshold
    on its diagonal and 0 elsewhere (one input spike drives its neuron just over threshold in the same step, so
    the added layer at first repeats the spikes it gets), and its recurrent weights start small (1% of a
    threshold at most, not zero: a per-tensor 4-bit scale of an all-zero tensor is zero). Training then moves
    every layer from there (``benchmarks/train_smnist.py --stack-onto``)."""
    if shallow.config.recurrent_layers != 1:
        raise ValueError("stack_onto starts from a network with one hidden layer")
    if dataclasses.replace(shallow.config, recurrent_layers=model.config.recurrent_layers, dropout=0.0) != (
        dataclasses.replace(model.config, dropout=0.0)
    ):
        raise ValueError("stack_onto needs the same widths, neurons and bits in both networks")
    source = shallow.state_dict()
    own = model.state_dict()
    threshold = float(model.config.threshold)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, value in own.items():
            if name in source:
                value.copy_(source[name])
            elif name.startswith("fch") and name.endswith(".weight"):
                value.copy_(torch.eye(value.shape[0]) * gain * threshold)
            elif name.startswith("lifh") and name.endswith("recurrent.weight"):
                value.copy_((torch.rand(value.shape, generator=generator) * 2 - 1) * 0.01 * threshold)
