"""Which proxy-measured candidates are worth a full training: expected hypervolume improvement.

A promotion buys a full training (1 FTE), the only measurement that reaches the front. It is worth
what it is expected to add to the hypervolume of the *measured* front. For a candidate whose
full-fidelity accuracy is predicted as a normal N(μ, σ²) and whose costs the analytical model gives
exactly, the expected hypervolume improvement (EHVI; Emmerich, Giannakoglou & Naujoks, IEEE TEVC
10(4), 2006) over the measured front P is

    EHVI(x) = E[ HV(P ∪ {f(x)}) − HV(P) ],

with HV the hypervolume of :func:`moo_snn.pareto.hypervolume` (the box [ideal, reference point] of
:mod:`moo_snn.search.selection`). It is estimated by Monte Carlo over ``draws`` common draws: the
same standard normal numbers z_s for every candidate (common random numbers), so two candidates are
compared on the same luck. A draw that misses a limit (accuracy below its minimum, or any cost limit)
adds nothing. Custom objectives are evaluated at every draw (they may read the accuracy).

A batch is chosen greedily: the candidate of largest EHVI is added to P at its mean (the "Kriging
believer" of Ginsbourger, Le Riche & Carraro, "Kriging is well-suited to parallelize optimization",
2010) and the rest are scored again. A candidate whose EHVI is 0 (dominated or infeasible even at
its most optimistic draws) is never chosen: the budget stays for better ones.

Why an own estimator: pymoo (an evolutionary library) has no EHVI; BoTorch's qEHVI needs a GPyTorch
model and its own torch stack, while this predictor is a scikit-learn ensemble whose spread is the
uncertainty. The hypervolumes themselves are pymoo's.

μ and σ: the candidate's measured proxy accuracy calibrated to full training
(:func:`calibrated_proxy`); σ is never below ``sigma_floor``, the seed noise of a full training (the
same 20 digits networks trained twice at 30 epochs differ by 0.017 in mean absolute validation
accuracy: ``moo-snn surrogate report surrogates/digits-fidelity.nc --fidelity``; for a normal
difference of two draws E|d| = 2σ/√π, so σ ≈ 0.015).
"""

from __future__ import annotations

import numpy as np

from moo_snn.evaluation import population_costs
from moo_snn.objectives import constraint_matrix, metric_values
from moo_snn.pareto import hypervolume

SIGMA_FLOOR = 0.015
"""Seed noise of a full training's validation accuracy (σ; see the module docstring)."""


def ehvi_choice(problem, genomes, mean, std, front, ref, ideal, k: int, *, draws: int = 64, seed=0,
                sigma_floor: float = SIGMA_FLOOR, open_accuracy: bool = False) -> tuple[list[int], np.ndarray]:
    """Up to ``k`` indices of ``genomes`` in promotion order, and every candidate's first-pass EHVI.

    Parameters
    ----------
    problem : SnnSearchProblem
        Its cost model, objectives and limits are used (not its predictor).
    genomes : array_like of int, shape (n, n_var)
    mean, std : array_like, shape (n,)
        Predicted full-fidelity accuracy and its spread (fraction correct).
    front : array_like, shape (m, n_obj)
        The measured front, minimised (``m`` may be 0).
    ref, ideal : array_like, shape (n_obj,)
        The hypervolume box, minimised units (``ideal`` None: 0 in every objective).
    k : int
        How many to choose at most.
    draws : int
        Monte-Carlo draws per candidate.
    seed : int or sequence of int
        Seeds the common draws.
    sigma_floor : float
        Lowest σ used (seed noise of a full training).
    open_accuracy : bool
        Leave the accuracy limit out and open the box's accuracy side to error 1 (for estimates on a
        proxy's scale, where a value below the limit says nothing about full training).

    Returns
    -------
    chosen : list of int
        Indices in the order chosen; only candidates with EHVI > 0.
    ehvi : ndarray, shape (n,)
        Each candidate's EHVI against ``front`` (fraction of the box).
    """
    X = np.atleast_2d(np.asarray(genomes, dtype=np.int64))
    n = len(X)
    if n == 0 or k <= 0:
        return [], np.zeros(n)
    mean = np.asarray(mean, dtype=float)
    sigma = np.maximum(np.asarray(std, dtype=float), sigma_floor)
    archs = [str(problem.space.decode(x)) for x in X]
    costs = population_costs(problem.spec, problem.space, X)
    limits = [c for c in problem.spec.constraints if not (open_accuracy and c.name == "accuracy")]
    if open_accuracy and "accuracy" in [m.name for m in problem.metrics]:
        ref = np.array(ref, dtype=float)
        ref[[m.name for m in problem.metrics].index("accuracy")] = 1.0
    z = np.random.default_rng(seed).standard_normal(draws)
    # per draw s: minimised objectives (n, n_obj) and feasibility (n,)
    F_draws, ok_draws = [], []
    for zs in z:
        acc = np.clip(mean + zs * sigma, 0.0, 1.0)
        values = metric_values(problem.metrics, acc, costs, archs, problem=problem.spec)
        F_draws.append(np.column_stack([m.to_minimize(values[:, j]) for j, m in enumerate(problem.metrics)]))
        G = constraint_matrix(limits, acc, costs, archs, problem=problem.spec)
        ok_draws.append(np.all(G <= 0, axis=1) if G.size else np.ones(n, dtype=bool))
    values_mean = metric_values(problem.metrics, mean, costs, archs, problem=problem.spec)
    F_mean = np.column_stack([m.to_minimize(values_mean[:, j]) for j, m in enumerate(problem.metrics)])
    G_mean = constraint_matrix(limits, mean, costs, archs, problem=problem.spec)
    ok_mean = np.all(G_mean <= 0, axis=1) if G_mean.size else np.ones(n, dtype=bool)

    P = np.asarray(front, dtype=float).reshape(-1, len(problem.metrics))
    chosen: list[int] = []
    first = None
    for _ in range(min(k, n)):
        base = hypervolume(P, ref, ideal) if len(P) else 0.0
        gain = np.zeros(n)
        for i in range(n):
            if i in chosen:
                continue
            total = 0.0
            for F, ok in zip(F_draws, ok_draws):
                if ok[i]:
                    total += hypervolume(np.vstack([P, F[i]]), ref, ideal) - base
            gain[i] = total / draws
        if first is None:
            first = gain.copy()
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        chosen.append(best)
        if ok_mean[best]:  # Kriging believer: the chosen one as if measured at its mean
            P = np.vstack([P, F_mean[best]])
    return chosen, first


