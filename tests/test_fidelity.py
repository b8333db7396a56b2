"""Multi-fidelity search (DESIGN §6b): levels, costs, subsets, the ladder in the loop, the budget, plan pricing."""

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from moo_snn.cli import app
from moo_snn.config.problem import load_problem, parse_problem
from moo_snn.data.splits import DataSplits, training_subset
from moo_snn.errors import DataError, ProblemError
from moo_snn.executor import training_tasks
from moo_snn.search import fidelity
from moo_snn.search.loop import SearchRun
from moo_snn.surrogate import archive as arc
from moo_snn.surrogate.features import ArchitectureFeaturizer
from moo_snn.surrogate.predictor import predictor_inputs
from small_search import TEXT, PhaseLines

LADDER = "\n[fidelity]\nepochs = [1, 2]\ntrain_fraction = [0.25, 0.5]\neta = 2\npromote = 2\n"
SMALL = TEXT.replace("epochs = 2", "epochs = 8").replace("bootstrap = 16", "bootstrap = 6").replace("survivors = 2", "survivors = 4")


def test_levels_and_their_cost_in_full_training_equivalents():
    spec = parse_problem(SMALL + LADDER)
    levels = fidelity.levels(spec)
    # hand-computed: epochs x fraction / full epochs (8)
    assert [(lv.epochs, lv.train_fraction, lv.fte, lv.full) for lv in levels] == [
        (1, 0.25, 1 * 0.25 / 8, False), (2, 0.5, 2 * 0.5 / 8, False), (8, 1.0, 1.0, True)]
    assert fidelity.levels(parse_problem(SMALL))[0].full  # no [fidelity]: one level, full training
    assert fidelity.level_of(spec, 2, 0.5).index == 1 and fidelity.level_of(spec, 3, 0.5) is None


def test_the_fidelity_table_is_checked_and_documented():
    with pytest.raises(ProblemError, match="one fraction per level"):
        parse_problem(SMALL + "\n[fidelity]\nepochs = [1, 2]\ntrain_fraction = [0.5]\n")
    with pytest.raises(ProblemError, match="grow strictly"):
        parse_problem(SMALL + "\n[fidelity]\nepochs = [2, 1]\n")
    with pytest.raises(ProblemError, match="below full training"):
        parse_problem(SMALL + "\n[fidelity]\nepochs = [8]\n")
    with pytest.raises(ProblemError, match=r"\[fidelity\] epochs\[1\]: 0 is below the minimum 1"):  # the item, as type errors name it
        parse_problem(SMALL + "\n[fidelity]\nepochs = [1, 0]\n")
    with pytest.raises(ProblemError, match="promte"):
        parse_problem(SMALL + "\n[fidelity]\nepochs = [1]\npromte = 2\n")
    # a table without epochs: its keys were ignored without a word and the run trained every network fully
    with pytest.raises(ProblemError, match=r"\[fidelity\] sets predictor, promote but no epochs"):
        parse_problem(SMALL + '\n[fidelity]\npromote = 3\npredictor = "full_only"\n')
    assert not parse_problem(SMALL + "\n[fidelity]\nepochs = []\n").fidelity.enabled  # as documented: no ladder
    out = CliRunner().invoke(app, ["problems", "--keys", "--json"])
    keys = {row["key"] for row in json.loads(out.stdout)["fidelity"]}
    assert {"epochs", "train_fraction", "promote", "eta", "predictor"} <= keys


def test_training_subset_is_stratified_deterministic_and_leaves_validation_alone():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), [40, 30, 20, 10]).astype(np.int64)
    x = rng.random((len(y), 1, 2, 2), dtype=np.float32)
    data = DataSplits(x, y, x[:5], y[:5], x[:7], y[:7], 4, "toy")
    half = training_subset(data, 0.5, seed=3)
    assert len(half.y_train) == 50
    assert np.array_equal(np.bincount(half.y_train), [20, 15, 10, 5])  # class shares kept
    assert np.array_equal(training_subset(data, 0.5, seed=3).x_train, half.x_train)
    assert half.x_val is data.x_val and half.x_test is data.x_test
    assert training_subset(data, 1.0, seed=3) is data
    with pytest.raises(DataError, match=r"\(0, 1\]"):
        training_subset(data, 0.0, seed=3)


