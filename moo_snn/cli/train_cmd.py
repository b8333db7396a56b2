"""``moo-snn train``: fully train one architecture with the problem's recipe and measure it.

Progress goes to stderr while it trains: a bar with batches, samples/s and ETA on a terminal,
plain lines every ~15 s in a log (``moo-snn train digits 2>log``; see :mod:`moo_snn.cli.progress`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from moo_snn.cli.common import DeviceOpt, JsonOpt, ProblemArg, SeedOpt, TorchThreadsOpt, print_json, stderr, stdout, user_errors
from moo_snn.cli.progress import TrainingProgress
from moo_snn.cli.render import plain, rate


@user_errors
def train(
    problem: ProblemArg,
    arch: Annotated[Optional[str], typer.Option(help="architecture string (default: the problem's reference_arch)")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="epochs (default: the problem's [training] epochs)")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
    save: Annotated[Optional[Path], typer.Option(help="save the trained network to this file (.pt; missing folders are created): a dict {'arch': architecture string, 'state_dict': the weights}, read with torch.load(FILE, weights_only=True)")] = None,
    repair: Annotated[bool, typer.Option("--repair", help="train an invalid cell (no forward path 0 → 3) as the search repairs it, and say what it became")] = False,
    torch_threads: TorchThreadsOpt = None,
    nonideal: Annotated[bool, typer.Option("--nonideal", help="also measure the accuracy on non-ideal crossbars (the problem's \\[nonideal] table: Monte-Carlo mean and spread)")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Train ARCH (or the problem's reference architecture) and report validation and test accuracy,
    per-layer input spike rates and wall time."""
    from moo_snn.cli.arch_option import resolve_arch
    from moo_snn.space import OutsideSpaceWarning
    from moo_snn.config.problem import load_problem
    from moo_snn.data import load_problem_data

    from moo_snn.outputs import check_output_file
    from moo_snn.training.runtime import check_device

    check_device(device)  # before the data are read
    if save is not None:  # before the training, not after it (its missing folders are made when it is written)
        check_output_file(save, "--save", folder_hint="give a file name (.pt)")
    spec = load_problem(problem)
    architecture = resolve_arch(spec, arch, repair=repair, say=lambda text: stderr.print(plain(f"note: {text}")),
                                warn=lambda text: stderr.print(plain(f"warning: {text}")), doing="training")
    data = load_problem_data(spec)
    from moo_snn.training.runtime import torch_threads as threads
    from moo_snn.training.trainer import train_architecture  # torch: only once the inputs are valid

    n_epochs = epochs or spec.training.epochs
    scratch = None
    if nonideal and save is None:  # --nonideal measures the saved weights: keep them in a scratch file
        import tempfile

        scratch = tempfile.NamedTemporaryFile(suffix=".pt", delete=False)
        scratch.close()
    weights = save if scratch is None else Path(scratch.name)
    with TrainingProgress(stderr, str(architecture), n_epochs) as progress, warnings.catch_warnings():
        warnings.simplefilter("ignore", OutsideSpaceWarning)  # said above by resolve_arch, in one line
        result = train_architecture(spec, architecture, data, epochs=n_epochs, seed=seed, device=device, weights_path=weights,
                                    torch_threads=torch_threads, on_epoch=progress.on_epoch, on_batch=progress.on_batch)
    measured = {}
    if nonideal and result.status == "trained":  # the trained weights on the problem's crossbars
        from moo_snn.training.nonideal import measure_nonideal

        with threads(torch_threads):
            measured = measure_nonideal(spec, weights, data, device=device)
        if scratch is not None:
            Path(weights).unlink(missing_ok=True)
    if json_out:
        top = {k: measured[k] for k in ("accuracy_nonideal", "accuracy_nonideal_std")} if measured else {}
        given = {"arch_given": arch} if arch is not None and arch != result.arch else {}  # typed in another form
        print_json({**result.to_dict(), **given, **top, **({"nonideal": measured} if nonideal else {})})
        return
    stdout.print(plain(f"{spec.name}: {result.arch}"), soft_wrap=True)  # the architecture whole on its line (a user copies it)
    table = Table(show_header=False)
    for key, value in (("status", result.status), ("validation accuracy", f"{result.val_accuracy:.4f}"),
                       ("test accuracy", f"{result.test_accuracy:.4f}"), ("epochs", result.epochs),
                       ("train time [s]", f"{result.train_seconds:.1f}"), ("samples/s", rate(result.samples_per_second)),
                       ("weights", f"{result.params:,}"), ("device", result.device), ("seed", result.seed)):
        table.add_row(plain(key), plain(value))
    stdout.print(table)
    if result.spike_rates:
        rates = Table(title="input spike rate per crossbar layer (validation set)")
        rates.add_column("layer")
        rates.add_column("rate", justify="right")
        for name, value in result.spike_rates.items():
            rates.add_row(plain(name), f"{value:.3f}")
        stdout.print(rates)
    if measured:
        stdout.print(plain(f"accuracy on non-ideal crossbars ({measured['split']} split, {len(measured['accuracy_nonideal_draws'])} "
                           f"chips, X = {measured['crossbar_size']}, {measured['cell_bits']}-bit cells, {measured['adc_bits']}-bit ADCs): "
                           f"{measured['accuracy_nonideal']:.4f} ± {measured['accuracy_nonideal_std']:.4f} "
                           f"(ideal {measured['accuracy_ideal']:.4f})"))
    if save:
        stdout.print(plain(f"weights saved to {save} ({{'arch', 'state_dict'}}; torch.load(FILE, weights_only=True))"))
    if result.status != "trained":
        raise typer.Exit(4)
