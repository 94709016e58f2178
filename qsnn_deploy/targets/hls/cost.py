"""A static estimate of the HLS design's cycles per inference, since csynth cannot run here.

Every loop of the top function (qsnn_hls.h, by its label) costs ``trips x II + entries x depth`` cycles: the
trip counts come from the IR (shapes, kernel taps) and, for the event-driven scatters, from the simulator's
measured activity (nonzero inputs, spikes of the layer before); II is what the loop's ``#pragma HLS PIPELINE``
asks for; ``depth`` is an assumed pipeline depth paid each time the pipelined loop is entered (perfect loop
nests count as flattened, as Vitis does). Layers run one after another within a step (no dataflow overlap).
The same model with every input an event gives the dense figure the event-driven kernels are compared with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.sim import simulate
from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.hls.layout import (
    conv_positions,
    current_ops,
    kernel_taps,
    layer_widths,
    max_pooled,
    recurrent_rom,
    recurrent_widths,
    rom_rows,
    synaptic_widths,
)
from qsnn_deploy.targets.hls.settings import hls_settings
from qsnn_deploy.verify.vectors import frames

# Assumed pipeline depths (cycles from a loop's first issue to its last result), per loop label. The requantize
# loops multiply up to 64-bit products (a DSP cascade); the others are an address, a ROM/RAM read, an add.
DEPTH = {
    "read_beats": 2,
    "clear_positions": 1,
    "scatter_taps": 4,
    "scatter_events": 4,
    "requantize_positions": 8,
    "requantize_lif_positions": 10,
    "lif_neurons": 4,
    "maxpool_window": 3,
    "reset_neurons": 1,
    "recurrent_neurons": 8,  # a product of the recurrent sum and its multiplier, a shift, an add
    "synaptic_neurons": 6,  # the decay's product and shift, an add, the clamp
}
II = 1  # every PIPELINE pragma in qsnn_hls.h asks for II = 1


@dataclass
class LoopCost:
    loop: str  # its label in qsnn_hls.h
    layer: str  # the synapse op it serves ("" for the top's own loops)
    trips: float  # iterations per inference (mean over the samples)
    entries: float  # times the pipelined loop starts per inference
    ii: int = II
    depth: int = 0

    @property
    def cycles(self) -> float:
        return self.trips * self.ii + self.entries * self.depth


@dataclass
class HlsCostReport:
    part: str
    clock_mhz: float
    steps: int
    samples: int
    loops: list[LoopCost] = field(default_factory=list)
    dense_cycles: float = 0.0
    rom_bytes: int = 0  # weight ROMs as generated (4-bit packed where the weights allow)
    weight_floor_bytes: float = 0.0  # weights x bits / 8
    membrane_bits: int = 0  # sum over layers of neurons x mem_t bits
    widths: dict[str, dict[str, int]] = field(default_factory=dict)  # lif, recurrent, synaptic name -> widths
    current_bits: int = 0  # sum over synaptic layers of neurons x syn_t bits (0 without one)

    @property
    def cycles(self) -> float:
        return sum(loop.cycles for loop in self.loops)

    @property
    def latency_us(self) -> float:
        return self.cycles / self.clock_mhz

    @property
    def cycles_if_scatter_ii2(self) -> float:
        """The total if every conv scatter runs at II 2: a tap's read-modify-write of an accumulator in memory
        that Vitis cannot prove independent of the previous tap's (with a fused pool it sometimes is not)."""
        return self.cycles + sum(loop.trips for loop in self.loops if loop.loop == "scatter_taps")

    def to_dict(self) -> dict:
        data = asdict(self)
        for item, loop in zip(data["loops"], self.loops):
            item["cycles"] = loop.cycles
        data.update(
            cycles=self.cycles, latency_us=self.latency_us, cycles_if_scatter_ii2=self.cycles_if_scatter_ii2
        )
        return data


def _current_loops(layer: Layer, steps: int, own_spikes: float) -> list[LoopCost]:
    """The recurrent input and the synaptic current of every step: the recurrent sum scatters the layer's own
    spikes of the previous step (counted as all its spikes per inference, which over-counts the last step's),
    one accumulator row clear and one neuron per cycle for the rescale; the current, one neuron per cycle."""
    out = []
    if (rc := layer.recurrent) is not None:
        out.append(LoopCost("clear_positions", rc.name, steps, steps))
        out.append(LoopCost("scatter_events", rc.name, own_spikes, steps))
        out.append(LoopCost("recurrent_neurons", rc.name, layer.neurons * steps, steps))
    if layer.current is not None:
        out.append(LoopCost("synaptic_neurons", layer.current.name, layer.neurons * steps, steps))
    return out


