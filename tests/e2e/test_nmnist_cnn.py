"""Issue 22's acceptance network: the NIR paper's N-MNIST CNN shape with IF neurons and sum pools on spikes,
trained here on the real N-MNIST subset (examples/nmnist_cnn/train.py) and written to NIR by Sinabs 3.1.3
itself (tests/fixtures/nir/sinabs/make_fixture.py; meta.json holds Sinabs' own float accuracy on the 100 real
test recordings, measured on the same frames). Imported as the file stands (Sinabs' node names '0'..'12', no dt,
no reset recorded), the 8-bit integer model is within 2 points of Sinabs' float accuracy on those 100
recordings and verifies bit-exact on c/host and onnx; c/cortex-m, hls, verilog and the 4-bit import through
the command line are opt-in (-m slow)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cli_run import run_main  # noqa: E402
from toolchains import require_tools  # noqa: E402

pytest.importorskip("nir")

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nir" / "sinabs"
NIR_FILE = FIXTURE / "nmnist_cnn.nir"
META = json.loads((FIXTURE / "meta.json").read_text())
STEPS = 100  # the dataset's default: 100 bins of 3 ms, one whole recording
VERIFY_SAMPLES = 2  # ~3 s per sample and target on 2 busy cores


@pytest.fixture(scope="module")
def test_set(data_dir: Path):
    from qsnn_deploy.data import load_dataset

    return load_dataset("nmnist", "test", data_dir=data_dir)


def _import(data_dir: Path, bits: int, check_samples: int):
    from qsnn_deploy.interop.nir_import import import_nir

    return import_nir(
        NIR_FILE, bits=bits, num_steps=STEPS, encoding="stream", dataset="nmnist", data_dir=data_dir,
        limit=check_samples,
    )  # fmt: skip


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory, data_dir: Path):
    """The 8-bit import, saved and read back (the save is where Sinabs' node names used to be refused). Its
    float-versus-integer check runs on 2 recordings only: the float chain costs ~1 s per recording."""
    from qsnn_deploy.ir.io import load_graph, save_graph

    result = _import(data_dir, 8, 2)
    path = tmp_path_factory.mktemp("nmnist_cnn") / "model.qsnn"
    save_graph(result.graph, path)
    return result, load_graph(path)


def test_the_fixture_is_sinabs_own_file() -> None:
    assert META["versions"]["sinabs"] == "3.1.3" and META["versions"]["nir"] == "1.0.4"
    assert META["samples"] == {"dataset": "nmnist", "split": "test", "count": 100, "num_steps": STEPS}
    assert len(META["sinabs_predictions"]) == 100


def test_sinabs_graph_imports_as_the_sinabs_network(imported) -> None:
    result, graph = imported
    assert result.settings.convention == "sinabs" and result.settings.dt == 1.0
    kinds = [op.kind for op in graph.ops]
    # Sinabs' layout: IF -> SumPool2d -> Conv2d, twice (the pools act on spikes)
    assert [kinds[i + 1] for i, kind in enumerate(kinds[:-1]) if kind == "sumpool2d"] == ["conv2d", "linear"]
    assert [kinds[i - 1] for i, kind in enumerate(kinds) if kind == "sumpool2d"] == ["lif", "lif"]
    lifs = graph.lif_layers()
    assert len(lifs) == 5
    assert all(op.reset == "subtract" and op.decay_multiplier == 1 << op.decay_shift for op in lifs)
    assert graph.input.shape == (2, 34, 34) and graph.input.encoding == "stream" and graph.num_steps == STEPS
    nodes = graph.metadata["nir_import"]["nodes"]  # IR op name -> Sinabs' own node name, kept as a label
    assert [nodes[op.name] for op in lifs] == ["1", "3", "6", "10", "12"]
    for target in ("c", "hls", "onnx"):
        assert result.targets[target] is None, (target, result.targets[target])


def test_integer_accuracy_at_8_bits_is_within_2_points_of_sinabs(imported, test_set) -> None:
    from qsnn_deploy.sim import simulate

    _, graph = imported
    sinabs_acc = META["sinabs_float_accuracy"]
    sinabs_pred = np.array([int(c) for c in META["sinabs_predictions"]])
    sim = simulate(graph, test_set.inputs)
    int_acc = float(np.mean(sim.predictions == test_set.labels))
    agree = float(np.mean(sim.predictions == sinabs_pred))
    print(f"\nSinabs float {sinabs_acc:.1%}, 8-bit integer {int_acc:.1%}, predictions agree {agree:.1%}")
    assert len(test_set) == 100 and sim.predictions.shape == (100,)
    assert float(np.mean(sinabs_pred == test_set.labels)) == pytest.approx(sinabs_acc)
    assert sinabs_acc > 0.8, "the trained network separates the digits"
    assert abs(int_acc - sinabs_acc) <= 0.02


@pytest.mark.slow
def test_our_float_evaluator_of_the_graph_is_sinabs_model(data_dir: Path, test_set) -> None:
    """The import's float side (NIR's discrete IF under the sinabs convention, weights at 8 bits) on all 100
    recordings: the same predictions as Sinabs up to rounding at the threshold, and the integer model beside."""
    check = _import(data_dir, 8, 100).check
    sinabs_pred = np.array([int(c) for c in META["sinabs_predictions"]])
    ours_vs_sinabs = float(np.mean(check["float_predictions"] == sinabs_pred))
    print(
        f"\nSinabs float {META['sinabs_float_accuracy']:.1%}; ours: float {check['float_accuracy']:.1%}, "
        f"8-bit integer {check['int_accuracy']:.1%}, agreement {check['prediction_agreement']:.1%}, our float "
        f"vs Sinabs {ours_vs_sinabs:.1%}"
    )
    assert check["samples"] == 100 and check["dataset"] == "nmnist"
    assert ours_vs_sinabs >= 0.97
    assert abs(check["float_accuracy"] - META["sinabs_float_accuracy"]) <= 0.02


@pytest.mark.parametrize("target", ["c", "onnx"])
def test_verify_is_bit_exact(imported, test_set, target: str) -> None:
    from qsnn_deploy.verify import verify

    require_tools("gcc") if target == "c" else pytest.importorskip("onnxruntime")
    _, graph = imported
    result = verify(graph, test_set.inputs[:VERIFY_SAMPLES], target=target)
    assert result.samples == VERIFY_SAMPLES and result.compared.layer_values > 0
    assert all(result.sim.spike_counts[op.name].sum() > 0 for op in graph.lif_layers())


@pytest.mark.slow
def test_cortex_m_and_hls_are_bit_exact_at_8_bits(imported, test_set) -> None:
    from qsnn_deploy.verify import verify

    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make", "g++")
    _, graph = imported
    result = verify(graph, test_set.inputs[:VERIFY_SAMPLES], target="c", executor="cortex-m")
    assert result.compared.layer_digests == VERIFY_SAMPLES * STEPS * len(graph.lif_layers())
    result = verify(graph, test_set.inputs[:VERIFY_SAMPLES], target="hls")
    assert result.compared.layer_values > 0


@pytest.mark.slow
def test_4_bits_through_the_command_line_on_every_target(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The user's commands: import at 4 bits (float and integer accuracy on the 100 recordings printed), then
    verify on c/host, c/cortex-m, hls, verilog and onnx."""
    require_tools("gcc", "arm-none-eabi-gcc", "qemu-system-arm", "make", "g++", "verilator")
    model = tmp_path / "model4.qsnn"
    code, out, err = run_main(
        monkeypatch, capsys, "import", NIR_FILE, "--bits", 4, "--out", model, "--num-steps", STEPS,
        "--encoding", "stream", "--dataset", "nmnist", "--data-dir", data_dir, "--limit", 100,
    )  # fmt: skip
    assert code == 0, err
    assert "convention: sinabs" in out
    found = re.search(r"float accuracy ([\d.]+)%, integer accuracy ([\d.]+)%", out)
    assert found, out
    print(f"\n4-bit import: {found.group(0)}")
    assert float(found.group(2)) / 100 >= META["sinabs_float_accuracy"] - 0.05  # measured: 87% against 89%
    for target, extra in (
        ("c", ()),
        ("c", ("--executor", "cortex-m")),
        ("hls", ()),
        ("verilog", ("--option", "part=ecp5-45k")),  # ~77 block RAMs: more than the default ECP5-25k's 56
        ("onnx", ()),
    ):
        code, out, err = run_main(
            monkeypatch, capsys, "verify", model, "--target", target, *extra, "--limit", VERIFY_SAMPLES,
            "--data-dir", data_dir,
        )  # fmt: skip
        assert code == 0, (target, extra, err)
        assert f"verified {target}/" in out and "identical to the simulator" in out, (target, extra, out)
