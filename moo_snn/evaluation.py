"""Cheap evaluation of a population of genomes: IMC costs and the violation of the cost limits.

Pure numpy: this is what the search calls for every candidate of every generation.
"""

from __future__ import annotations

import numpy as np

from moo_snn.cost import CostReport, evaluate_costs
from moo_snn.space import HARDWARE_GENES, SearchSpace

COST_METRICS = ("params", "memory_kB", "area_mm2", "latency_ms", "energy_uJ")


def population_costs(problem, space: SearchSpace, X, *, spike_rate=None, per_layer: bool = False) -> CostReport:
    """Costs of the genomes ``X`` (n, n_var) under the problem's ``[hardware]`` (extended or spikesim).

    Hardware genes, where the space opens them, set each candidate's crossbar size, cell bits, ADC bits.
    The equations and their sources are in :mod:`moo_snn.cost.model` (SpikeSim, Moitra et al. 2023).

    Parameters
    ----------
    problem : ProblemSpec
        Its ``[hardware]`` table and input shape are used.
    space : SearchSpace
        The space the genomes belong to.
    X : array_like of int, shape (n, n_var)
        Genomes (``space.encode(arch)`` makes one).
    spike_rate : None, float or array_like, shape (n, n_slots), optional
        Input spike rate per layer: None for the problem's assumed rate, one rate for all, or
        measured rates per crossbar layer slot.
    per_layer : bool, optional
        Also keep the per-layer breakdown.

    Returns
    -------
    CostReport
        ``params``, ``memory_kB`` [KiB, 1024 bytes], ``area_mm2`` [mm²], ``latency_ms`` [ms], ``energy_uJ`` [µJ],
        each of shape (n,).
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.int64))
    hardware = {name: space.values(X, name) for name in HARDWARE_GENES}
    return evaluate_costs(space.layer_table(X, problem.network_input), space.values(X, "timesteps"),
                          space.values(X, "weight_bits"), problem.hardware, spike_rate=spike_rate,
                          per_layer=per_layer, **hardware)


def cost_violations(problem, report: CostReport) -> np.ndarray:
    """pymoo's G for the limits on built-in cost metrics, shape ``(n, k)`` (≤ 0: met)."""
    columns = [c.violation(np.asarray(getattr(report, c.name), dtype=float))
               for c in problem.constraints if c.name in COST_METRICS]
    return np.column_stack(columns) if columns else np.zeros((len(report.params), 0))


def meets_cost_limits(problem, space: SearchSpace, X) -> np.ndarray:
    """Whether each genome meets every cost limit with the problem's assumed spike rate, ``(n,)``."""
    return np.all(cost_violations(problem, population_costs(problem, space, X)) <= 0, axis=1)


def total_violation(problem, report: CostReport) -> np.ndarray:
    """Sum over the cost limits of how far past each limit a candidate is, relative to the limit, ``(n,)`` (0: all met)."""
    G = cost_violations(problem, report)
    scale = np.array([max(abs(c.limit), 1e-12) for c in problem.constraints if c.name in COST_METRICS])
    return (np.maximum(G, 0) / scale).sum(axis=1) if G.shape[1] else np.zeros(G.shape[0])


def descend_to_feasible(problem, space: SearchSpace, X, *, sweeps: int = 4) -> np.ndarray:
    """``X`` moved towards the cost limits by coordinate descent on :func:`total_violation`: gene by gene,
    each row takes the value of that gene that lowers its violation most (repaired). Deterministic.

    A targeted search for the feasible corner of a space whose feasible region is too small for random
    draws to hit (a tight latency limit met by a handful of networks): pure numpy, a few hundred
    evaluations of the cost model per gene and sweep. Rows already feasible stay as they are.
    """
    X = space.repair(X)
    best = total_violation(problem, population_costs(problem, space, X))
    for _ in range(sweeps):
        if not np.any(best > 0):
            break
        moved = False
        for g in range(space.n_var):
            for value in range(int(space.xl[g]), int(space.xu[g]) + 1):
                todo = best > 0
                if not np.any(todo):
                    break
                trial = X[todo].copy()
                trial[:, g] = value
                trial = space.repair(trial)
                violation = total_violation(problem, population_costs(problem, space, trial))
                better = violation < best[todo]
                if np.any(better):
                    rows = np.flatnonzero(todo)[better]
                    X[rows], best[rows] = trial[better], violation[better]
                    moved = True
        if not moved:
            break
    return X


