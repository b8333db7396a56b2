"""benchmarks/multifidelity.py's scoring: the front is the search's choice, the referee only rescores it.

Hand-computed hypervolumes on a two-objective (error, energy) box [0, 0.1] x [0, 2.5]: a single point
(e, E) covers (0.1 - e) / 0.1 * (2.5 - E) / 2.5 of it.
"""

import importlib.util
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr

_spec = importlib.util.spec_from_file_location("multifidelity_bench",
                                               Path(__file__).parents[1] / "benchmarks" / "multifidelity.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

SPEC = SimpleNamespace(objectives=SimpleNamespace(names=["accuracy", "energy_uJ"]), training=SimpleNamespace(epochs=30))


def _results(accuracy, energy, excess):
    n = len(accuracy)
    return xr.Dataset(
        {"arch": ("candidate", [f"n{k}" for k in range(n)]),
         "measured_objective": (("candidate", "objective"), np.column_stack([accuracy, energy])),
         "measured_limit_excess": (("candidate", "constraint"), np.asarray(excess, float)[:, None])},
        attrs={"reference_point": json.dumps([0.1, 2.5])})


def box(error, energy):
    return (0.1 - error) / 0.1 * (2.5 - energy) / 2.5


def test_curve_counts_full_trainings_only_and_charges_every_training():
    ds = _results([0.95, 0.97, 0.99], [0.5, 1.0, 0.5], [-0.05, -0.07, -0.09])
    order = [("n0", 8, 0.25, "trained"), ("n0", 30, 1.0, "trained"), ("n1", 30, 1.0, "trained"),
             ("n2", 8, 0.25, "trained"), ("n2", 30, 1.0, "failed")]
    points = bench.curve(SPEC, ds, order)
    fte = [p[0] for p in points]
    assert fte == pytest.approx([8 * 0.25 / 30, 8 * 0.25 / 30 + 1, 8 * 0.25 / 30 + 2, 2 * 8 * 0.25 / 30 + 2,
                                 2 * 8 * 0.25 / 30 + 3])
    hv = [p[1] for p in points]
    assert hv[0] == 0.0  # a proxy never enters the front
    assert hv[1] == pytest.approx(box(0.05, 0.5))
    # n1 (0.97 at 1.0 uJ) adds the slab between errors 0.03 and 0.05 below 1.0 uJ
    assert hv[2] == pytest.approx(box(0.05, 0.5) + (0.05 - 0.03) / 0.1 * (2.5 - 1.0) / 2.5)
    assert hv[4] == hv[3] == hv[2]  # the proxy and the failed full training of n2 add nothing


def test_score_rescores_the_searchs_front_and_does_not_choose_it():
    # n1 is dominated by its own measurement (0.96 at 1.0 uJ vs n0's 0.97 at 0.5 uJ): it stays off the
    # front even though the referee would score it 0.99; n0 is scored by the referee (0.95)
    ds = _results([0.97, 0.96], [0.5, 1.0], [-0.07, -0.06])
    order = [("n0", 30, 1.0, "trained"), ("n1", 30, 1.0, "trained")]
    referee = {"n0": 0.95, "n1": 0.99}
    points = bench.curve(SPEC, ds, order, score=referee.__getitem__)
    assert points[-1][1] == pytest.approx(box(0.05, 0.5))
    assert bench.curve(SPEC, ds, order)[-1][1] == pytest.approx(box(0.03, 0.5))


def test_infeasible_by_the_search_stays_out_whatever_the_referee_says():
    ds = _results([0.97, 0.85], [0.5, 0.4], [-0.07, 0.05])
    order = [("n0", 30, 1.0, "trained"), ("n1", 30, 1.0, "trained")]
    points = bench.curve(SPEC, ds, order, score={"n0": 0.97, "n1": 0.99}.__getitem__)
    assert points[-1][1] == pytest.approx(box(0.03, 0.5))


def test_fte_to_reach():
    points = [(1.0, 0.2), (2.0, 0.5), (3.0, 0.4), (4.0, 0.6)]
    assert bench.fte_to_reach(points, 0.5) == 2.0
    assert bench.fte_to_reach(points, 0.55) == 4.0
    assert math.isinf(bench.fte_to_reach(points, 0.7))
