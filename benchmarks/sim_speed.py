"""Integer simulator vs snnTorch float inference of the same model on the same batch, in one run.

snnTorch runs step by step, as the paper's code does (QSNN.forward_stepwise). Prints throughput of both, the
ratio, and checks the simulator's fast path against its exact int64 reference path (bit for bit).

    python benchmarks/sim_speed.py --checkpoint examples/mnist/model.pt --samples 256 --num-steps 100
    python benchmarks/sim_speed.py --samples 256          # random-init model with perturbed BatchNorm
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def build(checkpoint: str | None, dataset: str, seed: int):
    from qsnn_deploy.models import build_model, model_config
    from qsnn_deploy.models.checkpoint import load_checkpoint

    if checkpoint:
        model, config, _ = load_checkpoint(checkpoint)
        return model, config
    torch.manual_seed(seed)
    config = model_config(dataset, 4)
    model = build_model(config)
    for name in ("conv1_bn", "conv2_bn"):  # make an untrained model spike like a trained one
        bn = getattr(model, name, None)
        if bn is not None:
            bn.weight.data.uniform_(0.5, 3.0)
            bn.bias.data.uniform_(0.0, 1.0)
    return model.eval(), config


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--num-steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.export import export_model
    from qsnn_deploy.sim import simulate

    model, config = build(args.checkpoint, args.dataset, args.seed)
    ds = load_dataset(args.dataset, "test", limit=args.samples, num_steps=args.num_steps)
    graph = export_model(model, num_steps=args.num_steps, check_inputs=ds.inputs[:8]).graph
    n = len(ds)

    start = time.perf_counter()
    with torch.no_grad():
        for s in range(0, n, args.batch):
            x = torch.from_numpy(ds.inputs[s : s + args.batch].astype(np.float32)) * ds.input_scale
            model.forward_stepwise(x, args.num_steps)
    t_torch = time.perf_counter() - start

    start = time.perf_counter()
    fast = simulate(graph, ds.inputs, args.num_steps, batch_size=args.batch)
    t_sim = time.perf_counter() - start

    from qsnn_deploy.sim.reference import simulate_reference

    reference = simulate_reference(graph, ds.inputs[: min(n, 16)], args.num_steps)
    exact = np.array_equal(reference, fast.output_spikes[: len(reference)])
    print(f"model: {args.checkpoint or 'random init'} ({config.arch}), {n} samples x {args.num_steps} steps")
    print(f"firing rates: { {k: round(v, 4) for k, v in fast.firing_rates().items()} }")
    print(f"snnTorch step by step : {t_torch / n * 1e3:8.2f} ms/sample  ({n / t_torch:7.1f} samples/s)")
    print(f"integer simulator     : {t_sim / n * 1e3:8.2f} ms/sample  ({n / t_sim:7.1f} samples/s)")
    print(f"ratio                 : {t_torch / t_sim:8.2f}x")
    print(f"fast path == int64 reference path on {len(reference)} samples: {exact}")


if __name__ == "__main__":
    main()