def feasible_examples(problem, space: SearchSpace, *, n: int = 20000, starts: int = 256, seed: int = 0) -> np.ndarray:
    """Distinct genomes (canonical strings) that meet every cost limit together, found by the same sample as
    :func:`unreachable_cost_limits` (``n`` random genomes and their cheapest corners), the problem's
    ``reference_arch`` where the space holds it, and :func:`descend_to_feasible` from ``starts`` of them
    (the least violating and random ones; up to three times while none is found). Empty only if none of
    these meets the limits; deterministic for a seed."""
    from moo_snn.errors import ArchitectureError

    rng = np.random.default_rng(seed)
    X = space.sample(n, rng)
    X = np.concatenate([X, space.smallest(X)])
    try:
        X = np.concatenate([space.repair(space.encode(problem.reference_arch)[None]), X])
    except (ArchitectureError, AttributeError):
        pass  # the reference architecture lies outside this space
    violation = total_violation(problem, population_costs(problem, space, X))
    order = np.argsort(violation, kind="stable")
    found = X[violation <= 0]
    for attempt in range(3 if len(found) < starts else 0):  # few or none: descend from the least violating and random genomes
        start = np.concatenate([X[order[attempt * starts // 2: (attempt + 1) * starts // 2]],
                                X[rng.choice(len(X), starts - starts // 2, replace=False)]])
        descended = descend_to_feasible(problem, space, start)
        found = np.concatenate([found, descended[total_violation(problem, population_costs(problem, space, descended)) <= 0]])
        if len(found):
            break
    if len(found) == 0:
        return found.reshape(0, space.n_var)
    _, first = np.unique([str(space.decode(x)) for x in found], return_index=True)
    return found[np.sort(first)]


def unreachable_cost_limits(problem, space: SearchSpace, *, n: int = 20000, seed: int = 0) -> list[str]:
    """The cost limits that NO architecture of a large sample meets, each alone, as messages.

    The sample: ``n`` random genomes, and the same made as small as the space allows
    (:meth:`SearchSpace.smallest`, hardware genes as drawn), so that the cheapest corner of the
    space is always in it. A limit listed here is out of reach in practice; an empty list does not promise
    that the limits can be met together (the search reports that, with the least violating candidates).
    """
    rng = np.random.default_rng(seed)
    X = space.sample(n, rng)
    X = np.concatenate([X, space.smallest(X)])
    report = population_costs(problem, space, X)
    messages = []
    for c in problem.constraints:
        if c.name in COST_METRICS:
            values = np.asarray(getattr(report, c.name), dtype=float)
            if np.all(c.violation(values) > 0):
                best = values.min() if c.kind == "max" else values.max()
                messages.append(f"{c.name} {'≤' if c.kind == 'max' else '≥'} {c.limit:g} (the best of {len(X):,} "
                                f"architectures of the space, its cheapest corner included, reaches {best:.4g})")
    return messages


def check_cost_limits_reachable(problem, space: SearchSpace) -> None:
    """Raise :class:`InfeasibleError` (exit 3) when a cost limit is out of reach of the whole space."""
    unreachable = unreachable_cost_limits(problem, space)
    if unreachable:
        from moo_snn.errors import InfeasibleError

        raise InfeasibleError(f"no architecture of the space can meet {'; '.join(unreachable)}: raise the limit or "
                              f"change [space] in the problem file")
