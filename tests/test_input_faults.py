"""Input faults a new-user trial found: each is refused with one clear line, or accepted when legitimate.

Hand-written expectations: a fidelity level is the pair (epochs, fraction), so per-level lists may
repeat values while choice lists may not; seeds stop at 2**32 - 1 (what scikit-learn's
``random_state`` takes); ``plan`` checks its overrides as ``optimize`` does; "an archive".
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from moo_snn.cli import app
from moo_snn.config.problem import SEED_MAX, parse_problem
from moo_snn.errors import ProblemError, ResultsError
from moo_snn.search.fidelity import levels

LONG = (Path(__file__).resolve().parents[1] / "problems" / "digits-long.toml").read_text()
LADDER = "epochs = [8]\ntrain_fraction = [0.25]"


def _ladder(epochs: str, fractions: str) -> str:
    assert LADDER in LONG
    return LONG.replace(LADDER, f"epochs = {epochs}\ntrain_fraction = {fractions}")


@pytest.mark.parametrize("epochs, fractions, expected", [
    ("[1, 2]", "[0.25, 0.25]", [(1, 0.25), (2, 0.25)]),   # one fraction at two epoch counts
    ("[1, 1]", "[0.25, 0.5]", [(1, 0.25), (1, 0.5)]),     # one epoch count on two fractions
    ("[2, 2, 4]", "[0.25, 0.5, 0.5]", [(2, 0.25), (2, 0.5), (4, 0.5)]),  # both repeat: costs 0.5, 1, 2
])
def test_per_level_lists_may_repeat_values(epochs, fractions, expected):
    spec = parse_problem(_ladder(epochs, fractions), source="ladder.toml")
    got = [(lv.epochs, lv.train_fraction) for lv in levels(spec) if not lv.full]
    assert got == expected
    # the cost of a level in full trainings: epochs x fraction / 30 epochs (digits-long's recipe)
    assert [lv.fte for lv in levels(spec)] == pytest.approx([e * f / 30 for e, f in expected] + [1.0])


@pytest.mark.parametrize("epochs, fractions, fragment", [
    ("[2, 2]", "[0.5, 0.5]", "[fidelity] levels 1 and 2 are the same training (2 epochs on 0.5 of the data)"),
    ("[4, 2]", "[0.25, 0.5]", "must grow strictly"),      # costs 1 and 1: not cheaper first
    ("[4, 1]", "[0.5, 0.5]", "must grow strictly"),       # costs 2 then 0.5
])
def test_identical_or_unordered_levels_are_refused(epochs, fractions, fragment):
    with pytest.raises(ProblemError) as info:
        parse_problem(_ladder(epochs, fractions), source="ladder.toml")
    assert fragment in str(info.value) and str(info.value).startswith("ladder.toml")


def test_choice_lists_still_refuse_duplicates():
    text = LONG.replace("timesteps = [1, 2, 4, 6]", "timesteps = [2, 4, 2]")
    with pytest.raises(ProblemError, match=r"\[space\] timesteps: the list holds duplicates \(2 more than once\)"):
        parse_problem(text, source="x.toml")


def test_problems_keys_documents_that_levels_may_repeat():
    out = CliRunner().invoke(app, ["problems", "--keys", "--json"])
    assert out.exit_code == 0
    import json

    fidelity = {row["key"]: row["doc"] for row in json.loads(out.stdout)["fidelity"]}
    assert "may repeat" in fidelity["epochs"] and "may repeat" in fidelity["train_fraction"]


@pytest.mark.parametrize("seed, ok", [(SEED_MAX, True), (SEED_MAX + 1, False), (10**20, False), (-1, False)])
def test_seed_bounds_in_the_problem_file(seed, ok):
    assert "[search]\nseed = 0\n" in LONG
    text = LONG.replace("[search]\nseed = 0\n", f"[search]\nseed = {seed}\n")
    if ok:
        assert parse_problem(text).search.seed == 4294967295
    else:
        with pytest.raises(ProblemError, match=r"\[search\] seed: -?\d+ is (above the maximum 4294967295|below the minimum 0)"):
            parse_problem(text, source="x.toml")


def test_seed_max_is_what_sklearn_takes():
    from sklearn.utils import check_random_state

    check_random_state(SEED_MAX)
    with pytest.raises(ValueError):
        check_random_state(SEED_MAX + 1)


def test_huge_seed_in_the_api_is_a_problem_error(tmp_path):
    from moo_snn import optimize

    with pytest.raises(ProblemError, match="seed: 100000000000000000000 is above the maximum 4294967295"):
        optimize("digits", search={"seed": 10**20}, out=tmp_path / "x.nc")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", [
    ["optimize", "digits", "--seed", "99999999999999999999"],
    ["plan", "digits", "--seed", "99999999999999999999"],
    ["plan", "digits", "--seed", "-5"],
    ["train", "digits", "--arch", "0303-0030-0003-0000_c8_t2_w4_p1_h0", "--seed", "99999999999999999999"],
    ["surrogate", "build", "digits", "--train-seed", "-1"],
])
def test_bad_seeds_on_the_command_line_are_one_line_exit_2(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(app, command + ["--torch-threads", "1"])
    assert out.exit_code == 2, out.output
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "seed" in lines[0], out.stderr
    assert not list(tmp_path.iterdir())  # nothing trained, nothing written


def test_plan_checks_its_overrides_as_optimize_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = CliRunner().invoke(app, ["plan", "digits", "--seed", "-5", "--torch-threads", "1"])
    opt = CliRunner().invoke(app, ["optimize", "digits", "--seed", "-5", "--torch-threads", "1"])
    assert plan.exit_code == opt.exit_code == 2
    expected = "[search] seed: -5 is below the minimum 0"
    assert expected in plan.stderr and expected in opt.stderr


def test_a_folder_is_not_an_archive(tmp_path):
    from moo_snn.surrogate.archive import load_archive
    from moo_snn.results import open_results

    with pytest.raises(ResultsError, match=r": is a folder, not an archive$"):
        load_archive(tmp_path)
    with pytest.raises(ResultsError, match=r": is a folder, not a results file$"):
        open_results(tmp_path)


@pytest.mark.parametrize("fte_cap, hours_cap, expected", [
    (1.5, None, "budget spent (0.3 of 1.5 FTE spent, 1 FTE running, 0.00173 h of training): no full training"),
    (None, 0.5, "budget spent (0.3 FTE spent, 1 FTE running, 0.00173 of 0.5 h of training): no full training"),
])
def test_the_async_budget_note_reads_as_a_sentence(fte_cap, hours_cap, expected):
    """The note of the asynchronous loop (a budget refused a training): the caps that exist, no 'of no h'."""
    from types import SimpleNamespace

    from moo_snn.search.async_loop import AsyncSearchRun
    from moo_snn.search.fidelity import Budget, Level

    phases = []
    run = SimpleNamespace(budget=Budget(fte_cap, hours_cap), _spent=(0.3, 6.228), _running_fte=1.0,
                          state=SimpleNamespace(attrs={}), progress=SimpleNamespace(phase=phases.append))
    if hours_cap is not None:
        run._spent = (0.3, 0.5 * 3600.0)  # the hours are spent: refused
        expected = expected.replace("0.00173", "0.5")
    assert AsyncSearchRun._affordable(run, Level(1, 10, 1.0, 1.0, True)) is False
    assert run.state.attrs["budget_note"].startswith(expected) and phases == [run.state.attrs["budget_note"]]
    assert " of no " not in run.state.attrs["budget_note"]


def test_budget_summary_of_hand_made_attributes():
    from moo_snn.cli.pareto_cmd import budget_summary

    note = "budget spent (2 of 2 FTE, 0.5 h of training): ..."
    assert budget_summary({"status": "budget_spent", "budget_fte": 2.0, "budget_hours": -1.0, "spent_fte": 2.0,
                           "spent_train_hours": 0.5, "budget_exhausted": 1, "budget_note": note}) == {"budget": {
        "budget_fte": 2.0, "budget_hours": None, "spent_fte": 2.0, "spent_train_hours": 0.5, "stopped_by_budget": True,
        "note": note}}
    # a file from before status budget_spent: complete, with budget_exhausted = 1
    assert budget_summary({"status": "complete", "budget_exhausted": 1})["budget"]["stopped_by_budget"] is True
    assert budget_summary({"status": "complete", "spent_fte": 3.0})["budget"] == {
        "budget_fte": None, "budget_hours": None, "spent_fte": 3.0, "spent_train_hours": None, "stopped_by_budget": False,
        "note": None}
    assert budget_summary({"status": "complete"}) == {}


@pytest.mark.slow  # a results file written and read by moo-snn pareto: 3-7 s with the imports
def test_pareto_json_of_a_budget_spent_run_has_its_budget(tmp_path):
    """What the text output says of the budget (the note on stderr) is in --json too, with the spent FTE."""
    import json

    import moo_snn
    from moo_snn.netcdf import write_atomic

    data = Path(__file__).resolve().parent / "data" / "reference-run.nc"
    ds = moo_snn.open_results(data).load()
    note = "budget spent (1.5 of 1.5 FTE, 0.001 h of training): 2 full trainings not started; resume with a larger --budget"
    ds.attrs.update(status="budget_spent", budget_fte=1.5, budget_hours=-1.0, spent_fte=1.5, spent_train_hours=0.001,
                    budget_exhausted=1, budget_note=note)
    write_atomic(ds, tmp_path / "run.nc")
    out = CliRunner().invoke(app, ["pareto", str(tmp_path / "run.nc"), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["budget"] == {"budget_fte": 1.5, "budget_hours": None, "spent_fte": 1.5,
                                                "spent_train_hours": 0.001, "stopped_by_budget": True, "note": note}
    # (the text output's note: tests/test_budget_status.py) the stored run had no cap and no ladder: its 20
    # trained candidates are 20 full trainings = 20 FTE
    from moo_snn.cli.pareto_cmd import budget_summary

    stored = moo_snn.open_results(data)
    uncapped = budget_summary(stored.attrs)["budget"]
    assert budget_summary({}) == {}  # a file that recorded no budget: no key
    # the hours: its trainings' own seconds, summed here (a constant went stale when the file was re-recorded)
    hours = float(np.nansum(stored.train_seconds.values[stored.status.values == "trained"])) / 3600
    assert uncapped == {"budget_fte": None, "budget_hours": None, "spent_fte": 20.0,
                        "spent_train_hours": pytest.approx(hours, rel=1e-9), "stopped_by_budget": False, "note": None}


def test_optimize_refuses_an_explicit_archive_that_is_missing(tmp_path, monkeypatch):
    """A missing --archive is refused before any work (was: a note, then a whole bootstrap of trainings);
    the missing default archive is not an error (tests/test_default_archive.py)."""
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(app, ["optimize", "digits", "--budget", "0", "--out", "run.nc", "--torch-threads", "1",
                                   "--archive", "typo.nc"])
    assert out.exit_code == 2 and out.stderr.startswith("error: archive not found: no file at typo.nc;"), out.output
    assert not Path("run.nc").exists()


def test_optimize_refuses_a_missing_archive_before_any_work(tmp_path, monkeypatch):
    """Refused before the run starts (here: a resume with nothing to do, which would train nothing)."""
    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copy(Path(__file__).resolve().parent / "data" / "reference-run.nc", "run.nc")
    out = CliRunner().invoke(app, ["optimize", "--resume", "run.nc", "--archive", "typo.nc", "--torch-threads", "1"])
    assert out.exit_code == 2 and out.stderr.splitlines()[0].startswith("error: archive not found: no file at typo.nc;")
    assert "nothing to do" not in out.stderr


def test_predictor_level_without_fidelity_is_refused():
    out = CliRunner().invoke(app, ["surrogate", "report", "digits", "--predictor-level", "8x0.25"])
    assert out.exit_code == 2
    assert "--predictor-level" in out.stderr and "--fidelity" in out.stderr and "cross-validating" not in out.stderr


def test_fidelity_report_of_an_archive_without_proxies_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the shipped archives
    out = CliRunner().invoke(app, ["surrogate", "report", "digits", "--fidelity"])
    assert out.exit_code == 0, out.output
    assert ("note: this archive holds no low-fidelity trainings (only full ones, 10 epochs on the whole training split)"
            in out.stderr)
    assert "proxies vs full training" not in out.stdout  # no empty table


def test_a_problem_reads_the_archive_of_its_own_epochs(tmp_path, monkeypatch):
    """digits-long (30 epochs) shares the data set of digits (10 epochs): its report reads the archive
    that holds 30-epoch trainings (digits-fidelity.nc), and says so; digits keeps digits.nc."""
    from moo_snn.cli.surrogate_cmd import problem_archive
    from moo_snn.config.problem import load_problem
    from moo_snn.surrogate import archive as arc

    monkeypatch.chdir(tmp_path)
    said = []
    long_archive = problem_archive(load_problem("digits-long"), say=said.append)
    assert arc.trained(long_archive, epochs=30, train_fraction=1.0).sizes["record"] >= 64  # 64 networks, 20 twice
    assert len(said) == 1 and said[0].startswith("reading ") and "digits-fidelity.nc" in said[0] and "30 epochs" in said[0]
    said.clear()
    short = problem_archive(load_problem("digits"), say=said.append)
    assert said == [] and set(short.epochs.values) == {10}
    out = CliRunner().invoke(app, ["surrogate", "report", "digits-long", "--fidelity", "--json"])
    import json

    assert json.loads(out.stdout)["full_epochs"] == 30 and "digits-fidelity.nc" in out.stderr


def test_plan_says_when_the_space_gives_fewer_networks_than_the_bootstrap_asks():
    from moo_snn.cli.plan_cmd import bootstrap_text

    missing = dict(bootstrap=100000, from_archive=0, to_train=22397, archive_state="missing", archive="s/d.nc", archive_records=0)
    assert bootstrap_text(missing) == (
        "bootstrap: 22397 of 100000 networks trained (no archive at s/d.nc to start from); the sampler found only 22397 "
        "distinct feasible networks in the space (random draws and a targeted search), fewer than the 100000 asked: "
        "the run measures those")
    partly = dict(missing, from_archive=200, to_train=22197, archive_state="matches", archive_records=200)
    assert bootstrap_text(partly).startswith("bootstrap: 22197 of 100000 networks trained, 200 taken from s/d.nc; "
                                             "the sampler found only 22397 distinct")
    enough = dict(bootstrap=16, from_archive=3, to_train=13, archive_state="matches", archive="s/d.nc", archive_records=3)
    assert bootstrap_text(enough) == "bootstrap: 13 of 16 networks trained, 3 taken from s/d.nc"  # nothing short


TINY = {'ops = ["zero", "skip", "conv1x1", "conv3x3"]': 'ops = ["zero", "conv1x1"]', "backward = true": "backward = false",
        "channels = [4, 8, 16, 32]": "channels = [4]", "timesteps = [1, 2, 4, 6]": "timesteps = [1]",
        "weight_bits = [2, 4, 8]": "weight_bits = [4]", "final_pool = [1, 2, 4]": "final_pool = [1]",
        "hidden = [0, 32, 128]": "hidden = [0]"}


@pytest.mark.slow  # two searches' set-up on a tiny space: 4-8 s on the shared machine
def test_a_tiny_space_gives_the_bootstrap_every_feasible_network_it_holds(tmp_path):
    """Forward conv1x1-or-zero edges at fixed widths: 2**6 = 64 genomes, counted exhaustively; the
    plan's bootstrap finds exactly the distinct feasible ones and says it could not find 50."""
    import itertools

    import numpy as np

    from moo_snn.cli.plan_cmd import bootstrap_text
    from moo_snn.evaluation import meets_cost_limits
    from moo_snn.search.bootstrap_plan import bootstrap_coverage
    from moo_snn.search.loop import with_overrides
    from moo_snn.space import SearchSpace

    text = (Path(__file__).resolve().parents[1] / "problems" / "digits.toml").read_text()
    for old, new in TINY.items():
        assert old in text, old
        text = text.replace(old, new)
    spec = with_overrides(parse_problem(text), bootstrap=50)
    space = SearchSpace(spec.space)
    every = space.repair(np.array(list(itertools.product(*[range(lo, hi + 1) for lo, hi in zip(space.xl, space.xu)]))))
    assert len(every) == 64
    feasible = {str(space.decode(x)) for x in every[meets_cost_limits(spec, space, every)]}
    coverage = bootstrap_coverage(spec, tmp_path / "none.nc").to_dict()
    assert coverage["to_train"] == len(feasible) < 50
    assert f"the sampler found only {len(feasible)} distinct feasible networks" in bootstrap_text(coverage)


