"""``moo-snn train``: fully train one architecture with the problem's recipe and measure it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from moo_snn.cli.common import DeviceOpt, JsonOpt, ProblemArg, SeedOpt, print_json, stderr, stdout, user_errors


@user_errors
def train(
    problem: ProblemArg,
    arch: Annotated[Optional[str], typer.Option(help="architecture string (default: the problem's reference_arch)")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="epochs (default: the problem's [training] epochs)")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
    save: Annotated[Optional[Path], typer.Option(help="save the trained weights to this file (.pt, loadable with weights_only=True)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Train ARCH (or the problem's reference architecture) and report validation and test accuracy,
    per-layer input spike rates and wall time."""
    from moo_snn.architecture import Architecture
    from moo_snn.config.problem import load_problem
    from moo_snn.data import load_problem_data

    spec = load_problem(problem)
    architecture = spec.check_architecture(Architecture.parse(arch)) if arch is not None else spec.reference_arch
    data = load_problem_data(spec)
    from moo_snn.training.trainer import train_architecture  # torch: only once the inputs are valid

    n_epochs = epochs or spec.training.epochs
    with Progress(TextColumn("training {task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} epochs, loss {task.fields[loss]}"),
                  TimeElapsedColumn(), console=stderr, transient=json_out or not stderr.is_terminal) as progress:
        task = progress.add_task(str(architecture), total=n_epochs, loss="-")
        result = train_architecture(spec, architecture, data, epochs=n_epochs, seed=seed, device=device, weights_path=save,
                                    on_epoch=lambda e, n, loss: progress.update(task, completed=e, loss=f"{loss:.3f}"))
    if json_out:
        print_json(result.to_dict())
        return
    table = Table(title=f"{spec.name}: {result.arch}", show_header=False)
    for key, value in (("status", result.status), ("validation accuracy", f"{result.val_accuracy:.4f}"),
                       ("test accuracy", f"{result.test_accuracy:.4f}"), ("epochs", result.epochs),
                       ("train time [s]", f"{result.train_seconds:.1f}"), ("samples/s", f"{result.samples_per_second:.0f}"),
                       ("weights", f"{result.params:,}"), ("device", result.device), ("seed", result.seed)):
        table.add_row(key, str(value))
    stdout.print(table)
    if result.spike_rates:
        rates = Table(title="input spike rate per crossbar layer (validation set)")
        rates.add_column("layer")
        rates.add_column("rate", justify="right")
        for name, rate in result.spike_rates.items():
            rates.add_row(name, f"{rate:.3f}")
        stdout.print(rates)
    if save:
        stdout.print(f"weights saved to {save}")
    if result.status != "trained":
        raise typer.Exit(4)
