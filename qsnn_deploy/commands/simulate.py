"""``qsnn-deploy simulate``: the integer simulator on a test set, beside the float model it came from.

Runs on the base install (NumPy): the float comparison needs torch, snnTorch and Brevitas and the float
checkpoint; without either the report says so in one note and gives the integer results, and nothing of torch
or the exporter is imported. The float model is loaded by :mod:`qsnn_deploy.models` and run by
:mod:`qsnn_deploy.export.inference`, imported only when there is a float model to run.
"""

from __future__ import annotations

import json
import math
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qsnn_deploy.atomic import write_text_atomic
from qsnn_deploy.data.registry import DATASET_NAMES
from qsnn_deploy.data.user_inputs import check_source, load_user_inputs
from qsnn_deploy.errors import CheckpointError, IRValidationError, QsnnError
from qsnn_deploy.ir import limits
from qsnn_deploy.ir import metadata as ir_metadata
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.models import torch_stack
from qsnn_deploy.sim.executor import simulate

AGREEMENT_TARGET = 0.995  # prediction agreement the fidelity target asks for (--min-agreement)
ACCURACY_GAP_TARGET = 0.001  # |integer - float| accuracy, as a fraction (--max-accuracy-gap, in points)
TORCH_MISSING = (
    f"torch, snnTorch or Brevitas is not installed ({torch_stack.INSTALL_HINT}): no float comparison, "
    "integer results only"
)


@dataclass
class SimulationReport:
    dataset: str
    samples: int
    num_steps: int
    int_accuracy: float | None  # None for --inputs without --labels
    float_accuracy: float | None
    prediction_agreement: float | None
    count_agreement: float | None
    int_firing_rates: dict[str, float]
    float_firing_rates: dict[str, float] | None
    synops_per_inference: dict[str, float]
    silent_layers: list[str]
    seconds: float
    verdict: str
    notes: list[str] = field(default_factory=list)
    trained_on: str | None = None  # the dataset the IR records, if any
    float_checkpoint: str | None = None  # the checkpoint compared with, if any
    inputs_file: str | None = None  # --inputs FILE.npy, when the data is the user's own (dataset: its name)

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @property
    def passed(self) -> bool:
        """False on FAIL (a silent layer) or DRIFT (integer and float disagree beyond the targets)."""
        return not self.verdict.startswith(("FAIL", "DRIFT"))


def recorded_dataset(graph: Graph) -> str | None:
    """The dataset the IR says its model was made for (export records it), or None."""
    value = ir_metadata.dataset(graph.metadata)
    return value if value in DATASET_NAMES else None


def _printable(recorded: object) -> str | None:
    """A path an IR records, fit to print in a note (printable, at most 200 characters), else None."""
    ok = isinstance(recorded, str) and recorded.isprintable() and len(recorded) <= 200
    return recorded if ok else None


def _recorded_path_note(what: str, recorded: object, placeholder: str = "FILE") -> str:
    """The note for a path an IR records but the user did not name: simulate never opens it (trust model,
    "Paths a file records"), and says what to pass instead. The path is shown printable, never raw."""
    shown = _printable(recorded)
    hint = f"--checkpoint {shlex.quote(shown) if shown else placeholder}"
    named = f" ({shown})" if shown else ""
    return (
        f"the IR records {what}{named}; simulate opens only files you name: pass {hint} to compare with "
        "the float model. Integer results only"
    )


