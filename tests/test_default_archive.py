"""The archive a search, a plan, a report and a prediction start from: one rule
(:mod:`moo_snn.surrogate.archive_choice`), said in the run's progress and recorded for a resume; a
missing ``--archive`` / ``archive=`` refused alike; the bootstrap line's true counts; options a
resume with nothing to do does not use, said.

Counts are checked against the archive files read directly (h5netcdf), not through moo-snn's archive module.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import moo_snn
from moo_snn.architecture import Architecture
from moo_snn.cli import app
from moo_snn.config.problem import load_problem, parse_problem
from moo_snn.errors import MooSnnError, ResultsError
from moo_snn.search.bootstrap_plan import bootstrap_phase_text, sample_shortfall
from moo_snn.surrogate import archive as arc
from moo_snn.surrogate.archive_choice import ArchiveNotFoundError, check_archive_exists, choose_archive
from moo_snn.surrogate.build import default_archive_path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "reference-problem.toml"  # digits' recipe at 2 epochs: no archive holds those


def raw_counts(path: Path, epochs: int) -> tuple[int, int, int]:
    """(records, trained records at ``epochs`` on the whole training split, distinct canonical networks among them)."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        status, ep = ds.status.values.astype(str), ds.epochs.values
        fraction = ds.train_fraction.values if "train_fraction" in ds else np.ones(len(ep))
        keep = (status == "trained") & (ep == epochs) & (fraction == 1.0)
        archs = {str(Architecture.parse(str(a)).canonical()) for a in ds.arch.values[keep]}
        return int(ds.sizes["record"]), int(keep.sum()), len(archs)


def test_digits_long_reads_the_archive_of_its_own_recipe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no archive of the user's: the shipped ones
    long, short = load_problem("digits-long"), load_problem("digits")
    choice = choose_archive(long)
    n, matching, networks = raw_counts(ROOT / "surrogates" / "digits-fidelity.nc", 30)
    assert (n, matching, networks) == (660, 84, 61)  # 64 networks (20 twice), 61 after equivalent cells merged
    assert choice.path.name == "digits-fidelity.nc" and choice.state == "matches"
    assert (choice.n_records, choice.n_matching, choice.n_networks) == (n, matching, networks)
    assert choice.note() == (f"archive: {choice.path} (not {choice.default}: it holds no training of this recipe at 30 "
                             f"epochs): 84 of its 660 records are trainings of this recipe at 30 epochs (61 networks)")
    assert default_archive_path(long) == choice.path  # plan, surrogate predict and report read the same
    assert default_archive_path(short).name == "digits.nc" and choose_archive(short).n_matching == raw_counts(
        ROOT / "surrogates" / "digits.nc", 10)[1] == 220


