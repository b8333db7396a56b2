"""``moo-snn optimize``: the search. Until the NSGA-II loop lands, it runs what exists, and says so."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from moo_snn.cli.common import DeviceOpt, JsonOpt, SeedOpt, stderr, user_errors


@user_errors
def optimize(
    problem: Annotated[Optional[str], typer.Argument(help="problem file or shipped problem name (default: digits, the embedded default)")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
    json_out: JsonOpt = False,
) -> None:
    """Search the problem's space for accurate networks that meet its hardware limits."""
    from moo_snn.cli.train_cmd import train
    from moo_snn.config.problem import resolve_problem_path

    path = resolve_problem_path(problem)
    stderr.print(
        "[yellow]note:[/] the multi-objective search (NSGA-II over predicted accuracy and IMC costs) is not "
        "implemented yet; this runs what exists: full spiking training of the problem's reference architecture."
    )
    train(str(path), arch=None, epochs=None, seed=seed, device=device, save=None, json_out=json_out)
