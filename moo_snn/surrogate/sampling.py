"""Space-filling samples of feasible architectures: what is worth training for an archive.

A large random pool of repaired genomes is reduced to unique cells (pruned strings) that meet the
problem's cost limits (no point training what can never be chosen); then a greedy farthest-point
(maximin) selection picks ``n`` different networks, in a gene space where each edge gene is one-hot
(operations and directions are categories) and each value gene is its index scaled to [0, 1]; a
point whose network (canonical form, :meth:`~moo_snn.architecture.Architecture.canonical`) is
already chosen is passed over, and the sample is returned in canonical form. The first point is the
pool's first; the selection is deterministic for a given seed.

Why the distances are taken between pruned cells, not canonical ones: a uniform draw of genomes
writes a simple network (a skip chain, an identity cell) in many forms, spread over the gene space,
while its canonical form sits with every other few-edge cell near the all-zero corner, where maximin
takes few points. Measured on the reference search (tests/data/reference-problem.toml, seeds 0-2,
2-epoch digits): maximin over canonical cells gave bootstraps of HV 0.176 / 0.172 / 0.244, over
pruned cells 0.397 / 0.281 / 0.388 (the simple T = 1 networks are the ones on digits' front). This
keeps the prior of a uniform draw of genomes, as NAS benchmarks sample their cell spaces, and still
trains each network once.

Where the feasible region is too small for random draws (a handful of networks meet a tight
latency limit), the pool gets the feasible networks of a targeted search
(:func:`moo_snn.evaluation.feasible_examples`: the reachability check's sample, the problem's
reference architecture, coordinate descent on the violation), so the bootstrap finds feasible
networks for every seed whenever they exist; none at all is an :class:`InfeasibleError` (exit 3).

**Augmenting a design.** Where some networks are measured already (an archive that falls short of a
run's bootstrap), ``measured=`` starts the maximin from them: the first point is the pool's farthest
from every measured network and the measured networks are never chosen again, so the new points fill
the space the archive leaves empty instead of crowding where it already has points (maximin
augmentation of an existing design: Santner, Williams & Notz, *The Design and Analysis of Computer
Experiments*, 2nd ed., Springer 2018, §5.2; Johnson, Moore & Ylvisaker, *J. Stat. Plan. Inference* 26,
1990, for the maximin criterion).
"""

from __future__ import annotations

import numpy as np

from moo_snn.errors import ArchitectureError, InfeasibleError
from moo_snn.evaluation import feasible_examples, meets_cost_limits
from moo_snn.space import SearchSpace


def gene_coordinates(space: SearchSpace, X) -> np.ndarray:
    """Coordinates of genomes for distances: one-hot edges (scaled by 1/√2: a change of op moves
    a distance 1), value genes scaled to [0, 1]."""
    X = np.atleast_2d(np.asarray(X, dtype=np.int64))
    n_edge = len(space.edge_choices)
    one_hot = (X[:, :6, None] == np.arange(n_edge)).reshape(len(X), -1) / np.sqrt(2)
    values = X[:, 6:] / np.maximum(space.xu[6:], 1)
    return np.hstack([one_hot, values])


def feasible_pool(problem, space: SearchSpace, size: int, rng: np.random.Generator) -> np.ndarray:
    """Unique (by pruned string), pruned genomes that meet the cost limits, from ``size`` draws."""
    X = space.sample(size, rng, canonical=False)
    X = X[meets_cost_limits(problem, space, X)]
    _, first = np.unique([str(space.decode(x)) for x in X], return_index=True)
    return X[np.sort(first)]


def space_filling_sample(problem, space: SearchSpace, n: int, seed: int = 0, pool_size: int = 6000,
                         measured=()) -> np.ndarray:
    """``n`` feasible, distinct genomes spread over the space (greedy maximin); fewer if the space
    holds fewer feasible networks (a random pool topped up by a targeted search, module docstring).
    No feasible network at all is an :class:`InfeasibleError`.

    The pool (``max(pool_size, 30 n)`` draws) does not depend on ``n`` up to 200, so the sample of a
    smaller ``n`` is the beginning of the sample of a larger one, seed for seed (also for one
    ``measured`` set).

    Parameters
    ----------
    problem : moo_snn.config.problem.ProblemSpec
    space : SearchSpace
    n : int
        Networks wanted.
    seed : int
        Seed of the random pool.
    pool_size : int
        Random draws of the pool (at least ``30 n``).
    measured : sequence of str or genomes, optional
        Networks measured already (architecture strings or genomes of ``space``; strings the space
        cannot hold are ignored): the sample augments them (module docstring), never repeats them,
        and returns up to ``n`` networks besides them.

    Returns
    -------
    ndarray of int64, shape (m, n_var), m <= n
        Canonical genomes, in the order the maximin chose them.
    """
    rng = np.random.default_rng(seed)
    pool = feasible_pool(problem, space, max(pool_size, 30 * n), rng)
    if len(pool) < n:  # a small feasible region: add what a targeted search finds (a random pool keeps its order)
        have = {str(space.decode(x)) for x in pool}
        extra = [x for x in feasible_examples(problem, space) if str(space.decode(x)) not in have]
        pool = np.concatenate([pool, np.array(extra, dtype=np.int64).reshape(-1, space.n_var)])
    if len(pool) == 0:
        raise InfeasibleError(f"{problem.name}: no architecture meets the cost limits together "
                              f"({', '.join(f'{c.name} {c.limit:g}' for c in problem.constraints)}), neither in a random "
                              f"sample nor by a targeted search from the cheapest corners; relax [constraints]")
    coords = gene_coordinates(space, pool)
    canonical = space.repair(pool)  # the network of each pool point
    network = [str(space.decode(x)) for x in canonical]
    known = _genomes(space, measured)
    networks = {str(space.decode(x)) for x in space.repair(known)} if len(known) else set()
    n_networks = len(set(network) - networks)
    if len(known):  # augment: distances to the nearest measured network, measured networks never chosen
        # anchors: each measured network's canonical genome and every pool point that writes it (a network has
        # many pruned forms, and the distances are between pruned forms)
        taken = [k for k, a in enumerate(network) if a in networks]
        distance = np.full(len(pool), np.inf)
        for c in np.vstack([gene_coordinates(space, known), coords[taken]]):  # one at a time: pool x archive is GBs
            distance = np.minimum(distance, np.linalg.norm(coords - c, axis=1))
        distance[taken] = -1.0
        chosen = []
    else:
        chosen, networks = [0], {network[0]}
        distance = np.linalg.norm(coords - coords[0], axis=1)
    while len(chosen) < min(n, n_networks):
        k = int(np.argmax(distance))
        distance = np.minimum(distance, np.linalg.norm(coords - coords[k], axis=1))
        distance[k] = -1.0
        if network[k] not in networks:
            chosen.append(k)
            networks.add(network[k])
    return canonical[chosen]


def _genomes(space: SearchSpace, measured) -> np.ndarray:
    """Genomes of ``measured`` (strings or genomes); strings ``space`` cannot hold are left out."""
    rows = []
    for m in measured:
        if isinstance(m, str):
            try:
                rows.append(space.parse(m))
            except ArchitectureError:  # an archive may hold networks of a wider space: they fill no part of this one
                continue
        else:
            rows.append(np.asarray(m, dtype=np.int64))
    return np.array(rows, dtype=np.int64).reshape(-1, space.n_var)
