"""The asynchronous search, its replayed trainings and the simulated cluster (issue 16).

References: the archive file read directly (replay of archived networks), a brute-force nearest
neighbour (replay of the others), schedules worked out by hand (the event simulator), and the
uninterrupted run (resume).
"""

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import moo_snn
from moo_snn.architecture import Architecture
from moo_snn.executor import training_tasks
from moo_snn.replay import ReplayTable
from moo_snn.search.async_loop import AsyncSearchRun
from moo_snn.search.loop import with_overrides
from moo_snn.simcluster import SimulatedCluster
from small_search import SPEC, StopAfter, write_synthetic_archive

DIGITS_ARCHIVE = Path(moo_snn.__file__).resolve().parents[1] / "surrogates" / "digits.nc"


@pytest.fixture(scope="module")
def table():
    return ReplayTable(SPEC, DIGITS_ARCHIVE, time_factor=3.0)


@pytest.fixture(scope="module")
def archive_path(tmp_path_factory):
    return write_synthetic_archive(tmp_path_factory.mktemp("archive") / "digits.nc")


# --- replay -----------------------------------------------------------------------------------

def test_an_archived_architecture_replays_its_own_record(table):
    ds = xr.open_dataset(DIGITS_ARCHIVE, engine="h5netcdf").load()
    k = 7
    arch, seed = str(ds.arch.values[k]), int(ds.seed.values[k])
    r = table.result(arch, seed=seed, epochs=10)
    assert r["replayed_from"] == str(Architecture.parse(arch).canonical()) and r["status"] == "trained"  # the archive reads it so
    assert r["val_accuracy"] == ds.val_accuracy.values[k] and r["test_accuracy"] == ds.test_accuracy.values[k]
    assert r["train_seconds"] == pytest.approx(3.0 * ds.train_seconds.values[k])
    assert table.result(arch, seed=seed, epochs=5)["train_seconds"] == pytest.approx(1.5 * ds.train_seconds.values[k])
    layers = list(ds.layer.values)
    for name, rate in r["spike_rates"].items():  # the archive stores rates by slot
        from moo_snn.space import slot_for
        assert rate == pytest.approx(ds.spike_rate.values[k, slot_for(name)])
    assert "stem" in r["spike_rates"] and len(layers) == 16


def test_another_architecture_replays_its_nearest_archived_one_found_by_brute_force(table):
    from moo_snn.surrogate.features import ArchitectureFeaturizer

    rng = np.random.default_rng(3)
    from moo_snn.space import SearchSpace

    space = SearchSpace(SPEC.space)
    archs = [str(space.decode(x)) for x in space.sample(40, rng)]
    archs = [a for a in archs if (a, -1) not in table.records][:25]
    featurise = ArchitectureFeaturizer.for_problem(SPEC).fit(np.array([["x"]], dtype=object)).transform
    A = featurise(np.array(table.archs, dtype=object)[:, None])
    mean, std = A.mean(axis=0), A.std(axis=0)
    std[std == 0] = 1.0
    Z, Q = (A - mean) / std, (featurise(np.array(archs, dtype=object)[:, None]) - mean) / std
    expected = [table.archs[int(np.argmin(((Z - q) ** 2).sum(axis=1)))] for q in Q]
    assert table.nearest(archs) == expected
    r = table.result(archs[0], seed=0)
    source = table.records[(expected[0], 0)] if (expected[0], 0) in table.records else table.records[(expected[0], -1)]
    assert r["val_accuracy"] == source["val_accuracy"] and r["arch"] == archs[0]
    assert all(math.isfinite(v) for v in r["spike_rates"].values())  # layers the neighbour lacks: the assumed rate


# --- the simulated cluster ----------------------------------------------------------------------

class FixedTimes:
    """Replay with hand-chosen training times by architecture."""

    def __init__(self, table, seconds: dict):
        self.table, self.seconds = table, seconds

    def task_result(self, task):
        return dict(self.table.task_result(task), train_seconds=self.seconds.get(task.arch, 1.0))


def _tasks(table, n):
    return training_tasks(SPEC, table.archs[:n], seed=0)


def test_a_two_worker_schedule_worked_out_by_hand(table):
    tasks = _tasks(table, 4)
    a, b, c, d = (t.arch for t in tasks)
    sim = SimulatedCluster(FixedTimes(table, {a: 3, b: 1, c: 2, d: 1}), 2, head_seconds=0.0)
    order = [(tag, sim.now_s, r["worker"]) for tag, r in sim.run(tasks)]
    # w0: a [0, 3] then d [3, 4]; w1: b [0, 1] then c [1, 3]; a and c both end at 3: a was submitted first
    assert order == [(1, 1.0, "sim-1"), (0, 3.0, "sim-0"), (2, 3.0, "sim-1"), (3, 4.0, "sim-0")]
    assert sim.busy_s == 7.0 and sim.utilisation() == pytest.approx(7 / (2 * 4))


