"""Command line: a thin click group. Each command parses its options and calls one library function.

User mistakes surface as ``QsnnError``; ``main`` prints them as one line and exits non-zero.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from qsnn_deploy import cli_params as params
from qsnn_deploy.errors import QsnnError

# smnist (sequential MNIST) feeds a graph one 28-pixel row per step, as (28, 1, 1) stream frames
DATASETS = ["mnist", "fmnist", "nmnist", "dvs", "smnist"]
DEFAULT_MODEL = "model.qsnn"

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Dataset root (default: $QSNN_DATA_DIR, else ~/.cache/qsnn-deploy/data).",
)
# Your own data instead of --dataset (qsnn_deploy/data/user_inputs.py, docs/datasets.md#your-own-data); the
# files are checked by the reader, which names the option in every error.
inputs_option = click.option(
    "--inputs", "inputs_file", type=click.Path(path_type=Path), default=None, metavar="FILE.npy",
    help="Your own inputs instead of --dataset: uint8 (N, C, H, W) frames, or (N, T, C, H, W) for a stream model.",
)  # fmt: skip
labels_option = click.option(
    "--labels", "labels_file", type=click.Path(path_type=Path), default=None, metavar="FILE.npy",
    help="Integer labels (N,) of --inputs (optional: without them there is no accuracy).",
)  # fmt: skip


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qsnn-deploy")
def cli() -> None:
    """qsnn-deploy: train, export, simulate, generate code for and verify 4-bit spiking networks."""


@cli.command()
@click.option("--dataset", type=click.Choice(DATASETS), required=True, help="Which dataset and preset.")
@click.option("--bits", type=params.WEIGHT_BITS, default=4, show_default=True, help="2..8, or 0 (float).")
@click.option("--epochs", type=params.COUNT, default=None, help="Epochs (default: the preset's).")
@click.option("--num-steps", type=params.NUM_STEPS, default=None, help="Time steps (default: preset's).")
@click.option(
    "--schedule",
    type=click.Choice(["cosine", "cosine-restarts", "fixed"]),
    default="cosine",
    show_default=True,
)
@data_dir_option
@click.option("--out", type=params.TRAIN_RUN_DIR, default=Path("runs/latest"), show_default=True)
@click.option("--seed", type=params.SEED, default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--train-limit", type=params.COUNT, default=None, help="Use only the first N training samples.")
@click.option("--test-limit", type=params.COUNT, default=None, help="Use only the first N test samples.")
@click.option("--patience", type=params.PATIENCE, default=None, help="Early-stopping patience in epochs.")
@click.option("--batch-size", type=params.COUNT, default=None, help="Batch size (default: the preset's).")
@click.option("--lr", type=float, default=None, help="Learning rate (default: the preset's).")
@click.option(
    "--init",
    "init_from",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Start from this checkpoint's weights (same dataset and --bits), e.g. for a warm restart of the schedule.",
)
def train(**options) -> None:
    """Train one of the paper's QSNNs; writes a checkpoint, a metrics CSV and a plot to --out."""
    from qsnn_deploy.commands.train import train_from_cli

    train_from_cli(**options)


