"""What ``moo-snn surrogate report`` measures on an archive: spread, noise ceiling, predictor quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from scipy import stats

from moo_snn.errors import MooSnnError
from moo_snn.surrogate import archive as arc
from moo_snn.surrogate.predictor import REGRESSORS, cross_validate


def accuracy_spread(values) -> dict:
    """Min, quartiles and max of measured accuracies."""
    q = np.percentile(np.asarray(values, float), [0, 25, 50, 75, 100])
    return dict(zip(("min", "q1", "median", "q3", "max"), map(float, q)))


def noise_ceiling(archive: xr.Dataset) -> dict | None:
    """Kendall τ between two seeds' accuracies of the architectures trained twice (None if < 3)."""
    done = arc.full_fidelity(archive)
    seeds = sorted(set(int(s) for s in done.seed.values))
    if len(seeds) < 2:
        return None
    by_seed = [{a: v for a, v, s in zip(done.arch.values, done.val_accuracy.values, done.seed.values) if s == seed}
               for seed in seeds[:2]]
    common = sorted(set(by_seed[0]) & set(by_seed[1]))
    if len(common) < 3:
        return None
    first = [by_seed[0][a] for a in common]
    second = [by_seed[1][a] for a in common]
    return {"n": len(common), "seeds": seeds[:2], "kendall_tau": float(stats.kendalltau(first, second).statistic),
            "mean_abs_difference": float(np.mean(np.abs(np.subtract(first, second))))}


def training_free_score_tau(archive: xr.Dataset) -> float | None:
    """Kendall τ between SNASNet's training-free score and measured accuracy (None if not computed)."""
    done = arc.full_fidelity(archive)
    finite = np.isfinite(done.sahd_score.values)
    if finite.sum() < 3:
        return None
    return float(stats.kendalltau(done.sahd_score.values[finite], done.val_accuracy.values[finite]).statistic)


def predictor_report(problem, archive: xr.Dataset, *, regressor: str, use_score: bool, n_splits: int = 5,
                     seed: int = 0) -> tuple[dict, np.ndarray]:
    """Cross-validated quality of the predictor on the full-fidelity trained records of ``archive``
    (:func:`~moo_snn.surrogate.archive.full_fidelity` at the problem's epochs)."""
    done = arc.full_fidelity(archive, problem.training.epochs)
    if done.sizes["record"] < 10:
        raise MooSnnError(f"the archive holds {done.sizes['record']} trained architectures; a report needs at least 10 "
                          f"(moo-snn surrogate build)")
    scores = None
    if use_score:
        scores = done.sahd_score.values
        if not np.all(np.isfinite(scores)):
            raise MooSnnError("some records have no training-free score (built with --no-score); use --no-score")
    quality, oof = cross_validate(problem, done.arch.values, done.val_accuracy.values, regressor=regressor,
                                  scores=scores, n_splits=n_splits, random_state=seed)
    return quality, oof


