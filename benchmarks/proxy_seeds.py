"""Does a second training seed of the proxy rank networks better than one proxy, or than one full training?

On digits-long (8 ep × ¼ proxy = 1/15 FTE; full 30 epochs), for every network of the benchmark cache
(``benchmarks/multifidelity_cache.nc``) with a seed-0 proxy and a seed-0 full training, the proxy is
trained again with ``--seed`` (default 1; ``--train`` trains the missing ones, one thread, and appends
them to the cache, which ``benchmarks/multifidelity.py`` ignores: it replays seed-0 trainings and the
referee's full retrainings only). Printed, Kendall τ overall and in the half each estimate ranks best
(where promotions are chosen), of:

* the seed-0 proxy, the second-seed proxy, and their mean (2/15 FTE), against the seed-0 full training
  (what the benchmark's front is scored by);
* the same and the seed-0 full training itself (1 FTE), against the network's *quality*: the mean
  validation accuracy of the referee's retrainings (seeds 1-4), for the networks that have them.

    python benchmarks/proxy_seeds.py [--train] [--seed 1] [--json]
"""

from __future__ import annotations

import argparse
import json
from contextlib import closing
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "multifidelity_cache.nc"
PROXY = (8, 0.25)


def measurements(ds, full_epochs: int) -> dict:
    """``{(kind, seed): {arch: val_accuracy}}`` of trained records, kind ``proxy`` (8 ep × ¼) or ``full``."""
    out: dict = {}
    for a, s, e, f, v, st in zip(ds.arch.values, ds.seed.values, ds.epochs.values, ds.train_fraction.values,
                                 ds.val_accuracy.values, ds.status.values):
        if st != "trained":
            continue
        kind = "full" if (e, f) == (full_epochs, 1.0) else "proxy" if e == PROXY[0] and np.isclose(f, PROXY[1]) else None
        if kind:
            out.setdefault((kind, int(s)), {})[str(a)] = float(v)
    return out


def ranking(truth, estimate) -> tuple[float, float]:
    """Kendall τ of ``estimate`` against ``truth``, overall and among the half ``estimate`` ranks best."""
    from scipy.stats import kendalltau

    truth, estimate = np.asarray(truth, float), np.asarray(estimate, float)
    best = np.argsort(-estimate, kind="stable")[: len(truth) // 2]
    return float(kendalltau(truth, estimate).statistic), float(kendalltau(truth[best], estimate[best]).statistic)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="train the missing second-seed proxies into the cache")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from moo_snn.config.problem import load_problem
    from moo_snn.surrogate import archive as arc

    spec = load_problem(ROOT / "problems" / "digits-long.toml")
    ds = arc.load_archive(args.cache)
    m = measurements(ds, spec.training.epochs)
    archs = sorted(set(m.get(("proxy", 0), {})) & set(m.get(("full", 0), {})))
    if args.train:
        from moo_snn.data import load_problem_data
        from moo_snn.executor import InProcessExecutor, training_tasks

        todo = [a for a in archs if a not in m.get(("proxy", args.seed), {})]
        data, executor = load_problem_data(spec), InProcessExecutor(torch_threads=1)
        for k in range(0, len(todo), 10):  # saved every 10 trainings: an interrupted run resumes
            tasks = training_tasks(spec, todo[k:k + 10], seed=args.seed, epochs=PROXY[0], train_fraction=PROXY[1])
            with closing(executor.run(tasks, data=data)) as results:
                for _, result in results:
                    ds = arc.append(ds, result)
            arc.save_archive(ds, args.cache)
        m = measurements(ds, spec.training.epochs)
    second = m.get(("proxy", args.seed), {})
    archs = [a for a in archs if a in second]
    p0 = np.array([m[("proxy", 0)][a] for a in archs])
    p1 = np.array([second[a] for a in archs])
    y = np.array([m[("full", 0)][a] for a in archs])
    retrained = [a for a in archs if sum(a in m.get(("full", s), {}) for s in range(1, 5)) == 4]
    idx = [archs.index(a) for a in retrained]
    quality = np.array([np.mean([m[("full", s)][a] for s in range(1, 5)]) for a in retrained])
    estimates = {"proxy seed 0": p0, f"proxy seed {args.seed}": p1, "mean of the two proxies": (p0 + p1) / 2}
    result = {"networks": len(archs), "proxy_seed_mean_abs_difference": float(np.abs(p0 - p1).mean()),
              "vs_full_seed0": {k: ranking(y, v) for k, v in estimates.items()},
              "networks_with_retrainings": len(retrained),
              "vs_quality": {k: ranking(quality, v[idx]) for k, v in {**estimates, "full seed 0 (1 FTE)": y}.items()}}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{len(archs)} networks; proxies of two seeds differ by {result['proxy_seed_mean_abs_difference']:.4f} "
              f"(mean absolute validation accuracy)")
        for title, key, n in (("against the seed-0 full training", "vs_full_seed0", len(archs)),
                              ("against the retrainings' mean (quality)", "vs_quality", len(retrained))):
            print(f"{title} ({n} networks): tau / tau in the estimate's best half")
            for name, (t, tb) in result[key].items():
                print(f"  {name:26s} {t:6.3f} / {tb:6.3f}")
    return result


if __name__ == "__main__":
    main()
