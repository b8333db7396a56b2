"""Faults of the search found by trying moo-snn as users would (issue 17; ../shared/cases/), as tests.

* resume-order: 2 rounds == 1 round + resume == 2 rounds interrupted in round 2 + resume (trained
  set, accuracies, front, HV); a resume keeps the run's own options and says which changed.
* nan-objective: a non-finite objective value is one error naming the objective and an
  architecture, wherever it is evaluated (reference point, NSGA-II, measured candidates).
* worker-deaths: no predictor fit on zero trainings; a worker's death is charged only to the task
  it was running (a real LocalCluster); the file's status says how the run ended after any exit.
* a tiny but non-empty feasible region: the bootstrap finds feasible networks for every seed.
* a results file whose attributes another tool rewrote (through h5py): read correctly, or one
  line naming the attribute with exit 2, never exit 1.

Trainings are made up (``fake_train``) except where a test says otherwise: these tests check the
search's bookkeeping, which does not depend on what a training measures.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import moo_snn
from moo_snn.cli import app
from moo_snn.config.problem import load_problem, parse_problem
from moo_snn.errors import InfeasibleError, ProblemError, ResultsError
from moo_snn.evaluation import feasible_examples, population_costs
from moo_snn.results.state import RunState
from moo_snn.search.loop import SearchRun, resume_spec, with_overrides
from moo_snn.space import SearchSpace
from moo_snn.surrogate.sampling import space_filling_sample
from test_reliability import TINY, edit, fake_train

DATA = SimpleNamespace(y_train=np.zeros(10))  # trainings are made up; the executor only counts samples


@pytest.fixture
def fake_trainings(monkeypatch):
    from moo_snn.training import trainer

    calls = []

    def train(problem, arch, data=None, **kwargs):
        calls.append(str(arch))
        return fake_train(problem, arch, data)

    monkeypatch.setattr(trainer, "train_architecture", train)
    return calls


def outcome(path) -> dict:
    ds = moo_snn.open_results(path)
    done = ds.status.values != "predicted"
    return {"trained": {str(a): (str(s), float(v)) for a, s, v in zip(ds.arch.values[done], ds.status.values[done], ds.val_accuracy.values[done])},
            "front": sorted(str(a) for a in ds.arch.values[ds.on_front.values]),
            "hypervolume": ds.hypervolume.values.tolist(), "status": ds.attrs["status"]}


# --- resume-order -------------------------------------------------------------------------------
def resumed(path, **changes):
    spec, options = resume_spec(moo_snn.open_results(path))
    return SearchRun(with_overrides(spec, **changes), path, archive_path=path.parent / "none.nc", resume=path, data=DATA)


@pytest.mark.slow  # 23 s (turn 5: the default suite passed 10 min)
def test_one_round_and_a_resume_is_the_two_round_run(tmp_path, fake_trainings):
    spec = parse_problem(TINY, "tiny.toml")  # 2 rounds
    SearchRun(spec, tmp_path / "a.nc", archive_path=tmp_path / "none.nc", data=DATA).run()
    SearchRun(with_overrides(spec, rounds=1), tmp_path / "b.nc", archive_path=tmp_path / "none.nc", data=DATA).run()
    run = resumed(tmp_path / "b.nc", rounds=2)
    assert run.option_changes == [("rounds", 1, 2)]
    run.run()
    a, b = outcome(tmp_path / "a.nc"), outcome(tmp_path / "b.nc")
    assert a == b and a["status"] == "complete" and len(a["hypervolume"]) == 2
    # the population is stored in NSGA-II's order, not in candidate order
    ds = moo_snn.open_results(tmp_path / "a.nc")
    stored = [str(SearchSpace(spec.space).decode(x)) for x in ds.population_genome.values]
    assert ds.sizes["population"] == spec.search.pop_size and stored != sorted(stored, key=list(ds.arch.values).index)


@pytest.mark.slow  # two runs: about 65 s on the loaded 2-core VM (the signal tests of test_reliability cover interruptions by default)
def test_an_interruption_in_round_two_then_resume_is_the_uninterrupted_run(tmp_path, fake_trainings, monkeypatch):
    from moo_snn.training import trainer

    spec = parse_problem(TINY, "tiny.toml")
    SearchRun(spec, tmp_path / "a.nc", archive_path=tmp_path / "none.nc", data=DATA).run()
    n_before_round_2 = len(fake_trainings) - 2  # the 2 survivors of round 2 come last
    fake_trainings.clear()
    counting = trainer.train_architecture

    def interrupting(*args, **kwargs):
        if len(fake_trainings) == n_before_round_2 + 1:  # the second training of round 2
            raise KeyboardInterrupt
        return counting(*args, **kwargs)

    monkeypatch.setattr(trainer, "train_architecture", interrupting)
    with pytest.raises(KeyboardInterrupt):
        SearchRun(spec, tmp_path / "c.nc", archive_path=tmp_path / "none.nc", data=DATA).run()
    assert moo_snn.open_results(tmp_path / "c.nc").attrs["status"] == "interrupted"
    monkeypatch.setattr(trainer, "train_architecture", counting)
    run = resumed(tmp_path / "c.nc")
    assert run.option_changes == []
    run.run()
    assert outcome(tmp_path / "a.nc") == outcome(tmp_path / "c.nc")


def test_resume_without_options_keeps_the_runs_own_and_says_what_changed(tmp_path, fake_trainings):
    (tmp_path / "tiny.toml").write_text(TINY)
    out = tmp_path / "b.nc"
    first = CliRunner().invoke(app, ["optimize", str(tmp_path / "tiny.toml"), "--out", str(out), "--rounds", "1", "--generations", "2",
                                     "--pop-size", "8", "--survivors", "1", "--torch-threads", "1", "--archive", "none"])
    assert first.exit_code == 0, first.output
    options = json.loads(moo_snn.open_results(out).attrs["options"])
    assert (options["rounds"], options["generations"], options["pop_size"], options["survivors"], options["torch_threads"]) == (1, 2, 8, 1, 1)
    more = CliRunner().invoke(app, ["optimize", "--resume", str(out), "--rounds", "2", "--archive", "none"])
    assert more.exit_code == 0, more.output
    assert "resumed with rounds 2 (the run had 1)" in more.stderr
    assert "generations" not in more.stderr and "pop_size" not in more.stderr
    ds = moo_snn.open_results(out)
    options = json.loads(ds.attrs["options"])
    assert (options["rounds"], options["generations"], options["pop_size"], options["survivors"], options["torch_threads"]) == (2, 2, 8, 1, 1)
    assert ds.n_trained_in_round.values.tolist() == [1, 1] and ds.sizes["population"] == 8


def test_the_field_table_round_trips(tmp_path, fake_trainings):
    spec = with_overrides(parse_problem(TINY, "tiny.toml"), rounds=1)
    ds = SearchRun(spec, tmp_path / "r.nc", archive_path=tmp_path / "none.nc", data=DATA).run()
    loaded = moo_snn.open_results(tmp_path / "r.nc")
    xr.testing.assert_identical(RunState.from_dataset(loaded).to_dataset(), ds)
    assert ds.val_accuracy.attrs["units"] == "1" and ds.train_seconds.attrs["units"] == "s"
    assert all("long_name" in ds[v].attrs for v in ds.data_vars if v not in ("objective_units", "objective_direction", "constraint_units"))
    assert {"version_moo_snn", "version_pymoo", "version_sklearn", "version_xarray", "version_norse"} <= set(ds.attrs)
    # the stored measured costs are the cost model's with the measured spike rates
    t = np.flatnonzero(ds.trained.values)
    costs = population_costs(spec, SearchSpace(spec.space), ds.genome.values[t], spike_rate=ds.spike_rate.values[t])
    np.testing.assert_allclose(ds.measured_cost.sel(cost="energy_uJ").values[t], costs.energy_uJ)
    # limit_excess is G: value - limit for every maximum, measured where trained
    k = list(ds.constraint.values).index("latency_ms")
    np.testing.assert_allclose(ds.limit_excess.values[t, k], costs.latency_ms - spec.constraints[k].limit)


# --- nan-objective --------------------------------------------------------------------------------
CELL_RATE = '''
import warnings
import numpy as np
from moo_snn.objectives import objective
from moo_snn.space import SLOT_NAMES

CELL = [k for k, s in enumerate(SLOT_NAMES) if s.startswith("cell")]

@objective(units="1", direction="minimize")
def cell_rate(batch):
    "Mean input spike rate of the cell layers (NaN for a cell without conv edges: the case's plug-in)."
    active = batch.layers.active[:, CELL]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.array([np.mean(r[a]) for a, r in zip(active, batch.spike_rate[:, CELL])])

@objective(units="1", direction="minimize")
def nan_when_measured(batch):
    "Finite for predictions, NaN once a candidate is measured."
    return np.full(len(batch), np.nan) if batch.measured else batch.costs.energy_uJ
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "nanplugin.py").write_text(CELL_RATE)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "tiny.toml").write_text(TINY)
    return tmp_path


def one_error_line(result) -> str:
    """The one ``error:`` line of a command (progress lines may come before it), no traceback."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in result.output and len(errors) == 1, result.stderr
    return errors[0]


