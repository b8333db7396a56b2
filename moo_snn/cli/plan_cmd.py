"""``moo-snn plan``: the price of a run (hours, full-training equivalents, peak memory) before it starts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from moo_snn.cli.common import DeviceOpt, JsonOpt, ProblemArg, TorchThreadsOpt, print_json, stderr, stdout, user_errors
from moo_snn.cli.render import plain


@user_errors
def plan(
    problem: ProblemArg,
    device: DeviceOpt = "cpu",
    archive: Annotated[Optional[Path], typer.Option(help="accuracy archive the run would start from, as moo-snn optimize --archive ('none': no archive; default: the first archive of the data set, surrogates/<dataset>*.nc here or shipped with moo-snn, measured with the problem's recipe at its epochs): the bootstrap networks it holds are not trained, nor priced")] = None,
    seed: Annotated[Optional[int], typer.Option(help="seed of the run (its bootstrap sample; default: the problem's [search] seed)")] = None,
    rounds: Annotated[Optional[int], typer.Option(min=1, help="search rounds, as moo-snn optimize --rounds")] = None,
    survivors: Annotated[Optional[int], typer.Option(min=1, help="candidates trained per round, as moo-snn optimize --survivors")] = None,
    bootstrap: Annotated[Optional[int], typer.Option(min=2, help="networks measured before the first round, as moo-snn optimize --bootstrap (default: the problem's [search] bootstrap)")] = None,
    torch_threads: TorchThreadsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Price a search before spending it: time a few training steps of networks of the space on random
    tensors of the problem's input shape (no data needed), then print hours and full-training
    equivalents per phase, with and without the [fidelity] ladder, counting only the bootstrap
    networks the archive does not hold, and the peak memory of one training of the largest network
    the search may train (with the median network's beside it)."""
    from moo_snn.config.problem import load_problem
    from moo_snn.run import _checked_search
    from moo_snn.search.bootstrap_plan import bootstrap_coverage
    from moo_snn.search.fidelity import check_level_sizes, phase_plan
    from moo_snn.search.loop import with_overrides
    from moo_snn.training.plan import plan_run, split_sizes
    from moo_snn.training.runtime import check_device, torch_threads as threads

    check_device(device)  # before the archive is read and the steps timed
    overrides = _checked_search(dict(seed=seed, rounds=rounds, survivors=survivors, bootstrap=bootstrap), "plan")  # as optimize
    spec = with_overrides(load_problem(problem), **overrides)
    if archive is not None:
        from moo_snn.surrogate.archive_choice import check_archive_exists

        check_archive_exists(archive)  # as moo-snn optimize --archive and moo_snn.optimize(archive=) refuse it
    check_level_sizes(spec, split_sizes(spec)[0], spec.network_input.n_classes)  # a ladder optimize refuses is not priced
    coverage = bootstrap_coverage(spec, archive)
    # the phases of the run as it will train them: the bootstrap networks the archive holds are neither
    # trained nor raised up the round-0 ladder (with_overrides does not check bounds: 0 is taken as is)
    phases = phase_plan(with_overrides(spec, bootstrap=coverage.to_train))
    with threads(torch_threads):
        result = plan_run(spec, phases, device, bootstrap=coverage.to_dict(), torch_threads=torch_threads)
    warnings = []
    if spec.fidelity.enabled and result.full_training_equivalents > result.full_training_equivalents_without_ladder:
        warnings.append(f"this ladder costs more than training every network fully ({result.full_training_equivalents:.3g} "
                        f"against {result.full_training_equivalents_without_ladder:.3g} FTE): its levels are dear next to "
                        f"full training, or it promotes more than a round trains ([fidelity] promote)")
    for warning in warnings:  # on stderr with --json too (and in the JSON: a script reads it there)
        stderr.print(plain(f"warning: {warning}"))
    if json_out:
        print_json(dict(result.to_dict(), warnings=warnings))
        return
    table = Table(title=f"plan of {spec.name} on {device} (steps timed in {result.timing_seconds:.0f} s)")
    for col in ("phase", "trainings", "level", "FTE", "hours"):
        table.add_column(col, justify="left" if col in ("phase", "level") else "right")
    per_fte = result.full_training_hours
    ladder = "promotions" in result.phases
    for name, p in result.phases.items():
        table.add_row(f"{name} (at most)" if name == "promotions" else name, str(p["trainings"]), p["level"], f"{p['fte']:.3g}",
                      f"{p['fte'] * per_fte:.3g}")
    table.add_row("total (at most)" if ladder else "total", "", "", f"{result.full_training_equivalents:.3g}",
                  f"{result.estimated_hours:.3g}")
    table.add_row("without the ladder", "", "full", f"{result.full_training_equivalents_without_ladder:.3g}",
                  f"{result.estimated_hours_without_ladder:.3g}")
    stdout.print(table)
    if ladder:
        stdout.print("promotions are at most `promote` a round: one whose expected hypervolume improvement is 0 is not made",
                     highlight=False, markup=False)
    stdout.print(bootstrap_text(result.bootstrap), highlight=False, markup=False)
    stdout.print(f"one full training: {per_fte:.3g} h ({result.n_train} training samples, {result.seconds_per_sample * 1e3:.3g} ms "
                 f"per sample)", highlight=False, markup=False)
    worst = ("more than " if result.peak_memory_out_of_memory else "") + f"{result.peak_memory_GB:.3g} GB"
    stdout.print(f"peak memory of one training: {worst} for {result.peak_memory_arch}, {result.memory_of}"
                 f"{' (it does not fit on ' + device + ')' if result.peak_memory_out_of_memory else ''}; "
                 f"the median network: {result.typical_peak_memory_GB:.3g} GB (both with the data, "
                 f"{result.data_memory_GB:.3g} GB)", highlight=False, markup=False)


def bootstrap_text(coverage: dict) -> str:
    """One line saying how much of the bootstrap the archive covers and why, and, where the space-filling
    sample holds fewer networks than ``bootstrap`` asks (``from_archive + to_train`` below it), that the
    space gave no more."""
    n, got, todo = coverage["bootstrap"], coverage["from_archive"], coverage["to_train"]
    state, path = coverage["archive_state"], coverage["archive"]
    from moo_snn.search.bootstrap_plan import sample_shortfall

    short = sample_shortfall(n, got + todo)  # the words of the run's own bootstrap line
    if state == "missing":
        return f"bootstrap: {todo} of {n} networks trained (no archive at {path} to start from){short}"
    if state == "none":
        return f"bootstrap: {todo} of {n} networks trained (no archive asked for: --archive none){short}"
    if state != "matches":
        why = {"another recipe": "it was measured with other data or another [data] or [training] recipe",
               "no full trainings": "it holds no training of the problem's epochs on the whole training split"}
        return f"bootstrap: {todo} of {n} networks trained ({path} is not used: {why.get(state, state)}){short}"
    if todo == 0 and not short:
        return (f"bootstrap: none trained, {path} holds {coverage['archive_records']} networks trained with this recipe "
                f"(the run needs {n})")
    return f"bootstrap: {todo} of {n} networks trained, {got} taken from {path}{short}"
