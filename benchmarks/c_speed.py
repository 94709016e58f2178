"""Generated C vs onnxruntime on the same network and samples, in one run.

The float (fake-quantized) model is exported to ONNX with its time loop unrolled: the same weights, BatchNorm
and LIF arithmetic as the snnTorch model, one sample per inference, onnxruntime pinned to one thread. The
generated C runs in the host harness (gcc -O2, one thread) over the same samples. Prints time per inference
of both and the ratio, plus the C's instructions per inference (callgrind). The harness is built to run each
sample once, through qsnn_run (-DQSNN_HARNESS_RUN_ONLY).

    python benchmarks/c_speed.py --checkpoint examples/mnist/model.pt --samples 100
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class UnrolledSNN(nn.Module):
    """Inference-only QSNN.forward_stepwise with plain tensor ops, so torch.onnx can trace it. The layers come
    from the one description of the network, qsnn_deploy.models.network."""

    def __init__(self, model, num_steps: int):
        super().__init__()
        from qsnn_deploy.models import network
        from qsnn_deploy.models.qsnn import quantized_weight

        self.steps = num_steps
        self.layers = network.layers(model.config)
        self.modules_ = {layer.name: getattr(model, layer.name, None) for layer in self.layers}
        self.w = {
            layer.name: quantized_weight(self.modules_[layer.name]).detach()
            for layer in self.layers
            if layer.kind in network.WEIGHTED
        }
        self.static = network.input_encoding(model.config) == "static"

    def _lif(self, name: str, cur, mem):
        lif = self.modules_[name]
        beta, th = float(lif.beta.clamp(0, 1)), float(lif.threshold)
        reset = (mem > th).float()
        mem = beta * mem + cur - reset * th
        return (mem > th).float(), mem

    def forward(self, x):
        mems: dict = {}
        counts = 0
        for t in range(self.steps):
            cur = x if self.static else x[:, t]
            for layer in self.layers:
                if layer.kind == "conv":
                    cur = F.conv2d(cur, self.w[layer.name])
                elif layer.kind == "linear":
                    cur = F.linear(cur, self.w[layer.name])
                elif layer.kind == "avgpool":
                    cur = F.avg_pool2d(cur, layer.kernel)
                elif layer.kind == "batchnorm":
                    cur = self.modules_[layer.name](cur)
                elif layer.kind == "flatten":
                    cur = cur.flatten(1)
                elif layer.kind == "lif":
                    mem = mems.get(layer.name)
                    mem = torch.zeros_like(cur) if mem is None else mem
                    cur, mems[layer.name] = self._lif(layer.name, cur, mem)
                # dropout: identity at inference
            counts = counts + cur
        return counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="examples/mnist/model.pt")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--num-steps", type=int, default=None)
    args = parser.parse_args()

    import onnxruntime as ort

    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.export import export_checkpoint
    from qsnn_deploy.export.api import load_for_export
    from qsnn_deploy.targets import generate
    from qsnn_deploy.targets.c.host import build_host
    from qsnn_deploy.targets.c.report import _callgrind
    from qsnn_deploy.verify.harness import read_outputs
    from qsnn_deploy.verify.tools import run_tool
    from qsnn_deploy.verify.vectors import write_vectors

    model, config = load_for_export(Path(args.checkpoint), bits=config_bits(args.checkpoint))
    exported = export_checkpoint(Path(args.checkpoint), bits=config.bits)
    graph = exported.graph
    steps = args.num_steps or graph.num_steps
    ds = load_dataset(args.dataset, "test", limit=args.samples, num_steps=steps)
    work = Path(tempfile.mkdtemp(prefix="qsnn-c-speed-"))

    # onnxruntime: the float model, one sample per run, one thread.
    model.eval().requires_grad_(False)  # torch.onnx folds the weights in as constants
    net = UnrolledSNN(model, steps).eval()
    x0 = torch.from_numpy(ds.inputs[:1].astype(np.float32)) * ds.input_scale
    onnx_path = work / "model.onnx"
    with torch.no_grad():
        torch.onnx.export(
            net, (x0,), str(onnx_path), input_names=["x"], output_names=["counts"], dynamo=False
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    inputs = [(ds.inputs[i : i + 1].astype(np.float32) * ds.input_scale) for i in range(len(ds))]
    session.run(None, {"x": inputs[0]})  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    ort_counts = np.concatenate([session.run(None, {"x": x})[0] for x in inputs])
    t_ort = (time.perf_counter() - start) / len(ds)
    cpu_ort = (time.process_time() - cpu) / len(ds)

    # Generated C on the host harness over the same samples (one process, one thread).
    model_dir = work / "c"
    generate(graph, "c", model_dir)
    # One inference per sample: the verifying harness also runs every sample step by step, which would double
    # the time measured here.
    exe = build_host(model_dir, work / "harness", extra=["-DQSNN_HARNESS_RUN_ONLY"])
    vectors = work / "vectors.bin"
    write_vectors(vectors, graph, ds.inputs, steps)
    start, cpu = time.perf_counter(), _children_cpu()
    run_tool([str(exe), str(vectors), str(work / "out.bin")], "host harness")
    t_c = (time.perf_counter() - start) / len(ds)
    cpu_c = (_children_cpu() - cpu) / len(ds)
    _, c_counts, c_pred = read_outputs(work / "out.bin", len(ds), steps, graph.num_classes)
    few = work / "vectors4.bin"  # callgrind divides its total by the samples in the file it runs
    write_vectors(few, graph, ds.inputs[:4], steps)
    insns = _callgrind(model_dir, work, few, min(len(ds), 4), dense=False)

    agree = float(np.mean(np.argmax(ort_counts, axis=1) == c_pred))
    print(f"model {args.checkpoint}: {len(ds)} {args.dataset} test samples x {steps} steps, one thread each")
    print(f"onnxruntime (float model)  : {t_ort * 1e3:8.3f} ms/inference (CPU {cpu_ort * 1e3:.3f} ms)")
    print(
        f"generated C (gcc -O2)      : {t_c * 1e3:8.3f} ms/inference (CPU {cpu_c * 1e3:.3f} ms), "
        f"{insns:,.0f} instructions/inference"
    )
    print(f"ratio                      : {t_ort / t_c:8.2f}x faster (CPU time: {cpu_ort / cpu_c:.2f}x)")
    print(f"prediction agreement C vs onnxruntime float: {agree:.1%}")


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the harness), user and system: robust to a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def config_bits(checkpoint: str) -> int:
    from qsnn_deploy.models.checkpoint import load_checkpoint

    return load_checkpoint(checkpoint)[1].bits or 4


if __name__ == "__main__":
    main()
