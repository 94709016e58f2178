"""The verify driver: render a target's files (or open ``codegen --out DIR``), build them with one of the
target's executors, run them and compare every record with the simulator's, bit for bit.

It lives with the targets because it renders and runs them; the verifier's toolkit it uses (the record every
executor returns, the comparison that names the first differing sample, step, layer and neuron, the vectors)
is ``qsnn_deploy/verify/``, below the targets, and knows records, not targets (docs/architecture.md).
``verify`` renders fresh files into a temporary folder, or checks the files ``codegen --out DIR`` wrote
(``from_dir``); temporary folders are removed afterwards unless ``keep``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qsnn_deploy.atomic import folder_lock
from qsnn_deploy.errors import QsnnError
from qsnn_deploy.ir import limits
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.sim import SimResult, simulate
from qsnn_deploy.sim.executor import concat_results, samples_per_record
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.verify.compare import Compared, compare_records
from qsnn_deploy.verify.record import record_of_simulation


@dataclass
class VerifyResult:
    target: str
    executor: str
    samples: int
    steps: int
    compared: Compared
    seconds: float
    predictions: np.ndarray
    counts: np.ndarray
    sim: SimResult
    workdir: Path | None = None  # kept build folder (``keep``), else None
    built: str = "the generated code"  # what the executor built (its ``describe``), named in every summary
    options: dict[str, str] = field(default_factory=dict)  # prefix, codegen options, build settings given
    edited: tuple[str, ...] = ()  # --from files that differ from codegen's (only with ``allow_edited``)

    @property
    def spikes_compared(self) -> int:
        """Output spike values compared (samples x steps x classes)."""
        return self.compared.output_spikes

    def summary(self) -> str:
        c = self.compared
        state = "spikes, membranes and synaptic currents" if c.current_layers else "spikes and membranes"
        layers = (
            f"{c.layer_values:,} layer {state}"
            if c.layer_values
            else f"{c.layer_digests:,} per-step layer digests (CRC-32 of {state})"
        )
        return (
            f"verified {self.target}/{self.executor}: {self.samples:,} samples x {self.steps} steps; "
            f"{c.output_spikes:,} output spike values and {layers} identical to the simulator "
            f"({self.seconds:.1f} s)"
        )


def verify(
    graph: Graph,
    inputs: np.ndarray,
    num_steps: int | None = None,
    *,
    target: str = "c",
    executor: str | None = None,
    options: TargetOptions | None = None,
    from_dir: Path | None = None,
    workdir: Path | None = None,
    keep: bool = False,
    chunk: int | None = None,
    progress=None,
    allow_edited: bool = False,
    check_constants_first: bool = True,
) -> VerifyResult:
    """Check ``target``'s ``executor`` (default: the target's first) against ``simulate`` on ``inputs``: every
    output spike of every step, and every LIF layer's spikes and membranes (and synaptic currents, where it has
    them) of every step (in full or as digests). Runs ``chunk`` samples at a time (at most; default 500, fewer where ``samples_per_record`` says
    their records or the executors' files would not fit the budgets of ir/limits.py) so a test set's layers
    never sit in memory together.

    ``from_dir``: verify the files ``generate`` wrote there (they must come from this very graph) instead of
    rendering fresh ones; every file must be the one codegen writes (targets/folder.py), unless
    ``allow_edited`` (code changed on purpose), whose constants are first compared with the IR's
    (``check_constants_first``: False only for mutation tests of the behavioural check). ``workdir``: build there and keep it; else a temporary folder, removed at the end
    unless ``keep``. ``progress``: optional callable receiving samples done per chunk."""
    from qsnn_deploy.targets import get_target, render_into
    from qsnn_deploy.targets.folder import open_generated
    from qsnn_deploy.targets.options import summary

    start = time.perf_counter()
    steps = num_steps or graph.num_steps
    limits.check_budget(graph, steps)  # before anything is rendered or built
    chunk = min(chunk or 500, samples_per_record(graph, steps))
    work = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="qsnn-verify-"))
    work.mkdir(parents=True, exist_ok=True)
    remove = workdir is None and not keep
    try:
        t = get_target(target)
        if not t.executors:  # a user's choice, not a failed verification: exit 2
            raise QsnnError(f"target {target!r} writes files for other tools and has no executor to verify")
        name = executor or next(iter(t.executors))
        if name not in t.executors:
            raise QsnnError(
                f"target {target!r} has no executor {name!r}; choose one of {sorted(t.executors)}"
            )
        edited: tuple[str, ...] = ()
        # A folder is read, built and run under a reader's lock: a codegen into it meanwhile is refused, so
        # the files checked against the IR are the files built.
        reading = (
            folder_lock(Path(from_dir), f"a qsnn-deploy codegen is writing into {from_dir}; verify it after",
                        shared=True)
            if from_dir is not None and Path(from_dir).is_dir()  # else open_generated says what is wrong
            else nullcontext()
        )  # fmt: skip
        with reading:
            if from_dir is not None:  # checked file by file against a fresh render before anything is built
                opened = open_generated(
                    graph,
                    t,
                    Path(from_dir),
                    options,
                    allow_edited,
                    check_constants_first=check_constants_first,
                )
                model, model_dir, edited = opened.model, Path(from_dir), opened.edited
            else:
                model_dir = work / "model"
                model = render_into(graph, t, model_dir, options or TargetOptions())
            describe = getattr(t.executors[name], "describe", None)
            built = describe(model.options) if describe is not None else "the generated code"
            runner = t.executors[name].build(model, model_dir, work)
            where = f"{target}/{name}"
            layer_names = [layer.lif.name for layer in model.layers]
            currents = {
                layer.lif.name: layer.current.name for layer in model.layers if layer.current is not None
            }
            compared, parts = Compared(), []
            for offset in range(0, len(inputs), chunk):
                part = inputs[offset : offset + chunk]
                sim = simulate(graph, part, steps, record=True)
                got = runner.run(part, steps)
                want = record_of_simulation(sim, layer_names, currents)
                compared.add(compare_records(want, got, where, offset))
                sim.layer_spikes, sim.layer_membranes, sim.layer_currents = (
                    {},
                    {},
                    {},
                )  # checked; keep the rest
                parts.append(sim)
                if progress is not None:
                    progress(len(part))
            sim = concat_results(parts, steps)
            return VerifyResult(
                target, name, len(inputs), steps, compared, time.perf_counter() - start, sim.predictions,
                sim.counts, sim, None if remove else work, built,
                summary(model.options), edited,
            )  # fmt: skip
    finally:
        if remove:
            shutil.rmtree(work, ignore_errors=True)


def verify_c(
    graph: Graph,
    inputs: np.ndarray,
    num_steps: int | None = None,
    *,
    sanitize: bool = False,
    workdir: Path | None = None,
    cc: str = "gcc",
    chunk: int | None = None,
    progress=None,
) -> VerifyResult:
    """``verify`` on the C target's host executor (the generated C built with ``cc`` and the host harness)."""
    extra = {"cc": cc, "sanitize": "1" if sanitize else "0"}
    return verify(
        graph, inputs, num_steps, target="c", executor="host", options=TargetOptions(extra=extra),
        workdir=workdir, chunk=chunk, progress=progress,
    )  # fmt: skip


def verify_cortex_m(
    graph: Graph, inputs: np.ndarray, num_steps: int | None = None, *, workdir: Path | None = None,
    board: str | None = None,
) -> VerifyResult:  # fmt: skip
    """``verify`` on the C target's Cortex-M executor (firmware under QEMU, layers checked by digests);
    ``board``: the C target's ``board`` option (default: its declared default)."""
    extra = {} if board is None else {"board": board}
    return verify(
        graph, inputs, num_steps, target="c", executor="cortex-m", options=TargetOptions(extra=extra),
        workdir=workdir,
    )  # fmt: skip


__all__ = ["VerifyResult", "verify", "verify_c", "verify_cortex_m"]
