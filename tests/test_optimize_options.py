"""``moo-snn optimize --bootstrap`` reaches the run as the other ``[search]`` options do (made-up trainings)."""

import json

import pytest
from typer.testing import CliRunner

import moo_snn
from cli_runs import fake_train, small_text
from moo_snn.cli import app

SMALL = ["--rounds", "1", "--generations", "2", "--pop-size", "8", "--survivors", "2", "--torch-threads", "1"]


@pytest.fixture
def fake_training(monkeypatch):
    from moo_snn.training import trainer

    monkeypatch.setattr(trainer, "train_architecture", fake_train)


def test_bootstrap_option_goes_to_the_search_options(monkeypatch):
    import moo_snn.run
    from moo_snn.errors import ProblemError

    seen = {}

    def prepare(problem, out, **kwargs):
        seen.update(kwargs["search"])
        raise ProblemError("stop here")

    monkeypatch.setattr(moo_snn.run, "prepare_optimize", prepare)
    result = CliRunner().invoke(app, ["optimize", "digits", "--bootstrap", "5", "--survivors", "3"])
    assert result.exit_code != 0 and "stop here" in result.output
    assert seen["bootstrap"] == 5 and seen["survivors"] == 3


@pytest.mark.slow  # a whole (made-up) run: about 10 s
def test_bootstrap_option_sets_the_bootstrap_and_is_stored(tmp_path, fake_training):
    problem = tmp_path / "p.toml"
    problem.write_text(small_text())  # [search] bootstrap = 6
    out = tmp_path / "r.nc"
    result = CliRunner().invoke(app, ["optimize", str(problem), *SMALL, "--bootstrap", "3", "--archive",
                                      "none", "--out", str(out)])
    assert result.exit_code == 0, result.output
    ds = moo_snn.open_results(out)
    assert int((ds.source == "bootstrap").sum()) == 3  # not the problem's 6
    assert json.loads(ds.attrs["options"])["bootstrap"] == 3  # a resume keeps it


def test_bootstrap_option_is_checked():
    result = CliRunner().invoke(app, ["optimize", "digits", "--bootstrap", "1"])
    assert result.exit_code == 2 and "--bootstrap" in result.output


@pytest.mark.parametrize("own, asked", [(None, True), ("async", False)])
def test_a_resume_keeps_its_search_mode_and_says_so(tmp_path, own, asked):
    """`--resume RUN --async` switched a synchronous run to the asynchronous search (and `--sync` the other way)
    without a word: the two keep different records (rounds and refusals; a request log), so the resumed run
    left refused networks untrained and trained others. A resume keeps its mode and says what was not used."""
    import xarray as xr

    from cli_runs import make_run
    from moo_snn.netcdf import write_atomic
    from moo_snn.run import prepare_optimize

    path = make_run(tmp_path / "r.nc")
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    ds.attrs["status"] = "interrupted"  # work left to do
    if own is not None:  # the file as an asynchronous run writes it (the attribute is what tells the modes apart)
        ds.attrs["search_mode"] = own
    write_atomic(ds, path)
    prepared = prepare_optimize(None, resume=path, asynchronous=asked)
    assert prepared.asynchronous == (own == "async")
    word = "--async" if asked else "--sync"
    assert [n for n in prepared.notes if n.startswith(word)] == [
        f"{word} not used: a resumed run keeps its own mode ({'asynchronous' if own else 'rounds of survivors, --sync'})"]
    same = prepare_optimize(None, resume=path, asynchronous=own == "async")  # the run's own mode: no note
    assert not [n for n in same.notes if "mode" in n]