def _float_model(
    graph: Graph, checkpoint: Path | None, arch: str | None, notes: list[str], builder: str | None = None
):
    """(float model, path) to compare with: the --checkpoint the user names, checked against the SHA-256 the
    IR records. A path the IR records is never opened on the IR's word (it could name any local file); a note
    names it instead. A --builder export is rebuilt by calling ``builder`` (simulate runs only code the user
    names), an imported NIR graph is evaluated under NIR's equations (:func:`_nir_float_graph`).
    ``(None, None)`` with a note saying why when there is none."""
    from qsnn_deploy.models.provenance import file_sha256

    if isinstance(graph.metadata.get("nir_import"), dict):
        return _nir_float_graph(graph, checkpoint, notes)
    source = ir_metadata.source(graph.metadata)
    config = ir_metadata.model_config(graph.metadata)
    raw_source = graph.metadata.get("source")
    recorded_builder = raw_source.get("builder") if isinstance(raw_source, dict) else None
    if builder is None and isinstance(recorded_builder, str):
        weights = _printable(source.checkpoint)
        notes.append(
            f"the IR was exported with --builder {recorded_builder}; simulate runs only code you name: pass "
            f"--builder {recorded_builder} --checkpoint {shlex.quote(weights) if weights else 'WEIGHTS'} to "
            "compare with the float model. Integer results only"
        )
        return None, None
    if checkpoint is None:
        if source.checkpoint:
            notes.append(_recorded_path_note("the float checkpoint", source.checkpoint))
        else:
            notes.append("the IR records no float checkpoint (pass --checkpoint): integer results only")
        return None, None
    path = checkpoint
    if not path.is_file():
        raise CheckpointError(f"--checkpoint {path}: no such file")
    if not torch_stack.available():
        notes.append(TORCH_MISSING)
        return None, None
    recorded_sha = source.sha256
    same_file = recorded_sha is not None and file_sha256(path) == recorded_sha
    if recorded_sha is not None and not same_file:
        notes.append(f"--checkpoint {path} is not the file this IR was exported from (SHA-256 differs)")
    if builder is not None:
        from qsnn_deploy.models.builder import build_from_spec, load_weights

        if isinstance(recorded_builder, str) and builder != recorded_builder:
            notes.append(
                f"--builder {builder} is not the builder this IR was exported with ({recorded_builder})"
            )
        model = build_from_spec(builder)  # the user's code, named on the command line
        load_weights(model, path)
        return model, path
    arch = arch or source.arch
    bits = ir_metadata.model_bits(graph.metadata) or 4
    overrides: dict[str, float | None] = {"beta": None, "threshold": None}
    if arch != "auto" and same_file:
        # A paper state_dict is re-read with the beta and threshold the export used (its --beta/--threshold).
        for name in overrides:
            value = config.get(name)
            if isinstance(value, (int, float)) and math.isfinite(value):
                overrides[name] = float(value)
    from qsnn_deploy.models.checkpoint import load_model

    model, _, _ = load_model(path, bits=bits, arch=arch, **overrides)
    return model, path


def _nir_float_graph(graph: Graph, given: Path | None, notes: list[str]):
    """(float chain, path) of an imported NIR graph: the .nir file the user names with --checkpoint, read again
    with the settings import recorded, its weights quantized as the IR's are, and run under NIR's equations in
    float64 (export/float_graph.run_float). A file other than the one imported (its SHA-256 is recorded) is
    compared with a note; the path import recorded is never opened on the IR's word."""
    from qsnn_deploy.models.provenance import file_sha256

    info = graph.metadata["nir_import"]
    if given is None:
        notes.append(_recorded_path_note("the imported NIR file", info.get("path"), "FILE.nir"))
        return None, None
    path = given
    if not path.is_file():
        raise CheckpointError(f"--checkpoint {path}: no such file")
    if not torch_stack.available():
        notes.append(TORCH_MISSING)
        return None, None
    if file_sha256(path) != info.get("sha256"):
        notes.append(f"--checkpoint {path} is not the NIR file this IR was imported from (SHA-256 differs)")
    from qsnn_deploy.interop.nir_import import nir_to_float_graph, read_nir

    resets = {op.reset for op in graph.lif_layers()}  # what import chose, override or node metadata
    try:
        chain = nir_to_float_graph(
            read_nir(path),
            bits=int(info.get("weight_bits") or 8),
            num_steps=graph.num_steps,
            encoding=graph.input.encoding,
            input_scale=graph.input.scale,
            dt=float(info["dt"]),
            reset=resets.pop() if len(resets) == 1 else None,
            convention=str(info.get("convention") or "nir"),
            input_shape=tuple(graph.input.shape),
        )
    except (QsnnError, KeyError, TypeError, ValueError) as exc:
        raise QsnnError(f"--checkpoint {path}: cannot evaluate it as the imported graph ({exc})") from None
    notes.append(
        f"float: NIR's equations on {path.name} in float64, with the {info.get('weight_bits')}-bit weights the IR holds"
    )
    return chain, path


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise QsnnError(f"--{name} must be >= 1, got {value}")


