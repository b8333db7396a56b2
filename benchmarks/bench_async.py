"""Synchronous against asynchronous search on a simulated cluster of 8-256 workers (issue 16).

**Simulated part.** For each worker count W, both modes search the default problem (digits) on a
:class:`~moo_snn.simcluster.SimulatedCluster` whose trainings replay ``surrogates/digits.nc``
(:class:`~moo_snn.replay.ReplayTable`: measured accuracies and training times, the nearest archived
architecture for any other; times × ``--time-factor``, default 60: trainings of 30 s to 80 min, mean
about 5 min, as GPU trainings of CIFAR networks), for the same simulated time budget
(``--budget`` × the mean replayed training time; default 10: each worker can train about 10
networks). The search itself runs here for real, and its own time advances the simulated clock:
by default its CPU seconds (``--head cpu``: what it would take on a head node of its own; this
machine is shared, and wall time would charge the search for other people's processes), or its
wall seconds (``--head measured``).

- sync: :class:`~moo_snn.search.loop.SearchRun` (bootstrap, then rounds) with ``survivors = W``
  (every round can use the whole cluster), rounds until the budget is spent; its results file is
  written as the asynchronous run's is (skipped while writing has taken over 5 % of the time: with
  a write after every one of hundreds of results, the file alone would cost the head minutes);
- async: :class:`~moo_snn.search.async_loop.AsyncSearchRun` with its defaults (a design of
  max(bootstrap, W), then a pass every ⌈W / 4⌉ requests), requests until the budget is spent.

**With a ``[fidelity]`` ladder** (``--problem digits-long --archive surrogates/digits-fidelity.nc``:
the same networks measured at each level, :class:`~moo_snn.replay.ReplayTable` replays a task's
own level): both modes get ``survivors = W`` (the same ladder proportions); the sync rounds measure
W at the cheapest level, halve, and promote the problem's ``promote``; the async run promotes as
quotas allow (:mod:`moo_snn.search.async_ladder`). Also reported: trainings per fidelity within the
budget, FTE spent, front size (full trainings only).

``barrier_bound_W``: the best utilisation any round barrier allows with rounds of W trainings
drawn from the archive (mean/max of W draws), whatever the search proposes.

Both start without an archive (bootstrap 16, as the problem) from the same seed. Reported per mode:
``utilisation`` = busy worker-seconds ÷ (W × budget), both inside the budget window; the hypervolume
of the measured front of the networks whose results arrived by 25, 50, 75 and 100 % of the budget;
trainings received; the search's own time (``head_s``: real seconds this process computed, charged
to the clock) and its share of the budget; ``head_s_per_result``.

**Real part** (``--overhead``): on a Dask LocalCluster of ``--local-workers`` processes,
``--tasks`` replayed trainings of ``--task-ms`` each, (1) through the executor's stream alone:
Dask's overhead per task = (workers × wall − busy) ÷ tasks, and in CPU time: this process's (the
client and the LocalCluster's scheduler), the workers' and the nannies' per task; (2) through the
asynchronous search (``--search-tasks`` of them, refit every ``--search-refit``): the search's own
time per result, wall and CPU (its thread's), split into bookkeeping (recording, requests),
checkpoints and passes (predictor fit + NSGA-II), with a log per pass.

    .venv/bin/python benchmarks/bench_async.py --workers 8,64,256 [--json] [--overhead] [--time-factor 60] [--budget 10]
    .venv/bin/python benchmarks/bench_async.py --problem digits-long --archive surrogates/digits-fidelity.nc --workers 16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE = ROOT / "surrogates" / "digits.nc"


PROBLEM = "digits"


def problem(generations: int, pop_size: int, **search):
    from moo_snn.config.problem import load_problem
    from moo_snn.search.loop import with_overrides

    return with_overrides(load_problem(PROBLEM), generations=generations, pop_size=pop_size, **search)


def budgeted_sync(spec, out, sim, budget_s):
    """The synchronous loop, rounds until the simulated clock passes ``budget_s``."""
    from moo_snn.search.loop import SearchRun

    class BudgetedSearchRun(SearchRun):
        """Rounds until the budget is spent; checkpoints bounded as the asynchronous run's (at most 5 %
        of the run's time writing the file), so that both pay the same for the file."""

        write_s = 0.0

        def checkpoint(self):
            if self.write_s <= 0.05 * sim.clock() or self.state.status != "running":
                start = time.perf_counter()
                super().checkpoint()
                self.write_s += time.perf_counter() - start

        def _search(self):
            self._bootstrap()
            r = 0
            while sim.clock() < budget_s:
                r += 1
                self._round(r)
            from moo_snn.search import fidelity

            fidelity.update_attrs(self)  # spent FTE, as the loop's own _search records it

    return BudgetedSearchRun(spec, out, archive_path=ROOT / "no-archive.nc", executor=sim)


