"""The pipeline from Python for an in-memory model: an nn.Sequential of Brevitas and snnTorch layers.

Trains it briefly on MNIST, exports it to the integer IR, simulates it, generates C and verifies the C bit for
bit against the simulator. Run from the repository root: ``python examples/python_api.py [--iters N]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import brevitas.nn as qnn
import numpy as np
import snntorch as snn
import torch
from snntorch import functional as SF
from snntorch import surrogate, utils
from torch import nn

from qsnn_deploy.data import load_dataset
from qsnn_deploy.export import export_model
from qsnn_deploy.ir import save_graph
from qsnn_deploy.sim import simulate
from qsnn_deploy.targets import generate
from qsnn_deploy.targets.verifier import verify_c

STEPS = 10


def build() -> nn.Sequential:
    grad = surrogate.fast_sigmoid(slope=13.84)
    return nn.Sequential(
        qnn.QuantConv2d(1, 8, 5, bias=False, weight_bit_width=4),
        nn.AvgPool2d(2),
        nn.BatchNorm2d(8),
        snn.Leaky(beta=0.95, threshold=1.0, spike_grad=grad, init_hidden=True),
        qnn.QuantConv2d(8, 16, 5, bias=False, weight_bit_width=4),
        nn.AvgPool2d(2),
        nn.BatchNorm2d(16),
        snn.Leaky(beta=0.95, threshold=1.0, spike_grad=grad, init_hidden=True),
        nn.Flatten(),
        qnn.QuantLinear(16 * 4 * 4, 10, bias=False, weight_bit_width=4),
        snn.Leaky(beta=0.95, threshold=1.0, spike_grad=grad, init_hidden=True),
    )


def run(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    utils.reset(net)  # init_hidden neurons keep their membrane between calls
    return torch.stack([net(x) for _ in range(STEPS)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("out/python_api"))
    args = parser.parse_args()
    torch.manual_seed(0)

    train = load_dataset("mnist", "train", limit=args.iters * 64)
    test = load_dataset("mnist", "test", limit=200)
    net = build()
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-3)
    loss_fn = SF.mse_count_loss(correct_rate=0.8, incorrect_rate=0.2)
    for i in range(args.iters):
        x = torch.from_numpy(train.inputs[i * 64 : (i + 1) * 64].astype(np.float32)) / 255
        y = torch.from_numpy(train.labels[i * 64 : (i + 1) * 64])
        loss = loss_fn(run(net, x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    net.eval()
    result = export_model(
        net, num_steps=STEPS, input_shape=(1, 28, 28), input_scale=1 / 255, encoding="static",
        check_inputs=test.inputs[:32],
    )  # fmt: skip
    save_graph(result.graph, args.out / "model.qsnn")
    print(
        f"exported: float/integer prediction agreement {result.check['prediction_agreement']:.1%} on 32 images"
    )

    sim = simulate(result.graph, test.inputs)
    print(f"integer accuracy on {len(test)} test images: {np.mean(sim.predictions == test.labels):.1%}")

    files = generate(result.graph, "c", args.out / "c", "qsnn")
    print(f"generated {', '.join(p.name for p in files)}")
    checked = verify_c(result.graph, test.inputs[:50], workdir=args.out / "verify")
    print(f"C verified bit for bit: {checked.spikes_compared:,} output spikes on {checked.samples} images")


if __name__ == "__main__":
    main()
