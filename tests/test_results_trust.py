"""Results files that users edit by hand, foreign NetCDF files, and a run's status told truthfully.

Every bad file is a copy of the stored reference run (``tests/data/reference-run.nc``, a real run of
40 candidates, 20 trained) with one thing changed, read by every command that reads results files
(the library reader ``moo_snn.open_results``, ``pareto``, ``export``, ``optimize --resume``): one line
naming the file and what is wrong, exit 2, nothing printed before it.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import moo_snn
from moo_snn.cli import app
from moo_snn.errors import ResultsError, TrainingError

REFERENCE = Path(__file__).parent / "data" / "reference-run.nc"


@functools.lru_cache(maxsize=1)
def _reference() -> xr.Dataset:
    with xr.open_dataset(REFERENCE, engine="h5netcdf") as ds:
        return ds.load()


def reference() -> xr.Dataset:
    """The reference run as xarray reads it (a fresh copy to spoil)."""
    return _reference().copy(deep=True)


def spoiled(tmp_path, edit, name="spoiled.nc") -> Path:
    """A copy of the reference run with ``edit(ds)`` applied (another tool's rewrite: xarray, h5netcdf)."""
    ds = reference()
    edit(ds)
    path = tmp_path / name
    ds.to_netcdf(path, engine="netcdf4")  # netCDF-C: 6x faster to write than h5netcdf (moo_snn.netcdf)
    return path


def first(ds, status="trained") -> int:
    """Index of the first candidate of ``status``."""
    return int(np.flatnonzero(ds.status.values.astype(str) == status)[0])


def set_value(name, value, status="trained", column=None):
    def edit(ds):
        k = first(ds, status)
        values = ds[name].values.copy()
        if column is None:
            values[k] = value
        else:
            values[k, column] = value
        ds[name] = (ds[name].dims, values, ds[name].attrs)
    return edit


def set_attr(name, value):
    def edit(ds):
        if value is None:
            del ds.attrs[name]
        else:
            ds.attrs[name] = value
    return edit


def retyped(name, convert):
    def edit(ds):
        ds[name] = (ds[name].dims, convert(ds[name].values), ds[name].attrs)
    return edit


def one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


# (id, edit, a fragment of the one line; the file's name is checked besides)
BAD = [
    ("status=bogus", set_attr("status", "bogus"),
     "attribute 'status' holds 'bogus'; expected one of running, interrupted, complete, budget_spent, failed"),
    ("status=Complete", set_attr("status", "Complete"), "attribute 'status' holds 'Complete'; expected one of"),
    ("status empty", set_attr("status", ""), "attribute 'status' holds ''; expected one of"),
    ("status missing", set_attr("status", None), "attribute 'status' is missing"),
    ("val_accuracy NaN", set_value("val_accuracy", np.nan), "variable 'val_accuracy' of candidate"),
    ("test_accuracy inf", set_value("test_accuracy", np.inf), "variable 'test_accuracy' of candidate"),
    ("measured_objective partly NaN", set_value("measured_objective", np.nan, column=1),
     "variable 'measured_objective' of candidate"),
    ("measured_cost partly NaN", set_value("measured_cost", np.nan, column=0), "variable 'measured_cost' of candidate"),
    ("candidate status unknown", set_value("status", "done"),
     "holds 'done'; expected one of predicted, proxy, trained, diverged, failed"),
    ("source unknown", set_value("source", "elsewhere"), "holds 'elsewhere'; expected one of search, bootstrap, promotion, archive"),
    ("val_accuracy text", retyped("val_accuracy", lambda v: v.astype(str)),
     "variable 'val_accuracy' holds text"),
    ("round_found floats", retyped("round_found", lambda v: v.astype(float)),
     "variable 'round_found' holds floating-point numbers (float64); a results file written by moo-snn holds integers there"),
    ("round_found fractions", retyped("round_found", lambda v: v + 0.5), "variable 'round_found' holds floating-point numbers"),
    ("genome text", retyped("genome", lambda v: v.astype(str)), "variable 'genome' holds text"),
    ("arch numbers", retyped("arch", lambda v: np.arange(len(v), dtype=float)), "variable 'arch' holds floating-point numbers"),
    ("hypervolume text", retyped("hypervolume", lambda v: v.astype(str)), "variable 'hypervolume' holds text"),
    ("on_front floats", retyped("on_front", lambda v: v.astype(float) * 0.5), "variable 'on_front' holds floating-point numbers"),
    ("pareto_rank floats", retyped("pareto_rank", lambda v: v.astype(float)), "variable 'pareto_rank' holds floating-point"),
    ("arch garbage", set_value("arch", "garbage!!", status="predicted"),
     "variable 'arch' of candidate"),
    ("val_accuracy 2.0", set_value("val_accuracy", 2.0), "variable 'val_accuracy' of candidate"),
    ("val_accuracy -1.7", set_value("val_accuracy", -1.7), "holds -1.7, which no run writes: an accuracy is a fraction"),
    ("test_accuracy 1.01", set_value("test_accuracy", 1.01), "variable 'test_accuracy' of candidate"),
    ("val_accuracy of a predicted one 2.0", set_value("val_accuracy", 2.0, status="predicted"), "variable 'val_accuracy' of candidate"),
    ("proxy_accuracy 3", set_value("proxy_accuracy", 3.0), "variable 'proxy_accuracy' of candidate"),
    ("accuracy_nonideal -0.1", set_value("accuracy_nonideal", -0.1), "variable 'accuracy_nonideal' of candidate"),
    ("measured_cost negative", set_value("measured_cost", -5.0, column=4),
     "variable 'measured_cost' of candidate"),
    ("train_seconds negative", set_value("train_seconds", -3.0), "a time in seconds is never negative"),
    ("cost_fte negative", set_value("cost_fte", -1.0), "variable 'cost_fte' of candidate"),
    ("samples_seen negative", set_value("samples_seen", -10), "a count is never negative"),
    ("spike_rate negative", set_value("spike_rate", -0.2, column=0), "variable 'spike_rate' of candidate"),
    ("round_trained -5", set_value("round_trained", -5), "variable 'round_trained' of candidate"),
    ("round_fte negative", lambda ds: ds["round_fte"].values.__setitem__(0, -1.0), "variable 'round_fte' of round 1 holds -1.0"),
    ("hypervolume 1.5", lambda ds: ds["hypervolume"].values.__setitem__(1, 1.5), "variable 'hypervolume' of round 2 holds 1.5"),
    ("n_trained_in_round negative", lambda ds: ds["n_trained_in_round"].values.__setitem__(0, -2),
     "variable 'n_trained_in_round' of round 1"),
    ("every arch the same", lambda ds: ds["arch"].values.__setitem__(slice(None), ds["arch"].values[0]),
     "variable 'arch' of candidates 0 and 1 holds the same architecture"),
    ("two archs the same", lambda ds: ds["arch"].values.__setitem__(39, ds["arch"].values[5]),
     "variable 'arch' of candidates 5 and 39 holds the same architecture"),
    ("problem not TOML", set_attr("problem", "this is [not toml"), "attribute 'problem': not valid TOML"),
    ("problem unknown key", lambda ds: ds.attrs.update(problem="bogus_key = 1\n" + ds.attrs["problem"]),
     "attribute 'problem': unknown top-level key 'bogus_key'"),
]


@functools.lru_cache(maxsize=1)
def _as_read() -> xr.Dataset:
    from moo_snn.netcdf import read
    from moo_snn.results.state import FORMAT

    return read(REFERENCE, "results file", FORMAT)


def read_edited(edit, where="edited.nc"):
    """What ``open_results`` does after reading the file (``normalise``), on an edited copy of the reference
    run in memory (the file round trip is the CLI tests' below: these would take a second each)."""
    from moo_snn.results.attributes import normalise

    ds = _as_read().copy(deep=True)
    edit(ds)
    return normalise(ds, where)


@pytest.mark.parametrize("edit, fragment", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_hand_edited_results_file_is_one_line_naming_it(edit, fragment):
    with pytest.raises(ResultsError) as caught:
        read_edited(edit)
    message = str(caught.value)
    assert message.startswith("edited.nc: ") and fragment in message and "\n" not in message


def test_the_reference_run_itself_is_read():
    from moo_snn.results.attributes import normalise

    ds = normalise(_as_read().copy(deep=True), "reference.nc")
    assert ds.attrs["status"] == "complete" and int(ds.trained.sum()) == 20 and ds.sizes["candidate"] == 40


def test_a_non_finite_measurement_names_the_candidate_and_its_architecture(tmp_path):
    ds = reference()
    k = first(ds)
    cand, arch = int(ds.candidate.values[k]), str(ds.arch.values[k])
    with pytest.raises(ResultsError, match=re.escape(f"variable 'val_accuracy' of candidate {cand} ({arch}) is not a finite "
                                                     f"number (nan), but the candidate is marked trained")):
        read_edited(set_value("val_accuracy", np.nan))


def test_a_proxy_without_its_accuracy_is_refused(tmp_path):
    def edit(ds):
        k = first(ds, "predicted")
        status = ds.status.values.astype(object)
        status[k] = "proxy"  # a proxy measured at low fidelity; its proxy_accuracy stays NaN
        ds["status"] = (("candidate",), status)
    with pytest.raises(ResultsError, match=r"variable 'proxy_accuracy' of candidate \d+ \(.*\) is not a finite number \(nan\), "
                                           r"but the candidate is marked proxy"):
        read_edited(edit)


# what another tool may write that reads unambiguously: accepted, and read as moo-snn wrote it
ACCEPTED = [
    ("on_front as 0/1 integers", retyped("on_front", lambda v: v.astype(np.int8))),
    ("train_seconds as integers", retyped("train_seconds", lambda v: np.nan_to_num(v).astype(np.int64))),
    ("a trained candidate's objectives all NaN (computed again by a resume)", set_value("measured_objective", np.nan)),
]


@pytest.mark.parametrize("edit", [a[1] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
def test_unambiguous_rewrites_are_read(edit):
    ds = read_edited(edit)
    original = read_edited(lambda ds: None)
    assert ds.on_front.dtype == bool and ds.on_front.values.tolist() == original.on_front.values.tolist()
    assert ds.sizes["candidate"] == 40 and int(ds.trained.sum()) == 20


CLI_CASES = [("status=bogus", ["pareto"]), ("arch garbage", ["pareto"]), ("problem not TOML", ["pareto", "--json"]),
             ("round_found floats", ["pareto", "--json"]), ("val_accuracy NaN", ["export", "--nir", "net.nir"]),
             ("problem not TOML", ["export", "--nir", "net.nir"])]


@pytest.mark.parametrize("case, command", CLI_CASES, ids=[f"{' '.join(c)}: {case}" for case, c in CLI_CASES])
def test_pareto_and_export_refuse_before_printing_anything(tmp_path, case, command):
    edit, fragment = {b[0]: b[1:] for b in BAD}[case]
    path = spoiled(tmp_path, edit)
    argv = [command[0], str(path), *[str(tmp_path / a) if a.endswith(".nir") else a for a in command[1:]]]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    line = one_line(result)  # nothing else: no table before it
    assert str(path) in line and fragment in line
    assert not (tmp_path / "net.nir").exists()


@pytest.mark.parametrize("case", ["val_accuracy NaN", pytest.param("status=bogus", marks=pytest.mark.slow)])
def test_a_resume_refuses_before_it_trains(tmp_path, case, monkeypatch):
    from moo_snn.training import trainer

    def no_training(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(trainer, "train_architecture", no_training)
    edit, fragment = {b[0]: b[1:] for b in BAD}[case]
    path = spoiled(tmp_path, edit)
    before = path.read_bytes()
    result = CliRunner().invoke(app, ["optimize", "--resume", str(path), "--rounds", "3", "--torch-threads", "1"])
    assert result.exit_code == 2, result.output
    line = one_line(result)
    assert str(path) in line and fragment in line
    assert path.read_bytes() == before  # left as it was


# --- NetCDF files of other formats ----------------------------------------------------------------
def test_a_netcdf3_file_is_named_for_what_it_is(tmp_path):
    path = tmp_path / "n3.nc"
    xr.Dataset({"a": ("x", [1, 2])}).to_netcdf(path, format="NETCDF3_64BIT")
    with pytest.raises(ResultsError) as caught:
        moo_snn.open_results(path)
    assert str(caught.value) == (f"{path}: not a moo-snn results file: a NetCDF-3 (classic format) file, and moo-snn writes "
                                 f"and reads NetCDF-4 files only (attribute format = None, expected 'moo-snn-results-2')")
    from moo_snn.surrogate.archive import load_archive

    with pytest.raises(ResultsError, match=re.escape(f"{path}: not a moo-snn archive: a NetCDF-3")):
        load_archive(path)


def test_a_results_file_converted_to_netcdf3_says_how_to_convert_it_back(tmp_path):
    path = tmp_path / "n3.nc"
    xr.Dataset({"a": ("x", [1, 2])}, attrs={"format": "moo-snn-results-2"}).to_netcdf(path, format="NETCDF3_CLASSIC")
    with pytest.raises(ResultsError, match=re.escape("its attribute format = 'moo-snn-results-2' says it was one, converted "
                                                     "to NetCDF-3 by another tool: convert it back with nccopy -k nc4")):
        moo_snn.open_results(path)


def test_a_file_that_is_no_netcdf_is_still_not_readable(tmp_path):
    path = tmp_path / "text.nc"
    path.write_text("CDF but not really\n")
    with pytest.raises(ResultsError, match=re.escape(f"{path}: not a readable NetCDF file")):
        moo_snn.open_results(path)


# --- JSON: counts are ints, "never" is null ------------------------------------------------------
def test_pareto_json_gives_counts_as_ints_and_no_sentinels(tmp_path):
    from moo_snn.architecture import Architecture
    from moo_snn.config.problem import parse_problem
    from moo_snn.evaluation import population_costs
    from moo_snn.space import SearchSpace

    result = CliRunner().invoke(app, ["pareto", str(REFERENCE), "--json"])
    assert result.exit_code == 0, result.output

    def no_constant(name):
        raise AssertionError(f"{name} is not JSON")

    out = json.loads(result.stdout, parse_constant=no_constant)
    spec = parse_problem(reference().attrs["problem"], "reference")
    space = SearchSpace(spec.space)
    assert out["front"]
    for record in out["front"]:
        # the weights of the network, counted by the cost model from its architecture alone
        expected = int(population_costs(spec, space, np.array([space.encode(Architecture.parse(record["arch"]))])).params[0])
        assert type(record["params"]) is int and record["params"] == expected
        assert record["round_promoted"] is None  # this run has no [fidelity] ladder: nothing was promoted
        assert all(type(record[k]) is int for k in ("candidate", "round_found", "round_trained"))


def test_pareto_csv_keeps_integer_columns_integers(tmp_path):
    out = tmp_path / "front.csv"
    result = CliRunner().invoke(app, ["pareto", str(REFERENCE), "--csv", str(out)])
    assert result.exit_code == 0, result.output
    import csv

    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["params"].isdigit() and r["round_trained"].isdigit() and r["round_promoted"] == "" for r in rows)


# --- a run whose every training failed ----------------------------------------------------------
def _failing(kind):
    def train(problem, arch, data=None, **kwargs):
        if kind == "raises":
            raise RuntimeError("the accelerator caught fire")

        class Result:
            def to_dict(self):
                nan = float("nan")
                status = "diverged" if kind == "diverges" else "trained"  # "trained", but with no accuracy measured
                return dict(arch=str(arch), status=status, val_accuracy=nan, test_accuracy=nan, epochs=1, seed=0,
                            spike_rates={}, train_seconds=0.01, device="cpu", samples_per_second=1.0, params=1, epoch_losses=[])
        return Result()
    return train


@pytest.fixture(scope="module")
def synthetic_archive(tmp_path_factory) -> Path:
    """The small digits problem's made-up archive (30 networks at its recipe; ``small_search``)."""
    from small_search import write_synthetic_archive

    return write_synthetic_archive(tmp_path_factory.mktemp("archive") / "digits.nc")


@pytest.mark.parametrize("kind", ["raises", pytest.param("diverges", marks=pytest.mark.slow),  # 3 s each
                                  pytest.param("trained without an accuracy", marks=pytest.mark.slow)])
def test_a_run_that_measured_no_network_says_failed(tmp_path, monkeypatch, kind, synthetic_archive):
    """The predictor learns from an archive, so the round runs; each of its trainings fails: the run
    ended with nothing measured, and its file says ``failed`` (not ``complete``), the error says why."""
    from small_search import SPEC
    from types import SimpleNamespace

    from moo_snn.search.loop import SearchRun, with_overrides
    from moo_snn.training import trainer

    monkeypatch.setattr(trainer, "train_architecture", _failing(kind))
    spec = with_overrides(SPEC, rounds=1, generations=2, pop_size=8, survivors=2)
    out = tmp_path / "r.nc"
    run = SearchRun(spec, out, archive_path=synthetic_archive, data=SimpleNamespace(y_train=np.zeros(10)))
    with pytest.raises(TrainingError, match=r"^no network was measured: all 2 trainings of the run failed or diverged"):
        run.run()
    ds = moo_snn.open_results(out)  # readable: a training that measured no accuracy is recorded failed
    assert ds.attrs["status"] == "failed" and ds.attrs["failure"].startswith("TrainingError: no network was measured")
    status = ds.status.values.astype(str)
    assert sorted(status[status != "predicted"]) == ["diverged" if kind == "diverges" else "failed"] * 2
    assert not ds.trained.values.any() and ds.sizes["round"] == 1


# --- an archive of other data ----------------------------------------------------------------------
def test_surrogate_predict_refuses_an_archive_of_another_data_set_or_recipe(tmp_path, synthetic_archive):
    from small_search import SPEC

    from moo_snn.surrogate.predictor import predict_archs

    path = synthetic_archive
    arch = str(SPEC.reference_arch)
    assert predict_archs(SPEC, [arch], path)[0]["arch"] == arch  # its own data: predicted
    with xr.open_dataset(path, engine="h5netcdf") as a:
        a = a.load()
    other = a.copy()
    other.attrs["dataset"] = "cifar10"
    other.to_netcdf(tmp_path / "cifar.nc", engine="h5netcdf")
    recipe = json.loads(a.attrs["recipe"])
    recipe["data"]["val_fraction"] = 0.3
    a.attrs["recipe"] = json.dumps(recipe)
    a.to_netcdf(tmp_path / "recipe.nc", engine="h5netcdf")
    with pytest.raises(ResultsError, match=re.escape(f"{tmp_path / 'cifar.nc'}: an archive measured with another data set or "
                                                     f"training recipe than problem 'digits' (data set 'cifar10', not 'digits')")):
        predict_archs(SPEC, [arch], tmp_path / "cifar.nc")
    with pytest.raises(ResultsError, match=re.escape("([data] val_fraction 0.3, not 0.15)")):
        predict_archs(SPEC, [arch], tmp_path / "recipe.nc")


def test_an_archive_with_a_trained_record_without_accuracy_is_refused(tmp_path, synthetic_archive):
    from moo_snn.surrogate.archive import load_archive

    path = synthetic_archive
    with xr.open_dataset(path, engine="h5netcdf") as a:
        a = a.load()
    values = a.val_accuracy.values.copy()
    values[3] = np.nan
    a["val_accuracy"] = (("record",), values)
    a.to_netcdf(tmp_path / "nan.nc", engine="h5netcdf")
    with pytest.raises(ResultsError, match=re.escape(f"{tmp_path / 'nan.nc'}: archive variable 'val_accuracy' of record 3 (")):
        load_archive(tmp_path / "nan.nc")
