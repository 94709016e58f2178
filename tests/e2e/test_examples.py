"""Every script in examples/ runs, with small settings passed through the environment variables it documents."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_simulate_script_reports_agreement(workdir, exported):
    out = run_example("simulate.sh", workdir, MODEL=str(exported), LIMIT="40", JSON="sim.json")
    assert "prediction agreement" in out and "verdict:" in out
    assert (workdir / "sim.json").is_file()


def test_codegen_script_verifies_on_the_host(workdir, exported):
    need("gcc")
    out = run_example("codegen.sh", workdir, MODEL=str(exported), OUT="c", LIMIT="5")
    assert (workdir / "c" / "qsnn_model.c").is_file()
    assert "identical to the simulator" in out


def test_firmware_script_runs_under_qemu(workdir, exported):
    need("arm-none-eabi-gcc", "qemu-system-arm")
    out = run_example(
        "firmware.sh", workdir, MODEL=str(exported), LIMIT="3", REPORT_LIMIT="1", REPORT_EXTRA="--no-baseline"
    )
    assert "identical to the simulator" in out and "flash:" in out


def test_python_api_example(workdir):
    need("gcc")
    out = run_example("python_api.py", workdir, ARGS="--iters 10 --out api")
    assert "C verified bit for bit" in out
