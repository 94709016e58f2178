"""The README's main command: the offline demo on the bundled model and MNIST sample runs end to end."""

from __future__ import annotations

import os
import re
import subprocess

from tests.toolchains import require_tools


def test_demo_runs_offline_and_verifies_host_and_cortex_m(tmp_path):
    require_tools("gcc", "arm-none-eabi-gcc", "qemu-system-arm")
    env = {k: v for k, v in os.environ.items() if k != "QSNN_DATA_DIR"}  # bundled data only
    env["HOME"] = str(tmp_path)  # and no dataset cache to fall back on
    proc = subprocess.run(  # as the README's quick start runs it: the default, relative --out
        ["qsnn-deploy", "demo"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    host = re.search(r"host C: ([\d,]+) output spikes identical to the simulator", out)
    m4 = re.search(r"Cortex-M4 under QEMU: ([\d,]+) output spikes identical to the simulator", out)
    assert host and m4, out
    assert int(host.group(1).replace(",", "")) == 200 * int(m4.group(1).replace(",", "")) // 20
    accuracy = float(re.search(r"integer ([\d.]+)%", out).group(1))
    assert accuracy >= 95.0, f"the bundled model scored {accuracy}% on the bundled sample"
    assert re.search(r"instructions per inference on the Cortex-M4: [\d,]+", out)
    assert (tmp_path / "out" / "demo" / "model.qsnn").is_file()
