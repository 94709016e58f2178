"""Train the NIR paper's N-MNIST CNN shape with integrate-and-fire neurons on the real N-MNIST subset.

Conv(2->16, 5x5, stride 2, pad 1) -> IF -> Conv(16->32, 3x3, pad 1) -> IF -> SumPool2 -> Conv(32->8, 3x3,
stride 2, pad 1) -> IF -> SumPool2 -> Flatten (8*2*2 = 32) -> Linear(32->256) -> IF -> Linear(256->10) -> IF.

The neurons are Sinabs' ``IAF`` with ``SingleSpike`` and ``MembraneSubtract`` (its default reset), in discrete
time: ``v += i; s = (v >= 1); v -= s``. Trained with backpropagation through time and an exponential surrogate
gradient (the shape of Sinabs' ``SingleExponential``, width 1 instead of its 0.5) on the frames ``qsnn-deploy simulate --dataset nmnist`` feeds the IR:
``load_dataset("nmnist", ...)``, 100 bins of 3 ms, event counts, one frame per step. No biases (Speck's layout).

    python3 examples/nmnist_cnn/train.py --data-dir /work/shared/data --out examples/nmnist_cnn/model.pt

Writes a plain state_dict (``torch.load(..., weights_only=True)``) and prints the float accuracy on the 100 real
test recordings. make_fixture.py (tests/fixtures/nir/sinabs/) loads it into Sinabs layers and writes the NIR.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

THRESHOLD = 1.0


class SpikeFn(torch.autograd.Function):
    """Heaviside ``v >= threshold`` forward; the surrogate ``exp(-|v - thr| / w) / w`` backward, with width
    ``w = thr`` (Sinabs' ``SingleExponential`` has the same shape at ``w = 0.5 thr``)."""

    @staticmethod
    def forward(ctx, v: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(v)
        return (v >= THRESHOLD).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (v,) = ctx.saved_tensors
        return grad * torch.exp(-(v - THRESHOLD).abs() / THRESHOLD) / THRESHOLD


def integrate_and_fire(current: torch.Tensor) -> torch.Tensor:
    """IF neurons over time: ``current`` is (B, T, ...), the spikes too. Subtract reset; the reset's gradient is
    detached (Sinabs keeps it; only training differs, the forward pass is Sinabs' exactly)."""
    v = torch.zeros_like(current[:, 0])
    spikes = []
    for t in range(current.shape[1]):
        v = v + current[:, t]
        s = SpikeFn.apply(v)
        v = v - s.detach() * THRESHOLD
        spikes.append(s)
    return torch.stack(spikes, 1)


def sum_pool(x: torch.Tensor) -> torch.Tensor:
    """2x2 sum pooling, stride 2 (Sinabs' SumPool2d); exact on spike counts."""
    return nn.functional.avg_pool2d(x, 2) * 4


class NmnistCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 16, 5, stride=2, padding=1, bias=False)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.conv3 = nn.Conv2d(32, 8, 3, stride=2, padding=1, bias=False)
        self.fc1 = nn.Linear(32, 256, bias=False)
        self.fc2 = nn.Linear(256, 10, bias=False)

    def forward(self, x: torch.Tensor, record: list | None = None) -> torch.Tensor:
        """``x`` (B, T, 2, 34, 34) event counts -> output spikes (B, T, 10). The stateless layers run on all
        steps at once (time folded into the batch); only the neurons loop over time."""
        b, t = x.shape[:2]

        def timed(layer, z):  # (B, T, ...) -> layer on (B*T, ...) -> (B, T, ...)
            y = layer(z.reshape(b * t, *z.shape[2:]))
            return y.reshape(b, t, *y.shape[1:])

        s1 = integrate_and_fire(timed(self.conv1, x))
        s2 = integrate_and_fire(timed(self.conv2, s1))
        s3 = integrate_and_fire(timed(self.conv3, timed(sum_pool, s2)))
        flat = timed(sum_pool, s3).reshape(b, t, -1)
        s4 = integrate_and_fire(self.fc1(flat))
        s5 = integrate_and_fire(self.fc2(s4))
        if record is not None:
            record.extend(float(s.detach().mean()) for s in (s1, s2, s3, s4, s5))
        return s5


def merge_frames(x: torch.Tensor, merge: int) -> torch.Tensor:
    """(B, T, ...) -> (B, T / merge, ...), each step the sum of ``merge`` consecutive frames: coarser bins make
    training affordable on CPUs; IF neurons integrate without leak, so the same events drive the same
    membranes whichever binning (evaluation always uses the project's 100 x 3 ms frames)."""
    b, t = x.shape[:2]
    return x.reshape(b, t // merge, merge, *x.shape[2:]).sum(2)


def evaluate(
    net: NmnistCNN, inputs: np.ndarray, labels: np.ndarray, batch: int = 20, merge: int = 1
) -> tuple[float, np.ndarray]:
    """Accuracy (argmax of output spike counts, lowest index on ties as the simulator) and the counts."""
    counts = []
    with torch.no_grad():
        for i in range(0, len(inputs), batch):
            x = merge_frames(torch.from_numpy(inputs[i : i + batch]).float(), merge)
            counts.append(net(x).sum(1).numpy())
    counts = np.concatenate(counts)
    return float(np.mean(counts.argmax(1) == labels)), counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("model.pt"))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--limit", type=int, default=None, help="train samples (default: all 1,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--merge", type=int, default=4, help="training sums this many 3 ms frames per step")
    parser.add_argument("--init-gain", type=float, default=2.0, help="scales the default init (activity)")
    args = parser.parse_args()

    from qsnn_deploy.data import load_dataset

    torch.set_num_threads(1)  # 2 shared cores
    torch.manual_seed(args.seed)
    start = time.time()
    train = load_dataset("nmnist", "train", data_dir=args.data_dir, limit=args.limit)
    test = load_dataset("nmnist", "test", data_dir=args.data_dir)
    print(
        f"data: {len(train)} train, {len(test)} test, frames {train.inputs.shape[1:]} ({time.time() - start:.0f} s)"
    )
    net = NmnistCNN()
    with torch.no_grad():  # PyTorch's default init leaves the deeper IF layers silent on sparse events
        for p in net.parameters():
            p.mul_(args.init_gain)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    steps_total = args.epochs * ((len(train) + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps_total)
    rng = np.random.default_rng(args.seed)
    for epoch in range(args.epochs):
        order, losses, rates = rng.permutation(len(train)), [], []
        for i in range(0, len(order), args.batch):
            idx = order[i : i + args.batch]
            x = merge_frames(torch.from_numpy(train.inputs[idx]).float(), args.merge)
            y = torch.from_numpy(train.labels[idx])
            record: list = []
            counts = net(x, record).sum(1)
            loss = nn.functional.cross_entropy(counts * 0.2, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            rates.append(record)
        acc, _ = evaluate(net, test.inputs, test.labels)
        acc_merged, _ = evaluate(net, test.inputs, test.labels, merge=args.merge)
        rate_text = " ".join(f"{r:.3f}" for r in np.mean(rates, 0))
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.3f}, firing rates {rate_text}, test {acc:.1%} (at the training binning {acc_merged:.1%}) "
              f"({time.time() - start:.0f} s)")  # fmt: skip
    acc, counts = evaluate(net, test.inputs, test.labels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), args.out)
    summary = {"float_accuracy_test100": acc, "seconds": round(time.time() - start), "epochs": args.epochs,
               "batch": args.batch, "lr": args.lr, "seed": args.seed, "merge": args.merge,
               "init_gain": args.init_gain, "train_samples": len(train)}  # fmt: skip
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {args.out}: float accuracy {acc:.1%} on {len(test)} real N-MNIST test recordings")


if __name__ == "__main__":
    main()
