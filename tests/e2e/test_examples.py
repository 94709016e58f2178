"""Every script in examples/ runs, with small settings passed through the environment variables it documents."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.data import load_dataset
from qsnn_deploy.ir.io import load_graph
from qsnn_deploy.sim import simulate
from tests.toolchains import require_tools as need

ROOT = Path(__file__).resolve().parents[2]


def run_example(script: str, tmp: Path, **env: str) -> str:
    cmd = (
        ["bash", str(ROOT / "examples" / script)]
        if script.endswith(".sh")
        else [sys.executable, str(ROOT / "examples" / script)]
    )
    proc = subprocess.run(
        cmd + env.pop("ARGS", "").split(),
        cwd=tmp,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, data_dir) -> Path:
    return tmp_path_factory.mktemp("examples")


@pytest.fixture(scope="module")
def trained(workdir) -> Path:
    run_example(
        "train_mnist.sh", workdir, EPOCHS="1", NUM_STEPS="8", OUT="run",
        EXTRA="--train-limit 768 --test-limit 128",
    )  # fmt: skip
    return workdir / "run" / "model.pt"


@pytest.fixture(scope="module")
def exported(workdir, trained) -> Path:
    out = run_example("export.sh", workdir, CHECKPOINT=str(trained), MODEL="model.qsnn")
    assert "wrote model.qsnn" in out
    return workdir / "model.qsnn"


def test_train_script_writes_checkpoint_metrics_and_plot(trained):
    assert trained.is_file()
    assert (trained.parent / "metrics.csv").is_file() and (trained.parent / "metrics.png").is_file()


def percent(out: str, label: str) -> float:
    """The percentage simulate prints after ``label`` (two decimals), as a fraction."""
    match = re.search(rf"^ +{re.escape(label)} +([0-9.]+)%", out, re.M)
    assert match, f"no {label!r} figure in:\n{out}"
    return float(match.group(1)) / 100


def verified(out: str, target: str) -> tuple[int, int, int, int]:
    """(samples, steps, output spike values, layer values or digests) from verify's summary line."""
    match = re.search(
        rf"^verified {re.escape(target)}: ([0-9,]+) samples x (\d+) steps; ([0-9,]+) output spike values and "
        r"([0-9,]+) (?:layer spikes and membranes|per-step layer digests)",
        out,
        re.M,
    )
    assert match, f"no summary for {target} in:\n{out}"
    return tuple(int(v.replace(",", "")) for v in match.groups())


def mnist_test(graph_path: Path, data_dir: Path, limit: int):
    """The IR, the first ``limit`` MNIST test images and the simulator's result on them (the library API)."""
    graph = load_graph(graph_path)
    ds = load_dataset("mnist", "test", data_dir=data_dir, limit=limit, num_steps=graph.num_steps)
    return graph, ds, simulate(graph, ds.inputs)


def test_simulate_script_reports_agreement(workdir, trained, exported, data_dir):
    from qsnn_deploy.export.inference import float_outputs
    from qsnn_deploy.models.checkpoint import load_model

    out = run_example(
        "simulate.sh", workdir, MODEL=str(exported), CHECKPOINT=str(trained), LIMIT="40", JSON="sim.json"
    )
    report = json.loads((workdir / "sim.json").read_text())
    # The same 40 images through the library: the integer simulator, and the float model the IR came from.
    graph, ds, sim = mnist_test(exported, data_dir, 40)
    model, _, _ = load_model(trained, bits=4)
    float_counts, _ = float_outputs(model, ds.inputs, graph.num_steps, graph.input.scale)
    float_predictions = float_counts.argmax(axis=1)
    expected = {  # printed label: (JSON key, value)
        "integer accuracy": ("int_accuracy", np.mean(sim.predictions == ds.labels)),
        "float accuracy": ("float_accuracy", np.mean(float_predictions == ds.labels)),
        "prediction agreement": ("prediction_agreement", np.mean(float_predictions == sim.predictions)),
        "spike-count agreement": ("count_agreement", np.mean(np.all(float_counts == sim.counts, axis=1))),
    }
    for label, (key, value) in expected.items():
        assert report[key] == pytest.approx(value, abs=1e-12), key
        assert percent(out, label) == pytest.approx(round(value * 100, 2) / 100, abs=1e-9), label
    assert (report["samples"], report["num_steps"]) == (40, graph.num_steps)
    assert f"mnist test set: 40 samples x {graph.num_steps} steps" in out
    assert report["int_firing_rates"] == pytest.approx(sim.firing_rates())
    assert f"verdict: {report['verdict']}" in out


def test_codegen_script_verifies_on_the_host(workdir, exported, data_dir):
    need("gcc")
    out = run_example("codegen.sh", workdir, MODEL=str(exported), OUT="c", LIMIT="5")
    assert (workdir / "c" / "qsnn_model.c").is_file()
    _, _, sim = mnist_test(exported, data_dir, 1)
    steps, classes = sim.output_spikes.shape[1:]
    # every output spike and every LIF neuron's spike and membrane, at every step of the 5 samples
    assert verified(out, "c/host") == (
        5,
        steps,
        5 * steps * classes,
        5 * steps * 2 * sum(sim.neurons.values()),
    )


def test_firmware_script_runs_under_qemu(workdir, exported, data_dir):
    need("arm-none-eabi-gcc", "qemu-system-arm")
    out = run_example(
        "firmware.sh", workdir, MODEL=str(exported), LIMIT="3", REPORT_LIMIT="1", REPORT_EXTRA="--no-baseline"
    )
    graph, _, sim = mnist_test(exported, data_dir, 1)
    steps, classes = sim.output_spikes.shape[1:]
    # the firmware sends one CRC-32 per LIF layer per step
    assert verified(out, "c/cortex-m") == (3, steps, 3 * steps * classes, 3 * steps * len(sim.neurons))
    # flash for weights: at least the floor, every weight of the IR at its bit width
    flash = re.search(r"flash: weights (\d+) B \(floor (\d+) B\)", out)
    assert flash, out
    floor = sum(op.weight.size * op.weight_type.bits for op in graph.ops if hasattr(op, "weight_type")) / 8
    assert int(flash.group(2)) == round(floor) and int(flash.group(1)) >= floor


def test_python_api_example(workdir):
    need("gcc")
    out = run_example("python_api.py", workdir, ARGS="--iters 10 --out api")
    assert "C verified bit for bit" in out