def test_the_search_s_own_time_keeps_workers_idle(table):
    tasks = _tasks(table, 2)
    sim = SimulatedCluster(FixedTimes(table, {}), 1, head_seconds=0.5)
    sim.submit(tasks[0], 0)
    assert sim.next_result()[0] == 0 and sim.now_s == 1.0
    sim.submit(tasks[1], 1)  # the search thought for 0.5 s: the worker waited
    assert sim.next_result()[0] == 1 and sim.now_s == 2.5
    assert sim.utilisation() == pytest.approx(2 / 2.5) and sim.head_s == 0.5


def test_a_worker_death_is_retried_then_failed(table):
    tasks = _tasks(table, 2)
    doomed = tasks[0].arch
    sim = SimulatedCluster(FixedTimes(table, {doomed: 4}), 2, head_seconds=0.0, retries=1, dies=lambda arch, n: arch == doomed)
    results = dict(sim.run(tasks))
    assert results[0]["status"] == "failed" and results[0]["attempts"] == 2 and results[1]["status"] == "trained"
    assert sim.now_s == 4.0  # two attempts, each dying half-way (2 s)
    assert [t["died"] for t in sim.trace] == [False, True, True]


# --- the asynchronous search ----------------------------------------------------------------------

@pytest.fixture(autouse=True)
def quick_predictor(request, monkeypatch):
    """The loop's mechanics are under test, not the predictor: ridge fits in milliseconds where the
    default ensemble of gradient boosting takes seconds per pass on a busy 2-core machine."""
    monkeypatch.setattr("moo_snn.search.loop.DEFAULT_REGRESSOR", "ridge")


QUICK = with_overrides(SPEC, generations=3)  # a pass: predictor fit + 3 generations of NSGA-II


def _run(path, archive_path, table, *, resume=None, progress=None, dies=None, **kw):
    sim = SimulatedCluster(FixedTimes(table, {}), 3, head_seconds=0.0, dies=dies)
    run = AsyncSearchRun(QUICK, path, archive_path=archive_path, executor=sim, resume=resume, progress=progress,
                         max_trainings=8, refit_every=3, **kw)
    return run.run(), sim


def test_requests_follow_results_without_a_round_barrier(tmp_path, archive_path, table):
    seconds = {a: 1.0 + (k % 5) for k, a in enumerate(table.archs)}  # uneven times: nearest archived network's
    sim = SimulatedCluster(FixedTimes(table, {}), 3, head_seconds=0.0)
    sim.table = FixedTimes(table, {})
    sim.table.task_result = lambda task: dict(table.task_result(task), train_seconds=seconds[table.nearest([task.arch])[0]])
    ds = AsyncSearchRun(QUICK, tmp_path / "a.nc", archive_path=archive_path, executor=sim, max_trainings=8,
                        refit_every=3).run()
    asked = ds.isel(candidate=np.flatnonzero(ds.request_index.values >= 0)).sortby("request_index")
    assert list(asked.request_index.values) == list(range(8)) and sorted(asked.result_index.values) == list(range(8))
    assert asked.trained.all() and ds.attrs["status"] == "complete"
    requested, arrived = asked.requested_s.values, asked.result_s.values
    assert (requested[:3] == 0).all()  # the 3 workers start at once
    for k in range(3, 8):  # every later request is made the moment a result arrives, others still running
        assert requested[k] in set(arrived[:k])
        assert (arrived[:k] > requested[k]).any()
    # at most 3 trainings at any time, and never a worker idle while work was waiting
    for t in requested:
        assert ((requested <= t) & (arrived > t)).sum() <= 3
    assert set(asked.worker.values) <= {"sim-0", "sim-1", "sim-2"}
    assert sim.utilisation() > 0.7
    assert ds.sizes["round"] >= 2  # passes are recorded as rounds


def test_an_interrupted_asynchronous_run_resumes_to_the_same_trained_set(tmp_path, archive_path, table):
    """Equal training times: results arrive in request order in both runs (the same arrival order)."""
    whole, _ = _run(tmp_path / "whole.nc", archive_path, table)

    path = tmp_path / "part.nc"
    with pytest.raises(KeyboardInterrupt):
        _run(path, archive_path, table, progress=StopAfter(4))
    part = moo_snn.open_results(path)
    assert part.attrs["status"] == "interrupted" and 0 < int((part.result_index >= 0).sum()) < 8
    resumed, _ = _run(path, archive_path, table, resume=path)

    def trained(ds):
        sel = ds.isel(candidate=np.flatnonzero(ds.request_index.values >= 0)).sortby("request_index")
        return list(sel.arch.values), list(sel.val_accuracy.values), list(sel.status.values)

    assert trained(resumed) == trained(whole)
    assert sorted(resumed.arch.values[resumed.on_front.values]) == sorted(whole.arch.values[whole.on_front.values])
    assert resumed.attrs["status"] == "complete"