def test_a_problem_no_archive_serves_gets_a_note(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    choice = choose_archive(load_problem(REFERENCE))
    assert choice.state == "no full trainings" and choice.path.name == "digits.nc" and choice.n_matching == 0
    assert choice.note() == (f"archive: {choice.path} not used, none of its 220 records match (it holds no training of "
                             f"this recipe at 2 epochs on the whole training split; no other archive of this data set "
                             f"here holds such trainings)")
    cifar = choose_archive(load_problem("cifar10-hasnas"))  # no archive of that data set at all
    assert cifar.state == "missing" and "none read" in cifar.note() and "cifar10.nc does not exist" in cifar.note()


def test_the_lookup_finds_a_users_archive_of_the_recipe_and_skips_broken_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = load_problem(REFERENCE)
    (tmp_path / "surrogates").mkdir()
    (tmp_path / "surrogates" / "digits-a-broken.nc").write_text("not NetCDF")  # sorted first: skipped
    archive = arc.empty_archive(spec)
    for k, a in enumerate(["0300-0001-0000-0000_c8_t1_w2_p1_h0", "0002-0000-0000-0000_c16_t2_w4_p2_h0"]):
        archive = arc.append(archive, dict(arch=a, status="trained", val_accuracy=0.5 + k / 10, test_accuracy=0.5,
                                           train_seconds=1.0, epochs=2, seed=0, params=1, spike_rates={}))
    arc.save_archive(archive, tmp_path / "surrogates" / "digits-mine.nc")
    choice = choose_archive(spec)
    assert choice.path == Path("surrogates") / "digits-mine.nc" and (choice.n_matching, choice.n_networks) == (2, 2)
    assert choose_archive(load_problem("digits")).path.name == "digits.nc"  # its 10 epochs: still the shipped one


def test_a_missing_archive_is_refused_alike_by_the_api_the_cli_and_plan(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArchiveNotFoundError) as caught:
        moo_snn.optimize("digits", "run.nc", archive="typo.nc", torch_threads=1)
    message = str(caught.value)
    assert isinstance(caught.value, ResultsError) and isinstance(caught.value, MooSnnError)
    assert message.startswith("archive not found: no file at typo.nc;") and not Path("run.nc").exists()
    for command in (["optimize", "digits", "--out", "run.nc"], ["plan", "digits"]):
        out = CliRunner().invoke(app, [*command, "--archive", "typo.nc", "--torch-threads", "1"])
        assert out.exit_code == 2 and out.stderr.strip() == f"error: {message}", out.output
    assert not Path("run.nc").exists()


def test_none_asks_for_no_archive():
    spec = load_problem("digits")
    assert check_archive_exists("none") == Path("none") and check_archive_exists("None") == Path("None")
    choice = choose_archive(spec, "none")
    assert (choice.state, choice.recorded, choice.n_matching) == ("none", "none", 0)
    assert choice.note() == "archive: none (asked for none): the bootstrap trains every network it needs"
    from moo_snn.cli.plan_cmd import bootstrap_text

    cov = dict(bootstrap=16, from_archive=0, to_train=16, archive_state="none", archive="none", archive_records=0)
    assert bootstrap_text(cov) == "bootstrap: 16 of 16 networks trained (no archive asked for: --archive none)"


def test_the_bootstrap_line_says_the_true_count():
    assert bootstrap_phase_text(16, 16, 16) == "bootstrap: training 16 feasible architectures"
    assert bootstrap_phase_text(16, 16, 13) == ("bootstrap: training 13 feasible architectures (3 measured already, "
                                                "from the archive or an earlier start: 16 with these)")
    assert bootstrap_phase_text(16, 16, 1, measured=15) == ("bootstrap: training 1 feasible architecture (15 measured "
                                                            "already, from the archive or an earlier start: 16 with these)")
    assert bootstrap_phase_text(100000, 22397, 22397) == (
        "bootstrap: training 22397 feasible architectures; the sampler found only 22397 distinct feasible networks "
        "in the space (random draws and a targeted search), fewer than the 100000 asked: the run measures those")
    assert sample_shortfall(5, 5) == "" and sample_shortfall(5, 9) == ""


TINY = {'ops = ["zero", "skip", "conv1x1", "conv3x3"]': 'ops = ["zero", "conv1x1"]', "backward = true": "backward = false",
        "channels = [4, 8, 16, 32]": "channels = [4]", "timesteps = [1, 2, 4, 6]": "timesteps = [1]",
        "weight_bits = [2, 4, 8]": "weight_bits = [4]", "final_pool = [1, 2, 4]": "final_pool = [1]",
        "hidden = [0, 32, 128]": "hidden = [0]"}


def test_the_run_says_how_many_it_trains_when_the_space_holds_fewer(tmp_path):
    """A space of 64 genomes holds fewer feasible networks than the 50 asked: the run's line says how many
    it trains (counted here exhaustively) and why; it said "training 50 feasible architectures"."""
    from moo_snn.evaluation import meets_cost_limits
    from moo_snn.search.loop import SearchEvents, SearchRun, with_overrides
    from moo_snn.space import SearchSpace

    text = (ROOT / "problems" / "digits.toml").read_text()
    for old, new in TINY.items():
        text = text.replace(old, new)
    spec = with_overrides(parse_problem(text), bootstrap=50)
    space = SearchSpace(spec.space)
    every = space.repair(np.array(list(itertools.product(*[range(lo, hi + 1) for lo, hi in zip(space.xl, space.xu)]))))
    n_feasible = len({str(space.decode(x)) for x in every[meets_cost_limits(spec, space, every)]})
    assert n_feasible < 50

    class Phases(SearchEvents):
        said: list = []

        def phase(self, text):
            self.said.append(text)

    run = SearchRun(spec, tmp_path / "run.nc", archive_path="none", progress=Phases())
    sent = []
    run._train = lambda todo, r, source, level=None: sent.extend(todo)
    run._bootstrap()
    assert len(sent) == n_feasible
    assert Phases.said[-1] == (f"bootstrap: training {n_feasible} feasible architectures; the sampler found only "
                               f"{n_feasible} distinct feasible networks in the space (random draws and a targeted "
                               f"search), fewer than the 50 asked: the run measures those")


def copy_reference_run(tmp_path) -> Path:
    path = tmp_path / "run.nc"
    shutil.copy(ROOT / "tests" / "data" / "reference-run.nc", path)
    return path


def test_options_given_to_a_resume_with_nothing_to_do_are_said_not_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = copy_reference_run(tmp_path)  # complete, 2 rounds, bootstrap 16, survivors 2
    out = CliRunner().invoke(app, ["optimize", "--resume", str(path), "--bootstrap", "20", "--survivors", "2",
                                   "--torch-threads", "1"])
    lines = out.stderr.splitlines()
    assert lines[0] == "note: not used, as the run has nothing left to do: --bootstrap 20 (the run had 16)", out.stderr
    assert lines[1].startswith("nothing to do:")  # --survivors 2 is what the run had: nothing to say
    plain = CliRunner().invoke(app, ["optimize", "--resume", str(path), "--torch-threads", "1"])
    assert plain.stderr.startswith("nothing to do:")
    from moo_snn.run import prepare_optimize

    prepared = prepare_optimize(resume=path, search={"bootstrap": 20, "generations": 9})
    assert prepared.nothing_to_do and sorted(prepared.unused) == [("bootstrap", 16, 20), ("generations", 2, 9)]
    more = prepare_optimize(resume=path, search={"bootstrap": 20, "rounds": 3})  # work to do: the run uses them
    assert not more.nothing_to_do and more.unused == []


def test_a_resume_reads_the_archive_its_run_recorded(tmp_path, monkeypatch):
    from moo_snn.run import prepare_optimize

    monkeypatch.chdir(tmp_path)
    path = copy_reference_run(tmp_path)
    ds = moo_snn.open_results(path)
    recorded = tmp_path / "recorded.nc"
    shutil.copy(ROOT / "surrogates" / "digits.nc", recorded)
    ds.attrs.update(archive=str(recorded), archive_records=5)
    ds.to_netcdf(tmp_path / "recorded-run.nc", engine="h5netcdf")
    prepared = prepare_optimize(resume=tmp_path / "recorded-run.nc", search={"rounds": 3})
    assert prepared.archive == recorded and prepared.notes == []
    other = prepare_optimize(resume=tmp_path / "recorded-run.nc", search={"rounds": 3}, archive="none")
    assert other.archive == Path("none") and other.notes == [f"resumed with archive none (the run had {recorded})"]
    # nothing left to do (the run's own 2 rounds): the other archive is 'not used', as every other option would be
    done = prepare_optimize(resume=tmp_path / "recorded-run.nc", archive="none")
    assert done.nothing_to_do and done.notes == [] and done.unused == [("archive", str(recorded), "none")]
    same = prepare_optimize(resume=tmp_path / "recorded-run.nc", search={"rounds": 3}, archive=recorded)
    assert same.archive == recorded and same.notes == []
    recorded.unlink()  # gone: the default one, and a note that says so
    prepared = prepare_optimize(resume=tmp_path / "recorded-run.nc", search={"rounds": 3})
    assert prepared.archive is None and prepared.notes == [
        f"the archive this run started from, {recorded}, is gone: the resume reads the problem's default archive "
        f"(give --archive to read another)"]


@pytest.mark.slow  # two runs that set up (problem, data, sample) and stop at once on a zero budget: ~15 s
def test_optimize_digits_long_starts_from_its_30_epoch_trainings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny = ["--rounds", "1", "--generations", "1", "--pop-size", "4", "--survivors", "1", "--budget", "0",
            "--torch-threads", "1"]
    out = CliRunner().invoke(app, ["optimize", "digits-long", *tiny, "--out", "long.nc"])
    assert out.exit_code in (0, 3), out.output
    ds = moo_snn.open_results("long.nc")
    _, _, networks = raw_counts(ROOT / "surrogates" / "digits-fidelity.nc", 30)
    assert Path(ds.attrs["archive"]).name == "digits-fidelity.nc" and int(ds.attrs["archive_records"]) == networks == 61
    # 61 measured networks >= the 16 of [search] bootstrap: nothing to train (with digits.nc: 16 bootstrap trainings,
    # which the zero budget would have refused and recorded)
    assert int((ds.source.values.astype(str) == "bootstrap").sum()) == 0 and "budget_refused" not in ds.attrs
    assert "digits-fidelity.nc" in out.stderr and "84 of its 660 records" in out.stderr and "reuses 61" in out.stderr
    ref = CliRunner().invoke(app, ["optimize", str(REFERENCE), *tiny, "--out", "ref.nc"])
    assert "none of its 220 records match" in ref.stderr and "2 epochs" in ref.stderr, ref.stderr
    assert Path(moo_snn.open_results("ref.nc").attrs["archive"]).name == "digits.nc"


@pytest.mark.slow  # fits the predictor on 61 networks: ~7 s
def test_surrogate_predict_of_digits_long_reads_its_archive_by_default(tmp_path, monkeypatch):
    """Was: 'holds 0 architectures trained fully with digits-long's 30 epochs; give --archive ...'."""
    import json

    monkeypatch.chdir(tmp_path)
    arch = "0303-0030-0003-0000_c16_t4_w4_p1_h0"
    out = CliRunner().invoke(app, ["surrogate", "predict", "digits-long", "--arch", arch, "--json"])
    assert out.exit_code == 0, out.output
    given = CliRunner().invoke(app, ["surrogate", "predict", "digits-long", "--arch", arch, "--json", "--archive",
                                     str(ROOT / "surrogates" / "digits-fidelity.nc")])
    assert json.loads(out.stdout) == json.loads(given.stdout)
    typo = CliRunner().invoke(app, ["surrogate", "predict", "digits-long", "--arch", arch, "--archive", "typo.nc"])
    assert typo.exit_code == 2 and typo.stderr.startswith("error: archive not found: no file at typo.nc;")


def test_surrogate_predict_without_matching_trainings_names_the_users_problem_file(tmp_path):
    """A copy of digits-long with another recipe: the hint named the shipped problem and the shipped archive that
    had just failed ('(digits-long: surrogates/digits-fidelity.nc) or build one (moo-snn surrogate build digits-long)')."""
    text = (ROOT / "problems" / "digits-long.toml").read_text().replace("epochs = 30", "epochs = 20")
    (tmp_path / "ep20.toml").write_text(text)
    out = CliRunner().invoke(app, ["surrogate", "predict", str(tmp_path / "ep20.toml"), "--arch", "0303-0030-0003-0000_c16_t4_w4_p1_h0",
                                   "--archive", str(ROOT / "surrogates" / "digits-fidelity.nc")])
    assert out.exit_code == 2
    assert "holds 0 architectures trained fully with digits-long's 20 epochs" in out.stderr
    assert out.stderr.rstrip().endswith(f"or build one: moo-snn surrogate build {tmp_path / 'ep20.toml'}")
    assert "digits-fidelity.nc)" not in out.stderr


def test_an_archive_short_of_the_bootstrap_is_topped_up_not_retrained(tmp_path):
    """An archive one network short of ``[search] bootstrap`` had the whole space-filling sample trained (61
    archived networks, bootstrap 62: 60 trained, found trying the tool). The bootstrap now trains the rest only,
    and ``plan`` counts the same."""
    from moo_snn.config.problem import parse_problem
    from moo_snn.evaluation import meets_cost_limits
    from moo_snn.executor import training_tasks
    from moo_snn.search.bootstrap_plan import bootstrap_coverage
    from moo_snn.search.loop import SearchRun
    from moo_snn.space import SearchSpace
    from moo_snn.surrogate import archive as arc
    from test_fidelity import SMALL, FakeExecutor

    spec = parse_problem(SMALL)  # bootstrap 6
    space = SearchSpace(spec.space)
    X = space.sample(400, np.random.default_rng(3))
    held = list(dict.fromkeys(str(space.decode(x)) for x in X[meets_cost_limits(spec, space, X)]))[: spec.search.bootstrap - 1]
    archive = arc.empty_archive(spec)
    for _, result in FakeExecutor().run(training_tasks(spec, held, seed=0)):
        archive = arc.append(archive, result)
    arc.save_archive(archive, tmp_path / "archive.nc")
    coverage = bootstrap_coverage(spec, tmp_path / "archive.nc")
    assert (coverage.from_archive, coverage.to_train) == (5, 1)
    executor = FakeExecutor()
    SearchRun(spec.__class__(**{**spec.__dict__, "search": spec.search.__class__(**{**spec.search.__dict__, "rounds": 0})}),
              tmp_path / "run.nc", archive_path=tmp_path / "archive.nc", executor=executor).run()
    assert len(executor.tasks) == 1 and executor.tasks[0].arch not in held  # (it trained 6, the whole sample)

    # the asynchronous design likewise: one point per worker at least, none of the archive's (it was 6 new ones)
    from moo_snn.search.async_loop import AsyncSearchRun

    run = AsyncSearchRun(spec, tmp_path / "async.nc", archive_path=tmp_path / "archive.nc")
    run._settle(slots=2)
    assert run.settings["design_size"] == 2 and len(run.design) == 2 and not set(run.design) & set(held)
    assert run.max_trainings == 2 + spec.search.rounds * spec.search.survivors