def test_a_nan_objective_is_one_error_naming_it_and_an_architecture(plugin, fake_trainings):
    out = plugin / "nan.nc"
    result = CliRunner().invoke(app, ["optimize", str(plugin / "tiny.toml"), "--objective", "accuracy", "--objective",
                                      "nanplugin:cell_rate", "--out", str(out), "--torch-threads", "1"])
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert "'nanplugin:cell_rate' returned nan" in line
    arch = re.search(r"e\.g\. (\S+),", line).group(1)
    from moo_snn.architecture import Architecture

    assert not [op for op, _ in Architecture.parse(arch).edges if op.startswith("conv")]  # the cells that give NaN
    assert not fake_trainings  # refused before anything was trained (the reference point needs it)


def test_a_nan_measured_objective_stops_the_run_with_a_truthful_file(plugin, fake_trainings):
    out = plugin / "nan.nc"
    result = CliRunner().invoke(app, ["optimize", str(plugin / "tiny.toml"), "--objective", "accuracy", "--objective",
                                      "nanplugin:nan_when_measured", "--out", str(out), "--torch-threads", "1"])
    assert result.exit_code == 2, result.output
    assert "'nanplugin:nan_when_measured' returned nan" in one_error_line(result) and "measured accuracy" in result.stderr
    ds = moo_snn.open_results(out)
    assert ds.attrs["status"] == "failed" and "nan_when_measured" in ds.attrs["failure"]
    assert np.isfinite(json.loads(ds.attrs["reference_point"])).all()


