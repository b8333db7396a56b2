"""Promotion by expected hypervolume improvement (moo_snn.search.promotion), against hand-computed hypervolumes."""

import math

import numpy as np
import pytest

from moo_snn.architecture import Architecture
from moo_snn.config.problem import load_problem
from moo_snn.evaluation import population_costs
from moo_snn.search.promotion import ehvi_choice
from moo_snn.search.pymoo_problem import SnnSearchProblem
from moo_snn.space import SearchSpace


def _problem():
    spec = load_problem("digits")  # objectives: accuracy, energy_uJ, latency_ms; accuracy >= 0.9
    space = SearchSpace(spec.space)
    return SnnSearchProblem(spec, space, predictor=None), space


SMALL = "0001-0000-0000-0000_c8_t1_w4_p2_h0"
OTHER = "0001-0000-0000-0000_c4_t1_w4_p2_h0"


def _box(problem):
    ref = np.array([0.1, 2.5, 0.25])  # digits' limits: error 1 - 0.9, 2.5 uJ, 0.25 ms
    return ref, np.zeros(3)


def _costs(problem, space, arch):
    X = space.encode(Architecture.parse(arch))[None]
    r = population_costs(problem.spec, space, X)
    return float(r.energy_uJ[0]), float(r.latency_ms[0])


def test_without_spread_the_ehvi_of_a_first_point_is_its_box_volume_by_hand():
    problem, space = _problem()
    ref, ideal = _box(problem)
    X = np.array([space.encode(Architecture.parse(SMALL))])
    chosen, ehvi = ehvi_choice(problem, X, [0.97], [0.0], np.zeros((0, 3)), ref, ideal, 1, sigma_floor=1e-12)
    E, L = _costs(problem, space, SMALL)
    assert chosen == [0]
    # one point in an empty front: (1 - err/0.1) (1 - E/2.5) (1 - L/0.25)
    assert np.isclose(ehvi[0], (1 - 0.03 / 0.1) * (1 - E / 2.5) * (1 - L / 0.25), rtol=1e-9)


def test_a_dominated_or_infeasible_candidate_is_never_promoted():
    problem, space = _problem()
    ref, ideal = _box(problem)
    E, L = _costs(problem, space, SMALL)
    X = np.array([space.encode(Architecture.parse(SMALL))] * 2)
    front = np.array([[0.02, E, L]])  # already measured: same costs, 98 % accurate
    chosen, ehvi = ehvi_choice(problem, X, [0.96, 0.85], [0.0, 0.0], front, ref, ideal, 2, sigma_floor=1e-12)
    assert chosen == [] and np.all(ehvi == 0)
    # with spread, the 96 % one may beat 98 % on some draws: a small positive EHVI, still 0 for 85 % +- 0.001
    chosen, ehvi = ehvi_choice(problem, X, [0.96, 0.85], [0.02, 0.001], front, ref, ideal, 2, sigma_floor=1e-12, draws=256)
    assert chosen == [0] and ehvi[0] > 0 and ehvi[1] == 0


def test_the_batch_believes_its_first_choice_before_choosing_the_second():
    problem, space = _problem()
    ref, ideal = _box(problem)
    # two networks of the same costs: once the better one is believed at its mean, the other adds nothing
    X = np.array([space.encode(Architecture.parse(SMALL))] * 2 + [space.encode(Architecture.parse(OTHER))])
    chosen, ehvi = ehvi_choice(problem, X, [0.97, 0.96, 0.95], [0, 0, 0], np.zeros((0, 3)), ref, ideal, 3, sigma_floor=1e-12)
    E, L = _costs(problem, space, SMALL)
    E2, L2 = _costs(problem, space, OTHER)
    assert chosen[0] == 0 and 1 not in chosen
    # the third is cheaper in energy or latency, or nothing: it is chosen only if it adds volume by hand
    adds = (E2 < E) or (L2 < L)
    assert (2 in chosen) == adds


def _run_with(pairs, levels=(0, 1)):
    """A stand-in run: candidates (proxy level, proxy accuracy, full accuracy or None)."""
    from types import SimpleNamespace

    from moo_snn.results.state import Candidate
    from moo_snn.search.fidelity import Level

    cands = {}
    for k, (level, proxy, full) in enumerate(pairs):
        c = Candidate(arch=f"a{k}", genome=np.zeros(1, dtype=np.int64), round_found=1)
        c.proxy_level, c.proxy_accuracy, c.round_trained = level, proxy, 1
        c.status = "trained" if full is not None else "proxy"
        c.val_accuracy = np.nan if full is None else full
        cands[c.arch] = c
    lv = [Level(i, 2 + i, 1.0, 0.1, False) for i in levels] + [Level(len(levels), 30, 1.0, 1.0, True)]
    return SimpleNamespace(state=SimpleNamespace(candidates=cands), levels=lv)


def test_gaps_are_measured_on_promotions_and_lower_levels_borrow_from_above():
    from moo_snn.search.fidelity import fidelity_gaps
    from moo_snn.search.promotion import GAP_SPREAD_PRIOR, calibrated_proxy

    run = _run_with([(1, 0.80, 0.95), (1, 0.90, 0.97), (1, 0.85, 0.99), (1, 0.70, None), (0, 0.5, None)])
    gaps = fidelity_gaps(run)

    def lo(a):  # log-odds, by hand
        return math.log(a / (1 - a))

    d = np.array([lo(0.95) - lo(0.80), lo(0.97) - lo(0.90), lo(0.99) - lo(0.85)])  # 1.558, 1.279, 2.861
    assert gaps[1] == pytest.approx((d.mean(), d.std(ddof=1), 3))
    assert gaps[0] == gaps[1]  # no pair at level 0: the level above lends its gap
    pool = [run.state.candidates["a3"], run.state.candidates["a4"]]
    mean, spread = calibrated_proxy(run, pool)
    mu = [1 / (1 + math.exp(-(lo(p) + d.mean()))) for p in (0.70, 0.5)]  # 0.70 -> 0.9356, 0.5 -> 0.8618
    assert mean == pytest.approx(mu)
    assert spread == pytest.approx([m * (1 - m) * d.std(ddof=1) * math.sqrt(1 + 1 / 3) for m in mu])
    assert mean.max() < 1  # a lift in log-odds never passes 1 (one in points would: 0.90 + 0.15)
    # fewer than 3 pairs: the prior spread; none: no estimate (the first promotion is chosen otherwise)
    two = _run_with([(1, 0.80, 0.95), (1, 0.90, 0.97), (1, 0.7, None)])
    m2, s2 = calibrated_proxy(two, [two.state.candidates["a2"]])
    assert s2 == pytest.approx(m2 * (1 - m2) * GAP_SPREAD_PRIOR * math.sqrt(1 + 1 / 2))
    none = _run_with([(1, 0.7, None)])
    assert fidelity_gaps(none) == {} and calibrated_proxy(none, list(none.state.candidates.values())) is None
