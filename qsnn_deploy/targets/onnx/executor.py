"""The ONNX target's executor: onnxruntime (CPU provider) runs the one-step model, a driver loop carries the
states (membranes, synaptic currents, a recurrent layer's spikes) from step to step and records every layer in
full."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qsnn_deploy.errors import QsnnError, VerificationError
from qsnn_deploy.targets.base import CheckedModel
from qsnn_deploy.targets.onnx.graph import (
    FRAME,
    current_in,
    current_out,
    membrane_in,
    membrane_out,
    spikes_in,
    spikes_out,
)
from qsnn_deploy.targets.onnx.settings import onnx_settings
from qsnn_deploy.verify.record import LayerTrace, Record

MODEL_FILE = "model.onnx"


def open_session(path: Path, threads: int = 1):
    """An onnxruntime CPU session of ``path`` (``threads`` intra-op threads)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise QsnnError("the onnx target needs onnxruntime: pip install 'qsnn-deploy[onnx]'") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        raise VerificationError(f"onnxruntime cannot load {path}: {exc}") from None


def state_feedback(model: CheckedModel) -> dict[str, str]:
    """Every state input of the one-step model -> the output that feeds it at the next step: each LIF's
    membrane, each synaptic current, and a recurrent layer's spikes (its LIF's spike output)."""
    feedback = {}
    for layer in model.layers:
        feedback[membrane_in(layer.lif)] = membrane_out(layer.lif)
        if layer.current is not None:
            feedback[current_in(layer.current)] = current_out(layer.current)
        if layer.recurrent is not None:
            feedback[spikes_in(layer.recurrent)] = spikes_out(layer.lif)
    return feedback


def _initial_state(model: CheckedModel, n: int) -> dict[str, np.ndarray]:
    """Zeros for every state input: int32 membranes and currents, uint8 spikes."""
    state = {}
    for layer in model.layers:
        shape = (n, *layer.out_shape)
        state[membrane_in(layer.lif)] = np.zeros(shape, np.int32)
        if layer.current is not None:
            state[current_in(layer.current)] = np.zeros(shape, np.int32)
        if layer.recurrent is not None:
            state[spikes_in(layer.recurrent)] = np.zeros(shape, np.uint8)
    return state


def run_steps(session, model: CheckedModel, inputs: np.ndarray, steps: int) -> Record:
    """Drive the one-step model over ``steps`` steps: every state starts at 0 and each step's state outputs
    are the next step's state inputs (``state_feedback``). ``inputs``: uint8 (N, C, H, W) static,
    (N, T, C, H, W) stream. Records every layer's spikes and membranes, and its synaptic currents where it has
    them."""
    layers = model.layers
    n = len(inputs)
    stream = model.graph.input.encoding == "stream"
    feedback = state_feedback(model)
    state = _initial_state(model, n)
    wanted = [name for layer in layers for name in (spikes_out(layer.lif), membrane_out(layer.lif))]
    wanted += [current_out(layer.current) for layer in layers if layer.current is not None]

    def trace(layer_dtype: type) -> dict[str, np.ndarray]:
        return {layer.lif.name: np.empty((n, steps, layer.neurons), layer_dtype) for layer in layers}

    spikes, membranes = trace(np.uint8), trace(np.int64)
    currents = {layer.lif.name: np.empty((n, steps, layer.neurons), np.int64)
                for layer in layers if layer.current is not None}  # fmt: skip
    static_frame = None if stream else np.ascontiguousarray(inputs, dtype=np.uint8)
    for t in range(steps):
        frame = np.ascontiguousarray(inputs[:, t], dtype=np.uint8) if stream else static_frame
        got = dict(zip(wanted, session.run(wanted, {FRAME: frame, **state}), strict=True))
        for layer in layers:
            lif = layer.lif
            spikes[lif.name][:, t] = got[spikes_out(lif)].reshape(n, -1)
            membranes[lif.name][:, t] = got[membrane_out(lif)].reshape(n, -1)
            if layer.current is not None:
                currents[lif.name][:, t] = got[current_out(layer.current)].reshape(n, -1)
        state = {name: got[output] for name, output in feedback.items()}
    last = layers[-1].lif.name
    traces = {name: LayerTrace(spikes[name], membranes[name], currents.get(name)) for name in spikes}
    return Record(spikes[last], traces)


class OnnxRuntimeRunner:
    def __init__(self, model: CheckedModel, session):
        self.model, self.session = model, session

    def run(self, inputs: np.ndarray, steps: int) -> Record:
        return run_steps(self.session, self.model, inputs, steps)


class OnnxRuntimeExecutor:
    """Settings (``--option``, onnx/settings.py): ``threads``."""

    name = "onnxruntime"
    description = "model.onnx in onnxruntime's CPU provider, driven step by step; every layer in full"

    def build(self, model: CheckedModel, model_dir: Path, work: Path) -> OnnxRuntimeRunner:
        threads = onnx_settings(model.options).threads
        path = Path(model_dir) / MODEL_FILE
        if not path.is_file():
            raise VerificationError(
                f"{model_dir} has no {MODEL_FILE}; run `qsnn-deploy codegen --target onnx`"
            )
        return OnnxRuntimeRunner(model, open_session(path, threads))
