"""Search efficiency on problems/digits.toml: moo-snn against the papers' search and the obvious baselines.

Usage::

    python benchmarks/search_efficiency.py [--quick] [--json] [--seeds 3] [--budget 300] [--baseline-budget S]
        [--plot FILE.png] [--curves FILE.json]
    python benchmarks/search_efficiency.py --from-curves FILE.json [--plot FILE.png]   # no training

Methods, all with the problem's training recipe, objectives and limits:

* ``moo-snn``: the default strategy, starting WITHOUT the shipped archive (it bootstraps its own
  16 trainings, charged to its clock), so that no method gets free measurements;
* ``nsga2-full``: pymoo NSGA-II (same operators and repair) whose every evaluation is a full training;
* ``optuna-nsga2``: Optuna's NSGA-II sampler with constraints, every trial a full training;
* ``random``: random architectures that meet the cost limits (the cost model is free), each fully trained;
* ``hasnas``: ``--strategy hasnas`` (random cells, cost filter, training-free score, train the best).

Clock. Every method runs in this process for real; its clock is its own wall time (NSGA-II,
predictor fits, training-free scores, bookkeeping) plus the training time of each full training it
asks for. Trainings are cached across methods by (architecture, seed): the first time an
architecture is trained its measured training time is recorded, and every method that asks for it
is charged that time, so a cache hit costs what the training cost, and all methods see identical
measured accuracies for identical networks. A method that asks again for a network it has trained
already gets its result free and it counts once: every baseline memoises its trainings, as moo-snn
does (NSGA-II revisits architectures, more and more as it converges). Measured hypervolume after every training: of the
trained candidates that meet every limit, on measured validation accuracy and costs with measured
spike rates (the same definition as moo-snn's results, reference point = the problem's limits).

Reported per method and seed: the hypervolume-vs-time curve, the final hypervolume, trainings done;
and for moo-snn against each baseline B, the speed-up to reach B's final hypervolume
(B's time to reach it / moo-snn's time to reach it; ``null`` where moo-snn never reaches it in
its budget), plus hypervolume at equal wall time (the budget).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import replace

import numpy as np

from moo_snn.config.problem import load_problem
from moo_snn.data import load_problem_data
from moo_snn.evaluation import population_costs
from moo_snn.objectives import constraint_matrix, metric_values, resolve_metrics
from moo_snn.pareto import feasible_front, hypervolume
from moo_snn.search.selection import reference_point
from moo_snn.space import SLOT_NAMES, SearchSpace, slot_for
from moo_snn.training import trainer


class BudgetExhausted(Exception):
    """Raised by the oracle when a method's clock passes its budget."""


class TrainingOracle:
    """Full training with a cross-method cache and a per-method charged clock."""

    def __init__(self, spec, data):
        self.spec, self.data = spec, data
        self.cache: dict[tuple[str, int], object] = {}
        self.real = trainer.train_architecture

    def start(self, method: str, budget: float, seed: int):
        self.method, self.budget, self.seed = method, budget, seed
        self.t0 = time.perf_counter()
        self.charged = 0.0  # training seconds charged
        self.spent_inside = 0.0  # real seconds spent inside the oracle (replaced by the charge)
        self.log: list[tuple[float, str, object]] = []
        self.asked: set[tuple[str, int]] = set()

    def clock(self) -> float:
        return time.perf_counter() - self.t0 - self.spent_inside + self.charged

    def train(self, spec, arch, data=None, *, seed=0, **kwargs):
        if self.clock() > self.budget:
            raise BudgetExhausted
        key = (str(arch), self.seed)
        if key in self.asked:  # a network this method trained already: it re-uses the result (memoised), free
            return self.cache[key]
        self.asked.add(key)
        enter = time.perf_counter()
        if key not in self.cache:
            self.cache[key] = self.real(self.spec, str(arch), self.data, seed=self.seed)
        result = self.cache[key]
        self.spent_inside += time.perf_counter() - enter
        self.charged += result.train_seconds
        self.log.append((self.clock(), str(arch), result))
        return result