def simulate_dataset(
    graph: Graph,
    dataset: str | None = None,
    *,
    data_dir: Path | None = None,
    limit: int | None = None,
    num_steps: int | None = None,
    checkpoint: Path | None = None,
    arch: str | None = None,
    min_agreement: float = AGREEMENT_TARGET,
    max_accuracy_gap: float = ACCURACY_GAP_TARGET,
    progress: bool = True,
    batch_size: int = 100,
    inputs_file: Path | None = None,
    labels_file: Path | None = None,
    builder: str | None = None,
) -> SimulationReport:
    """Simulate ``graph`` on the test split of ``dataset`` (default: the one the IR records), or on your own
    ``inputs_file`` (and ``labels_file``) ``.npy`` files, and compare with the float model when one is available.
    ``max_accuracy_gap`` is a fraction (0.001 = 0.1 points)."""
    from dataclasses import replace

    from tqdm import tqdm

    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.data.frames import fit_frames

    _positive("limit", limit)
    _positive("num-steps", num_steps)
    for name, value in (("min_agreement", min_agreement), ("max_accuracy_gap", max_accuracy_gap)):
        if not (math.isfinite(value) and 0 <= value <= 1):
            raise QsnnError(f"{name} must be a fraction between 0 and 1, got {value}")
    trained_on = recorded_dataset(graph)
    steps = num_steps or graph.num_steps
    limits.check_budget(graph, steps)  # --num-steps: before N x steps frames of data are read
    notes: list[str] = []
    if inputs_file is not None:  # your own data: shaped for the graph by the reader, labels optional
        check_source(dataset, inputs_file, labels_file)
        ds = load_user_inputs(graph, inputs_file, labels_file, limit=limit, num_steps=steps)
        dataset = ds.name
        notes += ds.notes
    else:
        dataset = dataset or trained_on
        if dataset is None:
            raise QsnnError(f"the IR records no dataset; pass --dataset {'|'.join(DATASET_NAMES)}")
        ds = load_dataset(dataset, "test", data_dir=data_dir, limit=limit, num_steps=steps).as_frames()
        # a flat model input reads the frames flattened in C, H, W order; another layout is one clear line
        ds = replace(ds, inputs=fit_frames(ds.inputs, tuple(graph.input.shape), f"dataset {dataset}"))
    if tuple(ds.inputs.shape[-3:]) != tuple(graph.input.shape) or (
        inputs_file is None and ds.kind != graph.input.encoding
    ):
        raise IRValidationError(
            f"dataset {dataset} gives {ds.kind} inputs of shape {ds.inputs.shape[-3:]} but the model expects "
            f"{graph.input.encoding} inputs of shape {graph.input.shape}"
        )
    if inputs_file is None and trained_on is not None and trained_on != dataset:
        notes.append(
            f"the model was made for {trained_on}, not {dataset}: its accuracy here measures nothing it learned"
        )
    model, model_path = _float_model(graph, checkpoint, arch, notes, builder)
    start = time.perf_counter()
    with tqdm(total=len(ds), desc="simulate", unit="sample", disable=not progress) as bar:
        result = simulate(graph, ds.inputs, steps, batch_size=batch_size, progress=bar.update)
    seconds = time.perf_counter() - start
    labels = ds.labels  # None for --inputs without --labels: no accuracy
    int_acc = None if labels is None else float(np.mean(result.predictions == labels))
    neurons = result.neurons
    report = SimulationReport(
        dataset=dataset,
        samples=len(ds),
        num_steps=steps,
        int_accuracy=int_acc,
        float_accuracy=None,
        prediction_agreement=None,
        count_agreement=None,
        int_firing_rates=result.firing_rates(),
        float_firing_rates=None,
        synops_per_inference={k: float(v.mean()) for k, v in result.synops.items()},
        silent_layers=[k for k, v in result.spike_counts.items() if int(v.sum()) == 0],
        seconds=seconds,
        verdict="",
        notes=notes,
        trained_on=trained_on,
        float_checkpoint=None if model_path is None else str(model_path),
        inputs_file=None if inputs_file is None else str(inputs_file),
    )
    if model is not None:
        from qsnn_deploy.export.inference import float_outputs

        f_counts, f_totals = float_outputs(model, ds.inputs, steps, graph.input.scale)
        f_pred = np.argmax(f_counts, axis=1)
        report.float_accuracy = None if labels is None else float(np.mean(f_pred == labels))
        report.prediction_agreement = float(np.mean(f_pred == result.predictions))
        report.count_agreement = float(np.mean(np.all(f_counts == result.counts, axis=1)))
        report.float_firing_rates = {
            k: v / max(1, len(ds) * neurons.get(k, 1) * steps) for k, v in f_totals.items() if k in neurons
        }
    report.verdict = _verdict(report, min_agreement, max_accuracy_gap)
    return report


def _verdict(r: SimulationReport, min_agreement: float, max_gap: float) -> str:
    if r.silent_layers:
        return f"FAIL: silent layer(s) {', '.join(r.silent_layers)} (no spikes on the whole test set)"
    where = (
        ""
        if r.trained_on in (None, r.dataset) or r.inputs_file is not None
        else f" (on {r.dataset}; the model was made for {r.trained_on})"
    )
    if r.prediction_agreement is None:
        return f"integer-only run (no float model to compare){where}"
    if r.int_accuracy is None or r.float_accuracy is None:  # no labels: agreement alone
        if r.prediction_agreement >= min_agreement:
            return f"PASS: integer model is faithful to the float model (agreement; no labels){where}"
        return f"DRIFT: agreement {r.prediction_agreement:.2%} (target {min_agreement:.1%}; no labels){where}"
    gap = abs(r.int_accuracy - r.float_accuracy)
    if r.prediction_agreement >= min_agreement and gap <= max_gap:
        return f"PASS: integer model is faithful to the float model{where}"
    return (
        f"DRIFT: agreement {r.prediction_agreement:.2%} (target {min_agreement:.1%}), accuracy gap "
        f"{gap * 100:.2f} pp (target {max_gap * 100:.1f} pp){where}"
    )


