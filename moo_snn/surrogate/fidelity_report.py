"""``moo-snn surrogate report --fidelity``: how well cheap proxies rank networks, measured on an archive.

An archive may hold the same architectures at several fidelities (``epochs``, ``train_fraction``;
:mod:`moo_snn.surrogate.archive`). For each low fidelity this reports, against the full-fidelity
records (the most epochs on the whole training split, seed 0):

* Kendall τ between proxy and full accuracy over the architectures measured at both, and τ among the
  better half (by full accuracy: where the search chooses);
* the cost of the proxy in full-training equivalents (epochs × fraction / full epochs);
* the seed-noise ceiling: τ between two full trainings of the same architectures that differ only in
  the seed (no proxy can be expected to rank better than training itself repeats);
* where asked (``predictor_levels``; minutes per level, the rest takes a second), how the accuracy
  predictor ranks held-out architectures (grouped k-fold: every architecture is
  predicted by a model that never saw it) from the encoding alone and with the proxy accuracy as a
  feature (the "low-fidelity accuracy as a feature of a full-fidelity model" choice of DESIGN §6b),
  with the fidelity as an input (the other choice: one model of every measurement, the search's
  ``fidelity.fit_predictor``), and the proxy alone, overall and among the half it predicts best
  (where survivors are chosen). On digits-long's 8 ep × ¼ proxy the fidelity-as-input model beats
  the proxy as a feature, most in the best half (benchmarks/RESULTS.md, issue 14).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr
from scipy import stats

from moo_snn.errors import MooSnnError
from moo_snn.surrogate import archive as arc


def _by_arch(ds: xr.Dataset, seed: int = 0) -> dict[str, float]:
    keep = ds.seed.values == seed
    return {str(a): float(v) for a, v in zip(ds.arch.values[keep], ds.val_accuracy.values[keep])}


def _tau(x, y) -> float:
    return float(stats.kendalltau(x, y).statistic) if len(x) >= 3 else float("nan")


def fidelities(archive: xr.Dataset) -> list[tuple[int, float]]:
    """The (epochs, train_fraction) pairs of the trained records, cheapest first."""
    done = arc.trained(archive)
    pairs = {(int(e), round(float(f), 6)) for e, f in zip(done.epochs.values, done.train_fraction.values)}
    return sorted(pairs, key=lambda p: (p[0] * p[1], p[0]))


def fidelity_report(problem, archive: xr.Dataset, *, full_epochs: int | None = None, n_splits: int = 5, seed: int = 0,
                    predictor_levels: Sequence[tuple[int, float]] | None = (),
                    on_progress: Callable[[int, int, tuple[int, float], float], None] | None = None) -> dict:
    """Proxy-vs-full rank agreement per fidelity, the noise ceiling and, where asked, the predictor's
    held-out ranking.

    The rank statistics only read the archive (a second on ``surrogates/digits-fidelity.nc``, 660
    records). A predictor cross-validation fits ``5 · n_splits`` ensembles (encoding, encoding + proxy,
    and the fidelity-input model with and without the held-out proxies, :func:`predictor_with_proxy`):
    about 1.5 minutes per level there on a 2-core machine, all of the report's time (profiled: the
    gradient-boosting fits), so it runs only for the levels asked for.

    Parameters
    ----------
    problem : moo_snn.config.problem.ProblemSpec
        The archive's problem (its space encodes the architectures for the predictor).
    archive : xarray.Dataset
        An accuracy archive (:mod:`moo_snn.surrogate.archive`) holding full trainings and proxies.
    full_epochs : int, optional
        Epochs of the full trainings (default: the most epochs on the whole training split).
    n_splits, seed : int
        Folds and seed of the predictor cross-validations.
    predictor_levels : sequence of (epochs, train_fraction), or None
        The levels whose predictor cross-validations run (default none: the proxy figures only;
        None: every level).
    on_progress : callable, optional
        Called as ``on_progress(k, n, (epochs, train_fraction), seconds_so_far)`` before the k-th of the
        n cross-validations (1-based), and once more with ``k = n + 1`` when the last is done.

    Returns
    -------
    dict
        ``full_epochs``, ``n_full``, ``noise_ceiling`` (τ between two seeds of full training, or
        None) and ``levels``: per proxy ``epochs``, ``train_fraction``, ``fte``, ``n``, ``kendall_tau``,
        ``kendall_tau_better_half``, ``spearman_rho``, ``median_train_seconds`` (on the machine and
        load they were trained under) and, where asked, ``predictor``.

    Raises
    ------
    MooSnnError
        The archive holds no full training, or fewer than 10.
    """
    pairs = fidelities(archive)
    full_epochs = full_epochs or max((e for e, f in pairs if f == 1.0), default=0)
    if not full_epochs:
        raise MooSnnError("the archive holds no training on the whole training split: nothing to compare proxies with")
    full = _by_arch(arc.trained(archive, epochs=full_epochs, train_fraction=1.0))
    if len(full) < 10:
        raise MooSnnError(f"the archive holds {len(full)} full ({full_epochs}-epoch) trainings; a fidelity report needs at least 10")
    out = {"full_epochs": full_epochs, "n_full": len(full), "levels": [], "noise_ceiling": None}
    second = _by_arch(arc.trained(archive, epochs=full_epochs, train_fraction=1.0), seed=1)
    common = sorted(set(full) & set(second))
    if len(common) >= 3:
        a, b = np.array([full[k] for k in common]), np.array([second[k] for k in common])
        out["noise_ceiling"] = {"n": len(common), "kendall_tau": _tau(a, b), "mean_abs_difference": float(np.mean(np.abs(a - b)))}
    asked = [] if predictor_levels is None else list(predictor_levels)
    unknown = [(e, f) for e, f in asked if not any(e == pe and np.isclose(f, pf) for pe, pf in pairs if (pe, pf) != (full_epochs, 1.0))]
    if unknown:
        raise MooSnnError(f"no proxy {', '.join(f'{e}x{f:g}' for e, f in unknown)} in the archive; its proxies are "
                          f"{', '.join(f'{e}x{f:g}' for e, f in pairs if (e, f) != (full_epochs, 1.0)) or 'none'}")
    crossed = []  # the levels whose predictor is cross-validated, with their networks
    for epochs, fraction in pairs:
        if (epochs, fraction) == (full_epochs, 1.0):
            continue
        proxy = _by_arch(arc.trained(archive, epochs=epochs, train_fraction=fraction))
        common = sorted(set(full) & set(proxy))
        if len(common) < 3:
            continue
        x, y = np.array([proxy[k] for k in common]), np.array([full[k] for k in common])
        top = np.argsort(-y, kind="stable")[: len(y) // 2]
        level = {"epochs": epochs, "train_fraction": fraction, "fte": epochs * fraction / full_epochs, "n": len(common),
                 "kendall_tau": _tau(x, y), "kendall_tau_better_half": _tau(x[top], y[top]),
                 "spearman_rho": float(stats.spearmanr(x, y).statistic)}
        seconds = arc.trained(archive, epochs=epochs, train_fraction=fraction).train_seconds.values
        level["median_train_seconds"] = float(np.median(seconds)) if len(seconds) else float("nan")
        if predictor_levels is None or any(e == epochs and np.isclose(f, fraction) for e, f in asked):
            crossed.append((level, common, y, x))
        out["levels"].append(level)
    started = time.perf_counter()
    for k, (level, common, y, x) in enumerate(crossed, start=1):
        if on_progress is not None:
            on_progress(k, len(crossed), (level["epochs"], level["train_fraction"]), time.perf_counter() - started)
        level["predictor"] = predictor_with_proxy(problem, common, y, x, n_splits=n_splits, seed=seed, proxy_fte=level["fte"])
    if crossed and on_progress is not None:
        on_progress(len(crossed) + 1, len(crossed), (0, 0.0), time.perf_counter() - started)
    return out


def predictor_with_proxy(problem, archs, full_accuracy, proxy_accuracy, *, n_splits: int = 5, seed: int = 0,
                         proxy_fte: float | None = None, regressor: str | None = None) -> dict:
    """Held-out ranking (grouped k-fold) of full accuracy by: the encoding alone, the encoding plus the
    proxy accuracy as a feature, and the proxy accuracy alone; τ overall and among the predicted-best half.

    With ``proxy_fte`` (the proxy's cost in FTE), also the predictor that learns across fidelities
    (fidelity as an input, :func:`moo_snn.search.fidelity.fit_predictor`'s model): fitted on the
    training folds' full and proxy records and on the held-out fold's proxy records (what a search
    knows of a network it measured cheaply: ``fidelity_input``), or without the held-out fold's
    proxies (``fidelity_input_unmeasured``: a network nobody trained, as NSGA-II scores them).
    """
    from sklearn.model_selection import GroupKFold

    from moo_snn.surrogate.predictor import DEFAULT_REGRESSOR, cross_validate, make_predictor, predictor_inputs

    regressor = regressor or DEFAULT_REGRESSOR
    archs = np.asarray([str(a) for a in archs], dtype=object)
    y, proxy = np.asarray(full_accuracy, float), np.asarray(proxy_accuracy, float)
    result = {}
    for name, scores in (("encoding", None), ("encoding+proxy", proxy)):
        _, oof = cross_validate(problem, archs, y, regressor=regressor, scores=scores, n_splits=n_splits, random_state=seed)
        result[name] = _ranking(y, oof)
    result["proxy_alone"] = _ranking(y, proxy)
    if proxy_fte is not None:
        folds = GroupKFold(n_splits=min(n_splits, len(archs)), shuffle=True, random_state=seed)
        for name, with_test_proxy in (("fidelity_input", True), ("fidelity_input_unmeasured", False)):
            oof = np.empty_like(y)
            for train, test in folds.split(archs, y, np.arange(len(archs))):
                proxied = np.concatenate([train, test]) if with_test_proxy else train
                X = predictor_inputs(np.concatenate([archs[train], archs[proxied]]),
                                     fte=np.concatenate([np.ones(len(train)), np.full(len(proxied), proxy_fte)]))
                model = make_predictor(problem, regressor, random_state=seed, use_fidelity=True)
                oof[test] = model.fit(X, np.concatenate([y[train], proxy[proxied]])).predict(predictor_inputs(archs[test]))
            result[name] = _ranking(y, oof)
    return result


def _ranking(measured, predicted) -> dict:
    best = np.argsort(-np.asarray(predicted), kind="stable")[: len(measured) // 2]
    return {"kendall_tau": _tau(measured, predicted), "kendall_tau_predicted_best_half": _tau(measured[best], predicted[best])}
