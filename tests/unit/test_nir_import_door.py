"""What ``import`` says at the door: which targets can build the graph, saturation warnings only where the
chosen width can saturate, flat inputs on image data, the check on real test samples, and the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from click.testing import CliRunner  # noqa: E402

from qsnn_deploy.cli import cli  # noqa: E402
from qsnn_deploy.data.frames import fit_frames  # noqa: E402
from qsnn_deploy.errors import QsnnError  # noqa: E402
from qsnn_deploy.interop.nir_import import import_nir  # noqa: E402
from qsnn_deploy.ir.io import load_graph  # noqa: E402
from qsnn_deploy.ir.ranges import analyse  # noqa: E402
from qsnn_deploy.ir.saturation import membrane_bound  # noqa: E402
from qsnn_deploy.sim import simulate  # noqa: E402
from qsnn_deploy.targets import target_names  # noqa: E402
from qsnn_deploy.targets.buildable import target_verdicts  # noqa: E402


def _mlp(neuron, n_in: int = 16, shape=(16,), seed: int = 0):
    rng = np.random.default_rng(seed)
    nodes = {
        "input": nir.Input(input_type={"input": np.array(shape)}),
        "fc1": nir.Affine(
            weight=rng.normal(0, 0.5, (16, n_in)).astype(np.float32), bias=np.zeros(16, np.float32)
        ),
        "n1": neuron(16),
        "fc2": nir.Linear(weight=rng.normal(0, 0.5, (4, 16)).astype(np.float32)),
        "n2": neuron(4),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)


def if_node(n):
    return nir.IF(r=np.ones(n), v_threshold=np.ones(n))


def zero_leak(n):  # tau = inf: a LIF without leak, as snnTorch writes beta = 1
    return nir.LIF(tau=np.full(n, np.inf), r=np.full(n, np.inf), v_leak=np.zeros(n), v_threshold=np.ones(n))


@pytest.mark.parametrize("neuron", [if_node, zero_leak], ids=["IF", "zero-leak"])
def test_saturation_warning_fires_only_where_the_width_can_saturate(neuron) -> None:
    def sat(state_bits: int, steps: int) -> list[str]:
        result = import_nir(
            _mlp(neuron), bits=4, num_steps=steps, dt=1.0, convention="sinabs", state_bits=state_bits
        )
        return [w for w in result.warnings if "saturate" in w]

    assert sat(32, 25) == [], (
        "int32 over 25 steps cannot saturate: no warning (it used to say 'use --state-bits 32')"
    )
    at16 = sat(16, 25)
    assert [w.split(":")[0] for w in at16] == ["n1", "n2"] and all("use --state-bits 32" in w for w in at16)
    at32 = sat(32, 3000)  # over 3000 steps even int32 can: the warning is true and gives no wrong advice
    assert at32 and all("int32" in w and "--state-bits 32" not in w for w in at32)


def test_membrane_bound_holds_on_the_simulator() -> None:
    """The bound the warning uses is sound: the simulated membrane never exceeds it (int32, no clamp reached)."""
    graph = import_nir(_mlp(if_node), bits=4, num_steps=20, dt=1.0, convention="sinabs").graph
    x = np.random.default_rng(1).integers(0, 256, (64, 1, 1, 16)).astype(np.uint8)
    run = simulate(graph, x, 20, record=True)
    ranges = analyse(graph)
    for i, op in enumerate(graph.ops):
        if op.kind == "lif":
            current = max(
                max(abs(int(v)) for v in ranges[i - 1].lo), max(abs(int(v)) for v in ranges[i - 1].hi)
            )
            assert np.abs(run.layer_membranes[op.name].astype(np.int64)).max() <= membrane_bound(
                op, current, 20
            )


def test_flat_frames_fit_in_c_h_w_order_and_mismatches_name_the_fix() -> None:
    x = np.arange(2 * 3 * 4 * 5, dtype=np.uint8).reshape(2, 3, 4, 5)
    flat = fit_frames(x, (1, 1, 60), "dataset d")
    np.testing.assert_array_equal(flat[:, 0, 0], x.reshape(2, -1))
    stream = np.zeros((2, 7, 3, 4, 5), np.uint8)
    assert fit_frames(stream, (1, 1, 60), "d").shape == (2, 7, 1, 1, 60)
    with pytest.raises(QsnnError, match=r"gives frames of shape \(3, 4, 5\), the model takes \(3, 5, 4\): .*"
                                        r"--input-shape 3,4,5") as err:  # fmt: skip
        fit_frames(x, (3, 5, 4), "dataset d")
    assert "trained on" not in str(err.value) and "made for" not in str(err.value)
    with pytest.raises(QsnnError, match=r"60 values per frame against 64: pick the dataset"):
        fit_frames(x, (1, 8, 8), "dataset d")


def test_input_shape_makes_a_flat_graph_take_frames_with_the_same_spikes() -> None:
    graph = _mlp(if_node, n_in=64, shape=(64,))
    flat = import_nir(graph, bits=4, num_steps=6, dt=1.0, convention="sinabs").graph
    framed = import_nir(graph, bits=4, num_steps=6, dt=1.0, convention="sinabs", input_shape=(1, 8, 8)).graph
    assert flat.input.shape == (1, 1, 64) and framed.input.shape == (1, 8, 8)
    x = np.random.default_rng(0).integers(0, 256, (16, 1, 8, 8)).astype(np.uint8)
    a, b = simulate(flat, x.reshape(16, 1, 1, 64), 6), simulate(framed, x, 6)
    np.testing.assert_array_equal(a.output_spikes, b.output_spikes)
    assert a.counts.sum() > 0
    with pytest.raises(QsnnError, match="--input-shape 1,8,9 has 72 elements, the graph's input"):
        import_nir(graph, bits=4, num_steps=6, dt=1.0, convention="sinabs", input_shape=(1, 8, 9))


def test_targets_are_named_buildable_or_with_the_reason() -> None:
    targets = target_verdicts(
        import_nir(_mlp(if_node), bits=8, num_steps=4, dt=1.0, convention="sinabs").graph
    )
    assert targets["c"] is None and targets["onnx"] is None
    assert "weights_fit_nibbles" in targets["verilog"], "8-bit weights: the Verilog target stores 4"
    graph = import_nir(_mlp(if_node), bits=4, num_steps=4, dt=1.0, convention="sinabs").graph
    assert target_verdicts(graph)["verilog"] is None


def _cnn_no_target_builds(path: Path) -> None:
    """conv -> IF -> sum pool 2 on a 5x5 map -> padded conv: the pool drops a row the padded conv would read,
    so the layer plan (shared by every target) cannot fold it."""
    rng = np.random.default_rng(0)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 5, 5])}),
        "c1": nir.Conv2d(input_shape=(5, 5), weight=rng.normal(0, 0.5, (2, 1, 3, 3)).astype(np.float32), stride=1,
                         padding=1, dilation=1, groups=1, bias=np.zeros(2, np.float32)),
        "s1": nir.IF(r=np.ones((2, 5, 5)), v_threshold=np.ones((2, 5, 5))),
        "p1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "c2": nir.Conv2d(input_shape=(2, 2), weight=rng.normal(0, 0.5, (3, 2, 3, 3)).astype(np.float32), stride=1,
                         padding=1, dilation=1, groups=1, bias=np.zeros(3, np.float32)),
        "s2": nir.IF(r=np.ones((3, 2, 2)), v_threshold=np.ones((3, 2, 2))),
        "flat": nir.Flatten(input_type={"input": np.array([3, 2, 2])}, start_dim=0),
        "fc": nir.Linear(weight=rng.normal(0, 0.5, (4, 12)).astype(np.float32)),
        "s3": nir.IF(r=np.ones(4), v_threshold=np.ones(4)),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }  # fmt: skip
    names = list(nodes)
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False))


def test_command_line_says_what_it_decided_and_who_can_build(tmp_path: Path) -> None:
    nir.write(tmp_path / "g.nir", _mlp(if_node))
    runner = CliRunner()
    args = ["import", str(tmp_path / "g.nir"), "--num-steps", "5", "--out", str(tmp_path / "g.qsnn")]
    run = runner.invoke(cli, args)
    assert run.exit_code == 0, run.output
    out = run.output
    assert (
        "convention: sinabs (detected: r = 1 and IF nodes only)" in out
        and "dt: 1 (sinabs's documented step)" in out
    )
    every = ", ".join(target_names())
    assert f"target {every}: buildable" in out
    assert load_graph(tmp_path / "g.qsnn").metadata["nir_import"]["convention"] == "sinabs"
    _cnn_no_target_builds(tmp_path / "cnn.nir")
    run = runner.invoke(
        cli, ["import", str(tmp_path / "cnn.nir"), "--num-steps", "3", "--out", str(tmp_path / "c.qsnn")]
    )
    assert run.exit_code == 0 and f"target {every}: design rule 'layer_pattern'" in run.output
    assert "no registered target can build" in run.output and (tmp_path / "c.qsnn").is_file()


def test_check_on_real_mnist_samples_with_a_flat_input(data_dir: Path) -> None:
    graph = _mlp(if_node, n_in=784, shape=(784,))
    result = import_nir(graph, bits=4, num_steps=5, dt=1.0, convention="sinabs", dataset="mnist", limit=40,
                        data_dir=data_dir)  # fmt: skip
    assert result.graph.input.shape == (1, 28, 28) and "flattened in C, H, W order" in result.notes[0]
    check = result.check
    assert check["samples"] == 40 and check["dataset"] == "mnist"
    for key in ("nir_float_accuracy", "float_accuracy", "int_accuracy", "prediction_agreement"):
        assert 0.0 <= check[key] <= 1.0
    from qsnn_deploy.data import load_dataset

    labels = load_dataset("mnist", "test", data_dir=data_dir, limit=40).labels
    assert check["int_accuracy"] == pytest.approx(float(np.mean(check["int_predictions"] == labels)))


def test_verify_and_simulate_feed_mnist_frames_to_a_flat_model(data_dir: Path) -> None:
    from qsnn_deploy.commands.simulate import simulate_dataset
    from qsnn_deploy.commands.targets import test_inputs

    graph = import_nir(
        _mlp(if_node, n_in=784, shape=(784,)), bits=4, num_steps=4, dt=1.0, convention="sinabs"
    ).graph
    assert graph.input.shape == (1, 1, 784)
    inputs, labels = test_inputs(graph, "mnist", data_dir, 12, 4)
    from qsnn_deploy.data import load_dataset

    frames = load_dataset("mnist", "test", data_dir=data_dir, limit=12).inputs
    np.testing.assert_array_equal(inputs, frames.reshape(12, 1, 1, 784))
    report = simulate_dataset(graph, "mnist", data_dir=data_dir, limit=12, progress=False)
    assert report.samples == 12 and report.int_accuracy is not None


def test_a_stream_dataset_gives_the_encoding_and_steps_a_nir_graph_lacks(data_dir: Path) -> None:
    graph = _mlp(if_node, n_in=2 * 34 * 34, shape=(2, 34, 34))
    result = import_nir(
        graph, bits=8, dt=1.0, convention="sinabs", dataset="nmnist", data_dir=data_dir, limit=3
    )
    assert result.graph.num_steps == 100 and result.graph.input.encoding == "stream"
    assert "encoding stream and 100 steps (its default time bins) from dataset nmnist" in result.notes[0]
    assert result.check["samples"] == 3
    given = import_nir(graph, bits=8, num_steps=7, dt=1.0, convention="sinabs", dataset="nmnist",
                       data_dir=data_dir, limit=2)  # fmt: skip
    assert given.graph.num_steps == 7, "--num-steps overrides the dataset's time bins"


def test_an_encoding_that_is_not_the_datasets_kind_is_one_line() -> None:
    graph = _mlp(if_node, n_in=2 * 34 * 34, shape=(2, 34, 34))
    with pytest.raises(
        QsnnError, match="dataset nmnist gives stream inputs but the model's encoding is static"
    ):
        import_nir(
            graph, bits=8, num_steps=5, encoding="static", dt=1.0, convention="sinabs", dataset="nmnist"
        )


def test_a_static_dataset_does_not_choose_the_number_of_steps() -> None:
    with pytest.raises(QsnnError, match="records no num_steps; pass --num-steps"):
        import_nir(
            _mlp(if_node, n_in=784, shape=(784,)), bits=4, dt=1.0, convention="sinabs", dataset="mnist"
        )


def test_input_shape_never_reshapes_a_frame() -> None:
    """A 2-D (H, W) input is a frame whose layout the conv depends on: --input-shape only shapes flat inputs
    (an 8x8 conv input as 1x4x16 used to import silently, the conv sliding over another image)."""
    rng = np.random.default_rng(0)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([8, 8])}),
        "conv": nir.Conv2d(input_shape=(8, 8), weight=rng.normal(0, 0.5, (2, 1, 3, 3)).astype(np.float32),
                           stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(2, np.float32)),
        "n1": if_node(2 * 8 * 8),
        "flat": nir.Flatten(input_type={"input": np.array([2, 8, 8])}, start_dim=0),
        "fc": nir.Linear(weight=rng.normal(0, 0.5, (3, 128)).astype(np.float32)),
        "n2": if_node(3),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }  # fmt: skip
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)
    with pytest.raises(QsnnError, match="already a frame; --input-shape only shapes a flat input"):
        import_nir(graph, bits=4, num_steps=3, dt=1.0, convention="sinabs", input_shape=(1, 4, 16))
