"""``moo-snn plan``: the price of a run (hours, full-training equivalents, peak memory) before it starts."""

from __future__ import annotations

from rich.table import Table

from moo_snn.cli.common import DeviceOpt, JsonOpt, ProblemArg, TorchThreadsOpt, print_json, stdout, user_errors


@user_errors
def plan(problem: ProblemArg, device: DeviceOpt = "cpu", torch_threads: TorchThreadsOpt = None, json_out: JsonOpt = False) -> None:
    """Price a search before spending it: time a few training steps of networks of the space on random
    tensors of the problem's input shape (no data needed), then print hours and full-training
    equivalents per phase, with and without the [fidelity] ladder, and the peak memory of one training."""
    from moo_snn.config.problem import load_problem
    from moo_snn.search.fidelity import phase_plan
    from moo_snn.training.plan import plan_run
    from moo_snn.training.runtime import torch_threads as threads

    spec = load_problem(problem)
    with threads(torch_threads):
        result = plan_run(spec, phase_plan(spec), device)
    if json_out:
        print_json(result.to_dict())
        return
    table = Table(title=f"plan of {spec.name} on {device} (steps timed in {result.timing_seconds:.0f} s)")
    for col in ("phase", "trainings", "level", "FTE", "hours"):
        table.add_column(col, justify="left" if col in ("phase", "level") else "right")
    per_fte = result.full_training_hours
    for name, p in result.phases.items():
        table.add_row(name, str(p["trainings"]), p["level"], f"{p['fte']:.3g}", f"{p['fte'] * per_fte:.3g}")
    table.add_row("total", "", "", f"{result.full_training_equivalents:.3g}", f"{result.estimated_hours:.3g}")
    table.add_row("without the ladder", "", "full", f"{result.full_training_equivalents_without_ladder:.3g}",
                  f"{result.estimated_hours_without_ladder:.3g}")
    stdout.print(table)
    stdout.print(f"one full training: {per_fte:.3g} h ({result.n_train} training samples, {result.seconds_per_sample * 1e3:.3g} ms "
                 f"per sample); peak memory per training: {result.peak_memory_GB:.3g} GB (of which data "
                 f"{result.data_memory_GB:.3g} GB)", highlight=False)