def test_a_pass_proposes_a_growing_share_of_the_results_received(tmp_path, archive_path, table):
    """k = max(refit_every, ⌈n · refit_growth⌉): passes thin out as results accumulate (the bound on the
    search's own time per result, async_loop's docstring), a function of the results count only."""
    sim = SimulatedCluster(FixedTimes(table, {}), 3, head_seconds=0.0)
    run = AsyncSearchRun(QUICK, tmp_path / "g.nc", archive_path=archive_path, executor=sim, max_trainings=12,
                         refit_every=2, refit_growth=0.5)
    ds = run.run()
    proposed = [int(k) for k in ds.n_trained_in_round.values]
    received = [entry["results"] for entry in run.timing["pass_log"]]
    assert proposed == [max(2, math.ceil(n * 0.5)) for n in received]
    assert max(proposed) > 2 and received == sorted(received)


def test_a_training_whose_worker_always_dies_is_failed_and_the_run_goes_on(tmp_path, archive_path, table):
    first = []

    def dies(arch, attempt):
        if not first:
            first.append(arch)
        return arch == first[0]

    ds, sim = _run(tmp_path / "f.nc", archive_path, table, dies=dies)
    asked = ds.isel(candidate=np.flatnonzero(ds.request_index.values >= 0))
    status = dict(zip(asked.arch.values, asked.status.values))
    assert status[first[0]] == "failed" and ds.attrs["status"] == "complete"
    assert sum(s == "trained" for s in status.values()) == 7
    assert sum(t["died"] for t in sim.trace) == 3  # the first attempt and 2 retries


def test_the_asynchronous_search_on_a_real_dask_cluster_of_replayed_trainings(tmp_path, archive_path, table):
    from moo_snn.replay import ReplayDaskExecutor

    with ReplayDaskExecutor(FixedTimes(table, {}), workers=2, retries=0) as executor:
        executor.table = FixedTimes(table, {})
        executor.table.task_result = lambda task: dict(table.task_result(task), train_seconds=0.05)
        run = AsyncSearchRun(QUICK, tmp_path / "d.nc", archive_path=archive_path, executor=executor, max_trainings=6,
                             refit_every=3)
        ds = run.run()
    asked = ds.isel(candidate=np.flatnonzero(ds.request_index.values >= 0)).sortby("request_index")
    assert asked.sizes["candidate"] == 6 and asked.trained.all() and ds.attrs["status"] == "complete"
    assert set(asked.worker.values) <= {"0", "1"} and np.all(asked.result_s.values >= asked.requested_s.values)
    assert run.timing["results"] == 6


@pytest.mark.slow  # two real trainings
def test_optimize_async_in_process_trains_the_rounds_count(tmp_path, archive_path):
    from typer.testing import CliRunner

    from moo_snn.cli import app

    problem = tmp_path / "small.toml"
    problem.write_text(SPEC.source)
    out = tmp_path / "cli.nc"
    args = ["optimize", str(problem), "--async", "--rounds", "1", "--generations", "2", "--pop-size", "8",
            "--archive", str(archive_path), "--torch-threads", "1", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 3), result.output
    ds = moo_snn.open_results(out)
    assert ds.attrs["search_mode"] == "async" and ds.attrs["status"] == "complete"
    asked = ds.isel(candidate=np.flatnonzero(ds.request_index.values >= 0))
    assert asked.sizes["candidate"] == 2 and set(asked.worker.values) == {"local"}  # 1 round × 2 survivors
    bad = CliRunner().invoke(app, ["optimize", str(problem), "--async", "--strategy", "hasnas", "--out", str(tmp_path / "h.nc")])
    assert bad.exit_code == 2 and "--async" in bad.output


@pytest.mark.parametrize("lost", [2, 3])
def test_without_an_archive_lost_design_trainings_are_replaced_once_and_the_run_goes_on(tmp_path, table, lost):
    """3 workers, a design of 3, no archive: the first ``lost`` design trainings fail (every attempt's
    worker dies). With 1 network measured the predictor cannot be fit; the run waits for the trainings
    in flight, then trains the design's next points in their place (once). All 3 lost: not retried."""
    from moo_snn.space import SearchSpace
    from moo_snn.surrogate.sampling import space_filling_sample

    spec = with_overrides(QUICK, bootstrap=3)
    space = SearchSpace(spec.space)
    design = [str(space.decode(x)) for x in space_filling_sample(spec, space, 3 + lost, seed=0)]
    sim = SimulatedCluster(FixedTimes(table, {}), 3, head_seconds=0.0, retries=0, dies=lambda arch, n: arch in design[:lost])
    run = AsyncSearchRun(spec, tmp_path / "r.nc", archive_path=tmp_path / "none.nc", executor=sim, max_trainings=8, refit_every=3)
    if lost == 3:
        with pytest.raises(moo_snn.MooSnnError, match="needs at least 2 trained networks"):
            run.run()
        assert moo_snn.open_results(tmp_path / "r.nc").attrs["status"] == "failed"
        return
    ds = run.run()
    asked = ds.isel(candidate=np.flatnonzero(ds.request_index.values >= 0)).sortby("request_index")
    assert list(asked.arch.values[: 3 + lost]) == design  # the design, then its next points in the lost ones' place
    assert list(asked.status.values[:lost]) == ["failed"] * lost and ds.attrs["status"] == "complete"
    assert int((asked.status == "trained").sum()) == 8 - lost
