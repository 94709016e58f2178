"""``qsnn-deploy demo``: the whole promise in one offline command, on the bundled model and MNIST sample.

export -> simulate (beside the float model) -> generate C -> compile and verify on the host, bit for bit ->
build the Cortex-M4 firmware, run it under QEMU and verify it -> cost summary. Steps whose toolchain is
missing are reported as skipped, never silently dropped."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import click
import numpy as np

from qsnn_deploy.errors import DatasetError
from qsnn_deploy.paths import examples_dir

SAMPLE = Path("data") / "mnist_test_sample.npz"
MODEL = Path("mnist") / "model.pt"
FIRMWARE_SAMPLES = 20  # QEMU emulation is the slow step: enough to prove equality, short enough for 2 minutes


def bundled(relative: Path) -> Path:
    path = examples_dir() / relative
    if not path.is_file():
        raise DatasetError(f"bundled file {relative} is missing from {examples_dir()}; reinstall qsnn-deploy")
    return path


def load_sample() -> tuple[np.ndarray, np.ndarray]:
    with np.load(bundled(SAMPLE), allow_pickle=False) as data:
        return data["images"], data["labels"]


def run_demo(out: Path, checkpoint: Path | None = None) -> dict:
    from qsnn_deploy.export import export_checkpoint
    from qsnn_deploy.ir.io import save_graph
    from qsnn_deploy.targets import check_model, generate, verifier
    from qsnn_deploy.targets.c.report import cost_report

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images, labels = load_sample()
    checkpoint = checkpoint or bundled(MODEL)
    summary: dict = {"samples": len(images)}

    def step(text: str) -> None:
        click.echo(f"[{time.perf_counter() - t0:6.1f} s] {text}")

    step(f"export {checkpoint}")
    exported = export_checkpoint(checkpoint, bits=4, check_inputs=images[:16])
    graph = exported.graph
    save_graph(graph, out / "model.qsnn")
    for warning in exported.warnings:
        click.echo(f"  warning: {warning}")

    step(f"simulate {len(images)} images x {graph.num_steps} steps beside the float model")
    from qsnn_deploy.export.fidelity import compare

    check = compare(exported.model, graph, images, graph.num_steps)
    summary["int_accuracy"] = float(np.mean(check["int_predictions"] == labels))
    summary["float_accuracy"] = float(np.mean(check["float_predictions"] == labels))
    summary["agreement"] = check["prediction_agreement"]
    summary["silent_layers"] = check["silent_layers"]

    step(f"generate C into {out / 'c'}")
    generate(graph, "c", out / "c", "qsnn")

    step("compile with gcc and verify every spike of every layer on the host")
    host = verifier.verify_c(graph, images, graph.num_steps, workdir=out / "verify-host")
    summary["host_spikes_compared"] = host.spikes_compared
    summary["host_layer_values"] = host.compared.layer_values

    have_arm = all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm"))
    if have_arm:
        step(f"build Cortex-M4 firmware, run {FIRMWARE_SAMPLES} images under QEMU, verify")
        fw = verifier.verify_cortex_m(
            graph, images[:FIRMWARE_SAMPLES], graph.num_steps, workdir=out / "verify-m4"
        )
        summary["m4_spikes_compared"] = fw.spikes_compared
        summary["m4_layer_digests"] = fw.compared.layer_digests
        step("measure flash, RAM and instructions per inference")
        cost = cost_report(
            check_model(graph, "c"), images[:2], graph.num_steps, out / "report", host=False, baseline=False
        )
        summary.update(
            flash_weights=cost.weight_bytes,
            flash_floor=cost.weight_floor_bytes,
            flash_code=cost.code_bytes,
            ram=cost.ram_bytes,
            state=cost.state_bytes,
            m4_instructions=cost.m4_insns.get("events"),
        )
    else:
        click.echo(
            "  skipped: firmware (arm-none-eabi-gcc or qemu-system-arm not installed; run scripts/setup.sh)"
        )

    summary["seconds"] = time.perf_counter() - t0
    click.echo(format_summary(summary))
    return summary


def format_summary(s: dict) -> str:
    lines = [
        "",
        "qsnn-deploy demo summary",
        f"  accuracy on {s['samples']} bundled MNIST test images: integer {s['int_accuracy']:.2%}, "
        f"float {s['float_accuracy']:.2%}; predictions agree {s['agreement']:.2%}",
        f"  host C: {s['host_spikes_compared']:,} output spikes identical to the simulator, and "
        f"{s['host_layer_values']:,} spikes and membranes of every layer",
    ]
    if "m4_spikes_compared" in s:
        lines += [
            f"  Cortex-M4 under QEMU: {s['m4_spikes_compared']:,} output spikes identical to the simulator, and "
            f"every layer after every step ({s['m4_layer_digests']:,} CRC-32 digests of spikes and membranes)",
            f"  flash: weights {s['flash_weights']:,} B (4-bit floor {s['flash_floor']:,.0f} B), code "
            f"{s['flash_code']:,} B; RAM {s['ram']:,} B (state {s['state']:,} B)",
            f"  instructions per inference on the Cortex-M4: {s['m4_instructions']:,.0f}",
        ]
    if s["silent_layers"]:
        lines.append(f"  WARNING: silent layers {s['silent_layers']}")
    lines.append(f"  total {s['seconds']:.1f} s")
    return "\n".join(lines)