def test_budget_counts_whole_trainings():
    budget = fidelity.Budget(fte=2.0)
    assert budget.affordable(10, 0.25, spent_fte=0.0, spent_seconds=0.0) == 8
    assert budget.affordable(10, 1.0, spent_fte=1.5, spent_seconds=0.0) == 0
    assert budget.affordable(3, 0.5, spent_fte=1.0, spent_seconds=0.0) == 2
    assert fidelity.Budget(hours=1.0).affordable(5, 1.0, 0.0, 3600.0) == 0
    assert fidelity.Budget().affordable(5, 1.0, 1e9, 1e9) == 5


def test_phase_plan_of_digits_long_by_hand():
    plan = fidelity.phase_plan(load_problem("digits-long"))
    # bootstrap 16 and 4 x 6 survivors at 8 ep x 0.25 of 30 ep; (4 rounds + round 0) x 2 promotions at most
    assert plan["bootstrap"]["fte"] == pytest.approx(16 * 2 / 30)
    assert plan["rounds"]["fte"] == pytest.approx(24 * 2 / 30)
    assert plan["promotions"]["trainings"] == 10 and plan["promotions"]["fte"] == 10
    assert plan["_total"] == pytest.approx(40 * 2 / 30 + 10)
    assert plan["_total_without_ladder"] == 40
    two = fidelity.phase_plan(parse_problem(SMALL + LADDER))  # 2 rounds, 4 survivors, bootstrap 6, eta 2, promote 2
    assert two["rungs L1 (2 ep, 0.5 data)"]["trainings"] == 2 * 2 + 3  # ceil(4/2) per round, ceil(6/2) in round 0
    assert two["promotions"]["trainings"] == 3 * 2
    # a round cannot promote more than reach its top level: promote 100 with 4 survivors -> ceil(4/2) = 2 a round
    many = fidelity.phase_plan(parse_problem((SMALL + LADDER).replace("promote = 2", "promote = 100")))
    assert many["promotions"]["trainings"] == 2 * 2 + 3
    with pytest.raises(ProblemError, match="promote"):
        parse_problem((SMALL + LADDER).replace("promote = 2", "promote = 0"))  # a ladder that never reaches the front


def test_predictor_inputs_carry_the_fidelity_and_plain_strings_mean_full():
    archs = ["0303-0030-0003-0000_c16_t4_w4_p1_h0"] * 2
    f = ArchitectureFeaturizer(use_fidelity=True).fit(predictor_inputs(archs, fte=[0.25, 1.0]))
    rows = f.transform(predictor_inputs(archs, fte=[0.25, 1.0]))
    assert rows[:, -1].tolist() == [-2.0, 0.0]  # log2 of the FTE
    assert f.transform(predictor_inputs(archs[:1]))[0, -1] == 0.0  # no column: full fidelity
    assert f.get_feature_names_out()[-1] == "log2_fidelity_fte"


def test_archive_keeps_one_record_per_fidelity(tmp_path):
    spec = parse_problem(SMALL)
    archive = arc.empty_archive(spec)
    base = dict(arch="0303-0030-0003-0000_c16_t4_w4_p1_h0", status="trained", test_accuracy=0.5, train_seconds=1.0, seed=0,
                spike_rates={})
    for epochs, fraction, acc in ((1, 0.25, 0.3), (8, 1.0, 0.9), (8, 1.0, 0.95)):
        archive = arc.append(archive, dict(base, epochs=epochs, train_fraction=fraction, val_accuracy=acc))
    assert archive.sizes["record"] == 2  # the second full record replaced the first, the proxy stays
    assert arc.trained(archive, train_fraction=1.0).val_accuracy.values.tolist() == [0.95]
    assert arc.full_fidelity(archive, 8).sizes["record"] == 1
    old = archive.drop_vars("train_fraction")  # an archive written before fidelities existed
    arc.save_archive(old, tmp_path / "old.nc")
    assert arc.load_archive(tmp_path / "old.nc").train_fraction.values.tolist() == [1.0, 1.0]


