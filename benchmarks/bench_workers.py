"""Wall time of a round of survivors' trainings on 1 and 2 Dask workers (issue 7).

The work: ``--n`` feasible architectures of the problem (the first of its space-filling sample, the
kind of networks a search trains), each trained fully with the problem's recipe (``--epochs``
overrides its epoch count), seed 0. Each configuration trains the same tasks, in the same run,
``--repeats`` times (the order rotates between repeats, so a slow spell of the machine does not
fall on one of them); the table gives the median wall time from submitting the first training to
receiving the last.

Configurations (each starts its own local cluster, and only one exists at a time):

- 1 worker, torch on all cores: the serial baseline that uses the whole machine, as the default
  in-process run does (``--in-process`` times that too: the same work in this process);
- 1 worker, torch 1 thread: the same, single-threaded (separates threads from parallel trainings);
- ``--workers`` workers, cores // workers torch threads each: all cores again, as
  ``moo-snn optimize --workers N`` sets them.

Cluster start-up (about 1-2 s) and each worker's first import of torch and read of the data are not
timed: a one-epoch warm-up training runs on every worker before the clock starts, as it would have
after the first round of a search.

Measured results depend on the seed and the torch thread count only: the script checks that every
repeat measures the same and that equal thread counts measure the same.

    .venv/bin/python benchmarks/bench_workers.py [--problem digits] [--n 8] [--repeats 3] [--in-process] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

from moo_snn.config.problem import load_problem
from moo_snn.executor import DaskExecutor, InProcessExecutor, run_training_task, training_tasks
from moo_snn.space import SearchSpace
from moo_snn.surrogate.sampling import space_filling_sample


def measured(results: dict[int, dict]) -> list[tuple]:
    """What a training measured (not how long it took), in task order."""
    return [(results[i]["status"], results[i]["val_accuracy"], results[i]["test_accuracy"]) for i in sorted(results)]


def busy(results: dict[int, dict]) -> float:
    """Seconds spent in the trainings' loops, summed over trainings (divided by the wall time: how
    many trainings ran at once, on average)."""
    return sum(r["train_seconds"] for r in results.values())


def timed_run(executor, tasks) -> tuple[float, dict[int, dict]]:
    start = time.perf_counter()
    results = dict(executor.run(tasks))
    return time.perf_counter() - start, results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="digits")
    parser.add_argument("--n", type=int, default=8, help="trainings per run (survivors of a round)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per training (default: the problem's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel configuration")
    parser.add_argument("--in-process", action="store_true", help="also time the in-process executor (same work as 1 worker)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    cores = os.cpu_count() or 1
    problem = load_problem(args.problem)
    space = SearchSpace(problem.space)
    archs = [str(space.decode(x)) for x in space_filling_sample(problem, space, args.n, seed=0)]
    tasks = training_tasks(problem, archs, seed=0, epochs=args.epochs)
    warm = training_tasks(problem, [archs[0]], seed=0, epochs=1)[0]

    threads = max(1, cores // args.workers)
    configs = {
        f"Dask 1 worker, torch {cores} threads": lambda: DaskExecutor(workers=1, torch_threads=cores),
        "Dask 1 worker, torch 1 thread": lambda: DaskExecutor(workers=1, torch_threads=1),
        f"Dask {args.workers} workers, torch {threads} thread(s) each": lambda: DaskExecutor(workers=args.workers, torch_threads=threads),
    }
    if args.in_process:
        configs[f"in-process, torch {cores} threads"] = lambda: InProcessExecutor(torch_threads=cores)
    walls: dict[str, list[float]] = {name: [] for name in configs}
    busy_s: dict[str, list[float]] = {name: [] for name in configs}
    results: dict[str, list] = {name: [] for name in configs}
    names = list(configs)
    load_before = os.getloadavg()[0]
    for r in range(args.repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            # one configuration alive at a time: no idle cluster shares the machine with the one timed
            with configs[name]() as executor:
                if isinstance(executor, DaskExecutor):
                    executor.client.run(run_training_task, warm, threads=executor.torch_threads)  # torch, data: every worker
                else:
                    dict(executor.run([warm]))
                wall, got = timed_run(executor, tasks)
            walls[name].append(wall)
            busy_s[name].append(busy(got))
            results[name].append(measured(got))
            print(f"repeat {r + 1}: {name}: {wall:.1f} s", file=sys.stderr)

    median = {name: statistics.median(w) for name, w in walls.items()}
    serial, parallel = names[0], names[2]
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {cores} cores, Python {platform.python_version()}",
        "problem": problem.name, "trainings": args.n, "epochs": tasks[0].epochs, "repeats": args.repeats,
        "wall_s": {name: [round(w, 2) for w in ws] for name, ws in walls.items()},
        "median_s": {name: round(m, 2) for name, m in median.items()},
        "median_training_s_summed": {name: round(statistics.median(b), 2) for name, b in busy_s.items()},
        "ratio_1_worker_over_parallel": round(median[serial] / median[parallel], 2),
        "ratio_1_worker_1_thread_over_parallel": round(median[names[1]] / median[parallel], 2),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # before, after: others on the machine
        "repeats_measure_the_same": all(len({json.dumps(x) for x in rs}) == 1 for rs in results.values()),
        "in_process_equals_1_worker": results[names[-1]][0] == results[serial][0] if args.in_process else None,
        "1_thread_equals_parallel": results[names[1]][0] == results[parallel][0],
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.n} trainings of {problem.name} ({report['epochs']} epochs each), median of {args.repeats}; {report['machine']}")
    print("| executor | wall s per repeat | median wall s | median of summed training s |")
    print("|---|---|---:|---:|")
    for name in names:
        print(f"| {name} | {', '.join(f'{w:.1f}' for w in walls[name])} | {median[name]:.1f} | "
              f"{report['median_training_s_summed'][name]:.1f} |")
    print(f"1 worker ({cores} threads) / {args.workers} workers: {report['ratio_1_worker_over_parallel']:.2f}x; "
          f"1 worker (1 thread) / {args.workers} workers: {report['ratio_1_worker_1_thread_over_parallel']:.2f}x")
    print(f"1-minute load average before and after: {report['load_average_1min']}")
    print(f"repeats measure the same: {report['repeats_measure_the_same']}; equal thread counts measure the same: "
          f"{report['1_thread_equals_parallel']} (1 thread), {report['in_process_equals_1_worker']} (in-process, {cores} threads)")
    return 0


if __name__ == "__main__":  # Dask's worker processes are spawned: the guard keeps them from re-running this
    sys.exit(main())