def window_utilisation(trace, workers: int, end_s: float) -> float:
    """Busy worker-seconds inside [0, end_s] ÷ (workers × end_s)."""
    busy = sum(max(0.0, min(t["finish_s"], end_s) - t["start_s"]) for t in trace)
    return busy / (workers * end_s)


def hypervolume_by(ds, arrived: dict[str, float], t_s: float) -> float:
    """Hypervolume of the measured feasible front of the candidates whose result arrived by ``t_s``."""
    from moo_snn.objectives import resolve_metrics
    from moo_snn.pareto import feasible_front, hypervolume

    metrics = resolve_metrics([str(n) for n in ds.objective.values])
    keep = np.array([bool(t) and arrived.get(str(a), np.inf) <= t_s for a, t in zip(ds.arch.values, ds.trained.values)])
    if not keep.any():
        return 0.0
    values = ds.measured_objective.values[keep]
    F = np.column_stack([m.to_minimize(values[:, k]) for k, m in enumerate(metrics)])
    G = ds.measured_limit_excess.values[keep] if "measured_limit_excess" in ds else ds.constraint_value.values[keep]
    front = feasible_front(F, G)
    ideal = json.loads(ds.attrs.get("ideal_point", "null"))
    return hypervolume(F[front], json.loads(ds.attrs["reference_point"]), ideal) if len(front) else 0.0


