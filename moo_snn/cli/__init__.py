"""The ``moo-snn`` command line. Commands are thin: parse, call the library, print.

Exit codes: 0 success; 2 a user mistake (bad problem file, architecture, data, option);
3 no candidate meets the limits; 4 a training diverged; 130 interrupted.
"""

from __future__ import annotations

import typer

from moo_snn.cli.cost_cmd import cost
from moo_snn.cli.export_cmd import export
from moo_snn.cli.optimize_cmd import optimize
from moo_snn.cli.pareto_cmd import pareto
from moo_snn.cli.problems_cmd import problems
from moo_snn.cli.surrogate_cmd import surrogate_app
from moo_snn.cli.train_cmd import train

app = typer.Typer(
    name="moo-snn",
    help="Hardware-aware multi-objective search for spiking neural networks on RRAM compute-in-memory accelerators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(optimize)
app.command()(train)
app.command()(problems)
app.command()(cost)
app.command()(pareto)
app.command()(export)
app.add_typer(surrogate_app, name="surrogate")


def main() -> None:
    app()
