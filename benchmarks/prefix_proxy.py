"""Would a ladder whose proxy is the *first epochs of the full training itself* pick better promotions?

The standard successive-halving design (Hyperband, ASHA) promotes a configuration by *continuing* its
training from a checkpoint: the low rung is a prefix of the full run, and a promotion costs only the
epochs left. moo-snn's ladder instead trains each level from scratch with its own schedule on a
stratified fraction of the data (``moo_snn.search.fidelity``). Two things could favour the prefix:
the promotion would save the proxy's cost, and a prefix might foresee its *own* run's final accuracy
(same initialisation, same data order: its seed luck) better than an independent proxy run can.

For every network of the benchmark cache with a seed-0 full training and at least four of the
referee's retrainings (``benchmarks/oracle_ladder.candidates``: every network ever on a front of
the recorded benchmark runs), this trains the full digits-long recipe (30 epochs, all data, seed 0,
one thread) again and records the validation accuracy after epochs 1, 2, 3, 4, 6 and 10 of that
run (``--train``; stored in ``benchmarks/prefix_proxy.json``, resumable). Printed, Kendall τ overall
and in the half each estimate ranks best (where promotions are chosen), of the prefix at each epoch
and of the ladder's own proxy (8 epochs on a quarter of the data, from the cache: 1/15 FTE, as the
2-epoch prefix), against the full run's final accuracy (what a promotion would measure; for the
prefixes it is their own run's end, for the proxy an independent training's) and against the
network's quality (mean validation accuracy of the referee's retrainings).

    python benchmarks/prefix_proxy.py [--train] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "multifidelity_cache.nc"
STORE = ROOT / "benchmarks" / "prefix_proxy.json"
EPOCHS = (1, 2, 3, 4, 6, 10)


def train_curves(spec, archs, store: Path) -> dict:
    """``{arch: {epoch: validation accuracy}}`` of the full recipe's seed-0 run (epoch 30: its final)."""
    import torch

    import moo_snn.training.trainer as trainer
    from moo_snn.data import load_problem_data

    curves = json.loads(store.read_text()) if store.exists() else {}
    data = load_problem_data(spec)
    images, labels = trainer._split_tensors(data, torch.device("cpu"))
    built = {}
    network = trainer.SpikingNetwork

    def keep(*args, **kwargs):  # the trainer builds one network per training: keep it to measure mid-run
        built["model"] = network(*args, **kwargs)
        return built["model"]

    trainer.SpikingNetwork = keep
    try:
        for arch in archs:
            if arch in curves:
                continue
            curve = {}

            def on_epoch(epoch, epochs, loss, curve=curve):  # the next epoch sets train mode again
                if epoch in EPOCHS:
                    curve[str(epoch)] = trainer.evaluate(built["model"], images["val"], labels["val"],
                                                         spec.training.eval_batch_size, torch.device("cpu"), spec=spec.training)

            result = trainer.train_architecture(spec, arch, data, seed=0, torch_threads=1, on_epoch=on_epoch)
            curve[str(spec.training.epochs)] = result.val_accuracy
            curves[arch] = curve
            store.write_text(json.dumps(curves, indent=0))
            print(f"{arch}: {curve}", file=sys.stderr, flush=True)
    finally:
        trainer.SpikingNetwork = network
    return curves


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="train the missing full runs (about 3-15 s each on a quiet core)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from oracle_ladder import candidates
    from proxy_seeds import ranking

    from moo_snn.config.problem import load_problem, parse_problem
    from moo_snn.surrogate import archive as arc

    spec = load_problem(ROOT / "problems" / "digits-long.toml")
    spec = parse_problem(spec.source.split("\n[fidelity]")[0] + "\n", source="digits-long without [fidelity]",
                         base_dir=spec.base_dir)
    archs, _, seed0, retrained = candidates(spec, CACHE)[:4]
    curves = train_curves(spec, archs, STORE) if args.train else json.loads(STORE.read_text())
    ds = arc.load_archive(CACHE)
    proxy = {str(a): float(v) for a, e, f, s, v in zip(ds.arch.values, ds.epochs.values, ds.train_fraction.values,
                                                       ds.seed.values, ds.val_accuracy.values)
             if e == 8 and np.isclose(f, 0.25) and s == 0}
    names = [a for a in archs if a in curves]
    where = {a: i for i, a in enumerate(archs)}
    final = np.array([curves[a][str(spec.training.epochs)] for a in names])
    quality = np.array([np.mean(retrained[where[a]]) for a in names])
    same = int(sum(np.isclose(final[k], seed0[where[a]]) for k, a in enumerate(names)))
    rows = [("proxy 8 ep x 1/4 (its own run)", 8 * 0.25 / spec.training.epochs, np.array([proxy.get(a, np.nan) for a in names]))]
    rows += [(f"epoch {e} of the full run", e / spec.training.epochs, np.array([curves[a][str(e)] for a in names])) for e in EPOCHS]
    out = {"networks": len(names), "final_equals_cached_seed0": same, "rows": []}
    for name, fte, est in rows:
        ok = np.isfinite(est)
        row = dict(estimate=name, fte=fte, n=int(ok.sum()))
        row["tau_final"], row["tau_final_best_half"] = ranking(final[ok], est[ok])
        row["tau_quality"], row["tau_quality_best_half"] = ranking(quality[ok], est[ok])
        out["rows"].append(row)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{len(names)} networks; the run's final accuracy equals the cache's seed-0 training in {same} "
              f"(trainings are bit-for-bit per CPU type)")
        for r in out["rows"]:
            print(f"{r['estimate']:32s} {r['fte']:.3f} FTE, n={r['n']}: own final τ {r['tau_final']:.3f} / best half "
                  f"{r['tau_final_best_half']:.3f}; quality τ {r['tau_quality']:.3f} / best half {r['tau_quality_best_half']:.3f}")
    return out


if __name__ == "__main__":
    main()