@cli.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--bits", type=params.EXPORT_BITS, default=4, show_default=True, help="Weight bits of the trained model."
)
@click.option("--state-bits", type=click.Choice(["16", "32"]), default="32", show_default=True)
@click.option(
    "--arch",
    type=click.Choice(["auto", "seed-mnist", "seed-fmnist", "seed-dvs"]),
    default="auto",
    show_default=True,
    help="auto: a qsnn-deploy checkpoint; seed-*: a state_dict saved by the paper's reference code.",
)
@click.option("--beta", type=float, default=None, help="Override the preset's beta (seed-* only).")
@click.option("--threshold", type=float, default=None, help="Override the preset's threshold (seed-* only).")
@click.option(
    "--num-steps",
    type=params.NUM_STEPS,
    default=None,
    help="Time steps recorded in the IR (default: the checkpoint's training steps, else the preset's).",
)
@click.option(
    "--builder",
    default=None,
    metavar="MODULE:FUNCTION",
    help="Build your own model by calling FUNCTION() from MODULE (an nn.Sequential or a QSNN), then load "
    "CHECKPOINT into it as a weights-only state_dict. This imports and runs MODULE: your own code, so name "
    "only a module you trust. Needs --input-shape (for an nn.Sequential) and --num-steps.",
)
@click.option("--input-shape", default=None, metavar="C,H,W", help="Input frame shape (--builder only).")
@click.option(
    "--encoding",
    type=click.Choice(["static", "stream"]),
    default=None,
    help="static: the same image every step; stream: a new event frame each step (--builder only; "
    "default static).",
)
@click.option(
    "--input-scale",
    type=float,
    default=None,
    help="Real value of one input unit (--builder only; default 1/255 static, 1 stream).",
)
@click.option(
    "--dataset",
    type=click.Choice(DATASETS),
    default=None,
    help="Check float against integer on this dataset's test samples (default: 8 random probe inputs, "
    "whose silent-layer warnings may be false); recorded in the IR for a --builder model.",
)
@data_dir_option
@click.option(
    "--limit", type=params.COUNT, default=None, help="Check on the first N test samples (default 100)."
)
@click.option("--out", type=params.OUTPUT_FILE, default=Path(DEFAULT_MODEL), show_default=True)
def export(checkpoint: Path, state_bits: str, **options) -> None:
    """Freeze a trained checkpoint into the integer IR (a .qsnn file)."""
    from qsnn_deploy.commands.export import export_from_cli

    export_from_cli(checkpoint, state_bits=int(state_bits), **options)


