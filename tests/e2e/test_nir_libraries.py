"""Graphs written by the real libraries: snnTorch, Rockpool, Spyx and Norse each trained an MNIST MLP here and
wrote it with its own NIR export (tests/fixtures/nir/<library>/: the .nir file, the script that made it and
meta.json with the library's version and its own float accuracy on the first 500 MNIST test images).

Each graph is imported at 8 bits with no flag beyond `--num-steps` (NIR has no notion of time steps), the
integer model is simulated on the same 500 real images and must be within 2 percentage points of the library's
own accuracy, and the C target (host) must match the simulator bit for bit. The import's float evaluation of the
graph must give snnTorch's and Norse's own accuracy (they step NIR's equations)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.cli_run import run_main
from tests.toolchains import require_tools

pytest.importorskip("nir")
pytest.importorskip("h5py")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nir"
# The library each fixture comes from, and the convention the importer must detect from the graph alone.
LIBRARIES = {"snntorch": "snntorch", "rockpool": "rockpool", "spyx": "spyx", "norse": "norse"}
TOLERANCE = 0.02  # the bound: integer within 2 percentage points of the library's float accuracy
# snnTorch and Norse step NIR's own equations (forward Euler): the project's float evaluator of the graph must
# give their accuracy to a sample or two; Rockpool and Spyx step differently (docs/targets/nir.md, Libraries).
EULER = {"snntorch", "norse"}
VERIFY_SAMPLES = 20


def _meta(library: str) -> dict:
    return json.loads((FIXTURES / library / "meta.json").read_text())


@pytest.fixture(scope="module")
def mnist_test(data_dir: Path):
    from qsnn_deploy.data import load_dataset

    return load_dataset("mnist", "test", data_dir=data_dir, limit=500)


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_fixture_records_where_it_came_from(library: str, mnist_test) -> None:
    """The fixture is small, names the library version and the command that wrote it, and its stored float
    predictions are the ones its stored accuracy was measured from, on the real test labels."""
    folder = FIXTURES / library
    meta = _meta(library)
    graph_file = folder / f"{library}_mlp.nir"
    assert graph_file.stat().st_size < 500_000 and (folder / "make_fixture.py").is_file()
    assert meta["library"] == library and meta["library_version"] and meta["nir_version"]
    assert "make_fixture.py" in meta["command"] and meta["encoding"] == "static"
    predictions = np.frombuffer(meta["float_predictions"].encode(), np.uint8) - ord("0")
    assert meta["samples"] == "mnist test, first 500" and predictions.shape == mnist_test.labels.shape
    assert np.mean(predictions == mnist_test.labels) == pytest.approx(meta["float_accuracy"], abs=1e-9)
    assert meta["float_accuracy"] > 0.75, "the library's own network learned the digits"


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_library_graph_imports_at_its_accuracy_and_verifies_on_c(
    library: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    mnist_test,
    data_dir: Path,
) -> None:
    require_tools("gcc")
    from qsnn_deploy.interop.nir_import import import_nir
    from qsnn_deploy.ir.io import load_graph
    from qsnn_deploy.sim import simulate
    from qsnn_deploy.targets.verifier import verify

    meta = _meta(library)
    out_file = tmp_path / "model.qsnn"
    code, out, err = run_main(
        monkeypatch, capsys, "import", FIXTURES / library / f"{library}_mlp.nir",
        "--bits", 8, "--num-steps", meta["num_steps"], "--out", out_file,
    )  # fmt: skip
    assert code == 0, err
    assert f"convention: {LIBRARIES[library]}" in out, out
    graph = load_graph(out_file)
    assert [op.kind for op in graph.ops] == ["linear", "requantize", "lif"] * 2
    assert graph.num_steps == meta["num_steps"] and graph.input.encoding == "static"
    assert graph.input.scale == pytest.approx(meta["input_scale"])

    # The graphs take the flat (784,) image; the IR reads it in C, H, W order, which is numpy's reshape.
    inputs = mnist_test.inputs.reshape((len(mnist_test.inputs), *graph.input.shape))
    sim = simulate(graph, inputs)
    int_acc = float(np.mean(sim.predictions == mnist_test.labels))
    float_predictions = np.frombuffer(meta["float_predictions"].encode(), np.uint8) - ord("0")
    agreement = float(np.mean(sim.predictions == float_predictions))
    print(
        f"\n{library} {meta['library_version']}: library float {meta['float_accuracy']:.1%}, "
        f"integer (8-bit) {int_acc:.1%}, predictions agree {agreement:.1%}"
    )
    assert abs(int_acc - meta["float_accuracy"]) <= TOLERANCE

    # The float side of the import's real-data check: the graph's own weights under the detected convention.
    nir_file = FIXTURES / library / f"{library}_mlp.nir"
    check = import_nir(
        nir_file, bits=8, num_steps=meta["num_steps"], dataset="mnist", data_dir=data_dir, limit=500
    ).check
    bound = 0.004 if library in EULER else TOLERANCE
    assert abs(check["nir_float_accuracy"] - meta["float_accuracy"]) <= bound, check
    assert check["int_accuracy"] == pytest.approx(int_acc)

    verified = verify(graph, inputs[:VERIFY_SAMPLES], target="c", executor="host")
    assert verified.samples == VERIFY_SAMPLES and verified.compared.layer_values > 0


def test_rockpool_synaptic_neuron_imports_with_its_synapse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Rockpool's usual `LIFTorch` is written as `CubaLIF` with tau_syn = dt; under Rockpool's own step the
    synapse keeps exp(-1) of its current each step: since issue 25 the IR's synaptic op holds it (it was
    refused before), and the file is written."""
    from qsnn_deploy.ir.io import load_graph

    out_file = tmp_path / "model.qsnn"
    code, _, err = run_main(
        monkeypatch, capsys, "import", FIXTURES / "rockpool" / "rockpool_lif_synapse.nir",
        "--bits", 8, "--num-steps", 15, "--out", out_file,
    )  # fmt: skip
    assert code == 0 and out_file.exists(), err
    graph = load_graph(out_file)
    synaptic = [op for op in graph.ops if op.kind == "synaptic"]
    assert [op.name for op in synaptic] == ["layer1_liftorch_synaptic", "layer3_liftorch_synaptic"]
    assert all(abs(op.decay - np.exp(-1)) < 2e-5 for op in synaptic)