def test_a_built_in_objective_with_a_nan_cost_is_refused_too():
    from moo_snn.objectives import BUILTIN, Batch

    costs = SimpleNamespace(energy_uJ=np.array([0.1, np.nan, 0.2]))
    with pytest.raises(ProblemError, match=r"objective 'energy_uJ' returned nan for 1 of 3 candidates \(e\.g\. b,"):
        BUILTIN["energy_uJ"](Batch(["a", "b", "c"], [0.5, 0.5, 0.5], costs))
    # an unknown accuracy (hasnas's unscored candidates) is not a fault of the objective
    assert np.isnan(BUILTIN["accuracy"](Batch(["a"], [np.nan], costs))).all()


# --- worker-deaths and every other end --------------------------------------------------------
def test_no_training_succeeded_is_one_error_and_the_file_says_failed(tmp_path, monkeypatch):
    from moo_snn.training import trainer

    def broken(*args, **kwargs):
        raise RuntimeError("the accelerator caught fire")

    monkeypatch.setattr(trainer, "train_architecture", broken)
    (tmp_path / "tiny.toml").write_text(TINY)
    out = tmp_path / "r.nc"
    result = CliRunner().invoke(app, ["optimize", str(tmp_path / "tiny.toml"), "--out", str(out), "--torch-threads", "1"])
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert "needs at least 2 trained networks, the run has 0" in line and "caught fire" in line
    ds = moo_snn.open_results(out)
    assert ds.attrs["status"] == "failed" and "needs at least 2 trained networks" in ds.attrs["failure"]
    assert (ds.status.values[ds.source.values == "bootstrap"] == "failed").all()
    assert all("caught fire" in e for e in ds.error.values[ds.status.values == "failed"])