@cli.command()
@click.option(
    "--model", type=click.Path(dir_okay=False, path_type=Path), default=Path(DEFAULT_MODEL), show_default=True
)
@click.option(
    "--dataset", type=click.Choice(DATASETS), default=None, help="Test set (default: the one the IR records)."
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Float checkpoint (or the imported .nir) to compare with; without it, integer results only (the path "
    "the IR records is named in a note, never opened).",
)
@click.option(
    "--arch",
    type=click.Choice(["auto", "seed-mnist", "seed-fmnist", "seed-dvs"]),
    default=None,
    help="How to read --checkpoint, as for export (default: as recorded at export).",
)
@click.option(
    "--builder",
    default=None,
    metavar="MODULE:FUNCTION",
    help="For an IR exported with --builder: rebuild the float model by calling FUNCTION() from MODULE (your "
    "own code; simulate runs none it is not told to) and load the weights given with --checkpoint.",
)
@data_dir_option
@inputs_option
@labels_option
@click.option("--limit", type=params.COUNT, default=None, help="Only the first N test samples.")
@click.option("--num-steps", type=params.NUM_STEPS, default=None, help="Time steps (default: the IR's).")
@click.option(
    "--min-agreement",
    type=float,
    default=99.5,
    show_default=True,
    help="Prediction agreement (percent) below which the verdict is DRIFT.",
)
@click.option(
    "--max-accuracy-gap",
    type=float,
    default=0.1,
    show_default=True,
    help="|integer - float| accuracy (points) above which the verdict is DRIFT.",
)
@click.option("--json", "json_path", type=params.OUTPUT_FILE, default=None)
def simulate(**options) -> None:
    """Run the bit-accurate integer simulator on a test set and compare it with the float model.

    Exits 1 when the verdict is FAIL (a silent layer) or DRIFT (outside the two targets)."""
    from qsnn_deploy.commands.simulate import simulate_from_cli

    simulate_from_cli(**options)


def _target_names() -> list[str]:
    from qsnn_deploy.targets import target_names

    return target_names()


def _option_help() -> str:
    """--option's help: every target's keys, from their declarations (targets/<name>/settings.py)."""
    from qsnn_deploy.targets import registry
    from qsnn_deploy.targets.options import help_line

    keys = help_line({name: t.settings for name, t in registry().items()})
    return (
        "A target setting, repeatable; an unknown key or a bad value is refused before any work. "
        f"Keys: {keys} (values and defaults: docs/targets/<target>.md)."
    )


def _executor_help() -> str:
    """--executor's help: every target's executors, from the registry (the first is the default)."""
    from qsnn_deploy.targets import registry

    listed = "; ".join(f"{name}: {', '.join(t.executors) or 'none'}" for name, t in registry().items())
    return f"How to run the target (default: its first). {listed}."


def target_options(command):
    """--target (choices from the target registry), --option KEY=VALUE, --prefix and the C target's --board."""
    from qsnn_deploy.targets.c.boards import BOARDS, DEFAULT_BOARD

    for decorator in reversed(
        [
            click.option(
                "--target", type=click.Choice(_target_names()), default="c", show_default=True,
                help="Which target (qsnn_deploy/targets/<name>/).",
            ),
            click.option(
                "--option", "target_option", multiple=True, metavar="KEY=VALUE", help=_option_help(),
            ),
            click.option("--prefix", default="qsnn", show_default=True, help="Prefix of generated identifiers."),
            click.option(
                "--board", type=click.Choice(sorted(BOARDS)), default=None,
                help="(C target) The microcontroller board whose memory the model must fit, and whose core and "
                f"QEMU machine cortex-m runs; --option board=NAME  [default: {DEFAULT_BOARD}]",
            ),
        ]
    ):  # fmt: skip
        command = decorator(command)
    return command


def _options(kw: dict, target: str, c_flags: dict[str, str | None]):
    """The --option pairs, plus the C target's own flags (--board, and ``c_flags``: flag -> the option it
    sets, or None when not given) as its options; any of those flags with another target is one line."""
    from qsnn_deploy.commands.targets import parse_options
    from qsnn_deploy.targets import get_target
    from qsnn_deploy.targets.options import declared

    pairs = list(kw.pop("target_option"))
    board = kw.pop("board")
    for flag, pair in {"--board": None if board is None else f"board={board}", **c_flags}.items():
        if pair is None:
            continue
        if target != "c":
            keys = ", ".join(d.name for d in declared(get_target(target).settings)) or "no --option"
            raise QsnnError(
                f"{flag} is a setting of the C target (--target c); the {target} target takes {keys}"
            )
        pairs.append(pair)
    return parse_options(tuple(pairs), kw.pop("prefix"))


keep_option = click.option(
    "--keep", is_flag=True, help="Keep the temporary build folder (its path is printed)."
)
json_option = click.option(
    "--json", "json_path", type=params.OUTPUT_FILE, default=None,
    help="Also write the results to this JSON file.",
)  # fmt: skip
dataset_option = click.option(
    "--dataset", type=click.Choice(DATASETS), default=None, help="Test set (default: the one the IR records)."
)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_MODEL)
@target_options
@click.option("--out", type=params.OUTPUT_DIR, required=True)
def codegen(model: Path, target: str, out: Path, **kw) -> None:
    """Generate code for a target from an IR file (design rules run first; nothing is written if one fails)."""
    from qsnn_deploy.commands.targets import codegen_from_cli

    codegen_from_cli(model, target, out, _options(kw, target, {}))


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_MODEL)
@dataset_option
@data_dir_option
@inputs_option
@labels_option
@click.option("--limit", type=params.COUNT, default=100, show_default=True, help="Test samples to check.")
@target_options
@click.option("--executor", default=None, help=_executor_help())
@click.option(
    "--sanitize", is_flag=True,
    help="(C target) c/host: build with -fsanitize=address,undefined; --option sanitize=1.",
)  # fmt: skip
@click.option("--num-steps", type=params.NUM_STEPS, default=None, help="Time steps (default: the IR's).")
@click.option(
    "--from", "from_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
    help="Verify the files `codegen --out DIR` wrote instead of generating fresh ones (each must be the file "
    "codegen writes from MODEL; see --allow-edited).",
)  # fmt: skip
@click.option(
    "--allow-edited", is_flag=True,
    help="With --from: verify files that differ from what codegen writes (code you changed on purpose); "
    "they are named in the summary.",
)  # fmt: skip
@keep_option
@json_option
def verify(model: Path, sanitize: bool, **kw) -> None:
    """Build and run a target's code on test data; compare every spike, membrane and synaptic current with the
    simulator."""
    from qsnn_deploy.commands.targets import verify_from_cli

    options = _options(kw, kw["target"], {"--sanitize": "sanitize=1" if sanitize else None})
    verify_from_cli(model, options=options, **kw)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_MODEL)
