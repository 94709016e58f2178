"""NIR graph -> integer IR: the front door for networks trained elsewhere.

The chain of NIR nodes becomes the exporter's float layers (export/float_graph.py) with weights quantized
post-training to ``bits`` per tensor, Brevitas's way (``quantize_per_tensor``); from there the exporter's own
folding passes and quantizer (export/passes, export/quantize.py) pick the membrane scales, integer thresholds,
decays and requantizers, so an imported network follows exactly the conventions of an exported one.

Taken: Input, Output, Affine, Linear, Conv2d, SumPool2d, AvgPool2d, Flatten, Scale (one factor per channel),
LIF, IF, and CubaLIF (a synapse that keeps state becomes the IR's ``synaptic`` op before the LIF, under the
conventions of ``conventions.SYNAPSE_CONVENTIONS``). LIF parameters must be the same for every neuron of a
layer, ``v_reset`` 0; a non-zero ``v_leak`` becomes a constant current. Each library's reading of the neurons
(its time step, reset and discretisation) is a convention (interop/conventions.py), chosen or detected with the
step in interop/nir_settings.py; a node whose metadata says ``reset: subtract`` (our own writers) keeps the
subtract reset, and ``reset=`` overrides both. Node names become IR op names by interop/nir_names.py.
Anything else raises one ``UnsupportedLayerError`` naming every node that cannot be taken. What ``import``
checks after building (targets, saturation, decays, real data) is in interop/nir_door.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qsnn_deploy.errors import QsnnError, UnsupportedLayerError
from qsnn_deploy.interop.conventions import CONVENTIONS, step_of, text
from qsnn_deploy.interop.nir_chain import chain, declared_shape, frame_shape, whole_numbers
from qsnn_deploy.interop.nir_names import ir_names
from qsnn_deploy.interop.nir_recurrent import unroll
from qsnn_deploy.interop.nir_safe import check_nir_file
from qsnn_deploy.ir.graph import ENCODINGS, Graph
from qsnn_deploy.ir.io import check_graph
from qsnn_deploy.models.provenance import file_sha256

SUPPORTED = "Input, Output, Affine, Linear, Conv2d, SumPool2d, AvgPool2d, Flatten, Scale, LIF, IF, CubaLIF"
# Strings import copies from the file into the IR's metadata (the producer, each node's original name) are cut
# to this many characters: a 20 MB producer made an IR past its manifest's 16 MiB limit, which no command of
# this tool could read back (issue 23). A library's name and version, or a module path, is far shorter.
MAX_PRODUCER_CHARS = 256


@dataclass
class ImportResult:
    graph: Graph
    passes: list[str]
    warnings: list[str] = field(default_factory=list)
    float_graph: object = None  # the float chain before folding (export/float_graph.FloatGraph)
    check: dict | None = None  # float chain vs integer simulator (probe inputs, or real samples: ``data``)
    settings: object = None  # nir_settings.Settings: the convention and dt, with where each came from
    notes: list[str] = field(default_factory=list)  # what was decided for the user (shapes, sources)


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
    check_nir_file(path)  # data only: no external storage, links or virtual datasets (interop/nir_safe.py)
    try:
        return nir.read(path)
    except (KeyError, OSError) as exc:
        raise QsnnError(f"{path}: not a NIR file ({exc})") from None
    except Exception:  # nir's type check raises assorted errors; the nodes are still readable
        try:
            return nir.read(path, type_check=False)
        except Exception as exc:
            raise QsnnError(f"{path}: unreadable NIR graph ({type(exc).__name__}: {exc})") from None


def uniform(node, name: str, fields: tuple[str, ...]) -> dict[str, float]:
    """One value per parameter, the same for every neuron (the IR's LIF has one threshold and one decay)."""
    values = {}
    for f in fields:
        arr = np.asarray(getattr(node, f), dtype=np.float64)
        if np.any(np.isnan(arr)):  # NaN != NaN would read as "differs"; an infinite tau is checked by its use
            raise UnsupportedLayerError(f"{name!r}: {f} is not finite (NaN); give a number")
        if arr.size == 0 or not np.all(arr == arr.flat[0]):
            raise UnsupportedLayerError(f"{name!r}: {f} differs between neurons (per-neuron parameters)")
        values[f] = float(arr.flat[0])
    return values


def _pool_kernel(node, name: str) -> int:
    k, s, p = (
        np.asarray(whole_numbers(getattr(node, f), name, f)) for f in ("kernel_size", "stride", "padding")
    )
    if k.size not in (1, 2) or s.size not in (1, 2):
        raise UnsupportedLayerError(f"{name!r}: kernel size {k} and stride {s} (one or two values expected)")
    k, s = np.broadcast_to(k, 2), np.broadcast_to(s, 2)
    if k[0] != k[1] or not np.array_equal(s, k) or np.any(p != 0):
        raise UnsupportedLayerError(
            f"{name!r}: only square non-overlapping pooling without padding (kernel {k}, stride {s}, padding {p})"
        )
    return int(k[0])


def _pair(values: tuple[int, ...], name: str, field: str) -> np.ndarray:
    """One value for both axes, or one per axis."""
    if len(values) not in (1, 2):
        raise UnsupportedLayerError(f"{name!r}: {field} {values} (one or two values expected)")
    return np.broadcast_to(np.asarray(values, dtype=np.int64), 2)


class _Converter:
    """One NIR node at a time -> float layers; remembers the channel count (and the feature count while the
    activation is a vector) and names each layer by its IR op name."""

    def __init__(self, bits: int | None, dt: float, reset: str | None, convention: str = "nir"):
        self.bits, self.dt, self.reset, self.convention = bits, dt, reset, convention
        self.channels = 0
        self.features: int | None = None
        self.hw: tuple[int, ...] | None = None  # (H, W) of the current frame, while it is one

    def _weight(self, name: str, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # bits None: the graph's own float weights (the float reference the library itself ran)
        w_int, scale = (weight, 1.0) if self.bits is None else quantize_per_tensor(weight, self.bits)
        self.channels = int(w_int.shape[0])
        return w_int, np.full(self.channels, scale)

    def _bias(self, name: str, bias) -> np.ndarray | None:
        if bias is None:
            return None
        flat = np.asarray(bias, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(flat)):  # NaN passed every check and surfaced as a PassDriftError
            raise UnsupportedLayerError(f"{name!r}: the bias holds NaN or infinity")
        if flat.size not in (1, self.channels):
            raise UnsupportedLayerError(f"{name!r}: {flat.size} biases for {self.channels} output channels")
        b = np.broadcast_to(flat, (self.channels,))
        return None if not np.any(b) else b.copy()

    def convert(self, name: str, node, ir: str) -> list:
        """``name``: the NIR node's name (for messages); ``ir``: its IR op name."""
        import nir

        from qsnn_deploy.export.float_graph import AvgPool, Identity, IntConv, IntLinear, SumPool

        kind = type(node).__name__
        if isinstance(node, (nir.Affine, nir.Linear)):
            weight = self._matrix(name, np.asarray(node.weight, dtype=np.float64))
            w_int, scale = self._weight(name, weight)
            bias = self._bias(name, getattr(node, "bias", None))
            self.features, self.hw = self.channels, None
            return [IntLinear(ir, w_int, scale, self.bits, bias)]
        if isinstance(node, nir.Conv2d):
            weight = np.asarray(node.weight, dtype=np.float64)
            stride, padding = self._conv_geometry(name, node, weight)
            self._fit(name, weight.shape[2:], stride, padding)
            w_int, scale = self._weight(name, weight)
            self.features = None
            if self.hw is not None:  # what a Linear after it must take (checked by _matrix)
                self.features = self.channels * int(np.prod(self.hw))
            return [IntConv(ir, w_int, scale, self.bits, stride, padding, self._bias(name, node.bias))]
        if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            self.features = None
            pool = SumPool if isinstance(node, nir.SumPool2d) else AvgPool
            kernel = _pool_kernel(node, name)
            self._fit(name, (kernel, kernel), kernel, 0)
            if self.hw is not None:
                self.features = self.channels * int(np.prod(self.hw))
            return [pool(ir, kernel)]
        if isinstance(node, nir.Flatten):
            self.hw = None
            return [Identity(ir, "Flatten")]
        if isinstance(node, nir.Scale):
            return [self._scale(name, node, ir)]
        if isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
            return self._neuron(name, node, ir)
        raise UnsupportedLayerError(f"{name!r} ({kind}): not supported; NIR import takes {SUPPORTED}")

    def _fit(self, name: str, kernel: tuple[int, ...], stride: int, padding: int) -> None:
        """The window fits the (padded) frame it slides over; the frame becomes the window's output."""
        if padding < 0 or stride < 1:
            raise UnsupportedLayerError(
                f"{name!r}: stride {stride} and padding {padding} (>= 1 and >= 0 expected)"
            )
        if self.hw is None:
            return
        padded = tuple(int(s) + 2 * padding for s in self.hw)
        if any(int(k) > s for k, s in zip(kernel, padded)):
            raise UnsupportedLayerError(
                f"{name!r}: a {tuple(int(k) for k in kernel)} window is larger than its input "
                f"{tuple(self.hw)} (padding {padding})"
            )
        self.hw = tuple((s - int(k)) // max(stride, 1) + 1 for k, s in zip(kernel, padded))

    def _matrix(self, name: str, weight: np.ndarray) -> np.ndarray:
        if weight.ndim != 2:
            raise UnsupportedLayerError(f"{name!r}: weight of shape {weight.shape} (2-D expected)")
        n = self.features
        if n is not None and weight.shape[1] != n:
            # Older Spyx releases write a layer's parameters as stored, (in, out); NIR's is (out, in).
            if self.convention == "spyx" and weight.shape[0] == n:
                return weight.T
            raise UnsupportedLayerError(
                f"{name!r}: weight of shape {weight.shape} takes {weight.shape[1]} features, its input has {n}"
            )
        return weight

    def _conv_geometry(self, name: str, node, weight: np.ndarray) -> tuple[int, int]:
        if weight.ndim != 4:
            raise UnsupportedLayerError(f"{name!r}: weight of shape {weight.shape} (4-D expected)")
        groups, dilation = (
            whole_numbers(node.groups, name, "groups"),
            whole_numbers(node.dilation, name, "dilation"),
        )
        if groups != (1,) or any(d != 1 for d in dilation):
            raise UnsupportedLayerError(f"{name!r}: grouped or dilated convolutions are not supported")
        stride = _pair(whole_numbers(node.stride, name, "stride"), name, "stride")
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
        padding = _pair(whole_numbers(padding, name, "padding"), name, "padding")
        if stride[0] != stride[1] or padding[0] != padding[1]:
            raise UnsupportedLayerError(
                f"{name!r}: only square stride and symmetric padding (got {stride}, {padding})"
            )
        return int(stride[0]), int(padding[0])

    def _scale(self, name: str, node, ir: str):
        from qsnn_deploy.export.float_graph import Affine

        s = np.asarray(node.scale, dtype=np.float64)
        if not np.all(np.isfinite(s)):
            raise UnsupportedLayerError(f"{name!r}: the scale holds NaN or infinity")
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
        return Affine(ir, factors.copy(), np.zeros(len(factors)))

    def _neuron(self, name: str, node, ir: str) -> list:
        from qsnn_deploy.export.float_graph import Affine, Leaky

        kind = type(node).__name__
        fields = {
            "IF": ("r", "v_threshold", "v_reset"),
            "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
            "CubaLIF": ("tau_mem", "tau_syn", "w_in", "r", "v_leak", "v_threshold", "v_reset"),
        }[kind]
        p = uniform(node, name, fields)
        step = step_of(self.convention, kind, name, p, self.dt)
        if p["v_reset"] != 0:
            raise UnsupportedLayerError(f"{name!r}: v_reset {p['v_reset']:g}; only a reset to 0 is supported")
        if not p["v_threshold"] > 0:
            raise UnsupportedLayerError(f"{name!r}: threshold {p['v_threshold']:g} must be positive")
        if not np.isfinite(step.gain) or step.gain == 0:
            raise UnsupportedLayerError(
                f"{name!r}: the input gain is {step.gain:g} under the {self.convention} convention at dt {self.dt:g}"
            )
        # gain / threshold sets the requantizer's multiplier: beyond 2^+-80 no integer layer represents it
        # (1e-300 or 1e300 would overflow the quantizer's float arithmetic)
        ratio = abs(step.gain) / p["v_threshold"]
        if not 2.0**-80 <= ratio <= 2.0**80:
            raise UnsupportedLayerError(
                f"{name!r}: input gain {step.gain:g} over threshold {p['v_threshold']:g} is {ratio:g}, outside "
                "the range an integer layer represents (2^-80 to 2^80)"
            )
        recorded = text(node.metadata["reset"]) if node.metadata and "reset" in node.metadata else None
        reset = self.reset or recorded or CONVENTIONS[self.convention].reset
        if reset not in ("subtract", "zero"):
            raise UnsupportedLayerError(f"{name!r}: reset {reset!r}; use 'subtract' or 'zero'")
        channels = self.channels
        current = Affine(f"{ir}.in", np.full(channels, step.gain), np.full(channels, step.leak))
        return [current, Leaky(ir, step.beta, p["v_threshold"], reset, alpha=step.alpha)]

    def recurrent(self, name: str, node, neuron: list) -> list:
        """The neuron's float layers (``[Affine gain, Leaky]``) with its recurrent ``Linear``/``Affine`` node
        ``name`` on the Leaky: the recurrent spikes enter the neuron's input as the feed-forward current does, so
        they take the same gain; the weights are quantized per tensor like every other (a bias is kept real and
        folded into the requantize by the exporter)."""
        from dataclasses import replace

        from qsnn_deploy.export.float_graph import IntLinear

        current, leaky = neuron
        n = self.channels
        weight = np.asarray(node.weight, dtype=np.float64)
        if weight.shape != (n, n):
            raise UnsupportedLayerError(
                f"{name!r}: recurrent weight of shape {weight.shape} for a neuron of {n} (({n}, {n}) expected)"
            )
        w_int, scale = (weight, 1.0) if self.bits is None else quantize_per_tensor(weight, self.bits)
        gain = float(current.scale[0])
        bias = self._bias(name, getattr(node, "bias", None))
        rec = IntLinear(f"{leaky.name}.recurrent", w_int, np.full(n, scale * gain), self.bits,
                        None if bias is None else bias * gain)  # fmt: skip
        return [current, replace(leaky, recurrent=rec)]


def layer_names(nir_graph) -> dict[str, str]:
    """IR op name of every node on the chain between the Input and the Output (nir_names.ir_names)."""
    import nir

    nir_graph = unroll(nir_graph).graph
    order = chain(nir_graph)
    return ir_names(n for n in order[1:] if not isinstance(nir_graph.nodes[n], nir.Output))


def nir_to_float_graph(nir_graph, *, bits: int, num_steps: int, encoding: str, input_scale: float, dt: float,
                       reset: str | None = None, convention: str = "nir",
                       input_shape: tuple[int, ...] | None = None):  # fmt: skip
    """The exporter's float chain (FloatGraph) of a NIR graph, weights quantized to ``bits``, layers named by
    ``ir_names``; raises one UnsupportedLayerError naming every node it cannot take."""
    import nir

    from qsnn_deploy.export.float_graph import FloatGraph

    unrolled = unroll(nir_graph)
    nir_graph = unrolled.graph
    order = chain(nir_graph)
    names = layer_names(nir_graph)
    converter = _Converter(bits, dt, reset, convention)
    layers, problems = [], []
    declared = declared_shape(nir_graph.nodes[order[0]], order[0])
    shape = frame_shape(declared, input_shape)
    converter.features = int(np.prod(shape))
    converter.hw = tuple(shape[1:]) if len(shape) == 3 else None
    for name in order[1:]:
        node = nir_graph.nodes[name]
        if isinstance(node, nir.Output):
            continue
        try:
            converted = converter.convert(name, node, names[name])
            if name in unrolled.recurrent:
                rec = unrolled.recurrent[name]
                converted = converter.recurrent(rec, unrolled.nodes[rec], converted)
            layers += converted
        except UnsupportedLayerError as exc:
            problems.append(str(exc))
    if problems:
        raise UnsupportedLayerError(f"cannot import {len(problems)} NIR node(s): " + "; ".join(problems))
    return FloatGraph(tuple(layers), shape, float(input_scale), encoding, int(num_steps))


def bounded_text(value: str, what: str, notes: list[str]) -> str:
    """``value`` cut to ``MAX_PRODUCER_CHARS`` characters, with a note saying what was cut."""
    if len(value) <= MAX_PRODUCER_CHARS:
        return value
    notes.append(
        f"the graph's {what} is {len(value):,} characters long; the IR keeps its first {MAX_PRODUCER_CHARS}"
    )
    return value[:MAX_PRODUCER_CHARS] + "...[cut]"


def _setting(given, metadata: dict, key: str, default, what: str, number: str | None = None):
    """``given``, else the metadata's ``key`` (checked by ``recorded_number`` when ``number`` is "steps" or
    "positive"), else ``default``."""
    from qsnn_deploy.interop.nir_settings import recorded_number

    if given is not None:
        return given
    if key in metadata:
        value = metadata[key]
        if number is not None:
            return recorded_number(value, key, steps=number == "steps")
        if isinstance(value, np.ndarray):
            if value.size != 1:
                raise QsnnError(
                    f"the NIR graph's metadata {key} is an array of shape {value.shape}, not one value"
                )
            return value.reshape(()).item()
        return value
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
    convention: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    data_dir: Path | None = None,
    limit: int | None = None,
) -> ImportResult:
    """A NIR graph (a path or a ``nir.NIRGraph``) as an integer IR graph, validated and checked.

    ``num_steps``, ``encoding`` ("static"/"stream") and ``input_scale`` (the real value of one uint8 input
    unit) default to what the NIR graph's metadata records (our writers record them), else: encoding static,
    input scale 1/255 (static) or 1 (stream); ``num_steps`` must then be given. ``convention`` (None: "auto")
    and ``dt``: nir_settings.resolve. ``dataset`` is recorded; with ``limit`` the float-versus-integer check
    runs on the first ``limit`` test samples of it (from ``data_dir``) instead of probe inputs, and a flat
    input takes the dataset's frame shape when the element counts match. ``input_shape``: frame_shape."""
    from qsnn_deploy.export.api import probe_inputs
    from qsnn_deploy.export.passes import PROBE_STEPS, fold
    from qsnn_deploy.export.quantize import QuantOptions, to_ir
    from qsnn_deploy.interop import nir_door
    from qsnn_deploy.interop.nir_settings import recorded_number, resolve
    from qsnn_deploy.ir.ranges import overflow_sites

    if not 2 <= bits <= 8:
        raise QsnnError(f"--bits must be in [2, 8], got {bits}")
    if state_bits not in (8, 16, 32):
        raise QsnnError(f"--state-bits must be 8, 16 or 32, got {state_bits}")
    label, digest = "nir:in-memory", None
    if isinstance(source, (str, Path)):
        path = Path(source)
        nir_graph = read_nir(path)
        label, digest = f"nir:{path.name}", file_sha256(path)
    else:
        nir_graph = source
    meta = {k: v for k, v in (getattr(nir_graph, "metadata", None) or {}).items()}
    notes: list[str] = []
    encoding, num_steps = nir_door.dataset_defaults(dataset, meta, encoding, num_steps, notes)
    encoding = text(_setting(encoding, meta, "encoding", "static", "--encoding"))
    if encoding not in ENCODINGS:
        raise QsnnError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    steps = int(_setting(num_steps, meta, "num_steps", None, "--num-steps", "steps"))
    default_scale = 1.0 / 255.0 if encoding == "static" else 1.0
    scale = float(_setting(input_scale, meta, "input_scale", default_scale, "", "positive"))
    nir_graph = unroll(nir_graph)  # a recurrent layer's weights apart from the chain (nir_recurrent.py)
    settings = resolve(nir_graph.graph, convention, dt)
    if not 2.0**-80 <= scale <= 2.0**80:  # it scales every requantizer: beyond this no integer one exists
        raise QsnnError(f"input scale {scale:g} is outside 2^-80 to 2^80; pass --input-scale")
    if steps < 1 or not scale > 0 or not settings.dt > 0:
        raise QsnnError(
            f"num_steps, input scale and dt must be positive (got {steps}, {scale:g}, {settings.dt:g})"
        )
    data = nir_door.load_samples(dataset, data_dir, limit, steps) if dataset and limit else None
    if data is not None and input_shape is None:
        input_shape = nir_door.adopt_frame(nir_graph.graph, data[0], dataset, notes)
    fg = nir_to_float_graph(nir_graph, bits=bits, num_steps=steps, encoding=encoding, input_scale=scale,
                            dt=settings.dt, reset=reset, convention=settings.convention,
                            input_shape=input_shape)  # fmt: skip
    folded, applied = fold(fg, probe_inputs(fg.input_shape, encoding, PROBE_STEPS))
    graph, layer_meta, warnings = to_ir(folded, scale, QuantOptions(state_bits=state_bits))
    names = layer_names(nir_graph)
    producer = bounded_text(text(meta.get("producer", "unknown")), "producer metadata", notes)
    originals = {ir: bounded_text(str(name), f"node name {ir!r}", notes) for name, ir in names.items()}
    for neuron, rec in nir_graph.recurrent.items():
        originals[f"{names[neuron]}_recurrent"] = bounded_text(str(rec), f"node name {rec!r}", notes)
    metadata = {
        "saturation_sites": overflow_sites(graph),
        "source": label,
        "dataset": dataset,
        "state_bits": state_bits,
        "lif_layers": layer_meta,
        "nir_import": {"sha256": digest, "weight_bits": bits, "dt": settings.dt, "dt_from": settings.dt_from,
                       "convention": settings.convention, "producer": producer, "nodes": originals},
    }  # fmt: skip
    # every limit and per-sample budget of a .qsnn (ir/limits.py), before the float chain and the simulator
    # run on it: a graph too large to save is refused here, not after minutes of work
    graph = check_graph(Graph(graph.input, graph.ops, graph.num_steps, metadata))
    result = ImportResult(graph, applied, [], fg, settings=settings, notes=notes)
    result.warnings = nir_door.true_warnings(graph, warnings, settings.dt, names)
    if dt is not None and "dt" in meta:
        try:
            recorded_dt = recorded_number(meta["dt"], "dt")
        except QsnnError as exc:
            result.warnings.append(f"--dt {dt:g} replaces an unreadable dt ({exc})")
        else:
            if abs(recorded_dt - dt) > 1e-12 * dt:
                result.warnings.append(f"--dt {dt:g} replaces the dt {recorded_dt:g} the graph records")
    raw = data[0] if data is not None else probe_inputs(fg.input_shape, encoding, steps, n=8, scale=scale)
    raw = nir_door.fit_frames(raw, fg.input_shape, dataset or "probe")
    result.check = compare_float(fg, graph, raw)
    if data is not None:
        own = nir_to_float_graph(nir_graph, bits=None, num_steps=steps, encoding=encoding, input_scale=scale,
                                 dt=settings.dt, reset=reset, convention=settings.convention,
                                 input_shape=fg.input_shape)  # fmt: skip
        nir_door.add_accuracy(result.check, data[1], dataset, own, raw)
    where = "test samples" if data is not None else "check inputs"
    result.warnings += [f"{name}: never spikes on the {where}" for name in result.check["silent_layers"]]
    return result


def compare_float(fg, graph: Graph, raw: np.ndarray, num_steps: int | None = None) -> dict:
    """Agreement of the integer simulator with the float chain (the convention's step) on ``raw``."""
    from qsnn_deploy.export.fidelity import agreement
    from qsnn_deploy.export.float_graph import run_float
    from qsnn_deploy.sim import simulate

    steps = num_steps or graph.num_steps
    return agreement(run_float(fg, raw, num_steps=steps), simulate(graph, raw, steps))


__all__ = ["ImportResult", "compare_float", "frame_shape", "import_nir", "nir_to_float_graph",
           "quantize_per_tensor", "read_nir", "uniform"]  # fmt: skip