@pytest.mark.parametrize("began, given, expected, note", [
    (dict(workers=2, scheduler=""), {}, 2, "resumed with --workers 2, as the run began (give --workers to change it)"),
    (dict(workers=2, scheduler=""), dict(workers=3), 3, None),
    (dict(workers=0, scheduler="tcp://10.0.0.5:8786"), {}, None,
     "the run began on the Dask cluster at tcp://10.0.0.5:8786; this resume trains in this process (give --scheduler "
     "tcp://10.0.0.5:8786 to go on there)"),
    ({}, {}, None, None),  # a file written before runs recorded where they trained: in this process
])
def test_a_resume_trains_where_the_run_began_unless_told(tmp_path, began, given, expected, note):
    """An asynchronous run started with --workers 2, interrupted and resumed as the interrupt line says
    (`moo-snn optimize --resume FILE`), trained in this process: one training at a time instead of two, so other
    results arrived first and the run chose 14 other networks than the uninterrupted one, without a word."""
    import xarray as xr

    from cli_runs import make_run
    from moo_snn.netcdf import write_atomic
    from moo_snn.run import prepare_optimize

    path = make_run(tmp_path / "r.nc")
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    ds.attrs.update(status="interrupted", **began)
    write_atomic(ds, path)
    prepared = prepare_optimize(None, resume=path, **given)
    assert prepared.workers == expected
    assert [n for n in prepared.notes if "--workers" in n or "--scheduler" in n] == ([note] if note else [])


def test_a_run_records_where_it_trained(tmp_path, fake_training):
    """What the resume above reads: 0 workers and no scheduler for a run in this process."""
    problem = tmp_path / "p.toml"
    problem.write_text(small_text())
    out = tmp_path / "r.nc"
    result = CliRunner().invoke(app, ["optimize", str(problem), "--out", str(out), *SMALL])
    assert result.exit_code == 0, result.output
    ds = moo_snn.open_results(out)
    assert int(ds.attrs["workers"]) == 0 and ds.attrs["scheduler"] == ""


def test_a_resume_refuses_an_archive_without_the_networks_the_run_read(tmp_path):
    """`--resume RUN --archive none` on a run whose networks came from its archive: the log said the bootstrap would
    train what it needs, none ran, the run failed ("the predictor needs at least 2 measured networks") and left the
    file `failed` naming no archive, so every later plain resume failed too. Now a one-line error, the file untouched;
    an archive that holds those networks is taken (with the usual note)."""
    import xarray as xr

    from cli_runs import make_run
    from moo_snn.config.problem import parse_problem
    from moo_snn.errors import ResultsError
    from moo_snn.netcdf import write_atomic
    from moo_snn.run import prepare_optimize
    from moo_snn.surrogate import archive as arc

    path = make_run(tmp_path / "r.nc")
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    trained = [k for k, t in enumerate(ds.trained.values) if t][:3]
    source = ds.source.values.astype(object)
    source[trained] = "archive"  # as a run that read three of its networks from its archive stores them
    ds["source"] = ("candidate", source.astype(str))
    ds.attrs.update(status="interrupted", archive=str(tmp_path / "own.nc"))
    write_atomic(ds, path)
    before = path.read_bytes()
    with pytest.raises(ResultsError, match=r"the run read 3 of its networks from its archive .* --archive none would drop them"):
        prepare_optimize(None, resume=path, archive="none")
    assert path.read_bytes() == before
    spec = parse_problem(ds.attrs["problem"])
    holding = arc.empty_archive(spec)
    for k in trained:
        holding = arc.append(holding, dict(arch=str(ds.arch.values[k]), status="trained", val_accuracy=0.9, test_accuracy=0.9,
                                           train_seconds=1.0, epochs=spec.training.epochs, seed=0, params=1, spike_rates={"stem": 1.0}))
    arc.save_archive(holding, tmp_path / "other.nc")
    prepared = prepare_optimize(None, resume=path, archive=tmp_path / "other.nc")
    assert any(n.startswith("resumed with archive") for n in prepared.notes)
    arc.save_archive(holding.isel(record=[0, 1]), tmp_path / "small.nc")  # an archive without one of them
    with pytest.raises(ResultsError, match="they are not in"):
        prepare_optimize(None, resume=path, archive=tmp_path / "small.nc")