@pytest.mark.parametrize("fault", [RuntimeError("a bug somewhere"), pytest.param(SystemExit(4), marks=pytest.mark.slow),
                                   pytest.param(MemoryError(), marks=pytest.mark.slow)])
def test_any_exception_leaves_status_failed_with_the_reason(tmp_path, fake_trainings, monkeypatch, fault):
    spec = parse_problem(TINY, "tiny.toml")
    run = SearchRun(spec, tmp_path / "r.nc", archive_path=tmp_path / "none.nc", data=DATA)
    real = run._round

    def breaking(r):
        real(r)
        raise fault

    monkeypatch.setattr(run, "_round", breaking)
    with pytest.raises(type(fault)):
        run.run()
    ds = moo_snn.open_results(tmp_path / "r.nc")
    assert ds.attrs["status"] == "failed" and ds.attrs["failure"].startswith(type(fault).__name__)
    assert ds.sizes["round"] == 1 and ds.attrs["ended"]


@pytest.mark.slow  # about 10 s on a quiet machine (three worker starts), a minute on a loaded one
def test_a_worker_death_is_charged_only_to_the_task_it_was_running():
    """A real one-worker LocalCluster: the task that kills its worker fails after its attempts; the
    tasks queued behind it never saw a death (one attempt each)."""
    from moo_snn.executor import DaskExecutor, TrainingTask
    from worker_faults import fake_training

    class Faulty(DaskExecutor):
        def call(self, task):
            return fake_training, task, None

    tasks = [TrainingTask("", ".", arch, 1, 0) for arch in ("DIE-first", "queued-1", "queued-2", "queued-3")]
    with Faulty(workers=1, retries=1) as executor:
        results = dict(executor.run(tasks))
    assert results[0]["status"] == "failed" and results[0]["attempts"] == 2 and "KilledWorker" in results[0]["error"]
    assert [results[i]["status"] for i in (1, 2, 3)] == ["trained"] * 3
    assert [results[i]["attempts"] for i in (1, 2, 3)] == [1, 1, 1]


def test_a_cluster_without_workers_stops_the_run_instead_of_waiting_forever():
    """Seen in the worker-deaths case on a loaded machine: the nanny did not bring the killed worker
    back and the run waited for ever. A cluster without any worker is an error after a timeout."""
    import logging

    from distributed import Client, LocalCluster

    from moo_snn.executor import DaskExecutor, ExecutorError, TrainingTask

    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0", silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:
        executor = DaskExecutor(client=client, no_worker_timeout_s=1.0)
        with pytest.raises(ExecutorError, match=r"no worker for \d+ s \(1 training waiting\)"):
            list(executor.run([TrainingTask("", ".", "any", 1, 0)]))


