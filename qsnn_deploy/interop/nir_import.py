"""NIR graph -> integer IR: the front door for networks trained elsewhere.

The chain of NIR nodes becomes the exporter's float layers (export/float_graph.py) with weights quantized
post-training to ``bits`` per tensor, Brevitas's way (``quantize_per_tensor``); from there the exporter's own
folding passes and quantizer (export/passes, export/quantize.py) pick the membrane scales, integer thresholds,
decays and requantizers, so an imported network follows exactly the conventions of an exported one.

Taken: Input, Output, Affine, Linear, Conv2d, SumPool2d, AvgPool2d, Flatten, Scale (one factor per channel),
LIF, IF, and CubaLIF without a synapse (``tau_syn = dt``). LIF parameters must be the same for every neuron of a
layer, ``v_reset`` 0; a non-zero ``v_leak`` becomes a constant current. NIR's neurons reset to ``v_reset``
(reset ``zero``); a node whose metadata says ``reset: subtract`` (our own writers) keeps the subtract reset, and
``reset=`` overrides both. Time is discretised with forward Euler over ``dt`` (interop/conventions.py).
Anything else raises one ``UnsupportedLayerError`` naming every node that cannot be taken.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qsnn_deploy.errors import QsnnError, UnsupportedLayerError
from qsnn_deploy.interop.conventions import DEFAULT_DT, beta_of_tau, text
from qsnn_deploy.ir.graph import ENCODINGS, Graph

SUPPORTED = "Input, Output, Affine, Linear, Conv2d, SumPool2d, AvgPool2d, Flatten, Scale, LIF, IF, CubaLIF"


@dataclass
class ImportResult:
    graph: Graph
    passes: list[str]
    warnings: list[str] = field(default_factory=list)
    float_graph: object = None  # the float chain before folding (export/float_graph.FloatGraph)
    check: dict | None = None  # float chain vs integer simulator on probe inputs


def quantize_per_tensor(weight: np.ndarray, bits: int) -> tuple[np.ndarray, float]:
    """Brevitas's default weight quantizer (``Int8WeightPerTensorFloat`` at ``bits``): signed narrow range
    ``[-(2^(bits-1) - 1), 2^(bits-1) - 1]``, one scale ``max|W| / (2^(bits-1) - 1)``, round half to even, zero
    point 0; in float32 as Brevitas computes. Returns (integer weights as int64, scale)."""
    qmax = (1 << (bits - 1)) - 1
    w = np.asarray(weight, dtype=np.float32)
    amax = np.float32(np.abs(w).max(initial=0.0))
    if not np.isfinite(amax):
        raise UnsupportedLayerError("weights hold NaN or infinity")
    if amax == 0:
        return np.zeros(w.shape, np.int64), 1.0
    scale = amax / np.float32(qmax)
    return np.clip(np.round(w / scale), -qmax, qmax).astype(np.int64), float(scale)


def read_nir(path: Path | str):
    """A NIR graph from a file; graphs whose stored types do not check are read without the type check (some
    writers record types NIR's checker rejects), a file that is not NIR at all is a QsnnError."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise QsnnError(f"{path}: no such NIR file")
    try:
        return nir.read(path)
    except (KeyError, OSError) as exc:
        raise QsnnError(f"{path}: not a NIR file ({exc})") from None
    except Exception:  # nir's type check raises assorted errors; the nodes are still readable
        try:
            return nir.read(path, type_check=False)
        except Exception as exc:
            raise QsnnError(f"{path}: unreadable NIR graph ({type(exc).__name__}: {exc})") from None


def _chain(graph) -> list[str]:
    """Node names from the single Input to the Output, following the edges; a branch is an error."""
    import nir

    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise UnsupportedLayerError(f"the NIR graph must have exactly one Input node, it has {len(inputs)}")
    after: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        after.setdefault(src, []).append(dst)
    order, name = [inputs[0]], inputs[0]
    while after.get(name):
        if len(after[name]) > 1:
            raise UnsupportedLayerError(
                f"node {name!r} feeds {after[name]}: only a chain of nodes can be imported"
            )
        name = after[name][0]
        if name in order:
            raise UnsupportedLayerError(
                f"the NIR graph has a cycle through {name!r}: recurrence is not supported"
            )
        order.append(name)
    missing = sorted(set(graph.nodes) - set(order))
    if missing:
        raise UnsupportedLayerError(
            f"nodes {missing} are not on the chain from {inputs[0]!r}: branches are not supported"
        )
    return order


def _uniform(node, name: str, fields: tuple[str, ...]) -> dict[str, float]:
    """One value per parameter, the same for every neuron (the IR's LIF has one threshold and one decay)."""
    values = {}
    for f in fields:
        arr = np.asarray(getattr(node, f), dtype=np.float64)
        if arr.size == 0 or not np.all(arr == arr.flat[0]):
            raise UnsupportedLayerError(f"{name!r}: {f} differs between neurons (per-neuron parameters)")
        values[f] = float(arr.flat[0])
    return values


def _pool_kernel(node, name: str) -> int:
    k, s, p = (
        np.atleast_1d(np.asarray(getattr(node, f))).astype(np.int64)
        for f in ("kernel_size", "stride", "padding")
    )
    k, s = np.broadcast_to(k, 2), np.broadcast_to(s, 2)
    if k[0] != k[1] or not np.array_equal(s, k) or np.any(p != 0):
        raise UnsupportedLayerError(
            f"{name!r}: only square non-overlapping pooling without padding (kernel {k}, stride {s}, padding {p})"
        )
    return int(k[0])


class _Converter:
    """One NIR node at a time -> float layers; remembers the channel count and collects every problem."""

    def __init__(self, bits: int, dt: float, reset: str | None):
        self.bits, self.dt, self.reset = bits, dt, reset
        self.channels = 0
        self.problems: list[str] = []

    def _weight(self, name: str, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w_int, scale = quantize_per_tensor(weight, self.bits)
        self.channels = int(w_int.shape[0])
        return w_int, np.full(self.channels, scale)

    def _bias(self, bias) -> np.ndarray | None:
        if bias is None:
            return None
        b = np.broadcast_to(np.asarray(bias, dtype=np.float64).reshape(-1), (self.channels,))
        return None if not np.any(b) else b.copy()

    def convert(self, name: str, node) -> list:
        import nir

        from qsnn_deploy.export.float_graph import AvgPool, Identity, IntConv, IntLinear, SumPool

        kind = type(node).__name__
        if isinstance(node, (nir.Affine, nir.Linear)):
            weight = np.asarray(node.weight, dtype=np.float64)
            if weight.ndim != 2:
                raise UnsupportedLayerError(f"{name!r}: weight of shape {weight.shape} (2-D expected)")
            w_int, scale = self._weight(name, weight)
            bias = self._bias(getattr(node, "bias", None))
            return [IntLinear(name, w_int, scale, self.bits, bias)]
        if isinstance(node, nir.Conv2d):
            weight = np.asarray(node.weight, dtype=np.float64)
            stride, padding = self._conv_geometry(name, node, weight)
            w_int, scale = self._weight(name, weight)
            return [IntConv(name, w_int, scale, self.bits, stride, padding, self._bias(node.bias))]
        if isinstance(node, nir.SumPool2d):
            return [SumPool(name, _pool_kernel(node, name))]
        if isinstance(node, nir.AvgPool2d):
            return [AvgPool(name, _pool_kernel(node, name))]
        if isinstance(node, nir.Flatten):
            return [Identity(name, "Flatten")]
        if isinstance(node, nir.Scale):
            return [self._scale(name, node)]
        if isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
            return self._neuron(name, node)
        raise UnsupportedLayerError(f"{name!r} ({kind}): not supported; NIR import takes {SUPPORTED}")

    def _conv_geometry(self, name: str, node, weight: np.ndarray) -> tuple[int, int]:
        if weight.ndim != 4:
            raise UnsupportedLayerError(f"{name!r}: weight of shape {weight.shape} (4-D expected)")
        if int(np.asarray(node.groups)) != 1 or np.any(np.asarray(node.dilation) != 1):
            raise UnsupportedLayerError(f"{name!r}: grouped or dilated convolutions are not supported")
        stride = np.broadcast_to(np.atleast_1d(np.asarray(node.stride)), 2)
        padding = node.padding
        if isinstance(padding, (str, bytes)):
            mode = text(padding)
            kh, kw = weight.shape[2:]
            if mode == "valid":
                padding = 0
            elif mode == "same" and kh == kw and kh % 2 == 1 and np.all(stride == 1):
                padding = (kh - 1) // 2
            else:
                raise UnsupportedLayerError(
                    f"{name!r}: padding {mode!r} with kernel {weight.shape[2:]} and stride {stride}"
                )
        padding = np.broadcast_to(np.atleast_1d(np.asarray(padding)), 2)
        if stride[0] != stride[1] or padding[0] != padding[1]:
            raise UnsupportedLayerError(
                f"{name!r}: only square stride and symmetric padding (got {stride}, {padding})"
            )
        return int(stride[0]), int(padding[0])

    def _scale(self, name: str, node):
        from qsnn_deploy.export.float_graph import Affine

        s = np.asarray(node.scale, dtype=np.float64)
        per_channel = s.reshape(s.shape[0], -1) if s.ndim > 1 else s.reshape(-1, 1)
        if s.ndim == 0 or not np.all(per_channel == per_channel[:, :1]):
            raise UnsupportedLayerError(
                f"{name!r}: a Scale must have one factor per channel (shape {s.shape})"
            )
        factors = (
            np.broadcast_to(per_channel[:, 0], (self.channels,))
            if per_channel.shape[0] == 1
            else per_channel[:, 0]
        )
        return Affine(name, factors.copy(), np.zeros(len(factors)))

    def _neuron(self, name: str, node) -> list:
        import nir

        from qsnn_deploy.export.float_graph import Affine, Leaky

        dt = self.dt
        if isinstance(node, nir.IF):
            p = _uniform(node, name, ("r", "v_threshold", "v_reset"))
            beta, gain, leak = 1.0, dt * p["r"], 0.0
        else:
            tau = "tau_mem" if isinstance(node, nir.CubaLIF) else "tau"
            p = _uniform(node, name, (tau, "r", "v_leak", "v_threshold", "v_reset"))
            if not p[tau] >= dt:
                raise UnsupportedLayerError(
                    f"{name!r}: {tau} {p[tau]:g} is shorter than the time step dt {dt:g}"
                )
            beta = beta_of_tau(p[tau], dt) if np.isfinite(p[tau]) else 1.0
            # tau = inf is a neuron without leak; snnTorch writes it with r = tau / dt = inf (gain 1)
            gain = dt * p["r"] / p[tau] if np.isfinite(p[tau]) else (1.0 if np.isinf(p["r"]) else 0.0)
            leak = (1.0 - beta) * p["v_leak"]
            if isinstance(node, nir.CubaLIF):
                syn = _uniform(node, name, ("tau_syn", "w_in"))
                alpha = beta_of_tau(syn["tau_syn"], dt)
                if abs(alpha) > 1e-6:  # float32 time constants (Rockpool) leave ~1e-8
                    raise UnsupportedLayerError(
                        f"{name!r}: CubaLIF with a synapse (tau_syn {syn['tau_syn']:g}, decay {alpha:.4g} per step); "
                        "only tau_syn = dt (no synaptic state) is supported"
                    )
                gain *= syn["w_in"]
        if p["v_reset"] != 0:
            raise UnsupportedLayerError(f"{name!r}: v_reset {p['v_reset']:g}; only a reset to 0 is supported")
        if not p["v_threshold"] > 0:
            raise UnsupportedLayerError(f"{name!r}: threshold {p['v_threshold']:g} must be positive")
        if not np.isfinite(gain) or gain == 0:
            raise UnsupportedLayerError(f"{name!r}: the input gain dt*r/tau is {gain:g}")
        recorded = text(node.metadata["reset"]) if node.metadata and "reset" in node.metadata else "zero"
        reset = self.reset or recorded
        if reset not in ("subtract", "zero"):
            raise UnsupportedLayerError(f"{name!r}: reset {reset!r}; use 'subtract' or 'zero'")
        channels = self.channels
        current = Affine(f"{name}.in", np.full(channels, gain), np.full(channels, leak))
        return [current, Leaky(name, beta, p["v_threshold"], reset)]


def _input_shape(node, name: str) -> tuple[int, int, int]:
    shape = tuple(int(v) for v in np.atleast_1d(np.asarray(node.input_type["input"])))
    if len(shape) == 1:
        return (1, 1, shape[0])
    if len(shape) == 2:
        return (1, *shape)
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    raise UnsupportedLayerError(f"{name!r}: input of shape {shape}; (C, H, W), (H, W) or (F,) expected")


def nir_to_float_graph(nir_graph, *, bits: int, num_steps: int, encoding: str, input_scale: float, dt: float,
                       reset: str | None = None):  # fmt: skip
    """The exporter's float chain (FloatGraph) of a NIR graph, weights quantized to ``bits``; raises one
    UnsupportedLayerError naming every node it cannot take."""
    import nir

    from qsnn_deploy.export.float_graph import FloatGraph

    order = _chain(nir_graph)
    converter = _Converter(bits, dt, reset)
    layers, problems = [], []
    input_shape = _input_shape(nir_graph.nodes[order[0]], order[0])
    for name in order[1:]:
        node = nir_graph.nodes[name]
        if isinstance(node, nir.Output):
            continue
        try:
            layers += converter.convert(name, node)
        except UnsupportedLayerError as exc:
            problems.append(str(exc))
    if problems:
        raise UnsupportedLayerError(f"cannot import {len(problems)} NIR node(s): " + "; ".join(problems))
    return FloatGraph(tuple(layers), input_shape, float(input_scale), encoding, int(num_steps))


def _setting(given, metadata: dict, key: str, default, what: str):
    if given is not None:
        return given
    if key in metadata:
        value = metadata[key]
        return value.item() if isinstance(value, np.ndarray) else value
    if default is None:
        raise QsnnError(f"the NIR graph records no {key}; pass {what}")
    return default


def import_nir(
    source,
    *,
    bits: int = 4,
    num_steps: int | None = None,
    encoding: str | None = None,
    input_scale: float | None = None,
    dt: float | None = None,
    reset: str | None = None,
    state_bits: int = 32,
    dataset: str | None = None,
) -> ImportResult:
    """A NIR graph (a path or a ``nir.NIRGraph``) as an integer IR graph, validated.

    ``num_steps``, ``encoding`` ("static"/"stream"), ``input_scale`` (the real value of one uint8 input unit)
    and ``dt`` default to what the NIR graph's metadata records (our writers record them), else: encoding
    static, input scale 1/255 (static) or 1 (stream), dt 1e-4; ``num_steps`` must then be given."""
    from qsnn_deploy.export.api import probe_inputs
    from qsnn_deploy.export.passes import PROBE_STEPS, fold
    from qsnn_deploy.export.quantize import QuantOptions, to_ir
    from qsnn_deploy.ir.ranges import overflow_sites

    if not 2 <= bits <= 8:
        raise QsnnError(f"--bits must be in [2, 8], got {bits}")
    if state_bits not in (8, 16, 32):
        raise QsnnError(f"--state-bits must be 8, 16 or 32, got {state_bits}")
    label, digest = "nir:in-memory", None
    if isinstance(source, (str, Path)):
        path = Path(source)
        nir_graph = read_nir(path)
        label, digest = f"nir:{path.name}", hashlib.sha256(path.read_bytes()).hexdigest()
    else:
        nir_graph = source
    meta = {k: v for k, v in (nir_graph.metadata or {}).items()}
    encoding = text(_setting(encoding, meta, "encoding", "static", "--encoding"))
    if encoding not in ENCODINGS:
        raise QsnnError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    steps = int(_setting(num_steps, meta, "num_steps", None, "--num-steps"))
    scale = float(
        _setting(input_scale, meta, "input_scale", 1.0 / 255.0 if encoding == "static" else 1.0, "")
    )
    step = float(_setting(dt, meta, "dt", DEFAULT_DT, ""))
    if steps < 1 or not scale > 0 or not step > 0:
        raise QsnnError(f"num_steps, input scale and dt must be positive (got {steps}, {scale:g}, {step:g})")
    fg = nir_to_float_graph(nir_graph, bits=bits, num_steps=steps, encoding=encoding, input_scale=scale, dt=step,
                            reset=reset)  # fmt: skip
    folded, applied = fold(fg, probe_inputs(fg.input_shape, encoding, PROBE_STEPS))
    graph, layer_meta, warnings = to_ir(folded, scale, QuantOptions(state_bits=state_bits))
    metadata = {
        "saturation_sites": overflow_sites(graph),
        "source": label,
        "dataset": dataset,
        "state_bits": state_bits,
        "lif_layers": layer_meta,
        "nir_import": {"sha256": digest, "weight_bits": bits, "dt": step,
                       "producer": text(meta.get("producer", "unknown"))},
    }  # fmt: skip
    graph = Graph(graph.input, graph.ops, graph.num_steps, metadata).validate()
    result = ImportResult(graph, applied, warnings, fg)
    result.check = compare_float(fg, graph, probe_inputs(fg.input_shape, encoding, steps, n=8))
    result.warnings += [f"{name}: never spikes on the check inputs" for name in result.check["silent_layers"]]
    return result


def compare_float(fg, graph: Graph, raw: np.ndarray, num_steps: int | None = None) -> dict:
    """Agreement of the integer simulator with the float chain (NIR's semantics, forward Euler) on ``raw``."""
    from qsnn_deploy.export.fidelity import agreement
    from qsnn_deploy.export.float_graph import run_float
    from qsnn_deploy.sim import simulate

    steps = num_steps or graph.num_steps
    return agreement(run_float(fg, raw, num_steps=steps), simulate(graph, raw, steps))


def import_from_cli(path: Path, out: Path, **options) -> ImportResult:
    """``qsnn-deploy import``: import, save atomically, print a summary and the warnings."""
    import click

    from qsnn_deploy.ir.io import save_graph

    result = import_nir(path, **options)
    save_graph(result.graph, out)
    g = result.graph
    click.echo(
        f"wrote {out}: IR v{g.version}, {len(g.ops)} ops, input {g.input.shape} {g.input.encoding}, "
        f"{g.num_steps} steps, {options.get('bits', 4)}-bit weights (per tensor)"
    )
    for op in g.lif_layers():
        click.echo(
            f"  {op.name}: threshold {op.threshold} ({op.state_type}), decay {op.decay_multiplier}/2^{op.decay_shift}, reset {op.reset}"
        )
    check = result.check
    click.echo(
        f"check on {check['samples']} probe inputs: predictions agree with the float graph "
        f"{check['prediction_agreement']:.1%}, output spike counts {check['count_agreement']:.1%}"
    )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    return result


__all__ = ["ImportResult", "compare_float", "import_from_cli", "import_nir", "nir_to_float_graph",
           "quantize_per_tensor", "read_nir"]  # fmt: skip
