"""Integer simulator vs snnTorch float inference of the same model on the same batch, in one run.

snnTorch runs step by step, as the paper's code does (QSNN.forward_stepwise). Prints throughput of both, the
ratio, and checks the simulator's fast path against its exact int64 reference path (bit for bit). Both run
``--repeat`` times, alternately, so that load from other jobs hits both alike; the medians are reported.

Each timed run is a fresh process (isolated, the default) that sets up, warms up with one untimed run of
the same call, then times all samples: measured here, NumPy/OpenBLAS ran ~1.5x slower in a process right
after the snnTorch loop had run (2.95 against 2.0 ms/sample), which would charge one side for the other's
leftovers.

    python benchmarks/sim_speed.py --checkpoint examples/mnist/model.pt --samples 256 --num-steps 100
    python benchmarks/sim_speed.py --samples 256          # random-init model with perturbed BatchNorm
    python benchmarks/sim_speed.py --bn-bias -0.5 0.5     # ... spiking at 2-8%, like trained nets
    python benchmarks/sim_speed.py --threads 1            # both single-threaded (steadier on a busy machine)

snnTorch runs without torch's huge-page allocations (THP_MEM_ALLOC_ENABLE=0), as the paper's code runs.

It prints which kernels the simulator ran (``QSNN_SIM_KERNELS`` and numba's version, docs/simulator.md item 9;
``QSNN_SIM_KERNELS=numpy`` measures the NumPy kernels alone). Beside the figures it prints the load average,
the CPU time of each side and the other jobs' share of the CPU during each timed run, the torch/snnTorch/NumPy
versions and the thread settings, and a WARNING where the machine was not idle (benchmarks/conditions.py):
then the ratio is not meaningful.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import conditions
from conditions import Timing

from qsnn_deploy.errors import QsnnError


def build(checkpoint: str | None, dataset: str, seed: int, bn_bias: tuple[float, float]):
    import torch

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
            bn.bias.data.uniform_(*bn_bias)
    return model.eval(), config


def setup(args):
    """(model, graph, dataset) for the arguments; the same in the parent and in every measuring process."""
    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.export import export_model

    model, config = build(args.checkpoint, args.dataset, args.seed, tuple(args.bn_bias))
    ds = load_dataset(
        args.dataset, "test", data_dir=args.data_dir, limit=args.samples, num_steps=args.num_steps
    )
    graph = export_model(model, num_steps=args.num_steps, check_inputs=ds.inputs[:8]).graph
    return model, config, graph, ds


def runner(side: str, args, model, graph, ds):
    """fn(count) running ``side`` on the first ``count`` samples."""
    import numpy as np
    import torch

    from qsnn_deploy.sim import simulate

    def run_torch(count: int) -> None:
        with torch.no_grad():
            for s in range(0, count, args.batch):
                x = torch.from_numpy(ds.inputs[s : min(count, s + args.batch)].astype(np.float32))
                model.forward_stepwise(x * ds.input_scale, args.num_steps)

    def run_sim(count: int) -> None:
        simulate(graph, ds.inputs[:count], args.num_steps, batch_size=args.batch, workers=args.threads)

    return run_torch if side == "torch" else run_sim


def measure(side: str, args) -> Timing:
    """In a fresh process: set up, warm up with one untimed run of the same call (a first run pays for fresh
    memory: ~0.3 s of page faults for the simulator's batch buffers here, and its worker threads' first
    batches run ~1.5x slower), then time ``side`` on all samples."""
    set_threads(args.threads)
    model, _, graph, ds = setup(args)
    fn = runner(side, args, model, graph, ds)
    fn(len(ds))
    return conditions.timed(lambda: fn(len(ds)))


def kernel_setting() -> str:
    """Which kernels the simulator runs (sim/compiled.py): the QSNN_SIM_KERNELS mode and numba's version."""
    from importlib.metadata import PackageNotFoundError, version

    from qsnn_deploy.sim import compiled

    try:
        numba = f"numba {version('numba')}"
    except PackageNotFoundError:
        numba = "numba not installed: NumPy only"
    return f"{compiled.MODE_VARIABLE}={compiled.mode()}, {numba}"


