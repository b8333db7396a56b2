"""Hypervolume of the FULL-fidelity measured front against cost in full-training equivalents (FTE).

Methods, all on ``problems/digits-long.toml`` (digits, 30-epoch full recipe) with the same search
settings (``--bootstrap``, ``--rounds``, ``--survivors``):

* ``multifidelity``: moo-snn with the problem's ``[fidelity]`` ladder (8 epochs on a quarter of the
  data, then full), at most ``--promote`` full trainings per round (and one after the bootstrap);
* ``full``: moo-snn with full trainings only (the same problem without its ``[fidelity]`` table);
* ``hasnas``: the papers' strategy as reconstructed (``moo-snn optimize --strategy hasnas``): one full
  training of the best training-free score among ``--hasnas-samples`` cells that meet the limits
  (the score's own computations are not counted: they are not trainings);
* ``random``: random feasible networks, each fully trained, as many FTE as the ``full`` run spent.

Cost is counted in trainings (FTE: epochs x data fraction / full epochs), so the figures do not depend
on the machine's load. After every full training the hypervolume of the feasible, non-dominated
front of the full-fidelity measurements so far is recorded (low-fidelity measurements never enter
it). ``fte_<method>``: FTE spent until the method's front first reaches the ``full`` run's final
hypervolume (the target; ``inf`` if never). ``fte95_<method>``: the same for 95 % of the target (the
tolerance the final-HV comparison allows; one network's seed noise moves the strict target).

Seed noise. The hypervolume above scores each front member by the one training the search made
(validation accuracy, training seed 0), so the full-only run, which trains 3x as many networks at full
fidelity, also draws more lucky seeds: its final front is partly the maximum of its noise. With
``--retrain-seeds N`` (default 4) every front member is also trained again with seeds 1..N, and the
``*_rt`` figures score it by the mean *test* accuracy of those retrainings (front membership is still
the search's choice; the retrainings are the referee's, charged to no method; the NAS-Bench-201
convention of reporting several training seeds). ``target_hv_rt_se``: the standard error of the
target under that scoring, from the spread of the full-only front's HV scored by each retraining seed
alone; ``fte_rt1se_<method>``: FTE until the method's referee HV is within one standard error of the
target (the one-standard-error rule: Breiman, Friedman, Olshen & Stone 1984, *Classification and
Regression Trees*, ch. 3; Hastie, Tibshirani & Friedman 2009, *ESL* §7.10). The headline keys
(``fte_full``, ``fte_multifidelity``, ``hv_*``) stay the search's own single-training figures.

Trainings are memoised in a cache shared by all methods and seeds (``benchmarks/multifidelity_cache.nc``,
an archive file, seeded from ``surrogates/digits-fidelity.nc``): a network at a fidelity is trained
once, with training seed 0 and one torch thread, and every later request replays that measurement
(as a tabular NAS benchmark does); the search seed changes the search, not the training noise. A
request that hits the cache still costs its FTE to the method that asked. A run with a cold cache
trains for real (30-epoch trainings: about 10-60 s each on a CPU core); later runs replay.

    python benchmarks/multifidelity.py [--quick] [--seeds N] [--json] [--methods full,multifidelity,...] [--retrain-seeds N]

``--quick``: 1 seed, bootstrap 10, 3 rounds of 4 survivors, 20 generations of 32; the ladder's run
gets 6 rounds of 8 survivors (rounds are cheap at low fidelity) and promotes 1 network per round.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "multifidelity_cache.nc"
SEED_ARCHIVES = [ROOT / "surrogates" / "digits-fidelity.nc"]


class CachedExecutor:
    """An executor (``run(tasks, data)``) whose trainings are memoised by (network, epochs, fraction)."""

    def __init__(self, problem, path: Path = CACHE, seed_archives=SEED_ARCHIVES, threads: int = 1):
        from moo_snn.executor import InProcessExecutor
        from moo_snn.surrogate import archive as arc

        self.problem, self.path, self.threads = problem, path, threads
        self.inner = InProcessExecutor(torch_threads=threads)
        self.archive = arc.load_archive(path) if path.exists() else arc.empty_archive(problem)
        self.records, self.retrainings = {}, {}
        full = problem.training.epochs
        for source in [*(a for a in seed_archives if a.exists()), None]:
            ds = self.archive if source is None else arc.load_archive(source)
            for k in range(ds.sizes["record"]):
                arch, epochs, fraction = str(ds.arch.values[k]), int(ds.epochs.values[k]), round(float(ds.train_fraction.values[k]), 6)
                seed = int(ds.seed.values[k])
                if seed == 0 and str(ds.status.values[k]) != "failed":
                    self.records[(arch, epochs, fraction)] = self._result(ds, k)
                elif seed != 0 and epochs == full and fraction == 1.0:  # a referee's retraining, kept even if it failed
                    self.retrainings[(arch, seed)] = self._result(ds, k, seed)
        self.trained_now = 0
        self.data = None  # the problem's data (set by main): retrainings need it

    @staticmethod
    def _result(ds, k, seed: int = 0) -> dict:
        return dict(arch=str(ds.arch.values[k]), status=str(ds.status.values[k]), val_accuracy=float(ds.val_accuracy.values[k]),
                    test_accuracy=float(ds.test_accuracy.values[k]), train_seconds=float(ds.train_seconds.values[k]),
                    epochs=int(ds.epochs.values[k]), seed=seed, spike_rate=ds.spike_rate.values[k].astype(float),
                    train_fraction=float(ds.train_fraction.values[k]), params=int(ds.params.values[k]))

    def key(self, task):
        from moo_snn.architecture import Architecture

        return str(Architecture.parse(task.arch).canonical()), int(task.epochs), round(float(task.train_fraction), 6)

    def _train(self, task, data) -> dict:
        """Train ``task`` for real, append it to the cache file, and return its record."""
        from moo_snn.surrogate import archive as arc

        with closing(self.inner.run([task], data=data)) as results:
            _, result = next(iter(results))
        self.archive = arc.append(self.archive, result)
        arc.save_archive(self.archive, self.path)
        self.trained_now += 1
        return self._result(self.archive, self.archive.sizes["record"] - 1, task.seed)

    def run(self, tasks, data=None):
        for i, task in enumerate(tasks):
            key = self.key(task)
            if key not in self.records:
                self.records[key] = self._train(dataclasses.replace(task, seed=0, weights_path=None), data)
            result = dict(self.records[key], arch=task.arch)
            n_train = 1167  # digits training split (1,797 images less 20 % test and 15 % validation)
            result["samples_seen"] = int(task.epochs * math.ceil(task.train_fraction * n_train))
            yield i, result

    def retrained_accuracy(self, arch: str, seeds) -> float:
        """Mean test accuracy of ``arch`` trained again with the full recipe and each of ``seeds`` (not
        0, the search's own training seed): what a user measures on held-out data when training the
        chosen network again. Missing retrainings are trained (and memoised) here; they are the
        referee's, charged to no method. A retraining that diverges or fails counts as accuracy 0."""
        from moo_snn.architecture import Architecture
        from moo_snn.executor import training_tasks

        canon = str(Architecture.parse(arch).canonical())
        values = []
        for seed in seeds:
            if (canon, seed) not in self.retrainings:
                self.retrainings[(canon, seed)] = self._train(training_tasks(self.problem, [canon], seed=seed)[0], self.data)
            r = self.retrainings[(canon, seed)]
            values.append(r["test_accuracy"] if r["status"] == "trained" and math.isfinite(r["test_accuracy"]) else 0.0)
        return float(np.mean(values))

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def _recorder():
    from moo_snn.search.loop import SearchEvents

    class Recorder(SearchEvents):
        def __init__(self):
            self.order = []

        def trained(self, arch, result):
            self.order.append((arch, int(result["epochs"]), float(result.get("train_fraction", 1.0)), result["status"]))

    return Recorder()


def curve(spec, ds, order, score=None) -> list[tuple[float, float]]:
    """(FTE spent, HV of the full-fidelity front) after each training, in the order they finished.

    The front is always the feasible, non-dominated set by the search's own measurement (its one
    training's validation accuracy). ``score`` None: its hypervolume with those same accuracies (what
    the run itself reports); else a function ``arch -> accuracy`` that scores each front member for
    the hypervolume instead (:meth:`CachedExecutor.retrained_accuracy`).
    """
    from moo_snn.objectives import resolve_metrics
    from moo_snn.pareto import feasible_front, hypervolume

    metrics = resolve_metrics(spec.objectives.names)
    ref = json.loads(ds.attrs["reference_point"])
    ideal = json.loads(ds.attrs.get("ideal_point", "null"))
    index = {str(a): k for k, a in enumerate(ds.arch.values)}
    full_epochs = spec.training.epochs
    F_all = np.column_stack([m.to_minimize(ds.measured_objective.values[:, j]) for j, m in enumerate(metrics)])
    G_all = ds.measured_limit_excess.values
    j_acc = [m.name for m in metrics].index("accuracy")
    spent, have, points = 0.0, [], []
    for arch, epochs, fraction, status in order:
        spent += epochs * fraction / full_epochs
        if epochs == full_epochs and fraction == 1.0 and status == "trained":
            have.append(index[arch])
        hv = 0.0
        if have:
            F, G = F_all[have], G_all[have]
            front = feasible_front(F, G)
            S = F[front].copy()
            if score is not None:
                S[:, j_acc] = [metrics[j_acc].to_minimize(score(str(ds.arch.values[have[i]]))) for i in front]
            hv = hypervolume(S, ref, ideal) if len(front) else 0.0
        points.append((spent, float(hv)))
    return points


def fte_to_reach(points, target: float) -> float:
    for fte, hv in points:
        if hv >= target - 1e-12:
            return fte
    return math.inf


def run_method(method: str, spec_mf, seed: int, executor, args) -> tuple:
    from moo_snn.search.hasnas import HasnasRun
    from moo_snn.search.loop import SearchRun, with_overrides

    spec_full = strip_fidelity(spec_mf)
    spec = spec_mf if method == "multifidelity" else spec_full
    mf = method == "multifidelity"
    spec = with_overrides(spec, seed=seed, bootstrap=(args.bootstrap_mf or args.bootstrap) if mf else args.bootstrap, rounds=args.rounds_mf if mf else args.rounds,
                          survivors=(args.survivors_mf or args.survivors) if mf else args.survivors, generations=args.generations, pop_size=args.pop_size,
                          hasnas_samples=args.hasnas_samples)
    progress = _recorder()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep or tmp) / f"{method}-{seed}.nc"
        kwargs = dict(archive_path=Path(tmp) / "none.nc", executor=executor, progress=progress, data=args.data)
        if method == "random":
            run = RandomRun(spec, out, n_full=args.random_fte, **kwargs)
        elif method == "hasnas":
            run = HasnasRun(spec, out, **kwargs)
        else:
            run = SearchRun(spec, out, **kwargs)
        ds = run.run()
    return spec, ds, progress.order


