"""``--dataset smnist`` downstream of train: simulate, verify, report and import's checks read sequential MNIST
through ``Dataset.as_frames``, which gives each 28-pixel row as one ``(28, 1, 1)`` stream frame, the input
export writes for the recurrent preset."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from click.testing import CliRunner

from qsnn_deploy.cli import cli
from qsnn_deploy.commands import targets as target_commands
from qsnn_deploy.data import load_dataset
from qsnn_deploy.data.paths import dataset_folders
from qsnn_deploy.data.seq_mnist import load_seq_mnist
from qsnn_deploy.export.api import export_model
from qsnn_deploy.interop.nir_door import dataset_defaults
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.models import build_model, model_config
from qsnn_deploy.sim import simulate


def test_as_frames_gives_each_row_as_one_stream_frame(data_dir):
    rows = load_dataset("smnist", "test", data_dir=data_dir, limit=3)
    frames = rows.as_frames()
    assert frames.kind == "stream" and frames.inputs.shape == (3, 28, 28, 1, 1)
    assert np.array_equal(frames.inputs[:, :, :, 0, 0], rows.inputs)  # step t, feature f = row t, pixel f
    assert np.array_equal(frames.labels, rows.labels) and frames.input_scale == rows.input_scale
    static = load_dataset("mnist", "test", data_dir=data_dir, limit=2)
    assert static.as_frames() is static  # static and stream samples are already frames


def test_smnist_reads_the_mnist_folder_and_feeds_28_stream_steps(data_dir):
    assert dataset_folders("smnist", data_dir) == dataset_folders("mnist", data_dir)
    assert dataset_defaults("smnist", {}, None, None, []) == ("stream", 28)  # import's defaults


def _tiny_recurrent_graph():
    config = dataclasses.replace(model_config("smnist"), recurrent_hidden=12)
    torch.manual_seed(0)
    model = build_model(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4.0)  # a random 4-bit net that spikes on real rows
    return export_model(model, num_steps=28).graph


def test_simulate_verify_and_report_take_dataset_smnist(data_dir, tmp_path, monkeypatch):
    graph = _tiny_recurrent_graph()
    assert graph.input.shape == (28, 1, 1) and graph.input.encoding == "stream"
    rows, labels = load_seq_mnist(data_dir, "test", limit=4)
    expected = simulate(graph, rows.reshape(4, 28, 28, 1, 1), 28).predictions

    # verify and report read their samples through test_data
    name, inputs, got_labels = target_commands.test_data(graph, "smnist", data_dir, 4, 28, None)
    assert name == "smnist" and np.array_equal(inputs, rows.reshape(4, 28, 28, 1, 1))
    assert np.array_equal(got_labels, labels)

    save_graph(graph, tmp_path / "m.qsnn")
    monkeypatch.setenv("QSNN_DATA_DIR", str(data_dir))
    args = ["simulate", "--model", str(tmp_path / "m.qsnn"), "--dataset", "smnist", "--limit", "4"]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 0, run.output
    assert "smnist test set: 4 samples x 28 steps" in run.output
    accuracy = float(np.mean(expected == labels))
    assert f"integer accuracy      {accuracy:.2%}" in run.output