# --- a tiny feasible region -----------------------------------------------------------------------
def tiny_region_problem(reference="0303-0030-0003-0000_c16_t4_w4_p1_h0"):
    """Networks with at least the reference's parameters and no more of its memory, area, latency,
    energy, weights of 4 or 8 bits: only 4-bit networks with exactly its parameter count qualify (a
    handful; no random sample of 6,000 holds one)."""
    base = edit(load_problem("digits").source, ("weight_bits = [2, 4, 8]", "weight_bits = [4, 8]"), ("epochs = 10", "epochs = 1"))
    base = re.sub(r'reference_arch = "[^"]*"', f'reference_arch = "{reference}"', base)
    spec = parse_problem(base, "base.toml")
    space = SearchSpace(spec.space)
    ref = population_costs(spec, space, space.parse("0303-0030-0003-0000_c16_t4_w4_p1_h0")[None])
    limits = "\n".join([f"params = {{ min = {float(ref.params[0])} }}"] +
                       [f"{n} = {float(getattr(ref, n)[0]) * 1.000001:.9g}" for n in ("memory_kB", "area_mm2", "latency_ms", "energy_uJ")])
    text = re.sub(r"\[constraints\][^\[]*", f"[constraints]\naccuracy = {{ min = 0.3 }}\n{limits}\n\n", base)
    return parse_problem(text, "tiny-region.toml")


def meets_cost_limits(spec, space, X):
    costs = population_costs(spec, space, X)
    return np.array([all((getattr(costs, c.name)[k] <= c.limit) if c.kind == "max" else (getattr(costs, c.name)[k] >= c.limit)
                         for c in spec.constraints if c.name != "accuracy") for k in range(len(X))])


@pytest.mark.parametrize("seed", range(4))
def test_the_bootstrap_finds_a_tiny_feasible_region_for_every_seed(seed):
    from moo_snn.surrogate.sampling import feasible_pool

    spec = tiny_region_problem()
    space = SearchSpace(spec.space)
    assert len(feasible_pool(spec, space, 6000, np.random.default_rng(seed))) == 0  # random draws find none
    X = space_filling_sample(spec, space, 4, seed=seed)
    assert len(X) >= 1 and meets_cost_limits(spec, space, X).all()
    assert "0303-0030-0003-0000_c16_t4_w4_p1_h0" in {str(space.decode(x)) for x in X}


def test_the_targeted_search_finds_the_region_without_the_reference():
    spec = tiny_region_problem(reference="0001-0000-0000-0000_c4_t1_w4_p4_h0")  # outside the region
    space = SearchSpace(spec.space)
    for seed in range(3):
        X = feasible_examples(spec, space, seed=seed)
        assert len(X) >= 1 and meets_cost_limits(spec, space, X).all()


def test_a_run_on_a_tiny_feasible_region_bootstraps_and_completes(tmp_path, fake_trainings):
    spec = with_overrides(tiny_region_problem(), rounds=1, bootstrap=3, generations=2, pop_size=8, survivors=1)
    ds = SearchRun(spec, tmp_path / "r.nc", archive_path=tmp_path / "none.nc", data=DATA).run()
    assert ds.attrs["status"] == "complete" and int((ds.source == "bootstrap").sum()) >= 1


def test_no_feasible_network_at_all_is_exit_3():
    spec = tiny_region_problem()
    impossible = parse_problem(spec.source.replace("accuracy = { min = 0.3 }", "accuracy = { min = 0.3 }\nparams = { min = 1e9 }")
                               .replace("params = { min = 55952.0 }\n", ""), "impossible.toml")
    with pytest.raises(InfeasibleError):
        space_filling_sample(impossible, SearchSpace(impossible.space), 4)


# --- results files rewritten by other tools ----------------------------------------------------------
@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    from moo_snn.training import trainer

    d = tmp_path_factory.mktemp("rewritten")
    mp = pytest.MonkeyPatch()
    mp.setattr(trainer, "train_architecture", fake_train)
    try:
        SearchRun(with_overrides(parse_problem(TINY, "tiny.toml"), rounds=1), d / "run.nc", archive_path=d / "none.nc", data=DATA).run()
    finally:
        mp.undo()
    return d / "run.nc"