def simulate(mode: str, workers: int, args, table, mean_s: float, folder: Path) -> dict:
    from moo_snn.search.async_loop import AsyncSearchRun
    from moo_snn.simcluster import SimulatedCluster

    budget_s = args.budget * mean_s
    sim = SimulatedCluster(table, workers, task_overhead_s=args.task_overhead_ms / 1000, head_seconds=args.head)
    out = folder / f"{mode}-{workers}.nc"
    start = time.perf_counter()
    if mode == "sync":
        spec = problem(args.generations, args.pop_size, survivors=workers, rounds=10**6, seed=args.seed)
        run = budgeted_sync(spec, out, sim, budget_s)
    else:
        # with a [fidelity] table both modes get survivors = W: the same ladder proportions (async_ladder.rates)
        spec = problem(args.generations, args.pop_size, seed=args.seed, **({"survivors": workers} if args.fidelity else {}))
        run = AsyncSearchRun(spec, out, archive_path=ROOT / "no-archive.nc", executor=sim, max_trainings=10**9,
                             budget_s=budget_s, refit_every=args.refit_every or (max(6, -(-workers // 4)) if args.fidelity else None))
    ds = run.run()
    real_s = time.perf_counter() - start
    arrived = {t["arch"]: t["returned_s"] for t in sim.trace if not t["died"]}
    received = sum(1 for t in sim.trace if t["returned_s"] <= budget_s and not t["died"])
    fractions = (0.25, 0.5, 0.75, 1.0)
    return {
        "mode": mode, "workers": workers, "budget_s": budget_s,
        "utilisation": window_utilisation(sim.trace, workers, budget_s),
        "utilisation_whole_run": sim.utilisation(),
        "hypervolume": hypervolume_by(ds, arrived, budget_s),
        "hypervolume_curve": {f"{f:.2f}": hypervolume_by(ds, arrived, f * budget_s) for f in fractions},
        "results_in_budget": received, "results_total": len(arrived), "simulated_end_s": sim.now_s,
        "head_s": sim.head_s, "head_share_of_budget": sim.head_s / budget_s, "head_s_per_result": sim.head_s / max(1, len(arrived)),
        "passes_or_rounds": int(ds.sizes["round"]), "real_s": real_s,
        "trainings_by_fidelity": {f"{e} ep x {f:g}": n for (e, f), n in sorted(Counter(
            (t["epochs"], t["train_fraction"]) for t in sim.trace if not t["died"] and t["returned_s"] <= budget_s).items())},
        "spent_fte": float(ds.attrs.get("spent_fte", np.nan)), "full_trainings_on_front": int(ds.on_front.sum()),
        **({"timing": run.timing} if mode == "async" else {}),
    }


def barrier_bound(table, workers: int, draws: int = 500) -> float:
    """The best utilisation a round barrier allows: a round of ``workers`` trainings drawn from the
    archive (uniformly, with replacement) keeps the cluster busy mean/max of the time; mean over draws."""
    seconds = np.array([table.records[(a, -1)]["train_seconds"] for a in table.archs])
    rounds = np.random.default_rng(0).choice(seconds, size=(draws, workers))
    return float(np.mean(rounds.mean(axis=1) / rounds.max(axis=1)))


class ConstantTime:
    """A replay table whose every training takes ``seconds`` (the overhead measurement)."""

    def __init__(self, table, seconds: float):
        self.table, self.seconds = table, seconds

    def task_result(self, task) -> dict:
        return dict(self.table.task_result(task), train_seconds=self.seconds)


def _cpu_s() -> float:
    """CPU seconds (user + system) of the process this runs in (a Dask worker or nanny, via ``client.run``)."""
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def _cluster_cpu_s(client) -> dict:
    """CPU seconds so far of the workers' and the nannies' processes (summed)."""
    return dict(workers=sum(client.run(_cpu_s).values()), nannies=sum(client.run(_cpu_s, nanny=True).values()))


def overhead(args, table) -> dict:
    """Dask's overhead per task and the asynchronous search's own time per result, for real.

    Wall figures carry whatever else the machine runs; CPU figures (``time.thread_time`` of the
    search's thread, ``time.process_time`` of this process, which also hosts the LocalCluster's
    scheduler, and the workers' and nannies' own CPU seconds from ``psutil``) are what the work
    itself costs, whoever else shares the cores.
    """
    from moo_snn.executor import training_tasks
    from moo_snn.replay import ReplayDaskExecutor
    from moo_snn.search.async_loop import AsyncSearchRun

    seconds = args.task_ms / 1000
    spec = problem(args.generations, args.pop_size, seed=args.seed)
    out: dict = {"local_workers": args.local_workers, "task_ms": args.task_ms, "load_before": os.getloadavg()}
    executor = ReplayDaskExecutor(ConstantTime(table, seconds), workers=args.local_workers, retries=0)
    with executor:
        archs = [str(a) for a in table.archs]
        tasks = training_tasks(spec, [archs[i % len(archs)] for i in range(args.tasks)], seed=0)
        warm = executor.stream()
        for i in range(args.local_workers * 2):
            warm.submit(tasks[i], i)
        while warm.pending:
            warm.next_result()
        stream = executor.stream()
        before, cpu, start = _cluster_cpu_s(executor.client), time.process_time(), time.perf_counter()
        for i, task in enumerate(tasks):
            stream.submit(task, i)
        while stream.pending:
            stream.next_result()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        after = _cluster_cpu_s(executor.client)
        out.update(stream_tasks=args.tasks, stream_wall_s=wall, ideal_wall_s=args.tasks * seconds / args.local_workers,
                   dask_overhead_ms_per_task=1000 * (args.local_workers * wall - args.tasks * seconds) / args.tasks,
                   client_and_scheduler_cpu_ms_per_task=1000 * cpu / args.tasks,
                   worker_cpu_ms_per_task=1000 * (after["workers"] - before["workers"]) / args.tasks,
                   nanny_cpu_ms_per_task=1000 * (after["nannies"] - before["nannies"]) / args.tasks,
                   # workers and nannies also spend CPU by the second (heartbeats, monitors), not only per task
                   cluster_cpu_s_per_s=(after["workers"] + after["nannies"] - before["workers"] - before["nannies"]) / wall)
        with tempfile.TemporaryDirectory() as tmp:
            run = AsyncSearchRun(spec, Path(tmp) / "o.nc", archive_path=ROOT / "no-archive.nc", executor=executor,
                                 max_trainings=args.search_tasks, refit_every=args.search_refit)
            start, cpu, thread = time.perf_counter(), time.process_time(), time.thread_time()
            run.run()
            wall, cpu, thread = time.perf_counter() - start, time.process_time() - cpu, time.thread_time() - thread
        t = run.timing
        own, n = wall - t["waiting_s"], t["results"]
        bookkeeping_cpu = thread - t["passes_cpu_s"] - t["checkpoints_cpu_s"]
        out.update(search_tasks=n, search_wall_s=wall, search_own_s=own, passes_s=t["passes_s"],
                   checkpoints_s=t["checkpoints_s"], passes=len(run.state.rounds),
                   search_own_ms_per_result=1000 * own / n,
                   bookkeeping_ms_per_result=1000 * (own - t["passes_s"]) / n,
                   pass_s_mean=t["passes_s"] / max(1, len(run.state.rounds)),
                   search_thread_cpu_ms_per_result=1000 * thread / n, search_process_cpu_ms_per_result=1000 * cpu / n,
                   passes_cpu_ms_per_result=1000 * t["passes_cpu_s"] / n, fit_cpu_ms_per_result=1000 * t["fit_cpu_s"] / n,
                   checkpoints_cpu_ms_per_result=1000 * t["checkpoints_cpu_s"] / n,
                   bookkeeping_cpu_ms_per_result=1000 * bookkeeping_cpu / n,
                   pass_cpu_s_mean=t["passes_cpu_s"] / max(1, len(run.state.rounds)), pass_log=t["pass_log"],
                   load_after=os.getloadavg())
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="8,64,256", help="simulated worker counts, comma-separated ('none': only --overhead)")
    parser.add_argument("--modes", default="sync,async")
    parser.add_argument("--time-factor", type=float, default=60.0, help="replayed training times × this")
    parser.add_argument("--budget", type=float, default=10.0, help="simulated budget in mean replayed training times")
    parser.add_argument("--generations", type=int, default=20, help="NSGA-II generations per round or pass")
    parser.add_argument("--pop-size", type=int, default=64)
    parser.add_argument("--refit-every", type=int, default=None, help="async: candidates per pass (default: its own)")
    parser.add_argument("--task-overhead-ms", type=float, default=2.0, help="simulated dispatch time per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head", choices=("cpu", "measured"), default="cpu", help="the search's own time: CPU or wall seconds")
    parser.add_argument("--overhead", action="store_true", help="also measure the overhead on a real LocalCluster")
    parser.add_argument("--local-workers", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--task-ms", type=float, default=50.0)
    parser.add_argument("--search-tasks", type=int, default=200)
    parser.add_argument("--search-refit", type=int, default=40)
    parser.add_argument("--problem", default="digits", help="a shipped problem or a problem file (digits-long: the [fidelity] ladder)")
    parser.add_argument("--archive", default=str(ARCHIVE), help="the archive whose trainings are replayed "
                        "(surrogates/digits-fidelity.nc: the same networks at each level of digits-long)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    global PROBLEM
    PROBLEM = args.problem

    from moo_snn.replay import ReplayTable

    args.fidelity = problem(args.generations, args.pop_size).fidelity.enabled
    table = ReplayTable(problem(args.generations, args.pop_size), args.archive, time_factor=args.time_factor)
    mean_s = float(np.mean([table.records[(a, -1)]["train_seconds"] for a in table.archs])) * args.time_factor
    report: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
                    "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if argv is None else " ".join(argv),
                    "mean_training_s": mean_s, "runs": []}
    counts = [] if args.workers in ("", "none") else [int(x) for x in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for w in counts:
            for mode in args.modes.split(","):
                result = simulate(mode, w, args, table, mean_s, Path(tmp))
                report["runs"].append(result)
                print(f"W={w:4d} {mode:5s}: utilisation {result['utilisation']:.3f}  HV {result['hypervolume']:.4f}  "
                      f"results {result['results_in_budget']:5d}  head {result['head_share_of_budget']:.1%} of the budget "
                      f"({result['head_s_per_result'] * 1000:.0f} ms/result)  [{result['real_s']:.0f} s real]", flush=True,
                      file=sys.stderr if args.json else sys.stdout)  # with --json: progress on stderr
            report[f"barrier_bound_{w}"] = barrier_bound(table, w)
            by = {r["mode"]: r for r in report["runs"] if r["workers"] == w}
            if {"sync", "async"} <= by.keys():
                report[f"utilisation_sync_{w}"] = by["sync"]["utilisation"]
                report[f"utilisation_async_{w}"] = by["async"]["utilisation"]
                report[f"hv_sync_{w}"] = by["sync"]["hypervolume"]
                report[f"hv_async_{w}"] = by["async"]["hypervolume"]
    if len(counts) == 1 and f"utilisation_async_{counts[0]}" in report:  # the names for a single count
        w = counts[0]
        report.update(utilisation_async=report[f"utilisation_async_{w}"], utilisation_sync=report[f"utilisation_sync_{w}"],
                      hv_async=report[f"hv_async_{w}"], hv_sync=report[f"hv_sync_{w}"])
    if args.overhead:
        report["overhead"] = overhead(args, table)
        if not args.json:
            print(json.dumps(report["overhead"], indent=1))
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
