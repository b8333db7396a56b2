"""What every command shares: the error boundary, the ``--json`` output, the consoles, options."""

from __future__ import annotations

import functools
import json
import math
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from moo_snn.interrupts import handling as handling_interrupts
from moo_snn.cli.render import refresh_consoles
from moo_snn.errors import MooSnnError


class _Console(Console):
    """rich's console, except that a reader who goes away (``moo-snn optimize ... 2>&1 | head``) silences it
    instead of ending the command: rich's default raised SystemExit(1) from inside the run, which was then
    recorded as failed ("SystemExit: 1") with what it had measured lost, or exited 1 after a complete run."""

    def on_broken_pipe(self) -> None:
        import os

        self.quiet = True
        try:
            target = self.file.fileno()
        except (AttributeError, OSError, ValueError):  # a file without a descriptor: quiet is enough
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, target)  # later writes (and the interpreter's last flush) go nowhere
        os.close(devnull)


stdout = _Console(highlight=False)
stderr = _Console(stderr=True, highlight=False, soft_wrap=True)  # a message is one line, however long
# widths are set per command (COLUMNS, the terminal, or render.PIPE_WIDTH): see user_errors

ProblemArg = Annotated[str, typer.Argument(help="problem file, or the name of a shipped problem (see `moo-snn problems`)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON on stdout instead of tables")]
WideOpt = Annotated[bool, typer.Option("--wide", help="one table with every column, however wide (default: tables folded to the terminal's width, COLUMNS when set)")]
SeedOpt = Annotated[int, typer.Option(min=0, max=2**32 - 1, help="random seed, 0 to 2**32 - 1 (config.problem.SEED_MAX: what scikit-learn's random_state takes)")]
DeviceOpt = Annotated[str, typer.Option(help="torch device for training: cpu, cuda or cuda:N (checked before anything is read or written: another device type, or a GPU torch does not see here, is an error)")]
WorkersOpt = Annotated[Optional[int], typer.Option(min=1, help="train on a local Dask cluster of N worker processes, one training each")]
SchedulerOpt = Annotated[Optional[str], typer.Option(help="train on the Dask cluster of this scheduler (tcp://HOST:8786); trainings wait at most 15 min for a worker while it has none (said once), then the run stops, every finished training kept; see README, Running on a cluster")]
TorchThreadsOpt = Annotated[Optional[int], typer.Option(min=1, help="torch threads per training (default: chosen per training: 1 for small networks, else at most the free cores of the machine's share; the count used is recorded with each result); equal counts measure equal results")]


def print_error(text: str) -> None:
    """The one line of an error on stderr (``error: ...``; ``text`` is shown as written, not as markup)."""
    stderr.print(f"[bold red]error:[/] {escape(text)}")


def user_errors(command):
    """Turn a :class:`MooSnnError` into one line on stderr and its exit code (no traceback), and
    SIGTERM (what kill, Slurm and Kubernetes send) into the same clean stop as Ctrl-C
    (:func:`moo_snn.interrupts.handling`, which also records the signal for code waiting on workers)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        refresh_consoles(stdout, stderr)
        try:
            with handling_interrupts():
                return command(*args, **kwargs)
        except MooSnnError as exc:
            print_error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            stderr.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper


def _clean(value):
    """JSON-safe values: NaN → null, numpy scalars → Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(obj) -> None:
    """One JSON object on stdout (plain print: no rich markup or wrapping)."""
    print(json.dumps(_clean(obj), indent=None))
