"""Training speed: the reference step-by-step loop vs our layer-by-layer forward, same init, data and seed.

    python benchmarks/train_speed.py --dataset mnist --num-steps 100 --iters 8 --repeat 2

Both sides build the same model from the same seed and train on the same batches in the same order with the
paper's recipe (Adam, mse_count_loss, cosine LR per iteration, the preset's clipping), and the same dropout
seed at every iteration. Each side runs in a fresh process (``--no-isolate``: both in this one), the two sides
alternate ``--repeat`` times so that load from other jobs hits both alike. Measured here: a process that had
run the other side's loop first ran ours 1.8x slower (1.28 against 0.69 s/iteration; its allocator and page
state were left fragmented), which would charge one side for the other's leftovers.

Prints seconds per iteration of both (median and min over the iterations after the first ``--warmup`` of
every run) and their CPU time, the ratio of the medians, and the final training loss and the test accuracy of
both after the same number of iterations (eval mode, where both forwards are bit-identical); then the load
average, versions and thread settings, and a WARNING where the machine was not idle (benchmarks/conditions.py).

Each side runs as its users run it (``--thp ours``, the default): our trainer with the transparent huge pages
that ``import qsnn_deploy`` asks torch for (``THP_MEM_ALLOC_ENABLE=1``), the reference loop without them, as
the paper's code runs. ``--thp both`` / ``--thp none`` give both sides the same setting (measured here: the
reference loop was ~10% slower with huge pages, ours ~1.3x faster). Needs the dataset ($QSNN_DATA_DIR or
--data-dir).
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import statistics
from concurrent.futures import ProcessPoolExecutor

import conditions

SIDES = ("step-by-step", "layer-by-layer")


def run_side(side: str, args) -> dict:
    """Build, train ``args.iters`` iterations with one forward, evaluate; returns times, loss, accuracy."""
    import torch  # THP_MEM_ALLOC_ENABLE is already in this process's environment: set by main() before spawning
    from snntorch import functional as SF

    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.models import build_model, get_preset, to_input
    from qsnn_deploy.train.loop import (
        evaluate,
        make_scheduler,
        optimizer_step,
        resolve_device,
        seed_everything,
    )

    device = resolve_device(args.device)
    preset = get_preset(args.dataset)
    recipe = preset.train
    train = load_dataset(
        args.dataset, "train", args.data_dir, limit=args.iters * args.batch, num_steps=args.num_steps
    )
    test = load_dataset(args.dataset, "test", args.data_dir, limit=args.test_limit, num_steps=args.num_steps)
    seed_everything(args.seed)
    model = build_model(preset.model.with_bits(args.bits or None)).to(device).train()
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))
    x_all, y_all = torch.as_tensor(train.inputs), torch.as_tensor(train.labels)
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, betas=recipe.adam_betas)
    sched = make_scheduler(opt, "cosine", recipe.t_max)
    forward = model.forward_stepwise if side == "step-by-step" else model.forward
    loss_fn = SF.mse_count_loss(correct_rate=recipe.correct_rate, incorrect_rate=recipe.incorrect_rate)
    timings, losses = [], []

    def step(x, y) -> None:
        loss = loss_fn(forward(x, args.num_steps), y)
        optimizer_step(model, opt, loss, recipe)
        sched.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        losses.append(float(loss.detach()))

    for it in range(args.iters):
        idx = order[it * args.batch : (it + 1) * args.batch]
        x = to_input(x_all[idx].to(device), train.input_scale)
        y = y_all[idx].to(device)
        torch.manual_seed(args.seed + it)  # the same dropout stream at every iteration for both sides
        timings.append(conditions.timed(functools.partial(step, x, y)))
    acc = evaluate(model, test.inputs, test.labels, test.input_scale, args.num_steps, device)
    return {
        "times": [t.wall for t in timings],
        "timings": timings,
        "loss": losses[-1],
        "accuracy": acc,
        "device": str(device),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fmnist", "nmnist", "dvs"])
    parser.add_argument("--num-steps", type=int, default=100)
    parser.add_argument("--iters", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2, help="iterations of every run left out of the stats")
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs of both sides")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--test-limit", type=int, default=1000)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-isolate", dest="isolate", action="store_false", help="both sides in this process"
    )
    parser.add_argument(
        "--thp",
        choices=["ours", "both", "none"],
        default="ours",
        help="which sides run with THP_MEM_ALLOC_ENABLE=1 (default: ours only, as each runs for its users)",
    )
    args = parser.parse_args()
    if args.iters <= args.warmup:
        parser.error("--iters must be larger than --warmup")
    if not args.isolate and args.thp == "ours":
        parser.error("--no-isolate runs both sides in one process: use --thp both or --thp none")
    thp = {side: args.thp == "both" or (args.thp == "ours" and side == "layer-by-layer") for side in SIDES}

    load_before = conditions.load_average()
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    spawn = multiprocessing.get_context("spawn")
    for _ in range(args.repeat):
        for side in SIDES:
            os.environ["THP_MEM_ALLOC_ENABLE"] = "1" if thp[side] else "0"  # read by the spawned process
            if args.isolate:
                with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                    runs[side].append(pool.submit(run_side, side, args).result())
            else:
                runs[side].append(run_side(side, args))
    first = runs[SIDES[0]][0]
    print(
        f"{args.dataset}: {args.num_steps} steps, batch {args.batch}, {args.iters} iterations "
        f"({args.warmup} warm-up) x {args.repeat} runs per side, "
        f"{'each in a fresh process' if args.isolate else 'in one process'}, {args.test_limit} test samples, "
        f"device {first['device']}, {first['threads']} threads"
    )
    medians = {}
    for side in SIDES:
        steady = [t for run in runs[side] for t in run["timings"][args.warmup :]]
        medians[side] = statistics.median(t.wall for t in steady)
        cpu = statistics.median(t.cpu for t in steady)
        per_run = "; ".join(" ".join(f"{t:.2f}" for t in run["times"]) for run in runs[side])
        last = runs[side][-1]
        print(
            f"{side:>15} (THP {'on' if thp[side] else 'off'}): median {medians[side]:.3f} / min "
            f"{min(t.wall for t in steady):.3f} s/iter, CPU {cpu:.3f} s/iter (all: {per_run}), "
            f"final loss {last['loss']:.4f}, test accuracy {last['accuracy']:.2%}"
        )
    print(f"speed-up: {medians['step-by-step'] / medians['layer-by-layer']:.2f}x (ratio of medians)")
    losses = {side: [run["loss"] for run in runs[side]] for side in SIDES}
    print(f"final loss of every run: {losses}")
    sides = {side: [t for run in runs[side] for t in run["timings"][args.warmup :]] for side in SIDES}
    print("\n".join(conditions.report(load_before, sides)))


if __name__ == "__main__":
    main()
