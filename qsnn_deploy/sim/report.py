"""``qsnn-deploy simulate``: the integer simulator on a test set, beside the float model it came from."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qsnn_deploy.atomic import write_text_atomic
from qsnn_deploy.errors import CheckpointError, IRValidationError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.sim.executor import simulate

AGREEMENT_TARGET = 0.995  # prediction agreement the fidelity target asks for
ACCURACY_GAP_TARGET = 0.001  # |integer - float| accuracy, as a fraction


@dataclass
class SimulationReport:
    dataset: str
    samples: int
    num_steps: int
    int_accuracy: float
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

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _float_model(graph: Graph, checkpoint: Path | None, notes: list[str]):
    """The float model to compare with: --checkpoint, else the one recorded at export if it still exists."""
    from qsnn_deploy.export.api import load_for_export

    source = graph.metadata.get("source", {})
    config = graph.metadata.get("model_config", {})
    path = checkpoint or (Path(source["checkpoint"]) if source.get("checkpoint") else None)
    if path is None or not path.is_file():
        notes.append("no float checkpoint found (pass --checkpoint): integer results only")
        return None
    arch = source.get("arch", "auto") if checkpoint is None else "auto"
    try:
        model, _ = load_for_export(path, bits=int(config.get("bits") or 4), arch=arch)
    except CheckpointError:
        if checkpoint is not None:
            raise
        notes.append(f"the recorded checkpoint {path} could not be loaded: integer results only")
        return None
    return model


def simulate_dataset(
    graph: Graph,
    dataset: str,
    *,
    data_dir: Path | None = None,
    limit: int | None = None,
    num_steps: int | None = None,
    checkpoint: Path | None = None,
    progress: bool = True,
    batch_size: int = 100,
) -> SimulationReport:
    from tqdm import tqdm

    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.export.fidelity import float_outputs

    steps = num_steps or graph.num_steps
    ds = load_dataset(dataset, "test", data_dir=data_dir, limit=limit, num_steps=steps)
    if tuple(ds.inputs.shape[-3:]) != tuple(graph.input.shape) or (ds.kind != graph.input.encoding):
        raise IRValidationError(
            f"dataset {dataset} gives {ds.kind} inputs of shape {ds.inputs.shape[-3:]} but the model expects "
            f"{graph.input.encoding} inputs of shape {graph.input.shape}"
        )
    notes: list[str] = []
    model = _float_model(graph, checkpoint, notes)
    start = time.perf_counter()
    with tqdm(total=len(ds), desc="simulate", unit="sample", disable=not progress) as bar:
        result = simulate(graph, ds.inputs, steps, batch_size=batch_size, progress=bar.update)
    seconds = time.perf_counter() - start
    labels = ds.labels
    int_acc = float(np.mean(result.predictions == labels))
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
    )
    if model is not None:
        f_counts, f_totals = float_outputs(model, ds.inputs, steps, graph.input.scale)
        f_pred = np.argmax(f_counts, axis=1)
        report.float_accuracy = float(np.mean(f_pred == labels))
        report.prediction_agreement = float(np.mean(f_pred == result.predictions))
        report.count_agreement = float(np.mean(np.all(f_counts == result.counts, axis=1)))
        report.float_firing_rates = {
            k: v / max(1, len(ds) * neurons.get(k, 1) * steps) for k, v in f_totals.items() if k in neurons
        }
    report.verdict = _verdict(report)
    return report


def _verdict(r: SimulationReport) -> str:
    if r.silent_layers:
        return f"FAIL: silent layer(s) {', '.join(r.silent_layers)} (no spikes on the whole test set)"
    if r.prediction_agreement is None:
        return "integer-only run (no float model to compare)"
    gap = abs(r.int_accuracy - r.float_accuracy)
    if r.prediction_agreement >= AGREEMENT_TARGET and gap <= ACCURACY_GAP_TARGET:
        return "PASS: integer model is faithful to the float model"
    return (
        f"DRIFT: agreement {r.prediction_agreement:.2%} (target {AGREEMENT_TARGET:.1%}), accuracy gap "
        f"{gap * 100:.2f} pp (target {ACCURACY_GAP_TARGET * 100:.1f} pp)"
    )


def format_report(r: SimulationReport) -> str:
    lines = [f"{r.dataset} test set: {r.samples} samples x {r.num_steps} steps in {r.seconds:.1f} s"]
    lines.append(f"  integer accuracy      {r.int_accuracy:.2%}")
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


def simulate_from_cli(
    *, model: Path, dataset: str, checkpoint, data_dir, limit, num_steps, json_path
) -> None:
    import click

    from qsnn_deploy.ir.io import load_graph

    graph = load_graph(model)
    report = simulate_dataset(
        graph, dataset, data_dir=data_dir, limit=limit, num_steps=num_steps, checkpoint=checkpoint
    )
    click.echo(format_report(report))
    if json_path is not None:
        write_text_atomic(Path(json_path), json.dumps(report.to_json(), indent=2))
        click.echo(f"wrote {json_path}")
    if report.silent_layers:
        raise SystemExit(1)