class FakeExecutor:
    """Trainings without training: accuracy grows with width and timesteps; a proxy is a noisy-free
    monotone copy of it scaled by its fidelity. Records every task."""

    def __init__(self):
        self.tasks = []

    def run(self, tasks, data=None):
        from moo_snn.architecture import Architecture

        for i, t in enumerate(tasks):
            self.tasks.append(t)
            a = Architecture.parse(t.arch)
            full = 0.5 + 0.4 * math.log2(a.channels) / 5 + 0.05 * math.log2(a.timesteps + 1)
            acc = full * (0.6 + 0.4 * t.epochs * t.train_fraction / 8)
            yield i, dict(arch=t.arch, status="trained", val_accuracy=acc, test_accuracy=acc, train_seconds=0.01, epochs=t.epochs,
                          seed=t.seed, spike_rates={}, train_fraction=t.train_fraction, samples_seen=t.epochs * 100)

    def close(self):
        pass


class InterruptedAfterTwo(FakeExecutor):
    """Ctrl-C after the first two trainings of its first batch."""

    def run(self, tasks, data=None):
        for n, item in enumerate(super().run(tasks, data)):
            if n == 2:
                raise KeyboardInterrupt
            yield item


def test_the_loop_measures_cheaply_promotes_the_best_and_fronts_only_full_trainings(tmp_path):
    spec = parse_problem(SMALL + LADDER)
    executor = FakeExecutor()
    ds = SearchRun(spec, tmp_path / "run.nc", archive_path=tmp_path / "none.nc", executor=executor).run()
    kinds = [(t.epochs, t.train_fraction) for t in executor.tasks]
    assert kinds[:6] == [(1, 0.25)] * 6  # the bootstrap at the cheapest level
    n_full = kinds.count((8, 1.0))
    assert 0 < n_full <= 2 * (spec.search.rounds + 1)  # at most `promote` per round, and in round 0 (the bootstrap's ladder)
    first_full = kinds.index((8, 1.0))
    assert first_full == 6 + 3  # bootstrap (6 at level 0), ceil(6/2) raised to level 1, then round 0's promotion
    status = ds.status.values.astype(str)
    assert set(status) <= {"predicted", "proxy", "trained"}
    front = ds.on_front.values
    assert front.any() and (status[front] == "trained").all() and (ds.fidelity_epochs.values[front] == 8).all()
    # cost accounting: every task's FTE, per candidate and per round (bootstrap outside the rounds)
    fte = sum(e * f / 8 for e, f in kinds)
    assert ds.cost_fte.values.sum() == pytest.approx(fte)
    assert ds.attrs["spent_fte"] == pytest.approx(fte)
    promoted_in_0 = int((ds.round_promoted.values == 0).sum())
    assert promoted_in_0 >= 1
    # round 0 (the bootstrap and its ladder) is outside the rounds' records: the attribute bootstrap_fte holds it
    bootstrap = 6 * 0.25 / 8 + 3 * 1.0 / 8 + promoted_in_0  # 6 at level 0, 3 raised to level 1, the promoted fully trained
    assert ds.attrs["bootstrap_fte"] == pytest.approx(bootstrap)
    assert ds.round_fte.values.sum() == pytest.approx(fte - bootstrap)
    assert ds.attrs["bootstrap_fte"] + ds.round_fte.values.sum() == pytest.approx(ds.attrs["spent_fte"])
    assert ds.n_promoted_in_round.values.sum() == n_full - promoted_in_0
    assert ds.samples_seen.values.sum() == sum(t.epochs * 100 for t in executor.tasks)
    promoted = ds.round_promoted.values >= 0
    assert (status[promoted] == "trained").all() and np.isfinite(ds.proxy_accuracy.values[promoted]).all()


