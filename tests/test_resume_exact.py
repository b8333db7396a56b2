"""A resumed run ends as the uninterrupted one, also when the interruption falls inside a round's
promotions; and a round never trains the same architecture twice.

Found with real trainings (``benchmarks/resume_ladder.py``, RESULTS.md "Training determinism"): a
ladder run interrupted during its second promotion of a round redid the round's choice on a front
that already held the first promotion, and promoted another network; and a round's survivors held
one architecture twice (two genomes of the population that decode to the same cell), trained twice.
"""

from __future__ import annotations

import numpy as np
import pytest

from moo_snn.config.problem import parse_problem
from moo_snn.search.loop import SearchRun
from moo_snn.search.selection import select_survivors
from test_fidelity import SMALL, FakeExecutor

LADDER = "\n[fidelity]\nepochs = [2]\ntrain_fraction = [0.5]\npromote = 2\n"  # one proxy level, as digits-long


def test_survivors_are_distinct_architectures():
    archs = ["a", "a", "b", "c"]  # the first two: two genomes of one architecture
    F = np.array([[0.1, 1.0], [0.1, 1.0], [0.2, 0.5], [0.3, 0.4]])
    chosen = select_survivors(archs, F, np.zeros((4, 0)), np.zeros(4), trained=set(), k=3, metric_names=["accuracy", "energy_uJ"],
                              constraints=(), uncertainty_weight=0.0)
    assert sorted(chosen) == [0, 2, 3]
    chosen = select_survivors(archs, F, np.zeros((4, 0)), np.zeros(4), trained={"b"}, k=3, metric_names=["accuracy", "energy_uJ"],
                              constraints=(), uncertainty_weight=0.0)
    assert sorted(chosen) == [0, 3]  # fewer than k rather than a copy


def test_survivors_of_equal_objectives_are_distinct_networks():
    """Distinct networks whose (optimistic) objectives tie (one objective; a predictor flat over the space):
    the spread's distances were all 0 once the first was taken, and argmax took row 0 again and again,
    so one network was trained three times in a round (and charged three times)."""
    archs = ["a", "b", "c", "d"]
    F = np.array([[0.1, 1.0], [0.1, 1.0], [0.1, 1.0], [0.2, 0.5]])
    chosen = select_survivors(archs, F, np.zeros((4, 0)), np.zeros(4), trained=set(), k=3, metric_names=["accuracy", "energy_uJ"],
                              constraints=(), uncertainty_weight=0.0)
    assert chosen == [0, 3, 1]  # the best, the farthest, then the next tied one in row order
    flat = np.full((5, 1), -0.93)  # one objective, every prediction equal
    chosen = select_survivors(list("vwxyz"), flat, np.zeros((5, 0)), np.zeros(5), trained=set(), k=3, metric_names=["accuracy"],
                              constraints=(), uncertainty_weight=0.0)
    assert chosen == [0, 1, 2]


class InterruptedAt(FakeExecutor):
    """Ctrl-C when the ``n``-th training at ``level`` (epochs, fraction; default full: 8 epochs, all the data)
    is asked for, after the ones before it."""

    def __init__(self, n: int, level: tuple = (8, 1.0)):
        super().__init__()
        self.n, self.level = n, level

    def run(self, tasks, data=None):
        for item in super().run(tasks, data):
            task = self.tasks[-1]
            if (task.epochs, task.train_fraction) == self.level:
                self.n -= 1
                if self.n == 0:
                    raise KeyboardInterrupt
            yield item


def _measured(ds):
    return {str(a): (str(s), int(e), float(f), int(p)) for a, s, e, f, p in
            zip(ds.arch.values, ds.status.values, ds.fidelity_epochs.values, ds.cost_fte.values, ds.round_promoted.values)
            if s != "predicted"}


@pytest.mark.slow  # four search runs (fake trainings, real NSGA-II and checkpoints): 30-90 s on 2 shared cores
@pytest.mark.parametrize("n", [2, 4])  # inside round 0's promotions (after the first one), and inside a later round's
def test_a_ladder_run_interrupted_between_two_promotions_of_a_round_resumes_exactly(tmp_path, n):
    spec = parse_problem(SMALL + LADDER)
    whole = SearchRun(spec, tmp_path / "a.nc", archive_path=tmp_path / "none.nc", executor=FakeExecutor()).run()
    promoted = whole.round_promoted.values[whole.round_promoted.values >= 0]
    assert max(np.bincount(promoted)) == 2  # rounds that promote two: an interruption can fall between them
    with pytest.raises(KeyboardInterrupt):
        SearchRun(spec, tmp_path / "b.nc", archive_path=tmp_path / "none.nc", executor=InterruptedAt(n)).run()
    resumed = SearchRun(spec, tmp_path / "b.nc", archive_path=tmp_path / "none.nc", executor=FakeExecutor(),
                        resume=tmp_path / "b.nc").run()
    assert _measured(resumed) == _measured(whole)
    assert resumed.attrs["spent_fte"] == pytest.approx(whole.attrs["spent_fte"])
    assert resumed.n_promoted_in_round.values.tolist() == whole.n_promoted_in_round.values.tolist()


