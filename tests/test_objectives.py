"""Custom objectives: entry-point plug-ins, module:function (trusted only when allowed), check_objective,
and the example plug-in package installed and used in a short search."""

import json
import subprocess
import sys
import textwrap
import tomllib
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import moo_snn
from moo_snn.cli import app
from moo_snn.config.problem import load_problem, parse_problem
from moo_snn.errors import ProblemError
from moo_snn import objectives
from moo_snn.objectives import BUILTIN, PluginWarning, Registry, resolve_metrics, with_objectives
from moo_snn.testing import check_objective, example_batch

ROOT = Path(__file__).resolve().parents[1]
TEXT = (load_problem("digits").source.replace("accuracy = { min = 0.9 }", "accuracy = { min = 0.5 }")
        .replace("generations = 40", "generations = 4").replace("pop_size = 64", "pop_size = 16")
        .replace("rounds = 4", "rounds = 1").replace("survivors = 6", "survivors = 3").replace("bootstrap = 16", "bootstrap = 6"))


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Each test sees the plug-ins installed at that moment and no code allowed by another test."""
    monkeypatch.setattr(objectives, "REGISTRY", Registry())


@pytest.fixture
def code_dir(tmp_path, monkeypatch):
    """A module of the user's own, importable as ``my_objectives``."""
    (tmp_path / "my_objectives.py").write_text(textwrap.dedent('''
        from moo_snn.objectives import objective

        @objective(units="kB*mm2")
        def memory_area(batch):
            "Weight memory times chip area."
            return batch.costs.memory_kB * batch.costs.area_mm2

        def plain(batch):  # a plain function: units and direction default
            return batch.costs.params * 1.0

        def wrong_shape(batch):
            return batch.costs.params[:2] * 1.0

        def batch_dependent(batch):  # a value that depends on the rest of the batch: wrong
            return batch.costs.energy_uJ / batch.costs.energy_uJ.max()

        def not_finite(batch):
            return batch.costs.energy_uJ * float("nan")

        @objective(units="1/uJ", direction="maximize")
        def accuracy_per_uj(batch):
            "Accuracy per µJ (maximised; reads the accuracy)."
            return batch.accuracy / batch.costs.energy_uJ
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_objectives", raising=False)  # each test imports its own copy
    return tmp_path


def _dist(folder: Path, name: str, entry_points: dict[str, str]) -> None:
    """A minimal installed distribution (``.dist-info``) in ``folder`` with objective entry points."""
    info = folder / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[moo_snn.objectives]\n{lines}\n")


# --- registration -----------------------------------------------------------------------------
def test_builtins_are_registered_as_entry_points_like_any_plug_in():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["moo_snn.objectives"]
    assert set(declared) == set(BUILTIN)
    for name, target in declared.items():
        module, _, attr = target.partition(":")
        __import__(module)
        assert getattr(sys.modules[module], attr) is BUILTIN[name]


def test_an_unknown_name_lists_the_valid_ones_with_did_you_mean():
    with pytest.raises(ProblemError) as info:
        resolve_metrics(["acuracy"])
    assert "did you mean 'accuracy'?" in str(info.value)
    assert all(name in str(info.value) for name in BUILTIN)
    with pytest.raises(ProblemError, match="unknown objective 'energy' \\(did you mean 'energy_uJ'\\?\\)"):
        with_objectives(parse_problem(TEXT), ["accuracy", "energy"])


def test_a_plug_in_that_fails_to_load_warns_naming_it_and_the_others_work(tmp_path, monkeypatch, code_dir):
    _dist(tmp_path / "site", "broken-plugin", {"broken": "no_such_module_anywhere:thing"})
    _dist(tmp_path / "site", "good-plugin", {"memory_area": "my_objectives:memory_area"})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.warns(PluginWarning, match="'broken'.*no_such_module_anywhere"):
        metrics = resolve_metrics(["accuracy", "memory_area"])
    assert [m.name for m in metrics] == ["accuracy", "memory_area"] and metrics[1].units == "kB*mm2"
    with pytest.raises(ProblemError, match="plug-in 'broken' failed to load"):
        resolve_metrics(["broken"])
    # a problem file may name an installed plug-in; a typo still gets a did-you-mean
    spec = parse_problem(TEXT.replace('names = ["accuracy", "energy_uJ", "latency_ms"]', 'names = ["accuracy", "memory_area"]'))
    assert spec.objectives.names == ("accuracy", "memory_area")
    with pytest.raises(ProblemError, match="did you mean 'memory_area'"):
        parse_problem(TEXT.replace('names = ["accuracy", "energy_uJ", "latency_ms"]', 'names = ["accuracy", "memory_aera"]'))


# --- module:function and trust ----------------------------------------------------------------
def test_code_named_in_a_problem_file_runs_only_when_allowed(code_dir):
    spec = parse_problem(TEXT.replace('names = ["accuracy", "energy_uJ", "latency_ms"]',
                                      'names = ["accuracy", "my_objectives:memory_area"]'))
    with pytest.raises(ProblemError, match="runs only when you allow it.*--allow-code"):
        with_objectives(spec)
    assert "my_objectives" not in sys.modules  # refused before any import
    allowed = with_objectives(spec, allow_code=True)
    assert [m.units for m in resolve_metrics(allowed.objectives.names)] == ["1", "kB*mm2"]  # allowed: stays allowed


def test_code_named_on_the_command_line_is_trusted_and_replaces_or_adds(code_dir):
    spec = parse_problem(TEXT)
    replaced = with_objectives(spec, ["accuracy", "my_objectives:plain"])
    assert replaced.objectives.names == ("accuracy", "my_objectives:plain")
    added = with_objectives(spec, ["+my_objectives:memory_area"])
    assert added.objectives.names == ("accuracy", "energy_uJ", "latency_ms", "my_objectives:memory_area")
    plain = resolve_metrics(["my_objectives:plain"])[0]
    assert (plain.units, plain.direction) == ("1", "minimize")
    with pytest.raises(ProblemError, match="cannot switch"):
        with_objectives(spec, ["accuracy", "params"], stored=["accuracy", "energy_uJ", "latency_ms"])
    with pytest.raises(ProblemError, match="cannot load it"):
        with_objectives(spec, ["no_such_module_here:f"])


def test_the_cli_refuses_problem_file_code_without_allow_code(code_dir, tmp_path):
    problem = tmp_path / "coded.toml"
    problem.write_text(TEXT.replace('names = ["accuracy", "energy_uJ", "latency_ms"]', 'names = ["accuracy", "my_objectives:memory_area"]'))
    result = CliRunner().invoke(app, ["optimize", str(problem), "--out", str(tmp_path / "r.nc")])
    assert result.exit_code == 2 and "--allow-code" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "r.nc").exists()


# --- check_objective --------------------------------------------------------------------------
def test_check_objective_accepts_good_objectives_and_explains_bad_ones(code_dir):
    import my_objectives

    for name in BUILTIN:
        check_objective(name)
    assert check_objective(my_objectives.memory_area).units == "kB*mm2"
    check_objective(my_objectives.plain)
    for bad, message in ((my_objectives.wrong_shape, "one value per candidate"),
                         (my_objectives.batch_dependent, "reordered|alone gives"),
                         (my_objectives.not_finite, "non-finite")):
        with pytest.raises(AssertionError, match=message):
            check_objective(bad)
    batch = example_batch(measured=True)
    assert batch.spike_rate.shape == batch.layers.active.shape and batch.measured


# --- the example plug-in package, installed -------------------------------------------------------
@pytest.fixture(scope="session")
def edp_site(tmp_path_factory):
    """examples/moo-snn-edp installed with pip into a folder of its own (``--target``): a real install,
    entry points and all, that leaves the project's virtual environment as it was."""
    target = tmp_path_factory.mktemp("edp-site")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
           "-c", str(ROOT / "constraints.txt"), "--target", str(target), str(ROOT / "examples" / "moo-snn-edp")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(target.glob("moo_snn_edp-*.dist-info"))
    return target


@pytest.mark.slow  # 24 s: installs the example package (turn 5: the default suite passed 10 min)
def test_the_example_plug_in_installs_checks_and_runs_a_search(edp_site, tmp_path, monkeypatch):
    from moo_snn.search.loop import SearchRun
    from moo_snn.space import SLOT_NAMES
    from moo_snn.training import trainer

    monkeypatch.syspath_prepend(str(edp_site))
    available = objectives.available_objectives()
    assert {"edp", "spike_count"} <= set(available)
    for name in ("edp", "spike_count"):
        check_objective(name)

    def fake_train(problem, arch, data=None, **kwargs):  # measured spike rates that differ from the assumed 0.2
        class Result:
            def to_dict(self):
                return dict(arch=str(arch), status="trained", val_accuracy=0.9, test_accuracy=0.9, train_seconds=0.0,
                            spike_rate=[1.0] + [0.05] * (len(SLOT_NAMES) - 1), seed=0, spike_rates={},
                            epochs=kwargs.get("epochs", problem.training.epochs))  # a full training (not a proxy)
        return Result()

    monkeypatch.setattr(trainer, "train_architecture", fake_train)
    out = tmp_path / "edp.nc"
    problem = tmp_path / "small.toml"
    problem.write_text(TEXT)
    result = CliRunner().invoke(app, ["optimize", str(problem), "--objective", "accuracy", "--objective", "edp",
                                      "--objective", "+spike_count", "--archive", "none", "--out", str(out),
                                      "--json"])
    assert result.exit_code == 0, result.output
    ds = moo_snn.open_results(out)
    assert list(ds.objective.values) == ["accuracy", "edp", "spike_count"]
    assert list(ds.objective_units.values) == ["1", "uJ*ms", "spikes"]
    trained = ds.isel(candidate=np.flatnonzero(ds.trained.values))
    assert trained.sizes["candidate"] == 6 + 3  # bootstrap + survivors
    # measured edp is the product of the measured costs; measured spikes use the measured rates (0.05 < 0.2)
    records = {r["candidate"]: r for r in ds.moo.front_records()}
    for cand, r in records.items():
        assert r["edp"] == pytest.approx(r["energy_uJ"] * r["latency_ms"])
    measured = trained.measured_objective.sel(objective="spike_count").values
    predicted = trained.predicted_objective.sel(objective="spike_count").values
    ok = np.isfinite(predicted)
    assert np.all(measured[ok] < predicted[ok])
    table = CliRunner().invoke(app, ["pareto", str(out)])
    assert table.exit_code == 0 and "spike_count" in table.stdout and "edp" in table.stdout
    report = json.loads(CliRunner().invoke(app, ["pareto", str(out), "--json"]).stdout)
    assert set(report["reference_point"]) == {"accuracy", "edp", "spike_count"}
    # a search in Python names the plug-ins in the problem file like built-ins
    spec = parse_problem(TEXT.replace('names = ["accuracy", "energy_uJ", "latency_ms"]', 'names = ["accuracy", "spike_count"]'))
    ds2 = SearchRun(spec, tmp_path / "py.nc", archive_path=tmp_path / "none.nc", data=types.SimpleNamespace(y_train=np.zeros(10))).run()
    assert list(ds2.objective.values) == ["accuracy", "spike_count"] and ds2.moo.front().sizes["candidate"] >= 1


def test_the_testing_module_example_runs():
    import doctest

    import moo_snn.testing

    failures, tried = doctest.testmod(moo_snn.testing)
    assert tried >= 3 and failures == 0


def test_plugins_written_against_the_old_module_path_still_import():
    """A plug-in of ../shared/cases/nan-objective imports ``moo_snn.search.objectives``, the address before the refactor."""
    from moo_snn.objectives import objective
    from moo_snn.search.objectives import objective as old

    assert old is objective


@pytest.mark.parametrize("limit", [None, 0.3])
def test_a_maximised_objective_that_reads_the_accuracy_gets_a_box_its_fronts_fill(code_dir, limit):
    """Accuracy per µJ: sampled at accuracy 0 it is 0 everywhere, which made ideal = reference (0) and
    every front's hypervolume 0 (or, with a limit, an inverted box). Reference by hand: the box from the
    worst to the best value over the same 2,000 architectures at accuracy 0 and 1."""
    from moo_snn.evaluation import population_costs
    from moo_snn.pareto import hypervolume
    from moo_snn.search.selection import ideal_point, reference_point
    from moo_snn.space import SearchSpace

    text = TEXT.replace("[constraints]\n", f'[constraints]\n"my_objectives:accuracy_per_uj" = {{ min = {limit} }}\n' if limit else "[constraints]\n")
    spec = with_objectives(parse_problem(text, "t.toml"), ["+my_objectives:accuracy_per_uj"])
    space = SearchSpace(spec.space)
    metrics = resolve_metrics(spec.objectives.names, allow_code=True)
    ref, ideal = reference_point(spec, space, metrics), ideal_point(spec, space, metrics)
    energy = population_costs(spec, space, space.sample(2000, np.random.default_rng(0))).energy_uJ
    assert ideal[-1] == pytest.approx(-np.max(1.0 / energy))  # the best: accuracy 1 on the cheapest network
    assert ref[-1] == pytest.approx(-limit if limit else 0.0)  # the limit, else the worst (accuracy 0)
    assert np.all(ideal < ref)
    # a front point halfway along the new objective's side (accuracy error and energy at their box's middle)
    point = (ideal + ref) / 2
    assert hypervolume(point[None], ref, ideal) == pytest.approx(0.5 ** len(ref))
