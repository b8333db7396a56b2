"""The search: determinism, interruption and resume, impossible limits, the results file."""

import json
from collections import Counter

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import moo_snn
from moo_snn.cli import app
from moo_snn.search.loop import SearchRun, with_overrides
from small_search import SPEC, TEXT, write_synthetic_archive

@pytest.fixture(scope="module")
def archive_path(tmp_path_factory):
    return write_synthetic_archive(tmp_path_factory.mktemp("archive") / "digits.nc")


@pytest.fixture(scope="module")
def data():
    from moo_snn.data import load_problem_data

    return load_problem_data(SPEC)


def test_a_run_writes_a_complete_results_file(tmp_path, archive_path, data):
    ds = SearchRun(SPEC, tmp_path / "run.nc", archive_path=archive_path, data=data).run()
    assert ds.attrs["status"] == "complete" and ds.sizes["round"] == 2
    assert set(ds.objective.values) == {"accuracy", "energy_uJ", "latency_ms"}
    assert list(ds.objective_units.values) == ["1", "uJ", "ms"]
    assert np.isfinite(ds.predictor_tau.values).all() or ds.n_trained_in_round.values.min() < 2
    trained = ds.isel(candidate=np.flatnonzero((ds.status == "trained").values & (ds.source == "search").values))
    assert trained.sizes["candidate"] == 4  # 2 rounds × 2 survivors, each trained once
    assert np.isfinite(trained.measured_objective.values).all()
    # the thread count each training used is in the file: the default policy gives digits-sized networks one thread
    assert (trained.torch_threads.values == 1).all()
    assert (ds.torch_threads.values[(ds.source == "archive").values] == 0).all()
    # measured costs use the measured spike rates: energy differs from the predicted (assumed-rate) one
    k = list(ds.objective.values).index("energy_uJ")
    assert not np.allclose(trained.measured_objective.values[:, k], trained.predicted_objective.values[:, k])
    front = ds.moo.front()
    assert front.sizes["candidate"] >= 1
    assert (front.limit_excess.values <= 0).all() and front.trained.all()
    loaded = moo_snn.open_results(tmp_path / "run.nc")
    xr.testing.assert_identical(ds, loaded)
    assert loaded.moo.hypervolume() == pytest.approx(float(ds.hypervolume.values[-1]))


@pytest.mark.slow  # about 25 s; test_reference_run checks the stored file by default
def test_the_same_seed_gives_the_same_front(tmp_path, archive_path, data):
    a = SearchRun(SPEC, tmp_path / "a.nc", archive_path=archive_path, data=data).run()
    b = SearchRun(SPEC, tmp_path / "b.nc", archive_path=archive_path, data=data).run()
    assert list(a.moo.front().arch.values) == list(b.moo.front().arch.values)
    np.testing.assert_array_equal(a.moo.front().measured_objective.values, b.moo.front().measured_objective.values)


@pytest.mark.slow  # about 18 s; test_reliability's signal cases cover resume in the default suite
def test_an_interrupted_run_resumes_and_trains_each_survivor_once(tmp_path, archive_path, data, monkeypatch):
    from moo_snn.training import trainer

    real, calls = trainer.train_architecture, []

    def counting(*args, **kwargs):
        calls.append(str(args[1]))
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C during the first training of round 2
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "train_architecture", counting)
    path = tmp_path / "run.nc"
    with pytest.raises(KeyboardInterrupt):
        SearchRun(SPEC, path, archive_path=archive_path, data=data).run()
    interrupted = moo_snn.open_results(path)
    assert interrupted.attrs["status"] == "interrupted"
    assert int(((interrupted.source == "search") & interrupted.trained).sum()) == 2  # round 1's survivors are kept
    ds = SearchRun(SPEC, path, archive_path=archive_path, resume=path, data=data).run()
    assert ds.attrs["status"] == "complete" and ds.sizes["round"] == 2
    trained = list(ds.arch.values[(ds.source == "search").values & ds.trained.values])
    assert Counter(calls[:2] + calls[3:]) == Counter(trained)  # the completed trainings, nothing twice
    assert all(n == 1 for n in Counter(trained).values())


