"""Test helpers for plug-in authors (as Optuna ships its sampler tests).

>>> from moo_snn.objectives import objective
>>> @objective(units="uJ*ms")
... def edp(batch):
...     "Energy-delay product."
...     return batch.costs.energy_uJ * batch.costs.latency_ms
>>> from moo_snn.testing import check_objective
>>> check_objective(edp).name
'edp'
"""

from __future__ import annotations

import numpy as np

from moo_snn.objectives import DIRECTIONS, Batch, Objective, as_objective, get_objective


def example_batch(problem=None, n: int = 8, *, seed: int = 0, measured: bool = False) -> Batch:
    """A :class:`Batch` of ``n`` random architectures of ``problem``'s space (default: the shipped
    digits problem) with random accuracies; ``measured`` adds random per-layer spike rates, as a
    trained candidate has, and prices the costs with them."""
    from moo_snn.config.problem import load_problem
    from moo_snn.evaluation import population_costs
    from moo_snn.space import SearchSpace

    problem = load_problem("digits") if problem is None else problem
    space = SearchSpace(problem.space)
    rng = np.random.default_rng(seed)
    X = space.sample(n, rng)
    archs = [space.decode(x) for x in X]
    accuracy = rng.uniform(0.1, 1.0, n)
    rates = None
    if measured:
        active = space.layer_table(X, problem.network_input).active
        rates = np.where(active, rng.uniform(0.0, 0.5, active.shape), 0.0)
        rates[:, 0] = 1.0
    costs = population_costs(problem, space, X, spike_rate=rates)
    return Batch(archs, accuracy, costs, problem=problem, spike_rate=rates, measured=measured)


def _subset(batch: Batch, rows) -> Batch:
    """The same candidates as ``batch``, rows ``rows`` only (costs recomputed for them)."""
    from moo_snn.evaluation import population_costs
    from moo_snn.space import SearchSpace

    space = SearchSpace(batch.problem.space)
    archs = [batch.archs[k] for k in rows]
    X = np.array([space.encode(a) for a in archs])
    rates = batch.spike_rate[rows] if batch.measured else None
    costs = population_costs(batch.problem, space, X, spike_rate=rates)
    return Batch(archs, batch.accuracy[rows], costs, problem=batch.problem, spike_rate=rates, measured=batch.measured)


def check_objective(obj, problem=None, *, n: int = 8, seed: int = 0) -> Objective:
    """Check a custom objective against moo-snn's contract; raise ``AssertionError`` saying what is wrong.

    ``obj``: an :class:`Objective`, a plain function of a batch, or the name of an installed one.
    Checked on ``n`` random architectures of ``problem`` (default: digits), predicted and measured:
    name, units and direction are well formed; the call returns one finite float per candidate;
    the same batch gives the same values; a candidate's value does not depend on the others in
    its batch (a permuted batch, single-candidate batches); the batch is not modified.
    Returns the objective (an :class:`Objective`).
    """
    if isinstance(obj, str):
        obj = get_objective(obj)
    name = getattr(obj, "name", None) or getattr(obj, "__name__", None)
    assert isinstance(name, str) and name, f"the objective needs a name (a non-empty string), found {name!r}"
    objective_ = as_objective(obj, name)
    assert objective_.direction in DIRECTIONS, f"{name}: direction must be one of {DIRECTIONS}, found {objective_.direction!r}"
    assert isinstance(objective_.units, str), f"{name}: units must be a string, found {objective_.units!r}"
    for measured in (False, True):
        kind = "measured" if measured else "predicted"
        batch = example_batch(problem, n, seed=seed, measured=measured)
        before = (batch.accuracy.copy(), np.array(batch.costs.energy_uJ, copy=True), batch.spike_rate.copy())
        values = np.asarray(objective_.fn(batch))
        assert values.shape == (n,), f"{name} ({kind}): expected one value per candidate, shape ({n},), found {values.shape}"
        assert np.issubdtype(values.dtype, np.number), f"{name} ({kind}): expected numbers, found dtype {values.dtype}"
        values = values.astype(float)
        assert np.all(np.isfinite(values)), f"{name} ({kind}): non-finite values {values.tolist()}"
        after = (batch.accuracy, np.asarray(batch.costs.energy_uJ), batch.spike_rate)
        assert all(np.array_equal(a, b) for a, b in zip(before, after)), f"{name} ({kind}): the call modified its batch"
        again = np.asarray(objective_.fn(batch), dtype=float)
        assert np.array_equal(values, again), f"{name} ({kind}): two calls on the same batch differ"
        order = np.random.default_rng(seed + 1).permutation(n)
        permuted = np.asarray(objective_.fn(_subset(batch, order)), dtype=float)
        assert np.allclose(permuted, values[order], rtol=1e-9, atol=1e-12), \
            f"{name} ({kind}): a candidate's value changed when the batch was reordered"
        for k in range(min(n, 3)):
            single = np.asarray(objective_.fn(_subset(batch, [k])), dtype=float)
            assert single.shape == (1,) and np.allclose(single[0], values[k], rtol=1e-9, atol=1e-12), \
                f"{name} ({kind}): candidate {k} alone gives {single.tolist()}, in the batch {values[k]}"
    return objective_
