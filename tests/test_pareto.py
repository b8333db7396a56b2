"""Pareto analysis: hypervolume against hand calculations, the ds.moo accessor's examples, ``moo-snn pareto``."""

import doctest
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import moo_snn
from moo_snn.cli import app
from moo_snn.config.problem import load_problem, parse_problem
from moo_snn.results.state import Candidate, RunState
from moo_snn.search.loop import SearchRun, with_overrides
from moo_snn.pareto import hypervolume
from moo_snn.space import SearchSpace

# the digits problem, a small search, accuracy limit 0.5 (as tests/test_search.py)
TEXT = (load_problem("digits").source.replace("accuracy = { min = 0.9 }", "accuracy = { min = 0.5 }")
        .replace("generations = 40", "generations = 5").replace("pop_size = 64", "pop_size = 16")
        .replace("rounds = 4", "rounds = 1").replace("survivors = 6", "survivors = 4").replace("bootstrap = 16", "bootstrap = 8"))
SPEC = parse_problem(TEXT, "small-digits.toml")


from cli_runs import fake_train  # noqa: E402 - made-up trainings at the epochs asked for


@pytest.fixture(scope="module")
def run_path(tmp_path_factory):
    """A small results file, made with made-up trainings (no torch training: seconds)."""
    from moo_snn.training import trainer

    mp = pytest.MonkeyPatch()
    mp.setattr(trainer, "train_architecture", fake_train)
    try:
        from moo_snn.data import load_problem_data

        data = load_problem_data(SPEC)
        path = tmp_path_factory.mktemp("run") / "small.nc"
        SearchRun(SPEC, path, archive_path=path.parent / "none.nc", data=data).run()
        other = path.parent / "other.nc"
        SearchRun(with_overrides(SPEC, seed=1), other, archive_path=path.parent / "none.nc", data=data).run()
    finally:
        mp.undo()
    return path


# --- hypervolume against hand calculations -----------------------------------------------------
def test_hypervolume_of_a_hand_made_front_2d():
    # minimised (error, energy) with reference point (0.1, 0.5): the limits accuracy >= 0.9, 0.5 uJ.
    # Normalised, the points are (0.2, 0.6), (0.4, 0.3), (0.7, 0.1); the dominated region, in slabs
    # along the first axis: 0.2*(1-0.6) + 0.3*(1-0.3) + 0.3*(1-0.1) = 0.08 + 0.21 + 0.27 = 0.56.
    F = np.array([[0.02, 0.30], [0.04, 0.15], [0.07, 0.05]])
    assert hypervolume(F, [0.1, 0.5]) == pytest.approx(0.56, abs=1e-12)
    # a dominated point and a point beyond the reference point change nothing
    assert hypervolume(np.vstack([F, [0.05, 0.2], [0.09, 0.6]]), [0.1, 0.5]) == pytest.approx(0.56, abs=1e-12)
    assert hypervolume(np.zeros((0, 2)), [0.1, 0.5]) == 0.0


def test_hypervolume_of_a_hand_made_front_3d_and_an_ideal_point():
    # (0.5, 0.5, 0.5) alone: 0.5^3 = 0.125; with (0.25, 0.75, 0.5) the union adds 0.25*0.25*0.5 = 0.03125
    assert hypervolume([[0.5, 0.5, 0.5]], [1, 1, 1]) == pytest.approx(0.125)
    assert hypervolume([[0.5, 0.5, 0.5], [0.25, 0.75, 0.5]], [1, 1, 1]) == pytest.approx(0.15625)
    # the box [ideal, ref] = [-1, 1] in the first objective: -0.5 sits at 0.25 of it
    assert hypervolume([[-0.5, 0.5]], [1.0, 1.0], [-1.0, 0.0]) == pytest.approx(0.75 * 0.5)