@pytest.mark.slow
@pytest.mark.parametrize("library", ["snntorch", "rockpool"])
def test_fixture_script_remakes_the_fixture(library: str, tmp_path: Path, data_dir: Path) -> None:
    """The committed fixture is what its script makes: rerun it (the libraries that live in this environment;
    about a minute each on one thread) and compare the graph's nodes and shapes, the library's accuracy and
    its predictions. A different CPU may round the training differently, hence agreement, not identity."""
    import subprocess

    nir = pytest.importorskip("nir")
    pytest.importorskip(library)
    script = FIXTURES / library / "make_fixture.py"
    subprocess.run([sys.executable, str(script), str(data_dir / "mnist"), str(tmp_path)], check=True)
    name = f"{library}_mlp.nir"
    # Rockpool's (and Norse's) input (1, 784) fails nir.read's type check; the nodes read without it
    old, new = (nir.read(path, type_check=False) for path in (FIXTURES / library / name, tmp_path / name))
    assert sorted(old.edges) == sorted(new.edges)
    for key, node in old.nodes.items():
        assert type(new.nodes[key]) is type(node)
        for field in ("weight", "bias", "tau", "r", "v_threshold"):
            if hasattr(node, field):
                assert np.shape(getattr(new.nodes[key], field)) == np.shape(getattr(node, field))
    meta, remade = _meta(library), json.loads((tmp_path / "meta.json").read_text())
    assert abs(remade["float_accuracy"] - meta["float_accuracy"]) <= TOLERANCE
    agree = np.mean(
        [a == b for a, b in zip(meta["float_predictions"], remade["float_predictions"], strict=True)]
    )
    assert agree > 0.95
