"""Which candidates get full training, which form the front, and how good a front is.

Survivors: among the final NSGA-II population, the candidates not trained yet that meet every limit
*optimistically* (predicted accuracy plus ``w`` times the predictor's spread, so promising but
uncertain candidates are not thrown away), taken front by front of a non-dominated sorting on the
optimistic objectives, then spread over those fronts by a greedy farthest-point choice in normalised
objective space that starts from the most accurate one. Where fewer meet the limits, the least
violating fill the remaining places (so a run whose limits nobody meets still learns where the
boundary is). Survivors are distinct architectures: two genomes of the population that decode to the
same architecture (genes of pruned edges differ) count once, as the first of them.

Hypervolume (:func:`moo_snn.pareto.hypervolume`, below both the search and the results): of the
minimised objectives (pymoo's HV) as a fraction of the box [ideal, ref]. The
reference point ``ref`` is the limit of an objective where the problem sets one (for accuracy,
1 − the lower bound), else 1 for accuracy (error 1) and, for a cost without a limit, the largest
value of that cost over 2,000 random architectures of the space (fixed per problem). The ideal
point is 0 for every built-in objective (error 0, no cost); a custom objective whose minimised
values can be negative (a maximised one, say) gets the smallest minimised value over the same
2,000 architectures (or 0 if that is larger). Points outside the box do not count.

A custom objective may read the accuracy (energy per correct answer, accuracy per µJ), which the
random architectures do not have: its sampled values are taken at both ends of the accuracy range,
0 and 1, so that the reference point is its worst value and the ideal its best whichever way it
depends on the accuracy (at accuracy 0 alone, accuracy per µJ is 0 everywhere: ideal = reference,
an empty box, hypervolume 0 for every front).
"""

from __future__ import annotations

import numpy as np
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from moo_snn.evaluation import population_costs
from moo_snn.objectives import metric_values


def optimistic(F, G, std, metric_names, constraints, weight: float):
    """F and G with the predicted accuracy raised by ``weight`` × its spread."""
    F, G = np.array(F, dtype=float), np.array(G, dtype=float)
    bonus = weight * np.asarray(std, dtype=float)
    if "accuracy" in metric_names:
        F[:, list(metric_names).index("accuracy")] -= bonus
    for k, c in enumerate(constraints):
        if c.name == "accuracy":
            G[:, k] += -bonus if c.kind == "min" else bonus
    return F, G


def spread_choice(F: np.ndarray, k: int, first: int) -> list[int]:
    """``k`` distinct row indices of ``F`` chosen greedily far apart (normalised), starting from ``first``;
    rows equal to a chosen one (ties: one objective, a flat prediction) come in row order once the
    distinct ones are taken (a chosen row was chosen again when every distance left was 0: one network
    trained three times in a round)."""
    if len(F) <= k:
        return list(range(len(F)))
    span = np.ptp(F, axis=0)
    Z = (F - F.min(axis=0)) / np.where(span > 0, span, 1)
    chosen = [first]
    distance = np.linalg.norm(Z - Z[first], axis=1)
    distance[first] = -np.inf
    while len(chosen) < k:
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(Z - Z[nxt], axis=1))
        distance[nxt] = -np.inf  # (the minimum keeps -inf for those chosen before)
    return chosen


def select_survivors(archs, F, G, std, *, trained: set, k: int, metric_names, constraints,
                     uncertainty_weight: float) -> list[int]:
    """Indices (into the population) of up to ``k`` candidates to train next (see module docstring)."""
    F_opt, G_opt = optimistic(F, G, std, metric_names, constraints, uncertainty_weight)
    seen: set = set()
    fresh = np.array([a not in trained and not (a in seen or seen.add(a)) for a in archs], dtype=bool)  # first copy only
    violation = np.maximum(G_opt, 0).sum(axis=1) if G_opt.size else np.zeros(len(archs))
    feasible = np.flatnonzero(fresh & (violation <= 0))
    chosen: list[int] = []
    if len(feasible):
        fronts = NonDominatedSorting().do(F_opt[feasible])
        pool: list[int] = []
        for front in fronts:
            pool.extend(feasible[front])
            if len(pool) >= k:
                break
        pool = np.array(pool)
        acc_col = list(metric_names).index("accuracy") if "accuracy" in metric_names else 0
        first = int(np.argmin(F_opt[pool, acc_col]))
        chosen = [int(pool[i]) for i in spread_choice(F_opt[pool], min(k, len(pool)), first)]
    if len(chosen) < k:
        rest = np.flatnonzero(fresh & (violation > 0))
        chosen += [int(i) for i in rest[np.argsort(violation[rest], kind="stable")][: k - len(chosen)]]
    return chosen


def _sampled(spec, space, metric, cache: dict) -> np.ndarray:
    """Minimised values of ``metric`` over 2,000 random architectures of the space (seed 0), each at
    accuracy 0 and at accuracy 1 (shape (4000,); the module docstring says why); non-finite values
    (a ratio at accuracy 0, say) are left out."""
    if "costs" not in cache:
        X = space.sample(2000, np.random.default_rng(0))
        cache["costs"] = population_costs(spec, space, X)
        cache["archs"] = [str(space.decode(x)) for x in X]
    n = len(cache["archs"])
    values = np.concatenate([metric_values([metric], np.full(n, a), cache["costs"], cache["archs"], problem=spec)[:, 0]
                             for a in (0.0, 1.0)])
    values = metric.to_minimize(values)
    return values[np.isfinite(values)]


def reference_point(spec, space, metrics) -> np.ndarray:
    """The hypervolume reference point in minimised units (see the module docstring)."""
    limits = {c.name: c for c in spec.constraints}
    ref, cache = [], {}
    for m in metrics:
        c = limits.get(m.name)
        if c is not None and (c.kind == "max") == (m.direction == "minimize"):
            ref.append(float(m.to_minimize(c.limit)))
        elif m.name == "accuracy":
            ref.append(1.0)
        else:
            ref.append(float(np.max(_sampled(spec, space, m, cache))))
    return np.array(ref)


def ideal_point(spec, space, metrics) -> np.ndarray:
    """The hypervolume ideal point in minimised units: 0, or lower for a custom objective that goes below 0."""
    from moo_snn.objectives import BUILTIN

    cache: dict = {}
    return np.array([0.0 if m.name in BUILTIN else min(0.0, float(np.min(_sampled(spec, space, m, cache)))) for m in metrics])
