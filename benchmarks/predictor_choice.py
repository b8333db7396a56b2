"""Choose the accuracy predictor on evidence (issue 14): encodings, training-free score, target, ensemble, regressor.

Every variant is scored by grouped 5-fold cross-validation on the digits archive
(``surrogates/digits.nc``: 220 records, a network's replicates in one fold), repeated over
``--repeats`` fold shuffles (the mean is what the choice is made on), and then, once, on the
held-out set ``benchmarks/digits_heldout.nc`` (networks outside the archive, built by
``benchmarks/digits_heldout.py``): fitted on the whole archive, it predicts the held-out networks.
The held-out figures are reported, never used to choose. Metrics: Kendall τ, τ among the half the
predictor ranks best (where survivors are chosen), MAE.

    OMP_NUM_THREADS=1 nice python benchmarks/predictor_choice.py [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def variants(quick: bool = False) -> list[dict]:
    """Every combination tried: regressor × paths × score × target (own ensemble), plus the bagging ensemble."""
    regressors = ["gradient_boosting", "extra_trees", "random_forest", "ridge", "gaussian_process"]
    out = [dict(regressor=r, use_paths=p, use_score=s, target=t, ensemble="own")
           for r, p, s, t in itertools.product(regressors, (False, True), (False, True), ("accuracy", "logit"))]
    return out[:4] if quick else out


def label(v: dict) -> str:
    return (f"{v['regressor']}{' +paths' if v['use_paths'] else ''}{' +score' if v['use_score'] else ''}"
            f"{' logit' if v['target'] == 'logit' else ''}{' bagging' if v['ensemble'] == 'bagging' else ''}")


def evaluate(problem, archive, heldout, v: dict, repeats: int, known: dict | None = None) -> dict:
    """CV (mean over ``repeats`` fold shuffles) and held-out quality of one variant (``known``: its CV
    figures from an earlier run of this script, reused)."""
    from moo_snn.surrogate import archive as arc
    from moo_snn.surrogate.report import heldout_report

    done = arc.full_fidelity(archive, problem.training.epochs)
    archs, y = done.arch.values, done.val_accuracy.values.astype(float)
    opts = {k: v[k] for k in ("use_paths", "target", "ensemble")}
    scores = done.sahd_score.values if v["use_score"] else None
    keys = ("kendall_tau", "kendall_tau_predicted_best_half", "mae", "spearman_rho")
    if known is not None:
        out = {k: known[k] for k in ("label", "fit_seconds", "cv", "cv_sd")} | v
    else:
        out = _cv(problem, archs, y, scores, v, opts, repeats, keys)
    if heldout is not None:
        h = heldout_report(problem, archive, heldout, regressor=v["regressor"], use_score=v["use_score"], **opts)
        out["heldout"] = {k: h[k] for k in keys} | {"n": h["n"]} | {kind: {k: q[k] for k in keys} for kind, q in h["by_origin"].items()}
    return out


def _cv(problem, archs, y, scores, v, opts, repeats, keys) -> dict:
    from moo_snn.surrogate.predictor import cross_validate

    start = time.perf_counter()
    cv = [cross_validate(problem, archs, y, regressor=v["regressor"], scores=scores, random_state=r, **opts)[0]
          for r in range(repeats)]
    seconds = (time.perf_counter() - start) / (5 * repeats)
    return {"label": label(v), **v, "fit_seconds": seconds,
            "cv": {k: float(np.mean([q[k] for q in cv])) for k in keys},
            "cv_sd": {k: float(np.std([q[k] for q in cv])) for k in keys}}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="four variants only (a smoke test)")
    parser.add_argument("--archive", type=Path, default=ROOT / "surrogates" / "digits.nc")
    parser.add_argument("--heldout", type=Path, default=ROOT / "benchmarks" / "digits_heldout.nc")
    parser.add_argument("--only", default=None, help="comma-separated regressors to try")
    parser.add_argument("--labels", default=None, help="comma-separated variant labels to try (as printed), in this order")
    parser.add_argument("--bagging", action="store_true", help="also each variant with scikit-learn's BaggingRegressor")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--cv-from", type=Path, default=None, help="reuse the CV figures of an earlier --json (same variants)")
    parser.add_argument("--no-heldout", action="store_true", help="cross-validation only")
    args = parser.parse_args(argv)

    from sklearn.exceptions import ConvergenceWarning

    from moo_snn.config.problem import load_problem
    from moo_snn.surrogate import archive as arc

    problem = load_problem("digits")
    archive = arc.load_archive(args.archive)
    heldout = arc.load_archive(args.heldout) if args.heldout.exists() and not args.no_heldout else None
    known = {r["label"]: r for r in json.loads(args.cv_from.read_text())} if args.cv_from else {}
    todo = variants(args.quick)
    if args.only:
        todo = [v for v in todo if v["regressor"] in args.only.split(",")]
    if args.labels:
        by_label = {label(v): v for v in todo + [dict(v, ensemble="bagging") for v in todo]}
        todo = [by_label[name.strip()] for name in args.labels.split(",")]
    if args.bagging:
        todo += [dict(v, ensemble="bagging") for v in todo]
    rows = []
    for v in todo:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            row = evaluate(problem, archive, heldout, v, args.repeats, known.get(label(v)))
        rows.append(row)
        h = row.get("heldout", {})
        print(f"{row['label']:<48} CV τ {row['cv']['kendall_tau']:.3f} best-half {row['cv']['kendall_tau_predicted_best_half']:.3f} "
              f"MAE {row['cv']['mae']:.3f} | held-out τ {h.get('kendall_tau', float('nan')):.3f} "
              f"best-half {h.get('kendall_tau_predicted_best_half', float('nan')):.3f} MAE {h.get('mae', float('nan')):.3f} "
              f"({row['fit_seconds']:.2f} s/fit)", file=sys.stderr, flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