def measured(spec, space, metrics, x, result):
    """Minimised objectives and G of the repaired genome ``x`` from its training ``result``: measured
    validation accuracy (0 if it did not train) and costs with its measured spike rates."""
    rates = np.zeros((1, len(SLOT_NAMES)))
    for name, rate in result.spike_rates.items():
        rates[0, slot_for(name)] = rate
    acc = [result.val_accuracy if result.status == "trained" else 0.0]
    costs = population_costs(spec, space, x[None], spike_rate=rates)
    values = metric_values(spec.objectives.names, acc, costs)[0]
    return np.array([m.to_minimize(v) for m, v in zip(metrics, values)]), constraint_matrix(spec.constraints, acc, costs)[0]


def measured_hv_curve(spec, space, log, ref):
    """(time, trainings, hypervolume) after every training of a method's log."""
    metrics = resolve_metrics(spec.objectives.names)
    curve, rows = [], []
    seen = set()
    for t, arch, result in log:
        if arch not in seen and result.status == "trained":
            seen.add(arch)
            rows.append(measured(spec, space, metrics, space.repair(space.parse(arch)[None])[0], result))
        if rows:
            F = np.array([r[0] for r in rows])
            G = np.array([r[1] for r in rows])
            front = feasible_front(F, G)
            hv = hypervolume(F[front], ref) if len(front) else 0.0
        else:
            hv = 0.0
        curve.append((t, len(curve) + 1, hv))
    return curve


# --- methods -----------------------------------------------------------------------------------
def run_moo(spec, data, oracle, tmp):
    from moo_snn.search.loop import SearchRun, with_overrides

    from moo_snn.search.loop import SearchEvents

    class StopAtBudget(SearchEvents):  # rounds without a new training must stop at the budget too
        def phase(self, text):
            if oracle.clock() > oracle.budget:
                raise BudgetExhausted

    spec = with_overrides(spec, rounds=1000)
    run = SearchRun(spec, os.path.join(tmp, f"moo-{oracle.seed}.nc"), archive_path=os.path.join(tmp, "no-archive.nc"),
                    data=data, progress=StopAtBudget())
    run.run()


def run_hasnas(spec, data, oracle, tmp):
    from moo_snn.search.hasnas import HasnasRun

    HasnasRun(spec, os.path.join(tmp, f"hasnas-{oracle.seed}.nc"), data=data).run()


def run_random(spec, data, oracle, tmp):
    from moo_snn.evaluation import meets_cost_limits

    space = SearchSpace(spec.space)
    rng = np.random.default_rng([oracle.seed, 11])
    while True:
        X = space.sample(64, rng)
        for x in X[meets_cost_limits(spec, space, X)]:
            oracle.train(spec, str(space.decode(x)))


def run_nsga2_full(spec, data, oracle, tmp):
    from pymoo.core.problem import Problem
    from pymoo.optimize import minimize

    from moo_snn.search.pymoo_problem import make_algorithm

    space = SearchSpace(spec.space)
    metrics = resolve_metrics(spec.objectives.names)

    class Trained(Problem):
        def __init__(self):
            super().__init__(n_var=space.n_var, n_obj=len(metrics), n_ieq_constr=len(spec.constraints),
                             xl=space.xl.astype(float), xu=space.xu.astype(float), vtype=int)

        def _evaluate(self, X, out, *args, **kwargs):
            rows = [measured(spec, space, metrics, x, oracle.train(spec, str(space.decode(x)))) for x in space.repair(X)]
            out["F"] = np.array([F for F, _ in rows])
            out["G"] = np.array([G for _, G in rows])

    minimize(Trained(), make_algorithm(space, 16), ("n_gen", 100000), seed=oracle.seed, verbose=False)


