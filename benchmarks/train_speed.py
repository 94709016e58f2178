"""Training speed: the reference step-by-step loop vs our layer-by-layer forward, same init, data and seed.

    python benchmarks/train_speed.py --dataset mnist --num-steps 100 --iters 5 --batch 128

Both models start from the same weights and see the same batches in the same order (the paper's recipe: Adam,
mse_count_loss, cosine LR per iteration, the preset's clipping). Iterations are interleaved (one reference
step, then one of ours, on the same batch) so that both see the same machine load on a shared host. Prints
seconds per iteration of both (min and median over iterations after the first), the ratio of medians and of
mins, and the test accuracy of both after the same number of iterations (eval mode, where both forwards are
bit-identical). Needs the dataset ($QSNN_DATA_DIR or --data-dir).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from snntorch import functional as SF
from torch import nn

from qsnn_deploy.data import load_dataset
from qsnn_deploy.models import build_model, get_preset, to_input
from qsnn_deploy.train.loop import evaluate, make_scheduler, resolve_device, seed_everything


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fmnist", "nmnist", "dvs"])
    parser.add_argument("--num-steps", type=int, default=100)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--test-limit", type=int, default=1000)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    device = resolve_device(args.device)
    preset = get_preset(args.dataset)
    recipe = preset.train
    n_train = args.iters * args.batch
    train = load_dataset(args.dataset, "train", args.data_dir, limit=n_train, num_steps=args.num_steps)
    test = load_dataset(args.dataset, "test", args.data_dir, limit=args.test_limit, num_steps=args.num_steps)
    seed_everything(args.seed)
    init = build_model(preset.model.with_bits(args.bits or None)).to(device)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))
    x_all, y_all = torch.as_tensor(train.inputs), torch.as_tensor(train.labels)
    print(
        f"{args.dataset}: {args.num_steps} steps, batch {args.batch}, {args.iters} iterations, "
        f"{len(test)} test samples, device {device}, {torch.get_num_threads()} threads"
    )
    runs = {}
    for name in ("step-by-step", "layer-by-layer"):
        model = copy.deepcopy(init).train()
        opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, betas=recipe.adam_betas)
        fwd = model.forward_stepwise if name == "step-by-step" else model.forward
        runs[name] = {
            "model": model,
            "opt": opt,
            "sched": make_scheduler(opt, "cosine", recipe.t_max),
            "fwd": fwd,
        }
        runs[name].update(times=[], loss=None)
    loss_fn = SF.mse_count_loss(correct_rate=recipe.correct_rate, incorrect_rate=recipe.incorrect_rate)
    for it in range(args.iters):
        idx = order[it * args.batch : (it + 1) * args.batch]
        x = to_input(x_all[idx].to(device), train.input_scale)
        y = y_all[idx].to(device)
        for run in runs.values():
            torch.manual_seed(args.seed + it)  # same dropout stream at every iteration for both
            start = time.perf_counter()
            loss = loss_fn(run["fwd"](x, args.num_steps), y)
            run["opt"].zero_grad(set_to_none=True)
            loss.backward()
            if recipe.grad_clip is not None:
                nn.utils.clip_grad_norm_(run["model"].parameters(), recipe.grad_clip)
            run["opt"].step()
            if recipe.weight_clip is not None:
                with torch.no_grad():
                    for p in run["model"].parameters():
                        p.clamp_(-recipe.weight_clip, recipe.weight_clip)
            run["sched"].step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            run["times"].append(time.perf_counter() - start)
            run["loss"] = float(loss.detach())
    stats = {}
    for name, run in runs.items():
        times = run["times"]
        steady = times[1:] if len(times) > 1 else times
        acc = evaluate(run["model"], test.inputs, test.labels, test.input_scale, args.num_steps, device)
        stats[name] = (min(steady), statistics.median(steady))
        print(
            f"{name:>15}: median {stats[name][1]:.3f} / min {stats[name][0]:.3f} s/iter "
            f"(all: {' '.join(f'{t:.2f}' for t in times)}), final loss {run['loss']:.4f}, test accuracy {acc:.2%}"
        )
    ref, ours = stats["step-by-step"], stats["layer-by-layer"]
    print(f"speed-up: {ref[1] / ours[1]:.2f}x (medians), {ref[0] / ours[0]:.2f}x (mins)")


if __name__ == "__main__":
    main()
