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


def test_merge_cache_adds_only_the_records_the_target_lacks(tmp_path):
    from moo_snn.config.problem import load_problem
    from moo_snn.surrogate import archive as arc

    mspec = importlib.util.spec_from_file_location("merge_cache", Path(__file__).parents[1] / "benchmarks" / "merge_cache.py")
    merge_cache = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(merge_cache)
    problem = load_problem("digits")

    def rec(arch, acc, seed=0, epochs=30, fraction=1.0):
        return dict(arch=arch, status="trained", val_accuracy=acc, test_accuracy=acc, train_seconds=1.0, epochs=epochs,
                    train_fraction=fraction, seed=seed, params=10)

    a, b = "0003-0000-0000-0000_c8_t2_w4_p2_h0", "0003-0000-0000-0000_c16_t2_w4_p2_h0"
    target = arc.append(arc.empty_archive(problem), rec(a, 0.90))
    copy1 = arc.append(arc.append(target, rec(a, 0.50)), rec(a, 0.80, epochs=8, fraction=0.25))  # a again: not taken
    copy2 = arc.append(arc.append(target, rec(b, 0.95)), rec(a, 0.91, seed=1))
    for name, ds in [("target", target), ("copy1", copy1), ("copy2", copy2)]:
        arc.save_archive(ds, tmp_path / f"{name}.nc")
    merge_cache.main([str(tmp_path / "target.nc"), str(tmp_path / "copy1.nc"), str(tmp_path / "copy2.nc")])
    merged = arc.load_archive(tmp_path / "target.nc")
    got = {(str(r), int(s), int(e), round(float(f), 6)): float(v) for r, s, e, f, v in
           zip(merged.arch.values, merged.seed.values, merged.epochs.values, merged.train_fraction.values,
               merged.val_accuracy.values)}
    assert got == {(a, 0, 30, 1.0): 0.90, (a, 0, 8, 0.25): 0.80, (b, 0, 30, 1.0): 0.95, (a, 1, 30, 1.0): 0.91}
    # one key twice in one copy (as an archive written before canonical strings reads): added once
    c = "0003-0000-0000-0000_c4_t2_w4_p2_h0"
    one = arc.append(arc.empty_archive(problem), rec(c, 0.7))
    twice = xr.concat([one, one], dim="record", data_vars="all", coords="minimal", combine_attrs="override")
    merged, added = merge_cache.merge(merged, [twice])
    assert added == [1] and merged.sizes["record"] == 5


def test_oracle_ladder_promotes_by_expected_improvement_and_scores_what_it_drew():
    from moo_snn.objectives import resolve_metrics

    ospec = importlib.util.spec_from_file_location("oracle_ladder", Path(__file__).parents[1] / "benchmarks" / "oracle_ladder.py")
    oracle = importlib.util.module_from_spec(ospec)
    ospec.loader.exec_module(oracle)
    metrics = resolve_metrics(["accuracy", "energy_uJ"])
    F = np.array([[0.0, 0.5], [0.0, 1.5], [0.0, 0.2]])
    # expected gains from an empty front: n0 (box(0.05, 0.5) + box(0.03, 0.5)) / 2 = 0.48, n1 box(0.01, 1.5) = 0.36,
    # n2 nothing (below the 0.9 limit in every draw, although it is the cheapest)
    beliefs = [np.array([0.95, 0.97]), np.array([0.99, 0.99]), np.array([0.85, 0.88])]
    seed0 = np.array([0.96, 0.99, 0.95])  # what each promotion measures
    hv = oracle.simulate(F, beliefs, lambda i, rng: seed0[i], metrics, 0.9, np.array([0.1, 2.5]), np.zeros(2), 3, 2)
    first = box(0.04, 0.5)
    second = first + (0.04 - 0.01) / 0.1 * (2.5 - 1.5) / 2.5
    third = second + (0.1 - 0.05) / 0.1 * (0.5 - 0.2) / 2.5  # n2 last (expected 0, the only one left): drew 0.95 at 0.2 uJ
    assert hv.shape == (2, 3)
    assert hv[0] == pytest.approx([first, second, third]) and hv[1] == pytest.approx(hv[0])
    # drawn below the limit: the front does not change
    hv = oracle.simulate(F, beliefs, lambda i, rng: 0.89, metrics, 0.9, np.array([0.1, 2.5]), np.zeros(2), 2, 1)
    assert hv[0] == pytest.approx([0.0, 0.0])


def test_proxy_seeds_ranking_counts_the_estimates_best_half_only():
    pspec = importlib.util.spec_from_file_location("proxy_seeds", Path(__file__).parents[1] / "benchmarks" / "proxy_seeds.py")
    proxy_seeds = importlib.util.module_from_spec(pspec)
    pspec.loader.exec_module(proxy_seeds)
    truth = [4, 3, 2, 1]
    # the estimate's best half is the first two (0.9, 0.8), ranked in the wrong order there; right below it
    tau, tau_best = proxy_seeds.ranking(truth, [0.8, 0.9, 0.2, 0.1])
    assert tau_best == pytest.approx(-1.0)
    assert tau == pytest.approx((5 - 1) / 6)  # 6 pairs, one discordant