def heldout_report(problem, archive: xr.Dataset, heldout: xr.Dataset, *, regressor: str | None = None,
                   use_score: bool = False, seed: int = 0, **options) -> dict:
    """Quality of the predictor fitted on ``archive`` (its full-fidelity records at the problem's epochs)
    on the networks of ``heldout`` that it never saw (their records at the same epochs, whole training
    split): :func:`~moo_snn.surrogate.predictor.ranking_quality` (Kendall τ, τ among the predicted-best
    half, MAE, …) on the records of the lowest training seed, and the same per origin where ``heldout``
    says how each network was drawn (attribute ``heldout_origin``, JSON arch → origin:
    ``benchmarks/digits_heldout.py``) and a group has at least 6. Where ``heldout`` also holds a second
    seed's trainings of at least 6 of the networks, ``noise_ceiling`` is the same figures with that
    second training as the "prediction" (no predictor can be expected to rank better).
    ``options``: further keywords of :func:`~moo_snn.surrogate.predictor.make_predictor`.
    """
    import json

    from moo_snn.surrogate.predictor import DEFAULT_REGRESSOR, make_predictor, predictor_inputs, ranking_quality

    done = arc.full_fidelity(archive, problem.training.epochs)
    seen = {str(a) for a in done.arch.values}
    every = arc.trained(heldout, epochs=int(done.epochs.values[0]) if done.sizes["record"] else None, train_fraction=1.0)
    every = every.isel(record=np.flatnonzero([str(a) not in seen for a in every.arch.values]))
    seeds = sorted({int(s) for s in every.seed.values})
    test = every.isel(record=np.flatnonzero(every.seed.values == seeds[0])) if seeds else every
    if done.sizes["record"] < 10 or test.sizes["record"] < 6:
        raise MooSnnError(f"a held-out report needs at least 10 archive records and 6 held-out networks trained with "
                          f"{problem.training.epochs} epochs that the archive does not hold; found {done.sizes['record']} "
                          f"and {test.sizes['record']}")
    scores = [None, None]
    if use_score:
        scores = [done.sahd_score.values, test.sahd_score.values]
        if not (np.all(np.isfinite(scores[0])) and np.all(np.isfinite(scores[1]))):
            raise MooSnnError("some records have no training-free score (built with --no-score); leave out --score")
    model = make_predictor(problem, regressor or DEFAULT_REGRESSOR, use_score=use_score, random_state=seed, **options)
    model.fit(predictor_inputs(done.arch.values, scores[0]), done.val_accuracy.values.astype(float))
    predicted = model.predict(predictor_inputs(test.arch.values, scores[1]))
    measured = test.val_accuracy.values.astype(float)
    out = dict(ranking_quality(measured, predicted), seed=seeds[0], by_origin={}, noise_ceiling=None)
    origin = json.loads(heldout.attrs.get("heldout_origin", "{}"))
    for kind in sorted(set(origin.values())):
        mask = np.array([origin.get(str(a)) == kind for a in test.arch.values])
        if mask.sum() >= 6:
            out["by_origin"][kind] = ranking_quality(measured[mask], predicted[mask])
    if len(seeds) > 1:  # the same networks trained again: how well one training "predicts" another
        first = dict(zip(map(str, test.arch.values), measured))
        again = {str(a): float(v) for a, v, s in zip(every.arch.values, every.val_accuracy.values, every.seed.values) if s == seeds[1]}
        common = [a for a in first if a in again]
        if len(common) >= 6:
            out["noise_ceiling"] = dict(ranking_quality([first[a] for a in common], [again[a] for a in common]),
                                        seeds=seeds[:2], origins=sorted({origin.get(a, "?") for a in common}))
    return out


def compare_regressors(problem, archive: xr.Dataset, *, use_score: bool, n_splits: int = 5, seed: int = 0,
                       on_progress=None) -> dict:
    """Quality of every built-in regressor (with the training-free score as a feature where asked).

    The Gaussian process may stop its hyper-parameter search at a bound on some folds; its
    ConvergenceWarnings are silenced here, its numbers stand as measured. ``on_progress(k, n, name,
    seconds_so_far)`` (optional) is called before the k-th of the n regressors' cross-validations.
    """
    import time
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    started, out = time.perf_counter(), {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for k, name in enumerate(REGRESSORS, start=1):
            if on_progress is not None:
                on_progress(k, len(REGRESSORS), name, time.perf_counter() - started)
            out[name] = predictor_report(problem, archive, regressor=name, use_score=use_score, n_splits=n_splits,
                                         seed=seed)[0]
    return out


def plot_predicted_vs_measured(measured, predicted, quality: dict, path: str | Path, title: str) -> None:
    """Scatter of out-of-fold predictions against measured accuracy, with the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    ax.scatter(measured, predicted, s=14, alpha=0.7)
    low = float(min(np.min(measured), np.min(predicted)))
    ax.plot([low, 1], [low, 1], color="grey", lw=1, ls="--", label="predicted = measured")
    ax.set_xlabel("measured validation accuracy")
    ax.set_ylabel("predicted (out of fold)")
    ax.set_title(f"{title}\nKendall τ {quality['kendall_tau']:.3f}, Spearman ρ {quality['spearman_rho']:.3f}, "
                 f"MAE {quality['mae']:.3f}, n = {quality['n']}", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    from moo_snn.outputs import make_parent

    fig.savefig(make_parent(path))
    plt.close(fig)