def run_optuna(spec, data, oracle, tmp):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SearchSpace(spec.space)
    metrics = resolve_metrics(spec.objectives.names)

    def objective(trial):
        genome = np.array([trial.suggest_int(name, 0, int(hi)) for name, hi in zip(space.gene_names, space.xu)])
        x = space.repair(genome[None])[0]
        F, G = measured(spec, space, metrics, x, oracle.train(spec, str(space.decode(x))))
        for c, g in zip(spec.constraints, G):
            trial.set_constraint(c.name, float(g))  # feasible when every value is <= 0
        return tuple(float(f) for f in F)

    sampler = optuna.samplers.NSGAIISampler(population_size=16, seed=oracle.seed)
    study = optuna.create_study(directions=["minimize"] * len(metrics), sampler=sampler)
    study.optimize(objective, n_trials=100000, catch=())


METHODS = {"moo-snn": run_moo, "nsga2-full": run_nsga2_full, "optuna-nsga2": run_optuna, "random": run_random,
           "hasnas": run_hasnas}


def time_to_reach(curve, target):
    for t, n, hv in curve:
        if hv >= target - 1e-12:
            return t, n
    return None, None


def hv_at(curve, t_max):
    values = [hv for t, n, hv in curve if t <= t_max]
    return values[-1] if values else 0.0


def summarise(curves, budget, baseline_budget, seeds, threads) -> dict:
    """Medians over seeds, and moo-snn against each baseline (see the module docstring)."""
    summary = {"budget_s": budget, "baseline_budget_s": baseline_budget, "threads": threads, "seeds": seeds,
               "machine": f"{os.cpu_count()} cores, {platform.machine()}", "methods": {}}
    for method, per_seed in curves.items():
        summary["methods"][method] = {
            "final_hv_median": statistics.median(c[-1][2] if c else 0.0 for c in per_seed),
            "trainings_median": statistics.median(len(c) for c in per_seed),
            "final_hv": [c[-1][2] if c else 0.0 for c in per_seed],
        }
    if "moo-snn" not in curves:
        return summary
    for method in curves:
        if method == "moo-snn":
            continue
        ratios, train_ratios, equal_time, reach, match = [], [], [], [], []
        for moo, base in zip(curves["moo-snn"], curves[method]):
            target = base[-1][2] if base else 0.0
            t_base, n_base = time_to_reach(base, target)
            t_moo, n_moo = time_to_reach(moo, target)
            found = target > 0  # a baseline without any feasible network sets no target
            reach.append({"target_hv": target, "moo_s": t_moo, "baseline_s": t_base, "moo_trainings": n_moo,
                          "baseline_trainings": n_base})
            ratios.append(t_base / t_moo if found and t_moo and t_base else None)
            train_ratios.append(n_base / n_moo if found and n_moo and n_base else None)
            equal_time.append((hv_at(moo, budget), hv_at(base, budget)))
            # the other way round: how long the baseline takes to match moo-snn's final front
            # (a lower bound, its whole budget, where it never does)
            own = moo[-1][2] if moo else 0.0
            t_own, _ = time_to_reach(moo, own)
            t_match, _ = time_to_reach(base, own)
            match.append({"moo_final_hv": own, "moo_s": t_own, "baseline_s": t_match,
                          "ratio": (t_match if t_match else baseline_budget) / t_own if own > 0 and t_own else None,
                          "lower_bound": t_match is None})
        key = {"nsga2-full": "full_nsga2", "optuna-nsga2": "optuna", "random": "random", "hasnas": "hasnas"}[method]
        finite = [r for r in ratios if r is not None]
        summary[f"speedup_vs_{key}"] = statistics.median(finite) if finite else None
        summary[f"speedup_vs_{key}_per_seed"] = ratios
        summary[f"trainings_ratio_vs_{key}_per_seed"] = train_ratios
        summary[f"hv_at_equal_time_vs_{key}"] = equal_time
        summary[f"time_to_reach_vs_{key}_per_seed"] = reach
        summary[f"time_to_match_moo_vs_{key}_per_seed"] = match
    return summary


