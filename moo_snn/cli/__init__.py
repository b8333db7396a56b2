"""The ``moo-snn`` command line. Commands are thin: parse, call the library, print.

Exit codes: 0 success; 1 an unexpected error (a bug: one line, the traceback saved to a file);
2 a user mistake (bad problem file, architecture, data, option, unreadable or foreign file);
3 no candidate meets the limits (a run its budget stopped before one was measured: 0, status ``budget_spent``); 4 a training diverged; 130 interrupted (Ctrl-C, SIGTERM, or SIGHUP: the terminal closed).
Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys
import tempfile
import traceback

from typing import Annotated

import typer

from moo_snn.cli.render import PlainHelpGroup, plain_help_everywhere

try:  # recent typer vendors its own click
    from typer._click import exceptions as click
except ImportError:  # pragma: no cover - typer with click as a dependency
    from click import exceptions as click

from moo_snn.cli.cost_cmd import cost
from moo_snn.cli.export_cmd import export
from moo_snn.cli.optimize_cmd import optimize
from moo_snn.cli.pareto_cmd import pareto
from moo_snn.cli.plan_cmd import plan
from moo_snn.cli.problems_cmd import problems
from moo_snn.cli.surrogate_cmd import surrogate_app
from moo_snn.cli.train_cmd import train

class _OneLineErrors(PlainHelpGroup):
    """The command group, with usage errors (unknown option, bad value, unknown command) as one line
    ``error: ... (see moo-snn CMD --help)`` instead of a framed panel, and no traceback ever."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        from moo_snn.cli.common import print_error, stderr
        from rich.markup import escape

        try:
            rv = super().main(args, prog_name or "moo-snn", complete_var, False, **extra)
        except click.NoArgsIsHelpError as exc:  # `moo-snn` alone, `moo-snn surrogate` alone
            # the exception holds ctx.get_help(), made when it was raised: typer's rich help prints itself
            # then (and holds ""), plain click help returns its text; printing get_help() again showed it twice
            text = exc.format_message()
            if text.strip():
                click.echo(text)
            sys.exit(0)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "moo-snn"
            print_error(f"{exc.format_message()} (see {where} --help)")
            sys.exit(exc.exit_code)
        except click.ClickException as exc:  # e.g. a bad file option
            print_error(exc.format_message())
            sys.exit(exc.exit_code)
        except typer.Abort:
            stderr.print("[yellow]interrupted[/]")
            sys.exit(130)
        except Exception as exc:  # a bug: one line for the user, the traceback kept for the report
            with tempfile.NamedTemporaryFile("w", prefix="moo-snn-error-", suffix=".txt", delete=False) as f:
                traceback.print_exc(file=f)
            stderr.print(f"[bold red]unexpected error[/] {escape(type(exc).__name__)}: {escape(str(exc))} — a bug in "
                         f"moo-snn; the traceback is in {f.name}, please attach it to a report")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="moo-snn",
    cls=_OneLineErrors,
    help="Hardware-aware multi-objective search for spiking neural networks on RRAM compute-in-memory accelerators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"moo-snn {version('moo-snn')}")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree that was never installed
            print("moo-snn (not installed: no version metadata)")
        raise typer.Exit(0)


@app.callback()
def _top(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                              help="print the version of moo-snn and exit")] = False) -> None:
    """Hardware-aware multi-objective search for spiking neural networks on RRAM compute-in-memory accelerators."""
app.command()(optimize)
app.command()(train)
app.command()(problems)
app.command()(cost)
app.command()(pareto)
app.command()(export)
app.add_typer(surrogate_app, name="surrogate")
app.command()(plan)
# new commands are registered above this line: help texts are shown as written (no rich markup)
plain_help_everywhere(app)


def main() -> None:
    app()