def test_a_plain_runs_bootstrap_and_rounds_add_up_to_its_spent_fte(tmp_path):
    """Without [fidelity] every training is full (1 FTE): bootstrap 6, then 4 survivors in each of the 2 rounds."""
    spec = parse_problem(SMALL)
    assert (spec.search.bootstrap, spec.search.survivors, spec.search.rounds) == (6, 4, 2)
    ds = SearchRun(spec, tmp_path / "run.nc", archive_path=tmp_path / "none.nc", executor=FakeExecutor()).run()
    assert ds.attrs["bootstrap_fte"] == 6.0 and ds.round_fte.values.tolist() == [4.0, 4.0] and ds.attrs["spent_fte"] == 14.0
    from moo_snn.results import open_results

    read = open_results(tmp_path / "run.nc")  # the attribute is read back as a number
    assert read.attrs["bootstrap_fte"] + read.round_fte.values.sum() == read.attrs["spent_fte"]


def test_without_the_bootstraps_ladder_the_first_promotion_follows_round_1(tmp_path):
    """promote_bootstrap = false: no full training before round 1's survivors; the plan prices what the run
    does (hand count: bootstrap 6 at level 0, then per round 4 survivors, ceil(4/2) = 2 raised, 2 promoted)."""
    spec = parse_problem(SMALL + LADDER + "promote_bootstrap = false\n")
    executor = FakeExecutor()
    ds = SearchRun(spec, tmp_path / "run.nc", archive_path=tmp_path / "none.nc", executor=executor).run()
    kinds = [(t.epochs, t.train_fraction) for t in executor.tasks]
    assert kinds[:6 + 4] == [(1, 0.25)] * 10  # the bootstrap, then round 1's survivors, all at the cheapest level
    assert kinds[10:12] == [(2, 0.5)] * 2 and kinds[12] == (8, 1.0)  # round 1's rung, then its first promotion
    assert not (ds.round_promoted.values == 0).any() and (ds.round_promoted.values == 1).any()
    assert ds.on_front.values.any()
    plan = fidelity.phase_plan(spec)
    assert plan["rungs L1 (2 ep, 0.5 data)"]["trainings"] == 2 * 2 and plan["promotions"]["trainings"] == 2 * 2
    n_full = kinds.count((8, 1.0))
    assert n_full <= plan["promotions"]["trainings"]


@pytest.mark.slow  # two search runs (fake trainings, real NSGA-II and checkpoints): 10-35 s
def test_a_budget_stops_training_says_so_and_a_larger_one_resumes(tmp_path):
    spec = parse_problem(SMALL + LADDER)
    out = tmp_path / "run.nc"
    first = FakeExecutor()
    ds = SearchRun(spec, out, archive_path=tmp_path / "none.nc", executor=first, budget=fidelity.Budget(fte=1.5)).run()
    assert ds.attrs["spent_fte"] <= 1.5 + 1e-9 and ds.attrs["budget_exhausted"] == 1
    assert "budget spent" in ds.attrs["budget_note"] and ds.sizes["round"] < spec.search.rounds
    second = FakeExecutor()
    ds2 = SearchRun(spec, out, archive_path=tmp_path / "none.nc", executor=second, resume=out,
                    budget=fidelity.Budget(fte=100.0)).run()
    assert ds2.sizes["round"] == spec.search.rounds and ds2.attrs["budget_exhausted"] == 0
    assert ds2.attrs["spent_fte"] > ds.attrs["spent_fte"]
    done_before = {str(a) for a, s in zip(ds.arch.values, ds.status.values) if s != "predicted"}
    assert not any(t.arch in done_before and (t.epochs, t.train_fraction) == (1, 0.25) for t in second.tasks)


@pytest.mark.slow  # a search run (fake trainings, real NSGA-II and checkpoints): 10-25 s
def test_without_fidelity_every_training_is_full(tmp_path):
    spec = parse_problem(SMALL)
    executor = FakeExecutor()
    ds = SearchRun(spec, tmp_path / "run.nc", archive_path=tmp_path / "none.nc", executor=executor).run()
    assert {(t.epochs, t.train_fraction) for t in executor.tasks} == {(8, 1.0)}
    assert "proxy" not in set(ds.status.values.astype(str))
    assert ds.cost_fte.values.sum() == len(executor.tasks) == ds.attrs["spent_fte"]


