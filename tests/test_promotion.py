"""Promotion by expected hypervolume improvement (moo_snn.search.promotion), against hand-computed hypervolumes."""

import numpy as np

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
