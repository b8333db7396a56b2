"""``moo_snn.optimize`` and ``moo_snn.network_costs``: the library does what the commands do.

The commands are thin over these functions, so the tests compare the library with the command line
(same options, same trained set and hypervolume), with the search's own vectorised costs
(:func:`moo_snn.population_costs`), and check the refusals a resume has on the command line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import moo_snn
from moo_snn.cli import app
from moo_snn.errors import ArchitectureError, ProblemError, ResultsError
from moo_snn.run import SearchModeChoiceError, prepare_optimize


DATA = Path(__file__).parent / "data"
DIGITS = moo_snn.load_problem("digits").source
TINY = (DIGITS.replace("epochs = 10", "epochs = 2")  # real trainings, 2 epochs: seconds each
        .replace("accuracy = { min = 0.9 }", "accuracy = { min = 0.3 }"))  # a front after 2 epochs
SEARCH = dict(rounds=1, generations=2, pop_size=8, survivors=2)


def meaning(ds) -> dict:
    """What a run found: trained arch → (status, val, test), the measured front, the HV of each round."""
    status = ds.status.values.astype(str)
    done = status != "predicted"
    return {"trained": {str(a): (s, float(v), float(t)) for a, s, v, t in
                        zip(ds.arch.values[done], status[done], ds.val_accuracy.values[done], ds.test_accuracy.values[done])},
            "front": sorted(str(a) for a in ds.arch.values[ds.on_front.values]),
            "hypervolume": [float(h) for h in ds.hypervolume.values]}


@pytest.mark.slow  # 2 x (3 bootstrap + 2 survivor) digits trainings of 2 epochs on one thread: ~20 s on the shared machine
def test_optimize_gives_the_run_the_command_gives(tmp_path, monkeypatch):
    """bootstrap 3 (a [search] override only the library can give), rounds 1, survivors 2,
    generations 2, population 8, one torch thread: the same trained set, accuracies, front and HV."""
    monkeypatch.chdir(tmp_path)
    Path("tiny.toml").write_text(TINY)
    Path("tiny-b3.toml").write_text(TINY.replace("bootstrap = 16", "bootstrap = 3"))
    ds = moo_snn.optimize("tiny.toml", "lib.nc", search={"bootstrap": 3, **SEARCH}, archive="none", torch_threads=1)
    args = ["optimize", "tiny-b3.toml", "--out", "cli.nc", "--archive", "none", "--torch-threads", "1",
            *[f"--{k.replace('_', '-')}={v}" for k, v in SEARCH.items()]]
    result = CliRunner(env={"MOO_SNN_LOG_INTERVAL": "0"}).invoke(app, args)
    assert result.exit_code == 0, result.output
    cli = moo_snn.open_results("cli.nc")
    lib, found = meaning(ds), meaning(cli)
    assert len(lib["trained"]) == 5 and ds.attrs["status"] == "complete" and lib["front"] and lib["hypervolume"][0] > 0
    assert lib["trained"].keys() == found["trained"].keys()
    for arch, values in found["trained"].items():
        assert lib["trained"][arch] == values, arch
    assert lib["front"] == found["front"]
    np.testing.assert_allclose(lib["hypervolume"], found["hypervolume"], rtol=1e-12)
    assert json.loads(ds.attrs["options"]) == json.loads(cli.attrs["options"])  # bootstrap 3 in both
    assert meaning(moo_snn.open_results("lib.nc")) == lib  # what it returns is what it wrote
    assert ds.attrs["command"].startswith("moo_snn.optimize(problem='tiny.toml'")


@pytest.fixture
def first(tmp_path):
    """A copy of the stored reference run (tests/data: a complete 2-round run of reference-problem.toml)."""
    path = tmp_path / "run.nc"
    path.write_bytes((DATA / "reference-run.nc").read_bytes())
    return path


@pytest.mark.slow  # reads and writes of a results file (~60 variables each) and one round with one training: 10-25 s
def test_optimize_resumes_with_the_stored_options_and_says_what_changed(first):
    """The complete 2-round run (20 full trainings, 20 FTE spent) asked for 3 rounds: with a budget it has
    already spent there is nothing to do and the file is left as it was (it was turned into a
    ``budget_spent`` run having trained nothing); with room for one training the stored options are
    kept, the change is reported, the file is continued and says why it stopped; asked for 2 rounds
    there is nothing to do and the stored results come back as they are."""
    stored = moo_snn.open_results(first)
    before = first.read_bytes()
    prepared = prepare_optimize(resume=first, search={"rounds": 2})
    assert prepared.nothing_to_do == f"{first} is a complete run of 2 rounds (asked: 2)" and prepared.data is None
    assert meaning(prepared.stored) == meaning(stored)  # what optimize returns then
    spent = prepare_optimize(resume=first, search={"rounds": 3}, budget_fte=0)
    hours = float(stored.attrs["spent_train_hours"])
    assert spent.nothing_to_do == (f"{first} is a complete run of 2 rounds (asked: 3) that has spent 20 FTE ({hours:.3g} h "
                                   f"of training), and --budget 0 leaves no room for another training (1 FTE)")
    assert meaning(moo_snn.optimize(resume=first, search={"rounds": 3}, budget_fte=0)) == meaning(stored)
    assert first.read_bytes() == before  # the file as it was

    changes = []
    ds = moo_snn.optimize(resume=first, search={"rounds": 3}, budget_fte=21, on_option_change=lambda *c: changes.append(c))
    assert changes == [("rounds", 2, 3)]
    assert ds.attrs["status"] == "budget_spent" and ds.attrs["budget_exhausted"] and ds.sizes["round"] == 3
    assert int(ds.trained.values.sum()) == int(stored.trained.values.sum()) + 1  # the one training 21 FTE had room for
    options = json.loads(ds.attrs["options"])
    assert options == {**json.loads(stored.attrs["options"]), "rounds": 3}  # torch threads, generations... as stored
    assert ds.attrs["command"] == f"moo_snn.optimize(resume={str(first)!r}, search={{'rounds': 3}}, budget_fte=21)"


@pytest.mark.slow  # five reads of the results file and a SearchRun set up: 4-6 s on the shared machine
def test_a_resume_refuses_another_problem_seed_or_objectives(first):
    with pytest.raises(ResultsError, match="another problem than digits"):
        prepare_optimize("digits", resume=first)
    assert prepare_optimize(DATA / "reference-problem.toml", resume=first).path == first  # the same problem is fine
    with pytest.raises(ProblemError, match="cannot switch to accuracy, params"):
        prepare_optimize(resume=first, objectives=["accuracy", "params"])
    prepared = prepare_optimize(resume=first, search={"seed": 3, "rounds": 3})
    with pytest.raises(ResultsError, match="this run's seed is 0"):
        prepared.execute()


def test_prepare_checks_search_values_strategy_and_mode_before_writing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProblemError, match=r"unknown key 'round'.*rounds"):
        prepare_optimize("digits", search={"round": 2})
    with pytest.raises(ProblemError, match=r"\[search\] pop_size: 2 is below the minimum 4"):
        prepare_optimize("digits", search={"pop_size": 2})
    with pytest.raises(ProblemError, match="strategy: expected one of moo, hasnas, found 'nsga'"):
        prepare_optimize("digits", strategy="nsga")
    with pytest.raises(SearchModeChoiceError, match="strategy 'moo' only"):
        prepare_optimize("digits", strategy="hasnas", asynchronous=True)
    assert not list(tmp_path.iterdir())  # nothing written by a refused start
    # defaults: ./results/<problem>-seed<N>-<time>.nc, async with 2+ workers, sync in process
    new = prepare_optimize("digits", search={"seed": 7})
    assert new.path.parent == Path("results") and new.path.name.startswith("digits-seed7-") and new.path.suffix == ".nc"
    assert not new.asynchronous and new.data is not None and new.spec.search.seed == 7
    assert prepare_optimize("digits", workers=2).asynchronous and prepare_optimize("digits", workers=2).data is None
    assert prepare_optimize("digits", out="x.nc", budget_fte=2.5).budget.fte == 2.5
    with pytest.raises(ProblemError, match="budget_hours: expected a number >= 0"):
        prepare_optimize("digits", budget_hours=-1.0)


def test_network_costs_are_the_search_costs_of_the_same_network():
    """The library's one-network costs equal :func:`population_costs` of its genome (the search's
    vectorised path), the layers add up to the total, and each limit is checked by hand."""
    problem = moo_snn.load_problem("digits")
    arch = "0303-0030-2002-0200_c16_t4_w4_p1_h0"
    costs = moo_snn.network_costs(problem, arch)
    space = moo_snn.SearchSpace(problem.space)
    report = moo_snn.population_costs(problem, space, space.encode(moo_snn.Architecture.parse(arch))[None])
    for name, value in costs.totals.items():
        assert value == pytest.approx(float(getattr(report, name)[0]), rel=1e-12), name
    assert sum(layer["area_mm2"] for layer in costs.layers) + costs.shared_area_mm2 == pytest.approx(costs.totals["area_mm2"])
    assert sum(layer["params"] for layer in costs.layers) == costs.totals["params"]
    for c in problem.constraints:
        check = costs.limits[c.name]
        if c.name == "accuracy":
            assert check["value"] is None and check["met"] is None  # not a cost
        else:
            assert check["met"] == (costs.totals[c.name] <= c.limit), c.name
    assert costs.network == arch and costs.problem == "digits" and costs.mode == problem.hardware.mode
    spikesim = moo_snn.network_costs("digits", arch, mode="spikesim", spike_rate=0.5)
    assert spikesim.mode == "spikesim" and spikesim.spike_rate == 1.0  # SpikeSim reads every input


def test_network_costs_warns_of_a_network_outside_the_space():
    """The library warns as ``moo-snn cost`` does (one OutsideSpaceWarning naming each value and the space's
    choices), and costs the network anyway; a network inside the space gives no warning."""
    import warnings

    from moo_snn.space import OutsideSpaceWarning

    with pytest.warns(OutsideSpaceWarning) as caught:
        costs = moo_snn.network_costs("digits", "0303-0030-0003-0000_c12_t3_w4_p1_h0")
    assert len(caught) == 1
    assert str(caught[0].message) == (
        "0303-0030-0003-0000_c12_t3_w4_p1_h0 is outside the space of digits: channels 12 (valid: 4, 8, 16, 32); "
        "timesteps 3 (valid: 1, 2, 4, 6); costing it anyway (the search never proposes it, and moo-snn surrogate "
        "predict refuses it)")
    assert caught[0].filename == __file__  # points at the caller's line
    assert costs.totals["params"] > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutsideSpaceWarning)
        moo_snn.network_costs("digits", "0303-0030-0003-0000_c16_t4_w4_p1_h0")
        moo_snn.network_costs("digits")


def test_train_architecture_warns_of_a_network_outside_the_space():
    """The same warning from the library's training (trained anyway), as ``moo-snn train`` says it."""
    from moo_snn.space import OutsideSpaceWarning

    from moo_snn.errors import TrainingError

    problem = moo_snn.load_problem("digits")
    with pytest.warns(OutsideSpaceWarning, match=r"^0001-0000-0000-0000_c12_t1_w2_p1_h0 is outside the space of digits: "
                                                  r"channels 12 \(valid: 4, 8, 16, 32\); training it anyway"):
        with pytest.raises(TrainingError, match="epochs must be >= 1"):  # the warning comes first; no training needed here
            moo_snn.train_architecture(problem, "0001-0000-0000-0000_c12_t1_w2_p1_h0", epochs=0)