LADDER_2 = "\n[fidelity]\nepochs = [1, 2]\ntrain_fraction = [0.25, 0.5]\neta = 2\npromote = 2\n"  # two proxy levels and a rung


@pytest.mark.slow  # search runs with fake trainings (real NSGA-II and checkpoints)
@pytest.mark.parametrize("where", ["rung:2", "rung:4", "promotion_choice:2"])
def test_a_two_level_ladder_interrupted_in_or_after_a_rung_resumes_exactly(tmp_path, monkeypatch, where):
    """An interruption inside a round's rung between two proxy levels (``rung:n``: at its n-th training):
    the redone round raised further candidates from the pool the rung had already emptied. Or while
    round r chooses its promotions (``promotion_choice:r``), after its rung had trained candidates of
    earlier rounds again: the redone round fit its predictor without their earlier measurements (their
    round had become r) and chose other survivors."""
    from moo_snn.search import promotion

    spec = parse_problem(SMALL + LADDER_2)
    whole = SearchRun(spec, tmp_path / "a.nc", archive_path=tmp_path / "none.nc", executor=FakeExecutor()).run()
    kind, n = where.split(":")
    executor = FakeExecutor()
    if kind == "rung":
        executor = InterruptedAt(int(n), level=(2, 0.5))  # inside the rung between the two proxy levels
    else:
        real = promotion.promotion_order

        def interrupted(run, problem, pool, k, round_):
            if round_ == int(n):
                monkeypatch.setattr(promotion, "promotion_order", real)
                raise KeyboardInterrupt
            return real(run, problem, pool, k, round_)

        monkeypatch.setattr(promotion, "promotion_order", interrupted)
    with pytest.raises(KeyboardInterrupt):
        SearchRun(spec, tmp_path / "b.nc", archive_path=tmp_path / "none.nc", executor=executor).run()
    resumed = SearchRun(spec, tmp_path / "b.nc", archive_path=tmp_path / "none.nc", executor=FakeExecutor(),
                        resume=tmp_path / "b.nc").run()
    assert _measured(resumed) == _measured(whole)
    assert resumed.attrs["spent_fte"] == pytest.approx(whole.attrs["spent_fte"])
    assert resumed.n_promoted_in_round.values.tolist() == whole.n_promoted_in_round.values.tolist()


@pytest.mark.slow  # three search runs with fake trainings
def test_a_round_interrupted_after_promoting_an_earlier_rounds_candidate_resumes_exactly(tmp_path):
    """One proxy level (as digits-long): round r promotes a candidate measured by proxy in an earlier round,
    then is interrupted at its next promotion; the redone round must fit its predictor with that
    candidate's proxy (measured before round r) and without its full training (measured in round r)."""
    import json

    spec = parse_problem(SMALL + LADDER.replace("promote = 2", "promote = 6"))  # more than a round's 4 survivors
    whole = SearchRun(spec, tmp_path / "a.nc", archive_path=tmp_path / "none.nc", executor=FakeExecutor()).run()
    log = json.loads(whole.attrs["ladder_log"])
    proxy_round = {a: r for a, level, r, _ in log if level == 0}
    fulls = [(a, r) for a, level, r, _ in log if level == 1]
    # the full training right after the promotion of an earlier round's candidate, in the same round
    n = next(k + 2 for k, (a, r) in enumerate(fulls[:-1]) if r >= 1 and proxy_round[a] < r and fulls[k + 1][1] == r)
    with pytest.raises(KeyboardInterrupt):
        SearchRun(spec, tmp_path / "b.nc", archive_path=tmp_path / "none.nc", executor=InterruptedAt(n)).run()
    resumed = SearchRun(spec, tmp_path / "b.nc", archive_path=tmp_path / "none.nc", executor=FakeExecutor(),
                        resume=tmp_path / "b.nc").run()
    assert _measured(resumed) == _measured(whole)
    assert resumed.attrs["ladder_log"] == whole.attrs["ladder_log"]
    assert resumed.n_promoted_in_round.values.tolist() == whole.n_promoted_in_round.values.tolist()
