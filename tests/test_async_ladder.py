"""The asynchronous search with a [fidelity] table (issue 16): rungs and promotions without a barrier.

References: the ladder's rule checked on the simulated cluster's own trace (every rung-up and
promotion comes after its candidate's result one level below, and within the quota worked out by
hand from the results that had arrived), the FTE of each task summed by hand, the uninterrupted run
(resume), the synchronous ladder's bookkeeping (status, fidelity per candidate, front of full
trainings only).
"""

import math

import numpy as np
import pytest

import moo_snn
from moo_snn.architecture import Architecture
from moo_snn.config.problem import parse_problem
from moo_snn.search import async_ladder, fidelity
from moo_snn.search.async_loop import AsyncSearchRun
from moo_snn.search.loop import with_overrides
from moo_snn.simcluster import SimulatedCluster
from small_search import TEXT, StopAfter

# full training: 4 epochs; levels: 1 epoch on half the data (1/8 FTE), 2 epochs on all of it (1/2 FTE)
LADDER = "\n[fidelity]\nepochs = [1, 2]\ntrain_fraction = [0.5, 1.0]\neta = 2\npromote = 1\n"
TEXT4 = TEXT.replace("epochs = 2", "epochs = 4")
SPEC = with_overrides(parse_problem(TEXT4 + LADDER, "ladder.toml"), generations=3, bootstrap=4)
FULL = SPEC.training.epochs


class LadderTimes:
    """Trainings without training: accuracy grows with width and timesteps and with the fidelity;
    a training takes its FTE × 8 s × (0.5 + T / 4) (``uniform``: 1 s whatever it is, so results arrive in request order)."""

    def __init__(self, uniform: bool = False):
        self.uniform = uniform

    def task_result(self, task):
        a = Architecture.parse(task.arch)
        fte = task.epochs * task.train_fraction / FULL
        full = 0.5 + 0.4 * math.log2(a.channels) / 8 + 0.05 * math.log2(a.timesteps + 1)
        acc = full * (0.7 + 0.3 * fte)
        return dict(arch=task.arch, status="trained", val_accuracy=acc, test_accuracy=acc, spike_rates={},
                    train_seconds=1.0 if self.uniform else 8.0 * fte * (0.5 + a.timesteps / 4), epochs=task.epochs, seed=task.seed,
                    train_fraction=task.train_fraction, samples_seen=0, worker="")


@pytest.fixture(autouse=True)
def quick_predictor(monkeypatch):
    """The ladder's mechanics are under test, not the predictor: ridge fits in milliseconds."""
    monkeypatch.setattr("moo_snn.search.loop.DEFAULT_REGRESSOR", "ridge")
    monkeypatch.setattr("moo_snn.surrogate.predictor.DEFAULT_REGRESSOR", "ridge")


def _run(path, *, workers=4, uniform=False, resume=None, progress=None, dies=None, **kw):
    sim = SimulatedCluster(LadderTimes(uniform), workers, head_seconds=0.0, dies=dies)
    run = AsyncSearchRun(SPEC, path, archive_path=path.parent / "none.nc", executor=sim, resume=resume, progress=progress,
                         max_trainings=12, refit_every=3, **kw)
    return run.run(), sim, run


def test_the_ladder_s_shares_are_those_of_a_synchronous_round():
    # 2 survivors: 1 reaches level 1 (⌈2/2⌉); promote 1 of that 1: everything measured there goes up
    assert async_ladder.rates(SPEC) == {1: 0.5, 2: 1.0}
    long = parse_problem(TEXT4.replace("survivors = 2", "survivors = 6") + LADDER.replace("promote = 1", "promote = 2"))
    assert async_ladder.rates(long) == {1: 0.5, 2: pytest.approx(2 / 3)}  # 6 → 3 at level 1, promote 2 of 3
    assert [async_ladder.allowed(n, 0.5) for n in range(5)] == [0, 0, 1, 1, 2]  # ASHA's ⌊n/eta⌋


