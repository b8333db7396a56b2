"""``moo-snn optimize``: the search (NSGA-II over predicted accuracy and IMC costs, full training of survivors)."""

from __future__ import annotations

import enum
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from moo_snn.cli.common import (DeviceOpt, JsonOpt, SchedulerOpt, TorchThreadsOpt, WideOpt, WorkersOpt, stderr,
                                stdout, user_errors)
from moo_snn.cli.optimize_report import check_before_writing, nothing_to_resume, report_run
from moo_snn.cli.progress import SearchProgress
from moo_snn.errors import ResultsError


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
    archive: Annotated[Optional[Path], typer.Option(help="accuracy archive to start from (default: surrogates/<dataset>.nc in the current folder if there is one, else the one shipped with moo-snn)")] = None,
    strategy: Annotated[Strategy, typer.Option(help="moo: this tool's search; hasnas: the papers' search as reconstructed (sample, cost filter, training-free score, train the best)")] = "moo",
    samples: Annotated[Optional[int], typer.Option(min=1, help="strategy hasnas: cells sampled (default: [search] hasnas_samples)")] = None,
    device: DeviceOpt = "cpu",
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    torch_threads: TorchThreadsOpt = None,
    objective: Annotated[Optional[list[str]], typer.Option("--objective", help="objective NAME (built-in, installed plug-in) or module:function; repeat for several: they replace the problem's [objectives], +NAME adds one")] = None,
    allow_code: Annotated[bool, typer.Option("--allow-code", help="run module:function objectives named in the problem file (problem files are shared: read that code first)")] = False,
    budget: Annotated[Optional[float], typer.Option("--budget", min=0, help="stop training once this many full-training equivalents (FTE: epochs x data fraction / full epochs, summed) are spent; --resume with a larger one continues")] = None,
    budget_hours: Annotated[Optional[float], typer.Option("--budget-hours", min=0, help="stop starting trainings once this many hours of training time are spent")] = None,
    asynchronous: Annotated[Optional[bool], typer.Option("--async/--sync", help="async: a free worker gets the next candidate from the current predictor and population (no round barrier); sync: rounds of survivors. Default: async with --workers 2 or more or --scheduler, else sync (measured in benchmarks/RESULTS.md); a resumed run keeps its mode")] = None,
    wide: WideOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Search the problem's space for accurate networks that meet its hardware limits; write the
    results file and print the measured front."""
    from moo_snn.config.problem import load_problem
    from moo_snn.executor import make_executor
    from moo_snn.search.hasnas import HasnasRun
    from moo_snn.search.loop import SearchRun, with_overrides

    if resume is not None:
        from moo_snn.results import open_results
        from moo_snn.search.loop import resume_spec

        stored = open_results(resume)
        spec, stored_options = resume_spec(stored, source=str(resume))  # the run's own options, unless given below
        if torch_threads is None:
            torch_threads = stored_options.get("torch_threads")
        if problem is not None and load_problem(problem).source != spec.source:
            raise ResultsError(f"{resume} was made with another problem than {problem}; run --resume without a problem")
        seed = int(stored.attrs["seed"]) if seed is None else seed
        strategy = stored.attrs.get("strategy", strategy)  # a run continues with the strategy it began with
        if asynchronous is None:
            asynchronous = stored.attrs.get("search_mode") == "async"
        path = resume
    else:
        spec = load_problem(problem)
        seed = spec.search.seed if seed is None else seed
        if out is not None and out.suffix == ".nc":
            path = out
        else:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            from moo_snn.resources import default_results_dir
            path = (out or default_results_dir()) / f"{spec.name}-seed{seed}-{stamp}.nc"
    spec = with_overrides(spec, seed=seed, rounds=rounds, generations=generations, pop_size=pop_size, survivors=survivors,
                          hasnas_samples=samples)
    from moo_snn.objectives import with_objectives

    if "" not in sys.path and str(Path.cwd()) not in sys.path:  # module:function objectives from the current folder
        sys.path.append(str(Path.cwd()))
    spec = with_objectives(spec, objective or (), allow_code=allow_code,
                           stored=[str(n) for n in stored.objective.values] if resume is not None else None)
    if resume is not None and nothing_to_resume(stored, spec, resume):
        raise typer.Exit(report_run(stdout, stderr, spec, stored, resume, json_out=json_out, wide=wide))
    if asynchronous is None:  # measured: async keeps 2+ workers busy, one worker gains nothing from it
        asynchronous = (Strategy(strategy) is Strategy.moo and not spec.fidelity.enabled
                        and ((workers or 0) >= 2 or scheduler is not None))
    if asynchronous and Strategy(strategy) is not Strategy.moo:
        raise typer.BadParameter("--async applies to --strategy moo only", param_hint="--async")
    data = check_before_writing(spec, path, in_process=workers is None and scheduler is None, remote=scheduler is not None)
    try:
        with SearchProgress(stderr) as progress:
            run_class = HasnasRun if Strategy(strategy) is Strategy.hasnas else SearchRun
            if asynchronous:
                from moo_snn.search.async_loop import AsyncSearchRun

                run_class = AsyncSearchRun
            executor = make_executor(workers, scheduler, torch_threads=torch_threads)
            if workers or scheduler:
                progress.phase(f"starting {workers} Dask workers" if workers else f"joining the Dask cluster at {scheduler}")
            with executor:
                from moo_snn.search.fidelity import Budget

                caps = {"budget": Budget(budget, budget_hours)} if budget is not None or budget_hours is not None else {}
                run = run_class(spec, path, archive_path=archive, resume=resume, device=device, data=data,
                                command=" ".join(["moo-snn", *sys.argv[1:]]), progress=progress, executor=executor, **caps)
                for name, before, now in run.option_changes:
                    stderr.print(f"resumed with {name} {now} (the run had {before})", highlight=False, markup=False)
                ds = run.run()
    except KeyboardInterrupt:
        stderr.print(f"[yellow]interrupted[/]: every finished training is in {path}; continue with "
                     f"moo-snn optimize --resume {path}")
        raise typer.Exit(130) from None
    raise typer.Exit(report_run(stdout, stderr, spec, ds, path, json_out=json_out, wide=wide))