GAP_SPREAD_PRIOR = 0.8
"""σ of a level's log-odds gap to full training (:func:`moo_snn.search.fidelity.fidelity_gaps`) while
fewer than 3 promotions measured it. Measured on the 64 networks of ``surrogates/digits-fidelity.nc``
over the half each proxy ranks best (the candidates a search promotes): 0.79 at 3 ep × all data,
0.79 at 8 ep × ¼, 0.68 at 6 ep × ½, 0.70 at 10 ep × ⅓, 0.73 at 12 ep × ¼, 0.93 at 6 ep × ¼ (the
1-4-epoch proxies, near chance: 1.2-1.3)."""


def calibrated_proxy(run, pool: list) -> tuple[np.ndarray, np.ndarray] | None:
    """Full-fidelity accuracy of proxy-measured candidates as N(μ, σ²), μ the measured proxy accuracy
    lifted by its level's mean log-odds gap to full training (:func:`moo_snn.search.fidelity.lift`),
    σ by the delta method: ``μ (1 − μ) · s · sqrt(1 + 1/n)``, ``s`` the spread of the ``n`` gaps
    measured on the run's promotions (``GAP_SPREAD_PRIOR`` until 3 exist; ``1/n`` for the error of
    their mean). None before the first promotion (no gap known yet).

    Why the candidate's own measurement rather than the predictor: among the networks a search
    promotes (the better half), the 3-epoch proxy alone ranked 30-epoch accuracy better (Kendall τ
    0.49) than the predictor with or without it (0.37-0.43; benchmarks/RESULTS.md, issue 14); the
    8 ep × ¼ proxy of digits-long ranks its better half at 0.53.
    """
    from moo_snn.search import fidelity

    gaps = fidelity.fidelity_gaps(run)
    if not gaps or any(c.proxy_level not in gaps for c in pool):
        return None
    mean = np.array([float(fidelity.lift(c.proxy_accuracy, gaps[c.proxy_level][0])) for c in pool])
    spread = np.array([(gaps[c.proxy_level][1] if gaps[c.proxy_level][2] >= 3 else GAP_SPREAD_PRIOR)
                       * np.sqrt(1 + 1 / gaps[c.proxy_level][2]) for c in pool])
    return mean, mean * (1 - mean) * spread


def promotion_order(run, problem, pool: list, k: int, round_: int) -> list[int]:
    """Indices into ``pool`` (proxy-measured candidates) of up to ``k`` to promote to full training.

    By EHVI over the measured front with :func:`calibrated_proxy` estimates. Before the first
    promotion no gap is known: the first ones are chosen by EHVI on the proxy's own scale (μ the
    measured proxy accuracy, σ the floor) against an empty front (the measured one is on the full
    scale: a run that starts from an archive of full trainings promoted nothing, ever), with the
    accuracy limit left out and the box opened to error 1 on the accuracy side, so accuracy is
    traded against the exact costs as the front will trade it (a successive-halving choice on
    proxy accuracy alone favours the networks that learn fastest, often the dearest ones). Tried and dropped (benchmarks/RESULTS.md, turn 6): keeping the
    limits with the proxy as a lower bound of full accuracy (206 of 207 digits-long networks score no
    higher at 8 ep × ¼ than at 30 epochs) avoided one wasted promotion but passed over the cheap
    networks whose proxies sit just under the limit; the ladder then reached the full-only front in
    2 of 5 seeds instead of 4.
    """
    if not pool or k <= 0:
        return []
    estimate = calibrated_proxy(run, pool)
    cold = estimate is None
    mean, std = (np.array([c.proxy_accuracy for c in pool]), np.zeros(len(pool))) if cold else estimate
    run._update_front()  # the front with every full training so far, this round's promotions included
    ref, ideal = run.hypervolume_box()
    # cold: proxies are scored on their own scale, so against no front (a front of full trainings, e.g. an
    # archive's, sits above every proxy: nothing was ever promoted, so no gap was ever measured)
    front = np.zeros((0, len(problem.metrics))) if cold else run.front_objectives()
    chosen, _ = ehvi_choice(problem, [c.genome for c in pool], mean, std, front, ref, ideal, k,
                            seed=[run.state.seed, round_, 11], open_accuracy=cold)
    return chosen