def test_rungs_and_promotions_follow_results_within_their_quota_and_without_a_barrier(tmp_path):
    ds, sim, run = _run(tmp_path / "a.nc")
    assert ds.attrs["status"] == "complete"
    trace = [t for t in sim.trace if not t["died"]]
    level = {(t["tag"][0], t["tag"][2]) for t in trace}
    assert sum(1 for t in trace if t["tag"][2] == 0) == 12  # max_trainings counts new candidates
    assert run._rungs.requested[2] > 0  # something was promoted to full training
    rate = async_ladder.rates(SPEC)
    for t in sorted(trace, key=lambda t: t["start_s"]):
        arch, _, lv = t["tag"]
        if lv == 0:
            continue
        below = [u for u in trace if u["tag"][0] == arch and u["tag"][2] == lv - 1]
        assert below and below[0]["returned_s"] <= t["start_s"]  # measured one level below first
        measured = sum(1 for u in trace if u["tag"][2] == lv - 1 and u["returned_s"] <= t["start_s"])
        started = sum(1 for u in trace if u["tag"][2] == lv and u["start_s"] <= t["start_s"])
        assert started <= math.floor(measured * rate[lv] + 1e-9)
    # no barrier: rungs and promotions start while new candidates train at the cheapest level, and the other way round
    up, low = [t for t in trace if t["tag"][2] >= 1], [t for t in trace if t["tag"][2] == 0]
    assert any(u["start_s"] < f["start_s"] < u["finish_s"] for f in up for u in low)
    assert any(f["start_s"] < u["start_s"] < f["finish_s"] for f in up for u in low)
    full = [t for t in trace if t["tag"][2] == 2]
    # the results file says what the synchronous ladder says: status, fidelity, cost per candidate
    status = dict(zip(ds.arch.values, ds.status.values))
    for arch, lv in level:
        assert status[arch] == ("trained" if (arch, 2) in level else "proxy")
    front = ds.on_front.values
    assert front.any() and (ds.status.values[front] == "trained").all() and (ds.fidelity_epochs.values[front] == FULL).all()
    fte = sum({0: 0.125, 1: 0.5, 2: 1.0}[t["tag"][2]] for t in trace)  # 1 epoch x 1/2, 2 epochs x 1 of 4 epochs, full
    assert ds.cost_fte.values.sum() == pytest.approx(fte) and ds.attrs["spent_fte"] == pytest.approx(fte)
    promoted = ds.round_promoted.values >= 0
    assert promoted.sum() == len(full) and np.isfinite(ds.proxy_accuracy.values[promoted]).all()
    # the passes' records: what their candidates cost and what was promoted (they stayed 0 for an asynchronous run)
    design = ds.cost_fte.values[ds.round_trained.values <= 0].sum()  # the design (its candidates keep round -1 or 0)
    assert ds.round_fte.values.sum() + design == pytest.approx(fte) and ds.round_fte.values.sum() > 0
    assert ds.attrs["bootstrap_fte"] == pytest.approx(design)  # round 0, outside the passes' records
    assert ds.n_promoted_in_round.values.sum() == promoted.sum()


@pytest.mark.slow  # a search run with a budget (simulated trainings, real passes and checkpoints): 5-12 s
def test_a_budget_stops_requests_counting_the_running_trainings(tmp_path):
    class Counted(StopAfter):  # the progress counter's events (the command line's "trained ARCH (k/n)")
        def __init__(self):
            super().__init__(-1)
            self.done = []

        def training(self, done, total, arch):
            self.done.append(done)

    said = Counted()
    ds, sim, _ = _run(tmp_path / "b.nc", budget=fidelity.Budget(fte=2.0), progress=said)
    # one event per result and one at the start, whatever the budget refused (the log once said a training
    # started that the budget then refused: it now counts results, which are facts)
    assert said.done == list(range(len(sim.trace) + 1))
    fte = sum({0: 0.125, 1: 0.5, 2: 1.0}[t["tag"][2]] for t in sim.trace)
    assert fte <= 2.0 + 1e-9 and ds.attrs["spent_fte"] == pytest.approx(fte)
    assert ds.attrs["budget_exhausted"] == 1 and "budget spent" in ds.attrs["budget_note"]
    assert ds.attrs["status"] == "budget_spent"  # the budget refused requests: the run says so (not complete)


@pytest.mark.slow  # three search runs (simulated trainings): 10-40 s
def test_an_interrupted_ladder_run_resumes_to_the_same_trainings(tmp_path):
    """Every training takes 1 s: results arrive in request order in both runs."""
    whole, _, _ = _run(tmp_path / "whole.nc", uniform=True, workers=3)

    path = tmp_path / "part.nc"
    with pytest.raises(KeyboardInterrupt):
        _run(path, uniform=True, workers=3, progress=StopAfter(9))
    part = moo_snn.open_results(path)
    import json

    log = json.loads(part.attrs["async_state"])["trainings"]
    assert part.attrs["status"] == "interrupted" and any(e[2] < 0 for e in log) and max(e[1] for e in log) >= 1
    resumed, _, _ = _run(path, uniform=True, workers=3, resume=path)

    def trainings(ds):
        return [e[:2] + [e[3]] for e in json.loads(ds.attrs["async_state"])["trainings"]]

    assert trainings(resumed) == trainings(whole)
    assert sorted(resumed.arch.values[resumed.on_front.values]) == sorted(whole.arch.values[whole.on_front.values])
    assert list(resumed.status.values) == list(whole.status.values)


