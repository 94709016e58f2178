"""The commands ``qsnn-deploy codegen``, ``verify`` and ``report``: the same for every target.

Each loads the IR, picks the target from the registry and calls the target through its ``TargetSpec``; results go
to the terminal, and with ``json_path`` to a JSON file (written atomically).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click
import numpy as np

from qsnn_deploy.atomic import write_bytes_atomic
from qsnn_deploy.errors import QsnnError
from qsnn_deploy.ir import limits
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.outputs import refuse_folder_holding_inputs, refuse_outputs_over_inputs
from qsnn_deploy.targets import check_model, generate, get_target, recorded_options
from qsnn_deploy.targets.base import TargetOptions


def parse_options(pairs: tuple[str, ...], prefix: str = "qsnn") -> TargetOptions:
    """``--option KEY=VALUE`` pairs into TargetOptions.extra (``check_model`` reads them into the target's
    typed settings: targets/options.py)."""
    extra = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise QsnnError(f"--option takes KEY=VALUE, got {pair!r}")
        extra[key.strip()] = value.strip()
    return TargetOptions(prefix=prefix, extra=extra)


def dataset_of(graph: Graph, dataset: str | None) -> str:
    """The dataset asked for, else the one the IR records (its training set), else an error saying so."""
    if dataset:
        return dataset
    recorded = graph.metadata.get("dataset")
    if isinstance(recorded, str) and recorded:
        return recorded
    from qsnn_deploy.data import DATASET_NAMES

    raise QsnnError(f"the IR records no dataset: pass --dataset ({', '.join(DATASET_NAMES)})")


def test_inputs(graph: Graph, dataset: str, data_dir: Path | None, limit: int | None, steps: int):
    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.data.frames import fit_frames

    data = load_dataset(dataset, "test", data_dir=data_dir, limit=limit, num_steps=steps).as_frames()
    inputs = np.asarray(data.inputs, dtype=np.uint8)
    # a flat model input reads the frames flattened in C, H, W order; another layout is one clear line
    inputs = fit_frames(inputs, tuple(graph.input.shape), f"dataset {dataset}")
    return inputs, np.asarray(data.labels)


def test_data(
    graph: Graph,
    dataset: str | None,
    data_dir: Path | None,
    limit: int | None,
    steps: int,
    inputs_file: Path | None,
    labels_file: Path | None = None,
) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(name, inputs, labels or None): your own ``--inputs`` (and ``--labels``) files, else the test split of
    ``--dataset`` or of the dataset the IR records."""
    if inputs_file is None:
        name = dataset_of(graph, dataset)
        return (name, *test_inputs(graph, name, data_dir, limit, steps))
    from qsnn_deploy.data.user_inputs import load_user_inputs

    user = load_user_inputs(graph, inputs_file, labels_file, limit=limit, num_steps=steps)
    for note in user.notes:
        click.echo(f"note: {note}")
    return user.name, user.inputs, user.labels


def data_folders(
    graph: Graph, dataset: str | None, data_dir: Path | None, inputs_file: Path | None
) -> list[tuple[str, Path]]:
    """The dataset folders the command reads (none with ``--inputs``), named for ``refuse_outputs_over_inputs``."""
    from qsnn_deploy.data.paths import dataset_folders

    if inputs_file is not None:
        return []
    name = dataset or graph.metadata.get("dataset")
    return [
        (f"the {name} dataset folder", f)
        for f in dataset_folders(name if isinstance(name, str) else None, data_dir)
    ]


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is not None:
        text = json.dumps(payload, indent=1, sort_keys=True, default=_plain) + "\n"
        write_bytes_atomic(Path(path), text.encode())


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def codegen_from_cli(model: Path, target: str, out: Path, options: TargetOptions) -> list[Path]:
    """``qsnn-deploy codegen``: load the IR, check, render, and list what was written."""
    from qsnn_deploy.ir.io import load_graph

    refuse_folder_holding_inputs("--out", out, [("the model", model)])
    graph = load_graph(model)
    paths = generate(graph, target, out, options=options)
    for path in paths:
        click.echo(f"wrote {path} ({path.stat().st_size} bytes)")
    unrecorded = sorted(set(options.extra) - set(recorded_options(target, options)))
    if unrecorded:  # a folder never chooses a program or a kernel: those are verify's own --option
        click.echo(
            f"note: --option {', '.join(unrecorded)} does not change the {target} files and is not recorded in "
            "qsnn-target.json; pass it to the command that uses it (verify, report)"
        )
    return paths


