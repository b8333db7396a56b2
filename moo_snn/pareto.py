"""Pareto fronts and their hypervolume, on objectives as pymoo minimises them.

Below both the search (which picks its front and scores each round with them) and the results
(whose ``ds.moo.hypervolume()`` reads a stored run): neither layer imports the other for these.
Both are pymoo's: :class:`~pymoo.util.nds.non_dominated_sorting.NonDominatedSorting` and the
:class:`~pymoo.indicators.hv.HV` indicator. How the reference and ideal points are chosen is in
:mod:`moo_snn.search.selection`.
"""

from __future__ import annotations

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting


def feasible_front(F, G) -> np.ndarray:
    """Indices of the non-dominated rows among those with every G ≤ 0 (empty if none is feasible).

    Parameters
    ----------
    F : array_like, shape (n, n_obj)
        Minimised objectives.
    G : array_like, shape (n, n_constr)
        Constraint values, ``value - limit`` (≤ 0 is met); an empty array means no constraints.

    Returns
    -------
    numpy.ndarray of int
        Row indices of the feasible non-dominated points (pymoo's non-dominated sorting).
    """
    F, G = np.atleast_2d(F), np.atleast_2d(G)
    ok = np.flatnonzero(np.all(G <= 0, axis=1)) if G.size else np.arange(len(F))
    if len(ok) == 0:
        return ok
    return ok[NonDominatedSorting().do(F[ok], only_non_dominated_front=True)]


def hypervolume(F, ref, ideal=None) -> float:
    """Hypervolume of the minimised points ``F`` as a fraction of the box [ideal, ref] (pymoo's HV).

    Parameters
    ----------
    F : array_like, shape (n, n_obj)
        Minimised objectives (accuracy as error 1 − accuracy).
    ref : array_like, shape (n_obj,)
        Reference point (the box's upper corner).
    ideal : array_like, shape (n_obj,), optional
        The box's lower corner; 0 in every objective by default.

    Returns
    -------
    float
        In [0, 1]. Points not strictly inside the box's upper bound do not count; coordinates below
        the ideal are clipped to it.
    """
    F = np.atleast_2d(np.asarray(F, dtype=float))
    if F.size == 0:
        return 0.0
    ref = np.asarray(ref, dtype=float)
    ideal = np.zeros_like(ref) if ideal is None else np.asarray(ideal, dtype=float)
    if np.any(ref <= ideal):  # an empty box (an objective constant over the space): nothing inside it
        return 0.0
    Z = np.maximum((F - ideal) / (ref - ideal), 0.0)
    Z = Z[np.all(Z < 1, axis=1)]
    return float(HV(ref_point=np.ones(len(ref)))(Z)) if len(Z) else 0.0
