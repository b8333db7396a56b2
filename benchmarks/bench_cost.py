"""Throughput of the IMC cost model on a population of genomes, on one core.

Vectorised path (what the search runs every generation): genomes → ``SearchSpace.layer_table`` →
``evaluate_costs`` (extended mode), for ``--n`` random repaired genomes of the problem at once.
Reference path: a plain per-candidate loop, ``space.decode`` → ``crossbar_layers`` →
``LayerTable.from_layers`` → ``evaluate_costs``, on the first ``--n-loop`` of the same genomes.
Both are timed in the same run, the median of ``--repeats`` repeats; the loop's results must equal
the vectorised ones (checked), so the ratio compares equal work.

One core: the BLAS/OpenMP thread counts are set to 1 before numpy is imported and the process is
pinned to one CPU (Linux ``sched_setaffinity``; elsewhere run it under ``taskset -c 0`` or alike).

    .venv/bin/python benchmarks/bench_cost.py [--problem problems/cifar10-hasnas.toml] [--json]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from moo_snn.config.problem import load_problem  # noqa: E402
from moo_snn.cost import evaluate_costs  # noqa: E402
from moo_snn.layers import LayerTable, crossbar_layers  # noqa: E402
from moo_snn.space import HARDWARE_GENES, SearchSpace  # noqa: E402

DEFAULT_PROBLEM = Path(__file__).resolve().parents[1] / "problems" / "cifar10-hasnas.toml"
COMPARED = ("params", "memory_kB", "area_mm2", "latency_ms", "energy_uJ", "tiles", "pes")


def pin_to_one_cpu() -> int | None:
    """Pin this process to one of its CPUs (Linux); the CPU, or None where not possible."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def vectorised(space: SearchSpace, spec, X: np.ndarray):
    """Costs of the population ``X`` in one call (the search's path)."""
    table = space.layer_table(X, spec.network_input)
    hardware_genes = {name: space.values(X, name) for name in HARDWARE_GENES}
    return evaluate_costs(table, space.values(X, "timesteps"), space.values(X, "weight_bits"), spec.hardware,
                          mode="extended", **hardware_genes)


def per_candidate(space: SearchSpace, spec, X: np.ndarray) -> list:
    """Costs of ``X``, one genome at a time (the plain loop)."""
    reports = []
    for x in X:
        arch = space.decode(x)
        table = LayerTable.from_layers(crossbar_layers(arch, spec.network_input))
        hardware_genes = {name: None if getattr(arch, name) is None else np.array([getattr(arch, name)]) for name in HARDWARE_GENES}
        reports.append(evaluate_costs(table, arch.timesteps, arch.weight_bits, spec.hardware, mode="extended", **hardware_genes))
    return reports


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median_seconds(function, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problem", default=str(DEFAULT_PROBLEM), help="problem file (default: cifar10-hasnas)")
    parser.add_argument("--n", type=int, default=10_000, help="genomes costed at once (vectorised path)")
    parser.add_argument("--n-loop", type=int, default=1_000, help="genomes costed one by one (loop path)")
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats of each path (median; at least 7)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.repeats < 7:
        parser.error("--repeats must be at least 7")

    cpu = None if args.no_pin else pin_to_one_cpu()
    spec = load_problem(args.problem)
    space = SearchSpace(spec.space)
    X = space.sample(args.n, np.random.default_rng(args.seed))
    X_loop = X[: args.n_loop]

    # the two paths give the same numbers (checked once, outside the timing)
    full = vectorised(space, spec, X)
    loop = per_candidate(space, spec, X_loop)
    for name in COMPARED:
        np.testing.assert_allclose([getattr(r, name)[0] for r in loop], getattr(full, name)[: len(X_loop)],
                                   rtol=1e-12, atol=0, err_msg=name)

    vec_s, vec_times = median_seconds(lambda: vectorised(space, spec, X), args.repeats)
    table_s, _ = median_seconds(lambda: space.layer_table(X, spec.network_input), args.repeats)
    loop_s, loop_times = median_seconds(lambda: per_candidate(space, spec, X_loop), args.repeats)
    result = dict(
        problem=spec.name,
        mode="extended",
        n_vectorised=len(X),
        n_loop=len(X_loop),
        repeats=args.repeats,
        vectorised_median_s=vec_s,
        layer_table_median_s=table_s,
        vectorised_candidates_per_s=len(X) / vec_s,
        loop_median_s=loop_s,
        loop_candidates_per_s=len(X_loop) / loop_s,
        speedup=(len(X) / vec_s) / (len(X_loop) / loop_s),
        vectorised_times_s=vec_times,
        loop_times_s=loop_times,
        pinned_cpu=cpu,
        nproc=os.cpu_count(),
        python=platform.python_version(),
        numpy=np.__version__,
        cpu_model=cpu_model(),
        threads_env={v: os.environ[v] for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{spec.name}, extended mode, one core (cpu {cpu}), median of {args.repeats} repeats, "
              f"python {result['python']}, numpy {result['numpy']}, nproc {result['nproc']}, {result['cpu_model']}")
        print(f"  vectorised  {len(X):>6} genomes  {vec_s * 1e3:8.2f} ms  {result['vectorised_candidates_per_s']:>10,.0f} candidates/s"
              f"  (layer_table {table_s * 1e3:.2f} ms of it)")
        print(f"  loop        {len(X_loop):>6} genomes  {loop_s * 1e3:8.2f} ms  {result['loop_candidates_per_s']:>10,.0f} candidates/s")
        print(f"  vectorised / loop: {result['speedup']:.0f}x")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