def test_network_costs_refuses_what_it_cannot_cost():
    with pytest.raises(ProblemError, match="needs a PROBLEM"):
        moo_snn.network_costs(arch="0303-0030-2002-0200_c16_t4_w4_p1_h0")
    with pytest.raises(ProblemError, match="give a PROBLEM"):
        moo_snn.network_costs()
    with pytest.raises(ProblemError, match="mode: expected"):
        moo_snn.network_costs("digits", mode="fast")
    with pytest.raises(ArchitectureError, match="no forward path"):
        moo_snn.network_costs("digits", "0000-0000-0000-0000_c8_t4_w4_p1_h0")


def test_a_resume_keeps_the_runs_budget_unless_given_a_new_one(tmp_path):
    from moo_snn.results import open_results
    from moo_snn.run import prepare_optimize

    ds = open_results(DATA / "reference-run.nc").load()
    assert ds.attrs["budget_fte"] == -1  # stored without a cap: none on resume
    assert prepare_optimize(resume=DATA / "reference-run.nc").budget is None
    ds.attrs["budget_fte"] = 1.5
    ds.to_netcdf(tmp_path / "capped.nc")
    assert prepare_optimize(resume=tmp_path / "capped.nc").budget.fte == 1.5
    assert prepare_optimize(resume=tmp_path / "capped.nc", budget_fte=3.0).budget.fte == 3.0