def plot(curves, path, budget, baseline_budget, seeds) -> None:
    """Measured hypervolume against clock, every method and seed; a method that stopped early
    (hasnas trains one network) keeps its last value, dotted, to the budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for (method, per_seed), color in zip(curves.items(), plt.cm.tab10.colors):
        end = budget if method == "moo-snn" else baseline_budget
        for k, c in enumerate(per_seed):
            if c:
                t, _, hv = zip(*c)
                ax.step(t, hv, where="post", color=color, alpha=0.85, label=method if k == 0 else None,
                        marker="o" if len(c) < 5 else None, markersize=4)
                if t[-1] < 0.9 * end:
                    ax.plot([t[-1], end], [hv[-1], hv[-1]], color=color, alpha=0.85, linestyle=":")
    ax.set_xlabel("clock [s] (own wall time + charged training time)")
    ax.set_ylabel("measured hypervolume")
    ax.set_title(f"problems/digits.toml, {seeds} seed(s), budget {budget:.0f} s (moo-snn), "
                 f"{baseline_budget:.0f} s (baselines)", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, moo-snn 60 s, baselines 150 s (NSGA-II's first feasible networks come after "
                             "about 100 s), without Optuna unless --methods names it: about 6 minutes in all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=300.0, help="clock seconds per method and seed")
    parser.add_argument("--baseline-budget", type=float, default=None,
                        help="clock seconds per baseline and seed (default: --budget); a longer one lets the "
                             "baselines reach higher targets for the time-to-reach ratio")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every training (1: one core)")
    parser.add_argument("--methods", default=None, help=f"comma-separated, of {', '.join(METHODS)} (default: all)")
    parser.add_argument("--plot", default=None)
    parser.add_argument("--curves", default=None, help="write every method's (clock, trainings, HV) curves as JSON")
    parser.add_argument("--from-curves", default=None, help="summarise and plot the curves of an earlier run (no training)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seeds = 1 if args.quick else args.seeds
    budget = 60.0 if args.quick else args.budget
    baseline_budget = (150.0 if args.quick else budget) if args.baseline_budget is None else args.baseline_budget
    methods = args.methods.split(",") if args.methods else [m for m in METHODS if not (args.quick and m == "optuna-nsga2")]
    if args.from_curves:
        with open(args.from_curves) as f:
            saved = json.load(f)
        meta = saved if "curves" in saved else {"curves": saved}  # older files: the curves alone
        curves = meta["curves"]
        budget, baseline_budget = meta.get("budget_s", budget), meta.get("baseline_budget_s", baseline_budget)
        seeds, threads = len(next(iter(curves.values()))), meta.get("threads", args.threads)
    else:
        curves, threads = run_methods(methods, seeds, budget, baseline_budget, args.threads, args.json), args.threads
    if args.curves:
        with open(args.curves, "w") as f:
            json.dump({"budget_s": budget, "baseline_budget_s": baseline_budget, "threads": threads, "curves": curves}, f)
    if args.plot:
        plot(curves, args.plot, budget, baseline_budget, seeds)
    print(json.dumps(summarise(curves, budget, baseline_budget, seeds, threads), indent=None if args.json else 2))


def run_methods(methods, seeds, budget, baseline_budget, threads, quiet) -> dict[str, list]:
    """Run every method for every seed; each one's (clock, trainings, measured HV) curve."""
    import tempfile

    import torch

    torch.set_num_threads(threads)
    spec = load_problem("digits")
    space = SearchSpace(spec.space)
    data = load_problem_data(spec)
    ref = reference_point(spec, space, resolve_metrics(spec.objectives.names))
    oracle = TrainingOracle(spec, data)
    trainer.train_architecture = oracle.train  # every method's full trainings go through the oracle
    curves: dict[str, list] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            seeded = replace(spec, search=replace(spec.search, seed=seed))
            for method in curves:
                oracle.start(method, budget if method == "moo-snn" else baseline_budget, seed)
                try:
                    METHODS[method](seeded, data, oracle, tmp)
                except BudgetExhausted:
                    pass
                curves[method].append(measured_hv_curve(seeded, space, oracle.log, ref))
                if not quiet:
                    c = curves[method][-1]
                    print(f"seed {seed} {method:13s} trainings {len(c):4d}  final HV {c[-1][2] if c else 0:.4f}  "
                          f"clock {c[-1][0] if c else 0:.0f} s", flush=True)
    return curves


if __name__ == "__main__":
    main()
