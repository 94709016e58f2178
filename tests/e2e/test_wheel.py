"""The built wheel is complete: installed (not editable) into a fresh venv, the commands run from a folder
outside the checkout — export, simulate, codegen, verify on the host, and the README's demo through the
installed ``qsnn-deploy`` script, which verifies on the Cortex-M under QEMU and counts its instructions — with
the harness, firmware, QEMU plugin, templates and demo sample all coming from the wheel."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.data import load_dataset
from qsnn_deploy.ir.io import load_graph
from qsnn_deploy.sim import simulate
from tests.toolchains import require_tools

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.toolchain


def _run(cmd: list[str], cwd: Path, env: dict, timeout: int = 600) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_the_installed_wheel_runs_every_command_outside_the_checkout(tmp_path: Path, data_dir: Path) -> None:
    require_tools("gcc", "arm-none-eabi-gcc", "qemu-system-arm", "make", "valgrind")
    wheels = tmp_path / "wheels"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(REPO),
        ],
        tmp_path,
        dict(os.environ),
    )
    wheel = next(wheels.glob("qsnn_deploy-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist() if ".dist-info/" not in name}
    assert tops == {"qsnn_deploy"}, f"the wheel ships {sorted(tops)} beside qsnn_deploy (tests must not ship)"
    # The venv sees this interpreter's packages (torch, numpy, ...) but gets its own, non-editable qsnn-deploy.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # nothing of the checkout's run: no data dir, and no build cache (the installed package compiles its own)
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "QSNN_DATA_DIR", "QSNN_BUILD_CACHE")
    }
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}"
    env["HOME"] = str(tmp_path / "home")
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        tmp_path,
        env,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([str(python), "-c", "import qsnn_deploy; print(qsnn_deploy.__file__)"], work, env)
    assert str(env_dir) in where, f"the venv imports qsnn_deploy from {where}, not from the wheel"

    cli = [str(python), "-m", "qsnn_deploy.cli"]
    data = ["--data-dir", str(data_dir)]
    _run([*cli, "export", str(REPO / "examples" / "mnist" / "model.pt"), "--out", "model.qsnn"], work, env)
    out = _run(
        [*cli, "simulate", "--model", "model.qsnn", "--dataset", "mnist", "--limit", "20", *data], work, env
    )
    # the installed package's figures are the checkout's simulator's on the same file and images
    graph = load_graph(work / "model.qsnn")
    images = load_dataset("mnist", "test", data_dir=data_dir, limit=20, num_steps=graph.num_steps)
    accuracy = float(np.mean(simulate(graph, images.inputs).predictions == images.labels))
    assert f"mnist test set: 20 samples x {graph.num_steps} steps" in out, out
    assert re.search(rf"^  integer accuracy +{re.escape(f'{accuracy:.2%}')}$", out, re.M), out
    _run([*cli, "codegen", "model.qsnn", "--out", "gen"], work, env)
    out = _run([*cli, "verify", "model.qsnn", "--limit", "5", "--from", "gen", *data], work, env)
    assert re.search(rf"^verified c/host: 5 samples x {graph.num_steps} steps; ", out, re.M), out
    # The README's main command, as its quick start runs it: the console script, the default relative --out,
    # the bundled model and MNIST sample only (no data dir, no dataset cache in HOME). It verifies on the
    # Cortex-M under QEMU and counts its instructions (verify --executor cortex-m and report, with the
    # firmware, linker scripts and QEMU plugin of the wheel).
    out = _run([str(env_dir / "bin" / "qsnn-deploy"), "demo"], work, env)
    host = re.search(r"host C: ([\d,]+) output spikes identical to the simulator", out)
    m4 = re.search(r"Cortex-M4 under QEMU: ([\d,]+) output spikes identical to the simulator", out)
    assert host and m4, out
    assert int(host.group(1).replace(",", "")) == 200 * int(m4.group(1).replace(",", "")) // 20
    demo_accuracy = float(re.search(r"integer ([\d.]+)%", out).group(1))
    assert demo_accuracy >= 95.0, f"the bundled model scored {demo_accuracy}% on the bundled sample"
    assert re.search(r"instructions per inference on the Cortex-M4: [\d,]+", out)
    assert (work / "out" / "demo" / "model.qsnn").is_file()
    assert not list(work.glob("firmware*")), "firmware must build into a writable temporary folder"