def _loops(model: CheckedModel, steps: int, first_events: float, spikes: dict[str, float]) -> list[LoopCost]:
    """Every loop of one inference; ``first_events``: nonzero input bytes per inference (all frames),
    ``spikes``: spikes per inference of each LIF layer (the next layer's events)."""
    layers, static = model.layers, model.graph.input.encoding == "static"
    in_size = int(np.prod(model.graph.input.shape))
    frame_reads = 1 if static else steps
    out = [LoopCost("read_beats", "", in_size * frame_reads, frame_reads)]
    for layer in layers:
        out.append(LoopCost("reset_neurons", layer.op.name, layer.neurons, 1))
        if layer.current is not None:
            out.append(LoopCost("reset_neurons", layer.current.name, layer.neurons, 1))
    for layer in layers:
        name = layer.op.name
        static_first = static and layer.index == 0  # its synapse and requantize run once per inference
        runs = 1 if static_first else steps
        events = first_events if layer.index == 0 else spikes[layers[layer.index - 1].lif.name]
        out.append(LoopCost("clear_positions", name, conv_positions(layer) * runs, runs))
        if layer.kind == "conv":
            out.append(LoopCost("scatter_taps", name, events * kernel_taps(layer), events))
        if max_pooled(layer):  # the window loop, flattened with the positions' loop (a perfect nest)
            out.append(
                LoopCost("maxpool_window", name, layer.per_channel * layer.pool_kernel**2 * runs, runs)
            )
        else:
            out.append(LoopCost("scatter_events", name, events, runs))
        if static_first or current_ops(layer):  # requantize into a current array, then the LIF reads it
            out.append(LoopCost("requantize_positions", name, layer.neurons * runs, runs))
            out += _current_loops(layer, steps, spikes[layer.lif.name])
            out.append(LoopCost("lif_neurons", name, layer.neurons * steps, steps))
        else:
            out.append(LoopCost("requantize_lif_positions", name, layer.neurons * runs, runs))
    k = layers[-1].neurons
    out.append(LoopCost("write_spikes", "", steps, 0))  # unrolled over the classes: a cycle per step
    out.append(LoopCost("argmax", "", k - 1, 0))  # unrolled compare chain
    for loop in out:
        loop.depth = DEPTH.get(loop.loop, 0)
    return out


def cost_report(model: CheckedModel, inputs: np.ndarray, steps: int | None = None) -> HlsCostReport:
    """Estimate the cycles of the generated design on ``inputs`` (their activity sets the event counts)."""
    graph = model.graph
    steps = steps or graph.num_steps
    inputs = np.asarray(inputs, dtype=np.uint8)
    n = len(inputs)
    sim = simulate(graph, inputs, steps)
    spikes = {name: float(v.sum()) / n for name, v in sim.spike_counts.items()}
    nonzero = float(np.count_nonzero(frames(graph, inputs, steps))) / n
    loops = _loops(model, steps, nonzero, spikes)
    dense_first = float(np.prod(graph.input.shape)) * (1 if graph.input.encoding == "static" else steps)
    dense_spikes = {layer.lif.name: float(layer.neurons * steps) for layer in model.layers}
    dense = sum(loop.cycles for loop in _loops(model, steps, dense_first, dense_spikes))
    settings = hls_settings(model.options)
    rep = HlsCostReport(
        part=settings.part,
        clock_mhz=settings.clock_mhz,
        steps=steps,
        samples=n,
        loops=loops,
        dense_cycles=dense,
    )
    for layer in model.layers:
        widths = layer_widths(layer, model.ranges)
        rep.rom_bytes += int(rom_rows(layer).size)
        syn = layer.synapse  # the IR's weights: a folded spike pool repeats them in the ROM, not the floor
        rep.weight_floor_bytes += syn.weight.size * syn.weight_type.bits / 8
        rep.membrane_bits += layer.neurons * widths.mem
        rep.widths[layer.lif.name] = widths.as_dict()
        if (rc := layer.recurrent) is not None:
            rep.rom_bytes += int(recurrent_rom(rc).size)
            rep.weight_floor_bytes += rc.weight.size * rc.weight_type.bits / 8
            rep.widths[rc.name] = recurrent_widths(layer, model.ranges).as_dict()
        if (syn := layer.current) is not None:
            syn_widths = synaptic_widths(layer, model.ranges)
            rep.current_bits += layer.neurons * syn_widths.state
            rep.widths[syn.name] = syn_widths.as_dict()
    return rep


def target_cost_report(
    model: CheckedModel, inputs: np.ndarray, steps: int, work: Path, **kwargs
) -> HlsCostReport:
    """``report --target hls``: the estimate builds nothing (no ``work`` folder) and reports no progress."""
    return cost_report(model, inputs, steps)


def format_report(rep: HlsCostReport) -> str:
    lines = [
        f"HLS estimate (static, from the IR and the simulator's activity on {rep.samples} samples; csynth cannot "
        f"run here): part {rep.part}, {rep.clock_mhz:g} MHz, {rep.steps} steps",
        f"{'loop':<26}{'layer':<12}{'trips/inference':>16}{'II':>4}{'depth':>6}{'entries':>10}{'cycles':>14}",
    ]
    for loop in rep.loops:
        lines.append(
            f"{loop.loop:<26}{loop.layer:<12}{loop.trips:>16,.1f}{loop.ii:>4}{loop.depth:>6}{loop.entries:>10,.1f}"
            f"{loop.cycles:>14,.0f}"
        )
    per_second = 1e6 / rep.latency_us if rep.latency_us else float("inf")
    ratio = rep.cycles / rep.dense_cycles if rep.dense_cycles else float("nan")
    lines += [
        f"cycles/inference: {rep.cycles:,.0f} = {rep.latency_us:,.1f} us at {rep.clock_mhz:g} MHz "
        f"({per_second:,.0f} inferences/s, one at a time) at the II the pragmas ask for",
        f"  {rep.cycles_if_scatter_ii2:,.0f} cycles if the conv scatters only reach II 2 (accumulator read-modify-write "
        "Vitis cannot prove independent)",
        f"dense (every input an event): {rep.dense_cycles:,.0f} cycles; event-driven / dense = {ratio:.3f}",
        f"weight ROMs {rep.rom_bytes:,} B (floor {rep.weight_floor_bytes:,.0f} B); membranes {rep.membrane_bits:,} bits"
        + (f"; synaptic currents {rep.current_bits:,} bits" if rep.current_bits else ""),
    ]
    for name, w in rep.widths.items():
        lines.append(f"ap_int widths {name}: " + ", ".join(f"{k} {v}" for k, v in w.items()))
    return "\n".join(lines)