@pytest.mark.slow  # 15 s (turn 5: the default suite passed 10 min); the refusals below stay in the default suite
def test_surrogate_predict_json(tmp_path):
    out = CliRunner().invoke(app, ["surrogate", "predict", "digits", "--arch", "0303-0030-0003-0000_c16_t4_w4_p1_h0",
                                   "--arch", "0001-0000-0000-0000_c4_t1_w2_p4_h32", "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert [sorted(r) for r in rows] == [["accuracy", "accuracy_std", "arch", "canonical"]] * 2
    assert rows[0]["accuracy"] > rows[1]["accuracy"]  # 16 channels, 4 timesteps vs 4 channels, 1 timestep
    # the input string comes back as given, the pruned one beside it (edge 0-1 leads nowhere: pruned)
    odd = "0101-0000-0000-0000_c8_t1_w4_p1_h0"
    row = json.loads(CliRunner().invoke(app, ["surrogate", "predict", "digits", "--arch", odd, "--json"]).stdout)[0]
    assert row["arch"] == odd and row["canonical"] == "0001-0000-0000-0000_c8_t1_w4_p1_h0"


def test_surrogate_predict_refuses_a_wrong_architecture_in_one_line():
    for bad_arch, says in (("nonsense", "error"), ("0000-0000-0000-0000_c8_t4_w4_p1_h0", "no forward path"),
                           ("0001-0000-0000-0000_c7_t1_w4_p1_h0", "7")):  # no path; 7 channels: not in digits' space
        bad = CliRunner().invoke(app, ["surrogate", "predict", "digits", "--arch", bad_arch])
        assert bad.exit_code != 0 and says in bad.output, (bad_arch, bad.output)


def test_plan_sizes_come_from_published_data_set_sizes():
    from moo_snn.training.plan import split_sizes

    assert split_sizes(load_problem("digits")) == (1797 - 360 - 270, 360 + 270)  # ceil(0.2 x 1797), ceil(0.15 x 1797)
    n_train, n_eval = split_sizes(load_problem("cifar10-hasnas"))
    assert n_train + n_eval == 60000


@pytest.mark.slow  # times training steps of CIFAR-sized networks on the CPU: a few minutes on a busy machine
def test_plan_runs_without_the_cifar_data():
    out = CliRunner().invoke(app, ["plan", "cifar10-hasnas", "--json", "--torch-threads", "1"])
    assert out.exit_code == 0, out.output
    plan = json.loads(out.stdout)
    assert {"estimated_hours", "full_training_equivalents", "peak_memory_GB"} <= set(plan)
    # cifar10-hasnas has a [fidelity] ladder (and no archive): without it, 16 + 5 x 4 full trainings
    assert plan["full_training_equivalents_without_ladder"] == 16 + 5 * 4 and plan["bootstrap_from_archive"] == 0
    assert plan["peak_memory_GB"] >= plan["typical_peak_memory_GB"] > 0.5


def test_an_archive_matches_after_a_training_key_with_a_default_was_added():
    spec = parse_problem(SMALL)
    archive = arc.empty_archive(spec)
    stored = json.loads(archive.attrs["recipe"])
    del stored["training"]["weight_noise"]  # written before [training] weight_noise existed (default 0)
    archive.attrs["recipe"] = json.dumps(stored, sort_keys=True)
    assert arc.matches(archive, spec)
    stored["training"]["lr"] = 0.5  # a real difference still does not match
    archive.attrs["recipe"] = json.dumps(stored, sort_keys=True)
    assert not arc.matches(archive, spec)


def test_an_interrupted_run_keeps_its_budget_and_spending_in_the_file(tmp_path):
    from moo_snn.results import open_results

    spec = parse_problem(SMALL + LADDER)
    out = tmp_path / "run.nc"
    with pytest.raises(KeyboardInterrupt):
        SearchRun(spec, out, archive_path=tmp_path / "none.nc", executor=InterruptedAfterTwo(), budget=fidelity.Budget(fte=1.5)).run()
    ds = open_results(out)
    assert ds.attrs["status"] == "interrupted"
    assert ds.attrs["budget_fte"] == 1.5 and ds.attrs["budget_hours"] == -1
    assert ds.attrs["spent_fte"] == pytest.approx(2 * 0.25 / 8)  # the two level-0 trainings that finished


@pytest.mark.slow  # three search runs (fake trainings, real NSGA-II): 20-60 s
def test_a_ladder_run_interrupted_in_its_bootstrap_and_resumed_trains_what_the_uninterrupted_one_does(tmp_path):
    spec = parse_problem(SMALL + LADDER)
    whole = SearchRun(spec, tmp_path / "a.nc", archive_path=tmp_path / "none.nc", executor=FakeExecutor()).run()
    with pytest.raises(KeyboardInterrupt):
        SearchRun(spec, tmp_path / "b.nc", archive_path=tmp_path / "none.nc", executor=InterruptedAfterTwo()).run()
    resumed = SearchRun(spec, tmp_path / "b.nc", archive_path=tmp_path / "none.nc", executor=FakeExecutor(),
                        resume=tmp_path / "b.nc").run()

    def measured(ds):
        return {str(a): (str(s), int(e), float(f)) for a, s, e, f in
                zip(ds.arch.values, ds.status.values, ds.fidelity_epochs.values, ds.cost_fte.values) if s != "predicted"}

    assert measured(resumed) == measured(whole) and len(measured(whole)) > 6
    assert resumed.attrs["spent_fte"] == pytest.approx(whole.attrs["spent_fte"])



def test_a_level_too_small_to_hold_every_class_is_refused_before_anything_is_written(tmp_path):
    """``train_fraction = [0.001]`` of digits' training split keeps 2 samples for 10 classes: the run started and
    trained proxies on them (found trying the tool)."""
    from moo_snn.run_checks import check_before_writing

    tiny = parse_problem(SMALL + "\n[fidelity]\nepochs = [1]\ntrain_fraction = [0.001]\n")
    with pytest.raises(ProblemError, match=r"train_fraction\[0\] = 0.001 keeps \d+ of the \d+ training samples, fewer than the 10 classes"):
        check_before_writing(tiny, tmp_path / "r.nc", in_process=True, remote=False)
    assert not (tmp_path / "r.nc").exists()
    data = check_before_writing(parse_problem(SMALL + LADDER), tmp_path / "r.nc", in_process=True, remote=False)
    just = 10 / len(data.y_train) + 1e-6  # keeps exactly 10 samples: one per class is possible
    fidelity.check_levels(parse_problem(SMALL + f"\n[fidelity]\nepochs = [1]\ntrain_fraction = [{just:.6f}]\n"), data)


def test_a_ladder_run_never_spends_a_survivor_place_on_a_network_its_archive_holds(tmp_path):
    """(Survivors were chosen excluding only the ladder log's networks, so the archive's best networks took
    most places and the rounds then trained next to nothing: "training 6 survivors", 1 trained.)"""
    from moo_snn.evaluation import meets_cost_limits
    from moo_snn.space import SearchSpace

    spec = parse_problem(SMALL + LADDER)
    space = SearchSpace(spec.space)
    X = space.sample(400, np.random.default_rng(5))
    held = list(dict.fromkeys(str(space.decode(x)) for x in X[meets_cost_limits(spec, space, X)]))[:30]
    archive = arc.empty_archive(spec)
    for _, result in FakeExecutor().run(training_tasks(spec, held, seed=0)):
        archive = arc.append(archive, result)
    arc.save_archive(archive, tmp_path / "archive.nc")
    executor = FakeExecutor()
    ds = SearchRun(spec, tmp_path / "run.nc", archive_path=tmp_path / "archive.nc", executor=executor).run()
    assert not {t.arch for t in executor.tasks} & set(held)  # the archive's networks are read, never trained again
    searched = ds.round_trained.values >= 1
    assert searched.sum() == spec.search.rounds * spec.search.survivors  # every round trains all its survivors


def test_a_full_only_predictor_learns_from_the_proxies_until_two_full_trainings_exist(tmp_path):
    """predictor = 'full_only' with one promotion a round and none from the bootstrap: round 1's predictor has no
    full training to learn from (the run failed: "needs at least 2 trained networks ... see why in the trainings'
    messages above", after its bootstrap was paid for). It now says so and learns from the proxies until 2 exist."""
    text = SMALL + LADDER.replace("promote = 2", "promote = 1") + "promote_bootstrap = false\npredictor = \"full_only\"\n"
    spec = parse_problem(text)
    assert spec.fidelity.promote == 1 and spec.fidelity.predictor == "full_only"
    said = PhaseLines()
    ds = SearchRun(spec, tmp_path / "run.nc", archive_path=tmp_path / "none.nc", executor=FakeExecutor(), progress=said).run()
    assert ds.attrs["status"] == "complete" and ds.on_front.values.any()
    fallback = [line for line in said.lines if line.startswith("predictor: ")]
    assert fallback and fallback[0].startswith("predictor: 0 full training so far, too few")
    assert len(fallback) == spec.search.rounds == 2  # round 1 (none yet) and round 2 (round 1 promoted one)


def test_a_ladder_run_says_the_level_of_what_it_trains():
    """A proxy's accuracy (digits-long: 0.556 at 8 ep x 1/4) read like a full training's in the log: the phase
    lines of the bootstrap and the rounds now name the level, and each finished low-fidelity training says its own."""
    import tempfile
    from pathlib import Path

    from small_search import PhaseLines

    class Said(PhaseLines):
        def trained(self, arch, result):
            self.levels.append((result.get("level"), result["epochs"], result["train_fraction"]))

    said = Said()
    said.levels = []
    executor = FakeExecutor()
    with tempfile.TemporaryDirectory() as tmp:
        SearchRun(parse_problem(SMALL + LADDER), Path(tmp) / "r.nc", archive_path=Path(tmp) / "none.nc", executor=executor,
                  progress=said).run()
    assert "bootstrap: training 6 feasible architectures at L0 (1 ep, 0.25 data)" in said.lines
    assert "round 1/2: training 4 survivors at L0 (1 ep, 0.25 data)" in said.lines
    names = {(1, 0.25): "L0 (1 ep, 0.25 data)", (2, 0.5): "L1 (2 ep, 0.5 data)", (8, 1.0): None}
    assert said.levels == [(names[(t.epochs, t.train_fraction)], t.epochs, t.train_fraction) for t in executor.tasks]
    assert any(level is None for level, _, _ in said.levels)  # full trainings were made, and name no level


def test_a_ladder_run_that_starts_from_an_archive_promotes(tmp_path):
    """The first promotions are scored on the proxies' own scale (no gap to full training is known yet); they were
    scored against the measured front, which an archive of full trainings fills from the start, far above every
    proxy: no promotion was ever worth anything, so none was made and no gap was ever learnt (digits-long with its
    shipped archive: 24 proxies, 0 full trainings in 4 rounds). The archive here: 300 networks at the full recipe
    (a front over every cost region), at 0.99: above every full training of FakeExecutor, far above every proxy."""
    from moo_snn.space import SearchSpace
    from moo_snn.surrogate import archive as arc
    from moo_snn.surrogate.sampling import space_filling_sample

    spec = parse_problem(SMALL + LADDER)
    space, archive = SearchSpace(spec.space), arc.empty_archive(spec)
    for x in space_filling_sample(spec, space, 300, seed=5):
        a = space.decode(x)
        acc = 0.99
        archive = arc.append(archive, dict(arch=str(a), status="trained", val_accuracy=acc, test_accuracy=acc, train_seconds=1.0,
                                           epochs=spec.training.epochs, seed=0, params=1, spike_rates={"stem": 1.0}))
    arc.save_archive(archive, tmp_path / "a.nc")
    executor = FakeExecutor()
    ds = SearchRun(spec, tmp_path / "r.nc", archive_path=tmp_path / "a.nc", executor=executor).run()
    full = [t for t in executor.tasks if (t.epochs, t.train_fraction) == (8, 1.0)]
    assert executor.tasks and full  # proxies were measured, and some were promoted
    assert int((ds.round_promoted.values >= 1).sum()) == len(full)


def test_the_gap_to_full_training_is_known_from_an_archive_that_holds_both(tmp_path):
    """An archive with proxies at the problem's level and full trainings of the same networks (as
    surrogates/digits-fidelity.nc for digits-long) tells the gap before the run promotes anything; the run
    ignored its proxies and made its first promotions blind. Hand-computed: four networks with proxy / full
    accuracy 0.5 / 0.9, 0.6 / 0.95, 0.7 / 0.96, 0.8 / 0.98; the better half by proxy (>= the median 0.65) are the
    last two; their log-odds gaps log(0.96/0.04) - log(0.7/0.3) and log(0.98/0.02) - log(0.8/0.2)."""
    from types import SimpleNamespace

    from moo_snn.search.promotion import calibrated_proxy
    from moo_snn.space import SearchSpace
    from moo_snn.surrogate import archive as arc
    from moo_snn.surrogate.sampling import space_filling_sample

    spec = parse_problem(SMALL + LADDER)
    level0 = fidelity.levels(spec)[0]
    space, archive = SearchSpace(spec.space), arc.empty_archive(spec)
    pairs = [(0.5, 0.9), (0.6, 0.95), (0.7, 0.96), (0.8, 0.98)]
    for x, (proxy, full) in zip(space_filling_sample(spec, space, 4, seed=5), pairs):
        for acc, epochs, fraction in ((full, spec.training.epochs, 1.0), (proxy, level0.epochs, level0.train_fraction)):
            archive = arc.append(archive, dict(arch=str(space.decode(x)), status="trained", val_accuracy=acc, test_accuracy=acc,
                                               train_seconds=1.0, epochs=epochs, train_fraction=fraction, seed=0, params=1,
                                               spike_rates={"stem": 1.0}))
    arc.save_archive(archive, tmp_path / "a.nc")
    run = SearchRun(spec, tmp_path / "r.nc", archive_path=tmp_path / "a.nc", executor=FakeExecutor())
    gaps = [math.log(0.96 / 0.04) - math.log(0.7 / 0.3), math.log(0.98 / 0.02) - math.log(0.8 / 0.2)]
    mean, std, n = fidelity.fidelity_gaps(run)[level0.index]
    assert (mean, std, n) == (pytest.approx(np.mean(gaps)), pytest.approx(np.std(gaps, ddof=1)), 2)
    assert fidelity.fidelity_gaps(run, archive=False) == {}  # the run's own pairs: none yet
    proxy = SimpleNamespace(proxy_level=0, proxy_accuracy=0.75)
    assert calibrated_proxy(run, [proxy]) is not None  # the first promotions are calibrated, not blind


def test_a_round_redone_on_resume_says_how_many_it_trains():
    """A run stopped inside a round's survivors and resumed said "training 4 survivors" and then trained 2
    ("(1/2)", "(2/2)"): the line now counts those it trains and says why the others are not."""
    import tempfile
    from pathlib import Path

    from small_search import PhaseLines

    class StopAt(FakeExecutor):  # Ctrl-C when the 9th training is asked for: the bootstrap's 6, then 2 survivors
        def run(self, tasks, data=None):
            for item in super().run(tasks, data):
                if len(self.tasks) == 9:
                    raise KeyboardInterrupt
                yield item

    spec = parse_problem(SMALL)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.nc"
        with pytest.raises(KeyboardInterrupt):
            SearchRun(spec, out, archive_path=Path(tmp) / "none.nc", executor=StopAt()).run()
        said = PhaseLines()
        SearchRun(spec, out, archive_path=Path(tmp) / "none.nc", executor=FakeExecutor(), resume=out, progress=said).run()
    assert "round 1/2: training 2 survivors (2 of the 4 chosen were measured before the run stopped)" in said.lines
