"""How often could *any* ladder reach the full-only run's hypervolume within a few full trainings?

An upper bound for ``benchmarks/multifidelity.py``'s must-show on digits-long. The benchmark's
target is the full-only run's final hypervolume, scored by one training (seed 0) per network; a
ladder must reach it within ``fte_full / 5`` FTE (4.4 FTE in ``--quick``: 22 FTE full-only). This
script simulates an **oracle ladder**: it knows every network's distribution of full-training
validation accuracy (its four retrainings by the referee, seeds 1-4, in ``benchmarks/multifidelity_cache.nc``,
each equally likely; no proxy, no predictor: screening is free and perfect) and promotes, one after
another, the network of largest expected hypervolume improvement given what its earlier promotions
measured (the greedy policy that maximises the expected measured HV, exploiting the seed noise as a
real ladder's EHVI does). What a promotion measures, in two worlds:

* ``benchmark_seed0``: the network's cached seed-0 training, as in the benchmark (a network at a
  fidelity is trained once and replayed); the oracle does not know that value, only the distribution;
* ``fresh_draw``: one of its retrainings at random, as a new training in a real run would be.

The candidates are the networks with a seed-0 training and at least four retrainings that meet the
cost limits: every network that was ever on a front of any method and seed of the recorded runs (the
best networks the searches found).

Printed: for each target (the recorded full-only runs' final HVs, ``--targets``), the probability
that the oracle's front reaches it after k = 1 … ``--promotions`` full trainings, in each world
(``fresh_draw`` over ``--reps`` simulated runs; ``benchmark_seed0`` is deterministic). With k ≤ 4
the ratio ``fte_full / fte`` is ≥ 5.5 even with free screening; a real ladder also pays for its
proxies (``--quick``: 1.67 FTE to the first promotion, then 1.53 each).

    python benchmarks/oracle_ladder.py [--reps 300] [--promotions 5] [--targets 0.4946,0.449,...] [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "benchmarks" / "multifidelity_turn8_5seeds.json"  # --quick, seeds 0-4, full + ladder


def candidates(spec, cache: Path, min_draws: int = 5):
    """The networks with ``min_draws`` full trainings (the search's, seed 0, among them) that meet the cost
    limits: (architectures, minimised objectives ``(n, n_obj)`` (accuracy column 0), the seed-0
    validation accuracies ``(n,)``, the retrainings' validation accuracies (list of arrays), metrics)."""
    from moo_snn.architecture import Architecture
    from moo_snn.evaluation import population_costs
    from moo_snn.objectives import constraint_matrix, metric_values, resolve_metrics
    from moo_snn.space import SearchSpace
    from moo_snn.surrogate import archive as arc

    ds = arc.with_fraction(arc.load_archive(cache))
    full = (ds.epochs.values == spec.training.epochs) & np.isclose(ds.train_fraction.values, 1.0)
    draws: dict[str, dict[int, float]] = {}
    for a, s, v, st in zip(ds.arch.values[full], ds.seed.values[full], ds.val_accuracy.values[full], ds.status.values[full]):
        draws.setdefault(str(a), {})[int(s)] = float(v) if st == "trained" and np.isfinite(v) else 0.0
    archs = sorted(a for a, d in draws.items() if len(d) >= min_draws and 0 in d)
    space = SearchSpace(spec.space)
    X = np.array([space.encode(Architecture.parse(a)) for a in archs])
    costs = population_costs(spec, space, X)
    metrics = resolve_metrics(spec.objectives.names)
    cost_limits = [c for c in spec.constraints if c.name != "accuracy"]
    G = constraint_matrix(cost_limits, np.full(len(archs), np.nan), costs, archs, problem=spec)
    ok = np.all(G <= 0, axis=1)
    values = metric_values(metrics, np.zeros(len(archs)), costs, archs, problem=spec)
    F = np.column_stack([m.to_minimize(values[:, j]) for j, m in enumerate(metrics)])
    keep = np.where(ok)[0]
    seed0 = np.array([draws[archs[k]][0] for k in keep])
    retrained = [np.array([v for s, v in sorted(draws[archs[k]].items()) if s != 0]) for k in keep]
    return [archs[k] for k in keep], F[keep], seed0, retrained, metrics


def simulate(F, beliefs, outcome, metrics, acc_limit: float, ref, ideal, k_max: int, reps: int, seed: int = 0) -> np.ndarray:
    """Hypervolume of the oracle's measured front after each of ``k_max`` promotions, ``(reps, k_max)``.

    ``beliefs``: per network, the accuracies the oracle expects, equally likely (it chooses by the exact
    expected HV improvement over them); ``outcome(i, rng)``: what promoting network ``i`` measures.
    """
    from moo_snn.pareto import hypervolume

    j = [m.name for m in metrics].index("accuracy")
    acc = metrics[j]
    rng = np.random.default_rng(seed)

    def point(i, a):
        p = F[i].copy()
        p[j] = acc.to_minimize(a)
        return p

    def hv(points):
        return hypervolume(np.array(points), ref, ideal) if points else 0.0

    out = np.zeros((reps, k_max))
    for r in range(reps):
        front, used = [], set()
        for k in range(k_max):
            base = hv(front)
            gains = [-1.0 if i in used else np.mean([hv(front + [point(i, a)]) - base if a >= acc_limit else 0.0
                                                     for a in beliefs[i]]) for i in range(len(F))]
            best = int(np.argmax(gains))
            used.add(best)
            a = float(outcome(best, rng))
            if a >= acc_limit:
                front.append(point(best, a))
            out[r, k] = hv(front)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--promotions", type=int, default=5)
    parser.add_argument("--targets", default=None, help="comma-separated HV targets (default: the recorded full-only runs')")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / "multifidelity_cache.nc")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from moo_snn.config.problem import load_problem
    from moo_snn.search.selection import ideal_point, reference_point
    from moo_snn.space import SearchSpace

    spec = load_problem(ROOT / "problems" / "digits-long.toml")
    archs, F, seed0, retrained, metrics = candidates(spec, args.cache)
    ref = reference_point(spec, SearchSpace(spec.space), metrics)
    ideal = ideal_point(spec, SearchSpace(spec.space), metrics)
    acc_limit = next(c.limit for c in spec.constraints if c.name == "accuracy")
    targets = ([float(t) for t in args.targets.split(",")] if args.targets
               else [r["target_hv"] for r in json.loads(RECORDED.read_text())["per_seed"]])
    # (a) the benchmark's world: a network's full training is its one cached seed-0 measurement; the
    #     oracle knows each network's accuracy distribution from the retrainings (not the seed-0 value)
    # (b) fresh trainings: a promotion measures one of the network's retrainings, unseen, at random
    worlds = {"benchmark_seed0": simulate(F, retrained, lambda i, rng: seed0[i], metrics, acc_limit, ref, ideal,
                                          args.promotions, 1),
              "fresh_draw": simulate(F, retrained, lambda i, rng: rng.choice(retrained[i]), metrics, acc_limit, ref, ideal,
                                     args.promotions, args.reps)}
    sd = float(np.sqrt(np.mean([np.var(d, ddof=1) for d in retrained])))
    result = {"networks": len(archs), "pooled_seed_sd_val_accuracy": sd, "reps": args.reps, "targets": targets}
    for name, hv in worlds.items():
        result[name] = {"hv_median_after_k": np.median(hv, axis=0).tolist(),
                        "p_reach": {f"{t:.4f}": (hv >= t - 1e-12).mean(axis=0).tolist() for t in targets}}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{len(archs)} networks with a seed-0 training and retrainings; pooled seed sd of validation accuracy {sd:.4f}")
        for name in worlds:
            print(f"{name}: k promotions      " + " ".join(f"{k:>6d}" for k in range(1, args.promotions + 1)))
            print("  oracle HV, median:      " + " ".join(f"{v:6.4f}" for v in result[name]["hv_median_after_k"]))
            for t, p in result[name]["p_reach"].items():
                print(f"  P(HV >= {t}):         " + " ".join(f"{v:6.2f}" for v in p))
    return result


if __name__ == "__main__":
    main()
