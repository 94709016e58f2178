"""Command line: a thin click group. Each command parses its options and calls one library function.

User mistakes surface as ``QsnnError``; ``main`` prints them as one line and exits non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from qsnn_deploy.errors import QsnnError

DATASETS = ["mnist", "fmnist", "nmnist", "dvs"]
DEFAULT_MODEL = "model.qsnn"

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Dataset root (default: $QSNN_DATA_DIR, else ~/.cache/qsnn-deploy/data).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qsnn-deploy")
def cli() -> None:
    """qsnn-deploy: train, export, simulate, generate code for and verify 4-bit spiking networks."""


@cli.command()
@click.option("--dataset", type=click.Choice(DATASETS), required=True, help="Which dataset and preset.")
@click.option("--bits", type=int, default=4, show_default=True, help="Weight bits (0 = float model).")
@click.option("--epochs", type=int, default=None, help="Epochs (default: the preset's).")
@click.option("--num-steps", type=int, default=None, help="Time steps per sample (default: the preset's).")
@click.option(
    "--schedule",
    type=click.Choice(["cosine", "cosine-restarts", "fixed"]),
    default="cosine",
    show_default=True,
)
@data_dir_option
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/latest"), show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--train-limit", type=int, default=None, help="Use only the first N training samples.")
@click.option("--test-limit", type=int, default=None, help="Use only the first N test samples.")
@click.option("--patience", type=int, default=None, help="Early-stopping patience in epochs.")
@click.option("--batch-size", type=int, default=None, help="Batch size (default: the preset's).")
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
    from qsnn_deploy.train.runner import train_from_cli

    train_from_cli(**options)


@cli.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--bits", type=int, default=4, show_default=True, help="Weight bits the model was trained with."
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
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=Path(DEFAULT_MODEL), show_default=True
)
def export(checkpoint: Path, bits: int, state_bits: str, arch: str, beta, threshold, out: Path) -> None:
    """Freeze a trained checkpoint into the integer IR (a .qsnn file)."""
    from qsnn_deploy.export.api import export_from_cli

    export_from_cli(
        checkpoint, bits=bits, state_bits=int(state_bits), arch=arch, beta=beta, threshold=threshold, out=out
    )


@cli.command()
@click.option(
    "--model", type=click.Path(dir_okay=False, path_type=Path), default=Path(DEFAULT_MODEL), show_default=True
)
@click.option("--dataset", type=click.Choice(DATASETS), required=True)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Float checkpoint to compare with (default: the one recorded in the IR, if it exists).",
)
@data_dir_option
@click.option("--limit", type=int, default=None, help="Only the first N test samples.")
@click.option("--num-steps", type=int, default=None, help="Time steps (default: the IR's).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
def simulate(**options) -> None:
    """Run the bit-accurate integer simulator on a test set and compare it with the float model."""
    from qsnn_deploy.sim.report import simulate_from_cli

    simulate_from_cli(**options)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_MODEL)
@click.option("--target", type=click.Choice(["c"]), default="c", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--prefix", default="qsnn", show_default=True, help="Prefix of generated C identifiers.")
def codegen(model: Path, target: str, out: Path, prefix: str) -> None:
    """Generate code for a target from an IR file."""
    from qsnn_deploy.targets import generate_from_cli

    generate_from_cli(model, target=target, out=out, prefix=prefix)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_MODEL)
@click.option("--dataset", type=click.Choice(DATASETS), required=True)
@data_dir_option
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--target", type=click.Choice(["c", "cortex-m"]), default="c", show_default=True)
@click.option("--sanitize", is_flag=True, help="Build the host harness with -fsanitize=address,undefined.")
@click.option("--num-steps", type=int, default=None)
def verify(**options) -> None:
    """Compile the generated code, run it, and compare every spike with the simulator."""
    from qsnn_deploy.verify import verify_from_cli

    verify_from_cli(**options)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_MODEL)
@click.option("--dataset", type=click.Choice(DATASETS), default="mnist", show_default=True)
@data_dir_option
@click.option("--limit", type=int, default=10, show_default=True)
@click.option(
    "--baseline/--no-baseline",
    default=True,
    show_default=True,
    help="Also measure the dense-kernel baseline (slow under valgrind and QEMU).",
)
def report(**options) -> None:
    """Flash, RAM, instructions per inference and synaptic operations of the generated C."""
    from qsnn_deploy.targets.c.report import report_from_cli

    report_from_cli(**options)


@cli.command()
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("out/demo"), show_default=True
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Model to deploy (default: the bundled examples/mnist/model.pt).",
)
def demo(out: Path, checkpoint: Path | None) -> None:
    """Offline end-to-end demo on the bundled model and sample: export, simulate, codegen, verify, firmware."""
    from qsnn_deploy.demo import run_demo

    run_demo(out, checkpoint)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
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