def verify_from_cli(
    model: Path,
    dataset: str | None,
    data_dir: Path | None,
    limit: int,
    target: str,
    executor: str | None,
    options: TargetOptions,
    num_steps: int | None,
    from_dir: Path | None,
    keep: bool,
    json_path: Path | None,
    inputs_file: Path | None = None,
    labels_file: Path | None = None,
    allow_edited: bool = False,
):
    """``qsnn-deploy verify``: check a target's executor against the simulator on real test data (or on your
    own ``inputs_file``)."""
    from tqdm import tqdm

    from qsnn_deploy.data.user_inputs import check_source
    from qsnn_deploy.ir.io import load_graph
    from qsnn_deploy.targets.verifier import verify

    check_source(dataset, inputs_file, labels_file)
    refuse_outputs_over_inputs(
        [("--json", json_path)],
        [("the model", model), ("--inputs", inputs_file), ("--labels", labels_file)],
        [("the --from folder", from_dir)],
    )
    graph = load_graph(model)
    refuse_outputs_over_inputs(
        [("--json", json_path)], [], data_folders(graph, dataset, data_dir, inputs_file)
    )
    steps = num_steps or graph.num_steps
    limits.check_budget(graph, steps)  # --num-steps: before N x steps frames of data are read
    name, inputs, labels = test_data(graph, dataset, data_dir, limit, steps, inputs_file, labels_file)
    with tqdm(total=len(inputs), desc=f"verify {target}", unit="sample") as bar:
        result = verify(
            graph, inputs, steps, target=target, executor=executor, options=options, from_dir=from_dir,
            keep=keep, progress=bar.update, allow_edited=allow_edited,
        )  # fmt: skip
    if labels is None:
        accuracy = None
        click.echo(f"{result.summary()}; no accuracy on {name} (no --labels)")
    else:
        hits = result.predictions == labels[: len(result.predictions)]
        accuracy = float(hits.mean()) if len(labels) else 0.0
        click.echo(f"{result.summary()}; accuracy on {name} {accuracy:.2%}")
    settings = " ".join(f"{k}={v}" for k, v in sorted(result.options.items()))
    source = f"the files in {from_dir}" if from_dir is not None else "files rendered from the IR"
    click.echo(f"built {result.target}/{result.executor} from {source}: {result.built}; options {settings}")
    if result.edited:
        edited = "; ".join(result.edited)
        click.echo(f"warning: verified code that differs from what codegen writes: {edited}")
    if result.workdir is not None:
        click.echo(f"build folder kept: {result.workdir}")
    c = result.compared
    write_json(
        json_path,
        {
            "verified": True, "target": result.target, "executor": result.executor, "dataset": name,
            "samples": result.samples, "steps": result.steps, "output_spike_values": c.output_spikes,
            "layer_values": c.layer_values, "layer_digests": c.layer_digests, "seconds": result.seconds,
            "accuracy": accuracy, "workdir": str(result.workdir) if result.workdir else None,
            "inputs_file": None if inputs_file is None else str(inputs_file),
            "built": result.built, "options": result.options,
            "from_dir": None if from_dir is None else str(from_dir), "edited_files": list(result.edited),
        },
    )  # fmt: skip
    return result


def report_from_cli(
    model: Path,
    dataset: str | None,
    data_dir: Path | None,
    limit: int,
    target: str,
    options: TargetOptions,
    keep: bool,
    json_path: Path | None,
    inputs_file: Path | None = None,
):
    """``qsnn-deploy report``: the target's cost report on the first ``limit`` test samples (or samples of
    your own ``inputs_file``)."""
    from qsnn_deploy.data.user_inputs import check_source
    from qsnn_deploy.ir.io import load_graph

    check_source(dataset, inputs_file, None)
    refuse_outputs_over_inputs([("--json", json_path)], [("the model", model), ("--inputs", inputs_file)])
    graph = load_graph(model)
    refuse_outputs_over_inputs(
        [("--json", json_path)], [], data_folders(graph, dataset, data_dir, inputs_file)
    )
    t = get_target(target)
    checked = check_model(graph, t, options)
    name, inputs, _ = test_data(graph, dataset, data_dir, limit, graph.num_steps, inputs_file)
    work = Path(tempfile.mkdtemp(prefix=f"qsnn-report-{target}-"))
    try:
        rep = t.cost_report(
            checked,
            inputs,
            graph.num_steps,
            work,
            progress=lambda text: click.echo(f"... {text}"),
        )
        if rep is None:
            raise QsnnError(f"target {target!r} has no cost report")
        click.echo(t.format_cost(rep))
        write_json(json_path, {"target": target, "dataset": name, "samples": len(inputs), **rep.to_dict()})
    finally:
        if keep:
            click.echo(f"build folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rep