@dataset_option
@data_dir_option
@inputs_option
@click.option("--limit", type=params.COUNT, default=10, show_default=True, help="Samples for the activity.")
@target_options
@click.option(
    "--baseline/--no-baseline", default=False, show_default=True,
    help="(C target) Also measure the dense-kernel baseline (slow: minutes under valgrind and QEMU); "
    "--option baseline=1.",
)  # fmt: skip
@keep_option
@json_option
def report(model: Path, baseline: bool, **kw) -> None:
    """Cost of a target: flash, RAM and instructions per inference (c), resources and Fmax (FPGA targets)."""
    from qsnn_deploy.commands.targets import report_from_cli

    options = _options(kw, kw["target"], {"--baseline": "baseline=1" if baseline else None})
    report_from_cli(model, options=options, **kw)


@cli.command("import")
@click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--bits",
    type=params.EXPORT_BITS,
    default=4,
    show_default=True,
    help="Weight bits: per-tensor post-training quantization with Brevitas's rounding.",
)
@click.option("--out", type=params.OUTPUT_FILE, default=Path(DEFAULT_MODEL), show_default=True)
@click.option(
    "--num-steps", type=params.NUM_STEPS, default=None, help="Time steps (default: the graph's metadata)."
)
@click.option(
    "--encoding",
    type=click.Choice(["static", "stream"]),
    default=None,
    help="static: the same frame every step; stream: one frame per step (default: metadata, else static).",
)
@click.option(
    "--input-scale",
    type=params.POSITIVE_REAL,
    default=None,
    help="Real value of one uint8 input unit (default: metadata, else 1/255 static, 1 stream).",
)
@click.option(
    "--dt",
    type=params.POSITIVE_REAL,
    default=None,
    help="Time step of the graph's neurons (default: the graph's metadata, else read off the nodes or the "
    "convention's documented step; refused when none gives it).",
)
@click.option(
    "--convention",
    type=click.Choice(["auto", "nir", "snntorch", "norse", "sinabs", "spyx", "rockpool"]),
    default="auto",
    show_default=True,
    help="How the library that wrote the graph reads its neurons (auto: detected and printed).",
)
@click.option(
    "--input-shape",
    default=None,
    metavar="C,H,W",
    help="Frame shape for a flat input (read in C, H, W order; default: the dataset's frames when the "
    "element counts match).",
)
@click.option(
    "--reset",
    type=click.Choice(["subtract", "zero"]),
    default=None,
    help="LIF reset (default: the node's metadata, else the convention's).",
)
@click.option("--state-bits", type=click.Choice(["16", "32"]), default="32", show_default=True)
@click.option(
    "--dataset",
    type=click.Choice(DATASETS),
    default=None,
    help="Check float against integer on its test samples (and the set `verify` uses by default).",
)
@data_dir_option
@click.option(
    "--limit", type=params.COUNT, default=200, show_default=True, help="Test samples for the --dataset check."
)
@click.option(
    "--exact",
    is_flag=True,
    help="A file qsnn-deploy wrote: rebuild its IR graph from the integers in its metadata (no re-quantizing).",
)
def import_nir(source: Path, out: Path, state_bits: str, **options) -> None:
    """Import a NIR graph (a network from another tool) as an integer IR file; docs/targets/nir.md."""
    from qsnn_deploy.commands.import_nir import import_from_cli

    import_from_cli(source, out, state_bits=int(state_bits), **options)


@cli.command()
@click.option("--out", type=params.OUTPUT_DIR, default=Path("out/demo"), show_default=True)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Model to deploy (default: the bundled examples/mnist/model.pt).",
)
def demo(out: Path, checkpoint: Path | None) -> None:
    """Offline end-to-end demo on the bundled model and sample: export, simulate, codegen, verify, firmware."""
    from qsnn_deploy.commands.demo import run_demo

    run_demo(out, checkpoint)


class Terminated(SystemExit):
    """SIGTERM, raised where the program is: every ``finally`` and context manager on the way out runs
    (temporary build folders are removed, running tools stopped by ``verify.tools.run_tool``), as after
    Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the clean-up at once
    raise Terminated(128 + signum)


def main() -> None:
    # click turns KeyboardInterrupt into Abort, but SIGTERM (kill, timeout, a CI runner) would end the process
    # without any clean-up and leave its temporary folders; SystemExit passes through click untouched. The
    # previous handler comes back afterwards (main also runs in-process, in tests).
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        _run()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run() -> None:
    try:
        cli.main(standalone_mode=False)
    except Terminated:
        click.echo("terminated", err=True)
        raise
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except QsnnError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