def strip_fidelity(spec):
    from moo_snn.config.problem import parse_problem

    text = spec.source.split("\n[fidelity]")[0] + "\n"
    return parse_problem(text, source=f"{spec.name} without [fidelity]", base_dir=spec.base_dir)


def _random_run_class():
    from moo_snn.evaluation import meets_cost_limits
    from moo_snn.search.loop import SearchRun

    class RandomRunImpl(SearchRun):
        """Random feasible networks, fully trained, ``n_full`` of them."""

        def __init__(self, spec, out, *, n_full: int, **kwargs):
            super().__init__(spec, out, **kwargs)
            self.n_full = n_full
            self.state.attrs["strategy"] = "random"

        def _search(self):
            rng = np.random.default_rng([self.state.seed, 7])
            X = self.space.sample(20 * self.n_full + 200, rng)
            X = X[meets_cost_limits(self.spec, self.space, X)]
            seen, todo = set(), []
            for x in X:
                arch = str(self.space.decode(x))
                if arch not in seen:
                    seen.add(arch)
                    todo.append(self._candidate(arch, x, 1))
                if len(todo) == self.n_full:
                    break
            self._train(todo, 1, "search")
            self._update_front()

    return RandomRunImpl


def RandomRun(*args, **kwargs):
    return _random_run_class()(*args, **kwargs)


