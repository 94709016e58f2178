"""The front door for other people's networks: a class-based torch + snnTorch network with its own forward loop,
trained for a few iterations here on real MNIST, written to NIR by our writer, imported at 4 bits, simulated
(float and integer accuracy side by side) and verified bit for bit on the C target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.toolchains import require_tools

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
pytest.importorskip("nir")

from torch import nn  # noqa: E402

STEPS = 8
ITERATIONS = 40
BATCH = 64


class ConvNet(nn.Module):
    """A tutorial-style network: the layers in __init__ in the order forward uses them."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5)
        self.pool1 = nn.AvgPool2d(2)
        self.lif1 = snn.Leaky(beta=0.9)
        self.flat = nn.Flatten()
        self.fc1 = nn.Linear(8 * 12 * 12, 10)
        self.lif2 = snn.Leaky(beta=0.9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        cur1 = self.pool1(self.conv1(x))  # the same image at every step
        spikes = []
        for _ in range(STEPS):
            spk1, mem1 = self.lif1(cur1, mem1)
            spk2, mem2 = self.lif2(self.fc1(self.flat(spk1)), mem2)
            spikes.append(spk2)
        return torch.stack(spikes)


def _train(data_dir: Path) -> ConvNet:
    from qsnn_deploy.data import load_dataset

    train = load_dataset("mnist", "train", data_dir=data_dir, limit=BATCH * ITERATIONS)
    x = torch.from_numpy(train.inputs).float() / 255
    y = torch.from_numpy(train.labels).long()
    torch.manual_seed(0)
    net = ConvNet()
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    for i in range(ITERATIONS):
        counts = net(x[i * BATCH : (i + 1) * BATCH]).sum(0)
        loss = nn.functional.cross_entropy(counts, y[i * BATCH : (i + 1) * BATCH])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def test_trained_network_through_nir_to_the_c_target(tmp_path: Path, data_dir: Path) -> None:
    require_tools("gcc")
    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.interop.nir_import import import_nir
    from qsnn_deploy.interop.torch_nir import write_torch_nir
    from qsnn_deploy.ir.io import load_graph, save_graph
    from qsnn_deploy.sim import simulate
    from qsnn_deploy.targets.verifier import verify

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: more threads only contend (measured 10x slower)
    try:
        net = _train(data_dir)
        test = load_dataset("mnist", "test", data_dir=data_dir, limit=500)
        with torch.no_grad():
            float_counts = net(torch.from_numpy(test.inputs).float() / 255).sum(0).numpy()
    finally:
        torch.set_num_threads(threads)
    path = write_torch_nir(tmp_path / "net.nir", net, (1, 28, 28), num_steps=STEPS)
    result = import_nir(path, bits=4)
    save_graph(result.graph, tmp_path / "net.qsnn")
    graph = load_graph(tmp_path / "net.qsnn")
    assert [op.kind for op in graph.ops] == [
        "conv2d",
        "sumpool2d",
        "requantize",
        "lif",
        "linear",
        "requantize",
        "lif",
    ]
    assert all(op.reset == "subtract" for op in graph.lif_layers()), "snnTorch's Leaky resets by subtraction"
    assert graph.num_steps == STEPS and graph.input.scale == pytest.approx(1 / 255)

    sim = simulate(graph, test.inputs)
    float_acc = float(np.mean(float_counts.argmax(1) == test.labels))
    int_acc = float(np.mean(sim.predictions == test.labels))
    agreement = float(np.mean(sim.predictions == float_counts.argmax(1)))
    print(
        f"\nfloat {float_acc:.1%}, integer (4-bit weights) {int_acc:.1%}, predictions agree {agreement:.1%}"
    )
    assert float_acc > 0.6, "a few iterations of training already separate the digits"
    assert int_acc > float_acc - 0.05 and agreement > 0.85

    verified = verify(graph, test.inputs[:50], target="c", executor="host")
    assert verified.samples == 50 and verified.compared.layer_values > 0