def rewrite(src, dst, **attrs):
    import shutil

    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        for name, value in attrs.items():
            if value is None:
                del f.attrs[name]
            else:
                f.attrs[name] = value
    return dst


# (attribute, value as another tool writes it, None: read correctly / a fragment of the one error line)
REWRITES = [
    ("seed", np.array([0], dtype=np.int32), None),
    ("seed", np.bytes_(b"0"), None),
    ("seed", np.array([0.0]), None),
    ("status", np.array([b"complete"]), None),
    ("ended", 20260101, None),
    ("command", np.array([7]), None),
    ("reference_point", np.array([0.8, 2.5, 0.25]), None),
    ("format", np.array([b"moo-snn-results-2"]), None),
    ("problem_name", 42, None),
    ("seed", "zero", "attribute 'seed' holds 'zero'; expected an integer"),
    ("seed", None, "attribute 'seed' is missing"),
    ("problem", None, "attribute 'problem' is missing"),
    ("reference_point", None, "attribute 'reference_point' is missing"),
    ("reference_point", "[0.8, ", "attribute 'reference_point' is not JSON text"),
    ("options", "3", "attribute 'options' holds 3; expected a JSON object"),
    ("format", None, "not a moo-snn results file"),
]


@pytest.mark.parametrize("name, value, error", REWRITES, ids=[f"{n}={v!r}" for n, v, _ in REWRITES])
def test_rewritten_attributes_are_read_or_named(tmp_path, run_file, name, value, error):
    path = rewrite(run_file, tmp_path / "rewritten.nc", **{name: value})
    if error is None:
        ds, original = moo_snn.open_results(path), moo_snn.open_results(run_file)
        assert ds.attrs["seed"] == 0 and json.loads(ds.attrs["reference_point"]) == json.loads(original.attrs["reference_point"])
        assert ds.attrs["status"] == "complete" and ds.attrs["format"] == original.attrs["format"]
        assert all(isinstance(ds.attrs[k], str) for k in ("problem", "command", "started", "ended", "status", "problem_name"))
        assert json.dumps(ds.moo.front_records(), sort_keys=True) == json.dumps(original.moo.front_records(), sort_keys=True)
        state = RunState.from_dataset(ds)
        assert state.seed == 0 and state.status == "complete"
    else:
        with pytest.raises(ResultsError, match=re.escape(error)) as caught:
            moo_snn.open_results(path)
        assert "\n" not in str(caught.value)


THROUGH_THE_CLI = [("seed", np.array([0], dtype=np.int32), None), ("reference_point", np.array([0.8, 2.5, 0.25]), None),
                   ("problem", None, "attribute 'problem' is missing"), ("seed", "zero", "attribute 'seed' holds 'zero'")]


@pytest.mark.parametrize("name, value, error", THROUGH_THE_CLI, ids=[f"{n}={v!r}" for n, v, _ in THROUGH_THE_CLI])
def test_rewritten_attributes_through_the_commands_exit_0_or_2(tmp_path, run_file, name, value, error):
    path = rewrite(run_file, tmp_path / "rewritten.nc", **{name: value})
    for args in (["pareto", str(path), "--json"], ["optimize", "--resume", str(path), "--json"]):
        result = CliRunner().invoke(app, args)
        if error is None:
            assert result.exit_code == 0, (args, result.output)
        else:
            assert result.exit_code == 2, (args, result.output)
            assert error in one_error_line(result)


def test_a_resume_keeps_the_runs_seed(run_file):
    spec, _ = resume_spec(moo_snn.open_results(run_file))
    with pytest.raises(ResultsError, match="a resumed run keeps it"):
        SearchRun(with_overrides(spec, seed=5), run_file, archive_path=run_file.parent / "none.nc", resume=run_file, data=DATA)