@pytest.mark.parametrize("edit, said", [
    (lambda ds: ds.drop_vars("val_accuracy"), "variable 'val_accuracy' is missing"),
    (lambda ds: ds.drop_vars(["hypervolume", "test_accuracy"]), "variable 'test_accuracy' is missing (and 1 more)"),
    (lambda ds: ds.assign_attrs(reference_point="[1, 2]"), "attribute 'reference_point' has 2 values for the file's 3 objectives"),
    # the budget's and the ladder's attributes (a ValueError / JSONDecodeError / KeyError, exit 1, before)
    (lambda ds: ds.assign_attrs(spent_fte="lots"), "attribute 'spent_fte' holds 'lots'; expected a number"),
    (lambda ds: ds.assign_attrs(budget_refused="{not json"), "attribute 'budget_refused' is not JSON text"),
    (lambda ds: ds.assign_attrs(budget_refused='{"round": 1}'), "attribute 'budget_refused' holds"),
    (lambda ds: ds.assign_attrs(ladder_log='[["a", 1]]'), "expected a JSON list of [architecture, level, round, accuracy]"),
])
def test_a_results_file_another_tool_edited_is_a_one_line_error(tmp_path, edit, said):
    """(pareto and export stopped with AttributeError / a broadcast ValueError: exit 1, "a bug", with a traceback file.)"""
    import xarray as xr

    import moo_snn

    ds = xr.open_dataset(Path(__file__).resolve().parent / "data" / "reference-run.nc", engine="h5netcdf").load()
    edit(ds).to_netcdf(tmp_path / "edited.nc", engine="h5netcdf")
    with pytest.raises(ResultsError, match=re.escape(said)):
        moo_snn.open_results(tmp_path / "edited.nc")
    out = CliRunner().invoke(app, ["pareto", str(tmp_path / "edited.nc")])
    assert out.exit_code == 2 and said in " ".join(out.output.split()), out.output


def test_a_resume_of_a_file_whose_options_another_tool_edited_is_a_one_line_error(tmp_path):
    """``options = '{"rounds": "two"}'``: a resume stopped with TypeError ('<' between int and str), exit 1."""
    import xarray as xr

    ds = xr.open_dataset(Path(__file__).resolve().parent / "data" / "reference-run.nc", engine="h5netcdf").load()
    options = json.loads(ds.attrs["options"])
    ds.assign_attrs(options=json.dumps(dict(options, rounds="two"))).to_netcdf(tmp_path / "edited.nc", engine="h5netcdf")
    out = CliRunner().invoke(app, ["optimize", "--resume", str(tmp_path / "edited.nc"), "--rounds", "9"])
    assert out.exit_code == 2, out.output
    assert "attribute 'options': [search] rounds: expected an integer, found 'two'" in " ".join(out.output.split())