def test_impossible_limits_exit_3_with_the_least_violating_stored(tmp_path, archive_path):
    # every cost limit reachable (else the run stops before training: tests/test_reliability.py),
    # but no network of 2 epochs classifies every validation image
    text = TEXT.replace("accuracy = { min = 0.5 }", "accuracy = { min = 1.0 }").replace("rounds = 2", "rounds = 1")
    problem = tmp_path / "impossible.toml"
    problem.write_text(text)
    result = CliRunner().invoke(app, ["optimize", str(problem), "--out", str(tmp_path / "r.nc"), "--archive", str(archive_path)])
    assert result.exit_code == 3, result.output
    assert "no candidate meets the limits" in result.stderr
    ds = moo_snn.open_results(tmp_path / "r.nc")
    assert ds.on_front.sum() == 0 and ds.least_violating.sum() >= 1
    assert (ds.limit_excess.values[ds.least_violating.values] > 0).any(axis=1).all()


def test_optimize_json_and_resume_of_a_complete_run(tmp_path, archive_path):
    problem = tmp_path / "small.toml"
    # a limit any trained network meets (chance is 0.1): the front is never empty, whatever 2 epochs give
    problem.write_text(TEXT.replace("rounds = 2", "rounds = 1").replace("accuracy = { min = 0.5 }", "accuracy = { min = 0.05 }"))
    out = tmp_path / "r.nc"
    result = CliRunner().invoke(app, ["optimize", str(problem), "--out", str(out), "--archive", str(archive_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["results"] == str(out) and report["status"] == "complete"
    assert report["front"] and {"arch", "val_accuracy", "test_accuracy", "params", "memory_kB", "area_mm2", "latency_ms",
                                "energy_uJ"} <= set(report["front"][0])
    # one more round on the same file: nothing trained before is trained again
    more = CliRunner().invoke(app, ["optimize", "--resume", str(out), "--rounds", "2", "--archive", str(archive_path), "--json"])
    assert more.exit_code == 0, more.output
    ds = moo_snn.open_results(out)
    assert ds.sizes["round"] == 2
    trained = ds.arch.values[(ds.source == "search").values & ds.trained.values]
    assert len(trained) == len(set(trained)) == 4
    other = tmp_path / "other.toml"
    other.write_text(TEXT.replace("lr = 0.01", "lr = 0.02"))
    bad = CliRunner().invoke(app, ["optimize", str(other), "--resume", str(out)])
    assert bad.exit_code == 2 and "another problem" in bad.stderr


@pytest.mark.slow  # about 17 s; the bootstrap runs in every default search test without an archive
def test_without_an_archive_the_run_bootstraps(tmp_path, data):
    spec = with_overrides(SPEC, rounds=1, bootstrap=6, survivors=1, generations=3)
    ds = SearchRun(spec, tmp_path / "r.nc", archive_path=tmp_path / "none.nc", data=data).run()
    assert int((ds.source == "bootstrap").sum()) == 6
    assert int(((ds.source == "search") & ds.trained).sum()) == 1


def test_hasnas_strategy_filters_by_cost_scores_and_trains_one(tmp_path):
    problem = tmp_path / "small.toml"
    problem.write_text(TEXT)
    out = tmp_path / "h.nc"
    result = CliRunner().invoke(app, ["optimize", str(problem), "--strategy", "hasnas", "--samples", "40", "--out", str(out), "--json"])
    assert result.exit_code in (0, 3), result.output
    ds = moo_snn.open_results(out)
    funnel = json.loads(ds.attrs["hasnas_funnel"])
    assert funnel["sampled"] == 40 and funnel["distinct"] >= funnel["after_memory_kB"] >= funnel["after_area_mm2"] \
        >= funnel["after_latency_ms"] >= funnel["after_energy_uJ"] == ds.sizes["candidate"]
    assert int(ds.trained.sum()) == 1 and ds.attrs["strategy"] == "hasnas"
    # the trained one is the best training-free score among the cells that met the cost limits
    assert ds.training_free_score.values[ds.trained.values][0] == np.nanmax(ds.training_free_score.values)
    assert (ds.limit_excess.values[ds.trained.values][0][1:] <= 0).all()  # every cost limit