def format_report(r: SimulationReport) -> str:
    what = f"--inputs {r.inputs_file}" if r.inputs_file is not None else f"{r.dataset} test set"
    lines = [f"{what}: {r.samples} samples x {r.num_steps} steps in {r.seconds:.1f} s"]
    if r.int_accuracy is None:
        lines.append("  accuracy              - (no --labels)")
    else:
        lines.append(f"  integer accuracy      {r.int_accuracy:.2%}")
    if r.prediction_agreement is not None:
        if r.float_accuracy is not None:
            lines.append(f"  float accuracy        {r.float_accuracy:.2%}")
        lines.append(f"  prediction agreement  {r.prediction_agreement:.2%}")
        lines.append(f"  spike-count agreement {r.count_agreement:.2%} of samples identical in every class")
    lines.append("  firing rate (spikes per neuron per step):")
    for name, rate in r.int_firing_rates.items():
        f = (
            ""
            if r.float_firing_rates is None
            else f"   float {r.float_firing_rates.get(name, float('nan')):.4f}"
        )
        flag = "   SILENT" if name in r.silent_layers else ""
        lines.append(f"    {name:<8} integer {rate:.4f}{f}{flag}")
    total = sum(r.synops_per_inference.values())
    per = ", ".join(f"{k} {v:,.0f}" for k, v in r.synops_per_inference.items())
    lines.append(f"  synaptic operations per inference: {total:,.0f} ({per})")
    lines += [f"  note: {n}" for n in r.notes]
    lines.append(f"verdict: {r.verdict}")
    return "\n".join(lines)


def read_paths(
    graph: Graph, model: Path, checkpoint: Path | None, inputs_file: Path | None, labels_file: Path | None
) -> list[tuple[str, Path | str | None]]:
    """Every file ``simulate`` may read: its options' and the ones the IR records (the float checkpoint
    export read, the .nir file import read)."""
    raw_source = graph.metadata.get("source")
    nir = graph.metadata.get("nir_import")
    recorded = [
        raw_source.get("checkpoint") if isinstance(raw_source, dict) else None,
        nir.get("path") if isinstance(nir, dict) else None,
    ]
    paths: list[tuple[str, Path | str | None]] = [
        ("--model", model), ("--checkpoint", checkpoint), ("--inputs", inputs_file), ("--labels", labels_file)
    ]  # fmt: skip
    paths += [("the file the IR records", p) for p in recorded if isinstance(p, str) and p and "\0" not in p]
    return paths


def simulate_from_cli(
    *,
    model: Path,
    dataset: str | None,
    checkpoint: Path | None,
    data_dir: Path | None,
    limit: int | None,
    num_steps: int | None,
    json_path: Path | None,
    arch: str | None = None,
    min_agreement: float = AGREEMENT_TARGET * 100,
    max_accuracy_gap: float = ACCURACY_GAP_TARGET * 100,
    inputs_file: Path | None = None,
    labels_file: Path | None = None,
    builder: str | None = None,
) -> SimulationReport:
    """``simulate``; the thresholds come in percent. Exits 1 on FAIL or DRIFT."""
    import click

    from qsnn_deploy.ir.io import load_graph
    from qsnn_deploy.outputs import refuse_outputs_over_inputs

    check_source(dataset, inputs_file, labels_file)  # before the IR is read
    for name, value in (("min-agreement", min_agreement), ("max-accuracy-gap", max_accuracy_gap)):
        if not (math.isfinite(value) and 0 <= value <= 100):
            raise QsnnError(f"--{name} must be a percentage between 0 and 100, got {value}")
    graph = load_graph(model)
    refuse_outputs_over_inputs(
        [("--json", json_path)], read_paths(graph, model, checkpoint, inputs_file, labels_file)
    )
    if inputs_file is None:
        from qsnn_deploy.data.paths import dataset_folders

        name = dataset or recorded_dataset(graph)
        folders = [(f"the {name} dataset folder", f) for f in dataset_folders(name, data_dir)]
        refuse_outputs_over_inputs([("--json", json_path)], [], folders)
    report = simulate_dataset(
        graph,
        dataset,
        data_dir=data_dir,
        limit=limit,
        num_steps=num_steps,
        checkpoint=checkpoint,
        arch=arch,
        min_agreement=min_agreement / 100,
        max_accuracy_gap=max_accuracy_gap / 100,
        inputs_file=inputs_file,
        labels_file=labels_file,
        builder=builder,
    )
    click.echo(format_report(report))
    if json_path is not None:
        write_text_atomic(Path(json_path), json.dumps(report.to_json(), indent=2))
        click.echo(f"wrote {json_path}")
    if not report.passed:
        raise SystemExit(1)
    return report