def test_the_accessor_hypervolume_is_the_hand_value():
    """A results Dataset made by hand: three front members, one dominated, one infeasible."""
    space = SearchSpace(SPEC.space)
    genomes = space.sample(5, np.random.default_rng(0))
    state = RunState(problem_text=TEXT, objective_names=["accuracy", "energy_uJ"], constraint_names=["accuracy"],
                     gene_names=list(space.gene_names), seed=0, reference_point=[0.1, 0.5])
    measured = [(0.98, 0.30), (0.96, 0.15), (0.93, 0.05), (0.95, 0.20), (0.85, 0.01)]  # accuracy, energy
    for k, (acc, energy) in enumerate(measured):
        arch = str(space.decode(genomes[k]))
        c = Candidate(arch=arch, genome=genomes[k], round_found=1, status="trained", val_accuracy=acc,
                      measured_values=np.array([acc, energy]), measured_G=np.array([0.9 - acc]),
                      predicted_values=np.array([acc, energy]), predicted_G=np.array([0.9 - acc]))
        state.candidates[arch] = c
        if k < 3:
            state.on_front.add(arch)
    ds = state.to_dataset()
    assert ds.moo.hypervolume() == pytest.approx(0.56, abs=1e-12)
    assert list(ds.moo.reference_point(natural=True)) == pytest.approx([0.9, 0.5])
    assert ds.moo.knee() in set(ds.candidate.values[:3])


# --- the accessor -------------------------------------------------------------------------------
def test_the_accessor_examples_run(run_path):
    import moo_snn.results.accessor as accessor

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(accessor, globs={"path": str(run_path)})
    examples = sum(len(t.examples) for t in tests)
    assert examples >= 15
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, "an example in moo_snn/results/accessor.py failed (see the output above)"


def test_front_records_and_summary_agree_with_the_dataset(run_path):
    ds = moo_snn.open_results(run_path)
    records = ds.moo.front_records()
    assert len(records) == int(ds.on_front.sum()) >= 2
    assert [r["val_accuracy"] for r in records] == sorted((r["val_accuracy"] for r in records), reverse=True)
    assert sum(r["knee"] for r in records) == 1
    for r in records:  # costs recomputed with the measured rates are the stored measured objectives
        assert r["energy_uJ"] == pytest.approx(r["energy_uJ"])
        row = ds.sel(candidate=r["candidate"])
        assert r["energy_uJ"] == pytest.approx(float(row.measured_objective.sel(objective="energy_uJ")))
    summary = ds.moo.summary()
    assert summary["hypervolume"] == pytest.approx(float(ds.hypervolume.values[-1]))
    assert summary["knee"]["candidate"] == ds.moo.knee()
    frame = ds.moo.to_dataframe()
    assert {"measured_energy_uJ", "predicted_accuracy", "val_accuracy"} <= set(frame.columns)


# --- moo-snn pareto ---------------------------------------------------------------------------
def test_pareto_prints_the_front_hypervolume_and_knee(run_path):
    result = CliRunner().invoke(app, ["pareto", str(run_path)])
    assert result.exit_code == 0, result.output
    ds = moo_snn.open_results(run_path)
    assert f"hypervolume {ds.moo.hypervolume():.4f}" in result.stdout
    assert f"best compromise (knee): candidate {ds.moo.knee()}" in result.stdout
    for arch in ds.moo.front().arch.values:
        assert str(arch) in result.stdout


def test_pareto_json_one_run_and_several(run_path):
    one = CliRunner().invoke(app, ["pareto", str(run_path), "--json"])
    assert one.exit_code == 0, one.output
    report = json.loads(one.stdout)
    assert {"hypervolume", "knee", "front", "reference_point", "results"} <= set(report)
    assert report["reference_point"] == {"accuracy": 0.5, "energy_uJ": 2.5, "latency_ms": 0.25}
    assert report["knee"]["knee"] is True and report["knee"] in report["front"]
    other = run_path.parent / "other.nc"
    two = CliRunner().invoke(app, ["pareto", str(run_path), str(other), "--json"])
    assert two.exit_code == 0, two.output
    runs = json.loads(two.stdout)["runs"]
    assert [r["results"] for r in runs] == [str(run_path), str(other)]
    assert all({"hypervolume", "knee", "front"} <= set(r) for r in runs)


def test_pareto_plot_and_csv(run_path, tmp_path):
    png, csv = tmp_path / "front.png", tmp_path / "front.csv"
    result = CliRunner().invoke(app, ["pareto", str(run_path), str(run_path.parent / "other.nc"), "--plot", str(png),
                                      "--csv", str(csv)])
    assert result.exit_code == 0, result.output
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size[0] > 1000
    import pandas as pd

    frame = pd.read_csv(csv)
    assert set(frame.results) == {str(run_path), str(run_path.parent / "other.nc")}
    assert {"arch", "val_accuracy", "energy_uJ", "knee"} <= set(frame.columns)
    fig = moo_snn.open_results(run_path).moo.plot()
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3  # 3 objectives: 3 pairs


