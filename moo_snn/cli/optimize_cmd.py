"""``moo-snn optimize``: the search (NSGA-II over predicted accuracy and IMC costs, full training of survivors).

Thin: the options go to :func:`moo_snn.run.prepare_optimize` (what :func:`moo_snn.optimize` does, in
two steps), progress to :class:`~moo_snn.cli.progress.SearchProgress`, the front to
:func:`~moo_snn.cli.optimize_report.report_run`.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from moo_snn.cli.common import (DeviceOpt, JsonOpt, SchedulerOpt, TorchThreadsOpt, WideOpt, WorkersOpt, stderr,
                                stdout, user_errors)
from moo_snn.cli.optimize_report import report_run
from moo_snn.cli.progress import SearchProgress
from moo_snn.cli.render import plain


class Strategy(str, enum.Enum):
    moo = "moo"
    hasnas = "hasnas"


@user_errors
def optimize(
    problem: Annotated[Optional[str], typer.Argument(help="problem file or shipped problem name (default: digits, the embedded default)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="results file (.nc) or folder (default: results/ in the current folder, created if needed)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="seed of the search (default: the problem's [search] seed)")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="continue this results file (interrupted or shorter run)")] = None,
    rounds: Annotated[Optional[int], typer.Option(min=1, help="search rounds")] = None,
    generations: Annotated[Optional[int], typer.Option(min=1, help="NSGA-II generations per round")] = None,
    pop_size: Annotated[Optional[int], typer.Option(min=4, help="NSGA-II population")] = None,
    survivors: Annotated[Optional[int], typer.Option(min=1, help="candidates fully trained per round")] = None,
    bootstrap: Annotated[Optional[int], typer.Option(min=2, help="feasible architectures trained before the first round when the archive holds fewer trained ones (default: the problem's [search] bootstrap)")] = None,
    archive: Annotated[Optional[Path], typer.Option(help="accuracy archive to start from; it must exist; 'none': start from no archive (default: the first archive of the data set, surrogates/<dataset>*.nc here or shipped with moo-snn, measured with the problem's recipe at its epochs; a resume: the archive the run started from)")] = None,
    strategy: Annotated[Strategy, typer.Option(help="moo: this tool's search; hasnas: the papers' search as reconstructed (sample, cost filter, training-free score, train the best)")] = "moo",
    samples: Annotated[Optional[int], typer.Option(min=1, help="strategy hasnas: cells sampled (default: [search] hasnas_samples)")] = None,
    device: DeviceOpt = "cpu",
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    torch_threads: TorchThreadsOpt = None,
    objective: Annotated[Optional[list[str]], typer.Option("--objective", help="objective NAME (built-in, installed plug-in) or module:function; repeat for several: they replace the problem's [objectives], +NAME adds one")] = None,
    allow_code: Annotated[bool, typer.Option("--allow-code", help="run module:function objectives named in the problem file (problem files are shared: read that code first)")] = False,
    budget: Annotated[Optional[float], typer.Option("--budget", min=0, help="stop training once this many full-training equivalents (FTE: epochs x data fraction / full epochs, summed) are spent; --resume keeps the run's budget, a larger one continues")] = None,
    budget_hours: Annotated[Optional[float], typer.Option("--budget-hours", min=0, help="stop starting trainings once this many hours of training time are spent")] = None,
    asynchronous: Annotated[Optional[bool], typer.Option("--async/--sync", help="async: a free worker gets the next candidate from the current predictor and population (no round barrier); sync: rounds of survivors. Default: async with --workers 2 or more or --scheduler, except for a problem with a [fidelity] table, else sync (measured in benchmarks/RESULTS.md); a resumed run keeps its mode")] = None,
    wide: WideOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Search the problem's space for accurate networks that meet its hardware limits; write the
    results file and print the measured front."""
    from moo_snn.run import SearchModeChoiceError, prepare_optimize
    from moo_snn.run_checks import larger_budget_flags

    if "" not in sys.path and str(Path.cwd()) not in sys.path:  # module:function objectives from the current folder
        sys.path.append(str(Path.cwd()))
    search = dict(seed=seed, rounds=rounds, generations=generations, pop_size=pop_size, survivors=survivors,
                  bootstrap=bootstrap, hasnas_samples=samples)
    try:
        prepared = prepare_optimize(problem, out, resume=resume, search=search, objectives=objective or (),
                                    allow_code=allow_code, strategy=None if resume is not None else Strategy(strategy).value,
                                    asynchronous=asynchronous, archive=archive, device=device, workers=workers,
                                    scheduler=scheduler, torch_threads=torch_threads, budget_fte=budget,
                                    budget_hours=budget_hours, command=" ".join(["moo-snn", *sys.argv[1:]]))
    except SearchModeChoiceError:
        raise typer.BadParameter("--async applies to --strategy moo only", param_hint="--async") from None
    path, spec = prepared.path, prepared.spec
    for note in prepared.notes:
        stderr.print(plain(f"note: {note}"))
    if resume is not None and out is not None and Path(out).resolve() != Path(resume).resolve():  # said, never dropped
        stderr.print(plain(f"note: --out {out} not used: a resumed run continues its own file, {resume}"))
    if resume is not None and strategy != "moo":
        stderr.print(plain(f"note: --strategy {Strategy(strategy).value} not used: a resumed run keeps its own strategy "
                           f"({prepared.strategy})"))
    flags = {"hasnas_samples": "samples"}  # [search] keys whose option has another name
    if prepared.unused:  # given to a resume with nothing left to do: said, never dropped silently
        stderr.print(plain("note: not used, as the run has nothing left to do: " + ", ".join(
            f"--{flags.get(name, name).replace('_', '-')} {given} (the run had {stored})" for name, stored, given in prepared.unused)))
    if prepared.nothing_to_do:
        status, done = prepared.stored.attrs.get("status"), int(prepared.stored.sizes.get("round", 0))
        for_budget = done < spec.search.rounds or (status == "budget_spent" and "budget_refused" in prepared.stored.attrs)
        hint = ("start a new run (another --seed or --samples) for another" if prepared.strategy == "hasnas" else
                f"to continue it, give a larger budget: moo-snn optimize --resume {path}"
                f"{f' --rounds {spec.search.rounds}' if status == 'complete' else ''} "
                f"{larger_budget_flags(prepared.stored, spec, prepared.budget)}"
                if for_budget else f"to continue it, ask for more: moo-snn optimize --resume {path} --rounds {done + 1}")
        stderr.print(plain(f"nothing to do: {prepared.nothing_to_do}; {hint}"))
        raise typer.Exit(report_run(stdout, stderr, spec, prepared.stored, path, json_out=json_out, wide=wide))

    def say_change(name, before, now):
        stderr.print(f"resumed with {name} {now} (the run had {before})", highlight=False, markup=False)

    written_before = path.stat().st_mtime_ns if path.exists() else None
    try:
        with SearchProgress(stderr) as progress:
            ds = prepared.execute(progress, on_option_change=say_change)
    except KeyboardInterrupt:
        if prepared.resume is None and (not path.exists() or path.stat().st_mtime_ns == written_before):
            stderr.print(f"[yellow]interrupted[/] before the run wrote {path}: nothing was trained; start it again")
        else:
            stderr.print(f"[yellow]interrupted[/]: every finished training is in {path}; continue with "
                         f"moo-snn optimize --resume {path}")
        raise typer.Exit(130) from None
    raise typer.Exit(report_run(stdout, stderr, spec, ds, path, json_out=json_out, wide=wide))
