"""Issue 23, the smaller things (item 8), with real processes and real tools:

- two codegens into one folder at the same time: the second is refused in one line (a lock on the folder), and
  whatever the timing, the folder ends as exactly one codegen's files, never a mix;
- ``verify --from "dir with space"``: the Verilator and Cortex-M builds (make) split the path; every
  executor now builds from such a folder;
- a verify killed by SIGTERM removes its temporary folder (and its compilers' temporary files).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.targets import generate
from tests.cli_run import error_lines, run_main
from tests.toolchains import require_hls, require_tools

QSNN = [sys.executable, "-m", "qsnn_deploy.cli"]
BUSY = "another qsnn-deploy codegen is writing into"


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    """Two tiny IRs with different weights (every data file differs between their renders)."""
    root = tmp_path_factory.mktemp("models")
    return tuple(
        save_graph(random_graph("tiny", seed, num_steps=4), root / f"m{seed}.qsnn") for seed in (0, 1)
    )


# --- d. one codegen at a time per folder ----------------------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from qsnn_deploy.atomic import folder_lock
with folder_lock(Path(sys.argv[1]), "busy"):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_codegen_while_one_writes_is_refused_in_one_line(tmp_path, models) -> None:
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        second = subprocess.run(
            [*QSNN, "codegen", str(models[0]), "--target", "c", "--out", str(out)],
            capture_output=True,
            text=True,
        )
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2, second.stderr
    assert error_lines(second.stderr) == [
        f"error: {BUSY} {out}, or a verify --from is reading it; wait for it to finish, or pick another --out"
    ]
    assert "Traceback" not in second.stderr and list(out.iterdir()) == [], "the refused one wrote nothing"
    done = subprocess.run([*QSNN, "codegen", str(models[0]), "--target", "c", "--out", str(out)])
    assert done.returncode == 0, "the lock went with the process that held it"


def test_concurrent_codegens_never_mix_their_files(tmp_path, models) -> None:
    fresh = []
    for seed in (0, 1):
        generate(random_graph("tiny", seed, num_steps=4), "c", tmp_path / f"fresh{seed}")
        fresh.append(tree(tmp_path / f"fresh{seed}"))
    assert fresh[0] != fresh[1]
    out = tmp_path / "out"
    for _ in range(3):
        runs = [
            subprocess.Popen(
                [*QSNN, "codegen", str(m), "--target", "c", "--out", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for m in models
        ]
        for run in runs:
            err = run.communicate()[1]
            assert run.returncode == 0 or (run.returncode == 2 and BUSY in err), err
        assert tree(out) in fresh, "the folder holds one codegen's files, not a mix"


# --- f. a --from folder whose path has a space -----------------------------------------------------------------

EXECUTORS = {
    "c/host": (("gcc",), None),
    "c/cortex-m": (("arm-none-eabi-gcc", "make", "qemu-system-arm"), None),
    "hls/csim": ((), require_hls),
    "verilog/verilator": (("verilator", "make"), None),
    "verilog/icarus": (("iverilog", "vvp"), None),
}


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_verify_from_a_folder_with_a_space(monkeypatch, capsys, tmp_path, models, executor) -> None:
    tools, check = EXECUTORS[executor]
    require_tools(*tools)
    if check is not None:
        check()
    target, name = executor.split("/")
    folder = tmp_path / "dir with space" / f"{target} out"
    graph = random_graph("tiny", 0, num_steps=4)
    inputs = tmp_path / "inputs.npy"
    np.save(inputs, random_inputs(graph, 2).astype(np.uint8))
    code, out, err = run_main(monkeypatch, capsys, "codegen", models[0], "--target", target, "--out", folder)
    assert code == 0, err
    args = ["verify", models[0], "--target", target, "--executor", name, "--from", folder, "--inputs", inputs]
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 0, out + err
    assert f"verified {executor}: 2 samples" in out and f"from the files in {folder}" in out


# --- g. SIGTERM runs the clean-up ------------------------------------------------------------------------------


def test_a_verify_killed_by_sigterm_removes_its_temporary_folder(tmp_path, models) -> None:
    require_tools(
        "verilator", "make"
    )  # its build runs long enough to be stopped halfway, with make's children
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    graph = random_graph("tiny", 0, num_steps=4)
    inputs = tmp_path / "inputs.npy"
    np.save(inputs, random_inputs(graph, 2).astype(np.uint8))
    env = dict(os.environ, TMPDIR=str(tmp), QSNN_BUILD_CACHE="")  # no cache: the build must run, to be cut
    args = [*QSNN, "verify", str(models[0]), "--target", "verilog", "--inputs", str(inputs)]
    run = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp.glob("qsnn-verify-*/obj_dir/*.cpp")):  # Verilator has written C++: the build is on
        assert run.poll() is None and time.monotonic() < deadline, "the build never started"
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGTERM and stderr.rstrip().endswith("terminated"), stderr
    assert "Traceback" not in stderr
    time.sleep(1)  # a compiler left running would still be writing into $TMPDIR
    assert list(tmp.iterdir()) == [], "the temporary folder and every compiler's temporary files are gone"