def _finite(value):
    """JSON has no infinity: a method that never reached the target gets null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None, help="how many search seeds (default 3; 1 with --quick)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first search seed (seeds first..first+N-1)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--methods", default="full,multifidelity,hasnas,random")
    parser.add_argument("--bootstrap", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--rounds-mf", type=int, default=None, help="rounds of the multi-fidelity run (default: --rounds)")
    parser.add_argument("--survivors", type=int, default=6)
    parser.add_argument("--bootstrap-mf", type=int, default=None, help="bootstrap of the multi-fidelity run (default: --bootstrap)")
    parser.add_argument("--survivors-mf", type=int, default=None, help="survivors per round of the multi-fidelity run (default: --survivors)")
    parser.add_argument("--generations", type=int, default=40)
    parser.add_argument("--pop-size", type=int, default=64)
    parser.add_argument("--promote", type=int, default=None, help="full trainings per round of the ladder (default: the problem's)")
    parser.add_argument("--promote-bootstrap", choices=("true", "false"), default=None,
                        help="promote from the bootstrap before round 1 (default: the problem's [fidelity] promote_bootstrap)")
    parser.add_argument("--retrain-seeds", type=int, default=4,
                        help="score each front member also by the mean test accuracy of this many retrainings (seeds 1..N; 0: off)")
    parser.add_argument("--hasnas-samples", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=CACHE, help="the trainings cache (an archive file; default: the shipped one)")
    parser.add_argument("--keep", type=Path, default=None, help="keep every run's results file in this folder")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    if args.quick:
        args.seeds = args.seeds or 1
        args.bootstrap, args.rounds, args.survivors, args.generations, args.pop_size = 10, 3, 4, 20, 32
        # the ladder's run: rounds are cheap at low fidelity, so it gets twice as many rounds of twice as many
        # survivors (48 proxies: 3.2 FTE), and promotes one per round
        args.rounds_mf = args.rounds_mf or 2 * args.rounds
        args.survivors_mf = args.survivors_mf or 2 * args.survivors
        args.promote = 1 if args.promote is None else args.promote
    args.rounds_mf = args.rounds_mf or args.rounds
    args.seeds = args.seeds or 3

    from moo_snn.config.problem import load_problem
    from moo_snn.data import load_problem_data

    spec_mf = load_problem(ROOT / "problems" / "digits-long.toml")
    if args.promote is not None:
        spec_mf = dataclasses.replace(spec_mf, fidelity=dataclasses.replace(spec_mf.fidelity, promote=args.promote))
    if args.promote_bootstrap is not None:
        spec_mf = dataclasses.replace(spec_mf, fidelity=dataclasses.replace(spec_mf.fidelity,
                                                                            promote_bootstrap=args.promote_bootstrap == "true"))
    args.data = load_problem_data(spec_mf)
    executor = CachedExecutor(spec_mf, path=args.cache)
    executor.data = args.data
    retrain_seeds = list(range(1, args.retrain_seeds + 1))
    methods = args.methods.split(",")
    per_seed = []
    start = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        results = {}
        args.random_fte = args.bootstrap + args.rounds * args.survivors
        for method in ["full"] + [m for m in methods if m != "full"]:
            t0 = time.perf_counter()
            spec, ds, order = run_method(method, spec_mf, seed, executor, args)
            points = curve(spec, ds, order)
            points_rt = (curve(spec, ds, order, score=lambda a: executor.retrained_accuracy(a, retrain_seeds))
                           if retrain_seeds else points)
            results[method] = dict(points=points, hv=points[-1][1] if points else 0.0, fte=points[-1][0] if points else 0.0,
                                   points_rt=points_rt, hv_rt=points_rt[-1][1] if points_rt else 0.0,
                                   n_full=sum(1 for _, e, f, _ in order if e == spec.training.epochs and f == 1.0),
                                   n_trainings=len(order), seconds=time.perf_counter() - t0, run=(spec, ds, order))
            print(f"seed {seed} {method}: HV {results[method]['hv']:.4f} after {results[method]['fte']:.2f} FTE "
                  f"({results[method]['n_full']} full of {len(order)} trainings; {executor.trained_now} trained for real so far)",
                  file=sys.stderr, flush=True)
            print(json.dumps({"seed": seed, "method": method, "curve": points}), file=sys.stderr, flush=True)
        target, target_rt = results["full"]["hv"], results["full"]["hv_rt"]
        # the referee's own noise: the full-only front's HV scored by each retraining seed alone
        hv_each = [curve(*results["full"]["run"], score=lambda a, s=s: executor.retrained_accuracy(a, [s]))[-1][1]
                   for s in retrain_seeds]
        target_se = float(np.std(hv_each, ddof=1) / math.sqrt(len(hv_each))) if len(hv_each) > 1 else 0.0
        row = {"seed": seed, "target_hv": target, "target_hv_rt": target_rt, "target_hv_rt_se": target_se,
               "target_hv_rt_each_seed": hv_each}
        for method, r in results.items():
            row[f"hv_{method}"] = r["hv"]
            row[f"fte_{method}"] = fte_to_reach(r["points"], target)
            row[f"fte95_{method}"] = fte_to_reach(r["points"], 0.95 * target)
            row[f"hv_rt_{method}"] = r["hv_rt"]
            row[f"fte_rt_{method}"] = fte_to_reach(r["points_rt"], target_rt)
            row[f"fte_rt1se_{method}"] = fte_to_reach(r["points_rt"], target_rt - target_se)
            row[f"fte_spent_{method}"] = r["fte"]
            row[f"n_full_{method}"] = r["n_full"]
            row[f"curve_{method}"] = r["points"]
            row[f"curve_rt_{method}"] = r["points_rt"]
        per_seed.append(row)
    summary = {"seeds": args.seeds, "settings": {k: v for k, v in vars(args).items() if k != "data"},
               "wall_seconds": time.perf_counter() - start, "trained_for_real": executor.trained_now}
    for key in per_seed[0]:
        if key.startswith(("hv_", "fte_", "fte95_", "target_hv")) and key != "target_hv_rt_each_seed":
            summary[key] = float(np.median([r[key] for r in per_seed]))
    if "fte_multifidelity" in summary:
        summary["fte_ratio_full_over_multifidelity"] = summary["fte_full"] / summary["fte_multifidelity"]
        summary["fte95_ratio_full_over_multifidelity"] = summary["fte95_full"] / summary["fte95_multifidelity"]
        summary["hv_ratio_multifidelity_over_full"] = summary["hv_multifidelity"] / summary["hv_full"] if summary["hv_full"] else math.nan
        summary["fte_rt_ratio_full_over_multifidelity"] = summary["fte_rt_full"] / summary["fte_rt_multifidelity"]
        summary["fte_rt1se_ratio_full_over_multifidelity"] = summary["fte_rt1se_full"] / summary["fte_rt1se_multifidelity"]
        summary["hv_rt_ratio_multifidelity_over_full"] = (summary["hv_rt_multifidelity"] / summary["hv_rt_full"]
                                                            if summary["hv_rt_full"] else math.nan)
    summary["per_seed"] = [{k: v for k, v in r.items() if not k.startswith("curve_")} for r in per_seed]
    summary["curves"] = [{k: v for k, v in r.items() if k.startswith("curve_")} for r in per_seed]
    if args.json:
        print(json.dumps(_finite(summary), default=str))
    else:
        for k, v in summary.items():
            if k not in ("per_seed", "curves", "settings"):
                print(f"{k}: {v}")
    return summary


if __name__ == "__main__":
    main()