@pytest.mark.parametrize("content", [b"", b"not a netcdf file at all", None])
def test_pareto_on_a_corrupt_or_foreign_file_is_one_line_exit_2(tmp_path, content):
    path = tmp_path / "bad.nc"
    if content is None:  # a NetCDF file, but not a moo-snn results file
        import xarray as xr

        xr.Dataset({"x": ("a", [1, 2])}).to_netcdf(path, engine="h5netcdf")
    else:
        path.write_bytes(content)
    result = CliRunner().invoke(app, ["pareto", str(path)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "bad.nc" in lines[0] and "Traceback" not in result.output
    missing = CliRunner().invoke(app, ["pareto", str(tmp_path / "missing.nc")])
    assert missing.exit_code == 2 and "no such results file" in missing.stderr


def test_a_one_objective_run_plots_its_objective_against_the_round(tmp_path):
    """With accuracy as the only objective the one panel drew accuracy against itself (a diagonal). Now x is the
    round a network was trained in, and the staircase is the best accuracy so far."""
    from test_fidelity import SMALL, FakeExecutor

    from moo_snn.search.loop import SearchRun

    spec = parse_problem(SMALL.replace('names = ["accuracy", "energy_uJ", "latency_ms"]', 'names = ["accuracy"]'))
    assert list(spec.objectives.names) == ["accuracy"]
    ds = SearchRun(spec, tmp_path / "one.nc", archive_path=tmp_path / "none.nc", executor=FakeExecutor()).run()
    fig = ds.moo.plot(path=tmp_path / "one.png")
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert ax.get_xlabel() == "round (0: bootstrap, or read from the archive)" and ax.get_ylabel() == "accuracy"
    trained = ds.trained.values
    dots = np.vstack([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    expected = set(zip(ds.round_trained.values[trained].astype(float), ds.measured_objective.values[trained, 0]))
    assert expected <= set(map(tuple, dots))  # every measured network at (its round, its accuracy)
    front = [c for c in ax.collections if c.get_gid() == "front-0"][0].get_offsets()
    assert np.allclose(front[:, 1], ds.val_accuracy.values[trained].max())  # the front: the best network
    assert (tmp_path / "one.png").stat().st_size > 10_000


def test_a_plot_of_a_run_without_a_front_says_so_and_draws_no_legend_for_what_is_missing(tmp_path):
    """A one-objective run that a zero budget stopped before any training: the figure's legend listed the front
    and the knee, neither drawn, its x ticks spanned -0.045..0.045, and nothing said there was no front."""
    from test_fidelity import SMALL, FakeExecutor

    from moo_snn.search import fidelity
    from moo_snn.search.loop import SearchRun

    spec = parse_problem(SMALL.replace('names = ["accuracy", "energy_uJ", "latency_ms"]', 'names = ["accuracy"]'))
    ds = SearchRun(spec, tmp_path / "none.nc", archive_path=tmp_path / "no-archive.nc", executor=FakeExecutor(),
                   budget=fidelity.Budget(fte=0.5)).run()
    assert not ds.trained.values.any()
    fig = ds.moo.plot()
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert "no measured front yet: nothing trained" in [t.get_text() for t in ax.texts]
    assert ax.get_xlim() == (-0.5, 0.5) and [t for t in ax.get_xticks() if -0.5 <= t <= 0.5] == [0]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert not [t for t in legend if "front" in t or "knee" in t], legend


def test_runs_of_other_objectives_a_plot_refuses_before_any_output_and_a_csv_mixes(tmp_path):
    """--plot overlays fronts on shared axes: runs of other objectives are refused before a table is
    printed or a file written (--csv given too: no CSV). Tables and --csv alone take them: the CSV's
    columns are the union, a run's rows empty where it lacks an objective."""
    import pandas as pd

    from cli_runs import make_run

    three = make_run(tmp_path / "three.nc")
    one = make_run(tmp_path / "one.nc", objectives=["accuracy"])
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["pareto", str(three), str(one), "--plot", str(out / "m.png"), "--csv", str(out / "m.csv")])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "its objectives (accuracy) differ" in lines[0], result.stderr
    assert "--csv" in lines[0] and result.stdout == "" and not out.exists()

    result = CliRunner().invoke(app, ["pareto", str(three), str(one), "--csv", str(out / "m.csv")])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("measured front of") == 2
    table = pd.read_csv(out / "m.csv")
    assert set(table.results) == {str(three), str(one)}
    assert table.loc[table.results == str(one), "energy_uJ"].notna().all()  # a cost is measured for every network
    assert "accuracy" in table.columns