def set_threads(threads: int | None) -> None:
    if threads:  # before numpy and torch load their thread pools
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
        import torch

        torch.set_num_threads(threads)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="dataset folder (default: $QSNN_DATA_DIR, then the cache)"
    )
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--num-steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="alternate runs of both; medians are reported")
    parser.add_argument("--threads", type=int, default=None, help="threads for torch and BLAS (default: all)")
    parser.add_argument(
        "--bn-bias", type=float, nargs=2, default=(0.0, 1.0), help="BatchNorm bias range of a random model"
    )
    parser.add_argument(
        "--no-isolate", dest="isolate", action="store_false", help="time both sides in this process"
    )
    args = parser.parse_args()
    # snnTorch runs as the paper's code runs it: without the huge pages that ``import qsnn_deploy`` asks torch
    # for (set before torch loads; the spawned measuring processes inherit it).
    os.environ["THP_MEM_ALLOC_ENABLE"] = "0"
    load_before = conditions.load_average()
    set_threads(args.threads)

    import numpy as np
    import torch

    from qsnn_deploy.sim import simulate
    from qsnn_deploy.sim.reference import simulate_reference

    try:
        model, config, graph, ds = setup(args)
    except QsnnError as exc:  # a missing dataset offline: one line, as the CLI says it
        parser.exit(2, f"error: {exc}\n")
    n = len(ds)
    torch_times, sim_times = [], []
    if args.isolate:
        spawn = multiprocessing.get_context("spawn")
        for _ in range(args.repeat):
            for side, times in (("torch", torch_times), ("sim", sim_times)):
                with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                    times.append(pool.submit(measure, side, args).result())
    else:
        run_torch, run_sim = (runner(side, args, model, graph, ds) for side in ("torch", "sim"))
        for _ in range(args.repeat):
            torch_times.append(conditions.timed(lambda: run_torch(n)))
            sim_times.append(conditions.timed(lambda: run_sim(n)))
    ratios = [t.wall / s.wall for t, s in zip(torch_times, sim_times)]
    fast = simulate(graph, ds.inputs, args.num_steps, batch_size=args.batch)

    reference = simulate_reference(graph, ds.inputs[: min(n, 16)], args.num_steps)
    exact = np.array_equal(reference, fast.output_spikes[: len(reference)])

    def line(name: str, times: list[Timing]) -> str:
        wall = statistics.median(t.wall for t in times)
        cpu = statistics.median(t.cpu for t in times)
        others = [t.others for t in times if t.others is not None]
        busy = f", other jobs {max(others):.0%} of the CPU at most" if others else ""
        return (
            f"{name}: {wall / n * 1e3:8.2f} ms/sample  ({n / wall:7.1f} samples/s, "
            f"CPU {cpu / n * 1e3:.2f} ms/sample{busy})"
        )

    print(f"model: {args.checkpoint or 'random init'} ({config.arch}), {n} samples x {args.num_steps} steps")
    where = "each in a fresh process" if args.isolate else "in this process"
    workers = args.threads or conditions.cores()
    print(
        f"runs: --threads {args.threads or 'default'} (torch {torch.get_num_threads()} threads, simulator "
        f"{workers} worker{'s' if workers > 1 else ''}), {args.repeat} alternating runs {where}"
    )
    print(f"simulator kernels: {kernel_setting()}")
    print(f"firing rates: { {k: round(v, 4) for k, v in fast.firing_rates().items()} }")
    print(line("snnTorch step by step ", torch_times))
    print(line("integer simulator     ", sim_times))
    print(
        f"ratio (median of runs): {statistics.median(ratios):8.2f}x   (each run: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(f"fast path == int64 reference path on {len(reference)} samples: {exact}")
    sides = {"snnTorch": torch_times, "simulator": sim_times}
    print("\n".join(conditions.report(load_before, sides)))


if __name__ == "__main__":
    main()