@pytest.mark.slow  # a search run (simulated trainings): 5-14 s
def test_a_promotion_whose_worker_always_dies_is_failed_once_and_the_run_goes_on(tmp_path):
    doomed = []

    class Watch(LadderTimes):
        def task_result(self, task):
            if task.epochs == FULL and not doomed:
                doomed.append(task.arch)  # the first promotion's worker dies, every attempt
            return super().task_result(task)

    sim = SimulatedCluster(Watch(), 4, head_seconds=0.0, retries=1, dies=lambda arch, attempt: arch in doomed)
    ds = AsyncSearchRun(SPEC, tmp_path / "f.nc", archive_path=tmp_path / "none.nc", executor=sim, max_trainings=10,
                        refit_every=3).run()
    status = dict(zip(ds.arch.values, ds.status.values))
    assert doomed and status[doomed[0]] == "failed" and ds.attrs["status"] == "complete"
    attempts = [t for t in sim.trace if t["tag"][0] == doomed[0] and t["tag"][2] == 2]
    assert len(attempts) == 2 and all(t["died"] for t in attempts)  # the attempt and one retry, then never again


def test_an_archive_network_is_never_trained_again_and_its_seconds_are_not_spent(tmp_path):
    """An archive network first scored in a pass joined the candidates measured only after the pass had chosen
    what to exclude: it was queued, trained at every level up to full as if new (source flipped to
    'promotion'), and its training cost counted as spent. Reference: the simulated cluster's own trace."""
    from moo_snn.space import SearchSpace
    from moo_snn.surrogate import archive as arc
    from moo_snn.surrogate.sampling import space_filling_sample

    space, archive = SearchSpace(SPEC.space), arc.empty_archive(SPEC)
    for x in space_filling_sample(SPEC, space, 30, seed=5):
        a = space.decode(x)
        acc = 0.5 + 0.4 * math.log2(a.channels) / 8 + 0.05 * math.log2(a.timesteps + 1)
        archive = arc.append(archive, dict(arch=str(a), status="trained", val_accuracy=acc, test_accuracy=acc, train_seconds=100.0,
                                           epochs=FULL, seed=0, params=1, spike_rates={"stem": 1.0}))
    arc.save_archive(archive, tmp_path / "a.nc")
    sim = SimulatedCluster(LadderTimes(), 4, head_seconds=0.0)
    run = AsyncSearchRun(SPEC, tmp_path / "r.nc", archive_path=tmp_path / "a.nc", executor=sim, max_trainings=20, refit_every=3)
    ds = run.run()
    requested = [e[0] for e in run.log]
    scored_archive = [a for a, c in run.state.candidates.items() if a in run.archive_records]
    assert scored_archive and not set(requested) & set(run.archive_records)
    assert all(run.state.candidates[a].source == "archive" for a in scored_archive)
    # hand-computed from the log: a training takes its level's FTE x 8 s x (0.5 + T / 4) (LadderTimes)
    levels = fidelity.levels(SPEC)
    fte = [levels[lv].fte for _, lv, _, _ in run.log]
    seconds = sum(f * 8.0 * (0.5 + Architecture.parse(a).timesteps / 4) for f, (a, _, _, _) in zip(fte, run.log))
    assert float(ds.attrs["spent_fte"]) == pytest.approx(sum(fte))
    assert float(ds.attrs["spent_train_hours"]) * 3600 == pytest.approx(seconds)


def test_the_progress_counter_counts_results_out_of_a_total_that_does_not_grow(tmp_path):
    """The counter's total was max(new candidates, requests so far): it grew with every rung and promotion
    ("8/8" then "9/9"). Hand-computed total: 12 new candidates, half go up to L1 (eta 2): 6, all of those may
    be promoted (promote 1 of a round's 1 that reaches L1): 6; 24 in all. The count is of results, one
    event each, from 0 at the start."""
    class Counter(StopAfter):
        def __init__(self):
            super().__init__(-1)
            self.events = []

        def training(self, done, total, arch):
            self.events.append((done, total))

    said = Counter()
    ds, sim, run = _run(tmp_path / "c.nc", progress=said)
    assert run.planned_trainings == 24 and {t for _, t in said.events} == {24}
    assert [d for d, _ in said.events] == list(range(len(sim.trace) + 1))
