"""A run that its budget stopped says so: status ``budget_spent`` in the file and on the command line.

``complete`` means the run did every round it was asked for; ``budget_spent`` that the budget
(``--budget`` FTE / ``--budget-hours``) left work undone. ``--resume`` with a larger budget continues
such a run; with the same budget there is nothing to do, and the command says what to give.
Files written before this status existed (``complete`` with ``budget_exhausted = 1``) stay readable
and show their budget note.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import moo_snn
from moo_snn.cli import app
from moo_snn.config.problem import parse_problem
from moo_snn.netcdf import write_atomic
from moo_snn.run import prepare_optimize
from moo_snn.run_checks import nothing_to_do
from moo_snn.search import fidelity
from moo_snn.search.loop import SearchRun, with_overrides
from small_search import TEXT, PhaseLines
from test_fidelity import LADDER, SMALL, FakeExecutor

DATA = Path(__file__).resolve().parent / "data"
NOTE = "budget spent (1.5 of 1.5 FTE, 0.001 h of training): 2 full trainings not started; resume with a larger --budget / --budget-hours to continue"


def _stopped_by_its_budget(tmp_path: Path, status: str = "budget_spent", refused: bool = True) -> Path:
    """The stored reference run (tests/data, 2 rounds of reference-problem.toml) as if its budget of 1.5 FTE had
    stopped it refusing 2 full trainings in its last round (``refused=False``: a file from before refusals were kept)."""
    ds = moo_snn.open_results(DATA / "reference-run.nc").load()
    ds.attrs.update(status=status, budget_fte=1.5, budget_hours=-1.0, spent_fte=1.5, spent_train_hours=0.001,
                    budget_exhausted=1, budget_note=NOTE)
    if refused:
        archs = [str(a) for a in ds.arch.values[ds.status.values == "predicted"][:2]]
        ds.attrs["budget_refused"] = json.dumps({"round": 2, "level": 0, "fte_each": 1.0, "archs": archs})
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "run.nc"
    write_atomic(ds, path)
    return path


def test_the_hint_names_the_cap_that_leaves_no_room():
    """A run stopped by --budget-hours, resumed with --budget 100: the reason named the hours cap, but the hint
    said "--budget FTE (or --budget-hours H)", the option the user had just raised."""
    from moo_snn.run_checks import larger_budget_flags

    spec = parse_problem(TEXT)  # the cheapest training is a full one (1 FTE)
    stored = type("Stored", (), {})()
    stored.attrs = dict(status="budget_spent", spent_fte=1.5, spent_train_hours=0.002, strategy="moo")
    assert larger_budget_flags(stored, spec, fidelity.Budget(fte=100, hours=0.002)) == "--budget-hours H"
    assert larger_budget_flags(stored, spec, fidelity.Budget(fte=2.0, hours=1.0)) == "--budget FTE"  # 0.5 FTE left
    assert larger_budget_flags(stored, spec, fidelity.Budget(fte=2.0, hours=0.001)) == "--budget FTE and --budget-hours H"
    assert larger_budget_flags(stored, spec, None) == "--budget FTE (or --budget-hours H)"


def test_a_budget_spent_run_has_nothing_to_do_unless_the_budget_grows():
    spec = parse_problem(TEXT)  # no [fidelity] table: the cheapest training is a full one (1 FTE)
    stored = type("Stored", (), {})()
    stored.attrs = dict(status="budget_spent", spent_fte=1.5, spent_train_hours=0.001, strategy="moo")
    stored.sizes = {"round": 1}
    said = nothing_to_do(stored, spec, "run.nc", fidelity.Budget(fte=1.5))
    assert said == ("run.nc stopped because its budget was spent (1.5 FTE, 0.001 h of training) and --budget 1.5 "
                    "leaves no room for another training")
    assert "--budget 2 leaves no room" in nothing_to_do(stored, spec, "run.nc", fidelity.Budget(fte=2.0))  # 0.5 FTE left
    assert nothing_to_do(stored, spec, "run.nc", fidelity.Budget(fte=2.5)) == ""  # one full training fits
    assert nothing_to_do(stored, spec, "run.nc", None) == ""  # no cap
    assert "--budget-hours 0.001" in nothing_to_do(stored, spec, "run.nc", fidelity.Budget(hours=0.001))
    ladder = parse_problem(SMALL + LADDER)  # its cheapest level costs 1 epoch x 0.25 of 8 epochs: 1/32 FTE
    assert nothing_to_do(stored, ladder, "run.nc", fidelity.Budget(fte=1.5 + 1 / 32)) == ""


def test_a_complete_run_asked_for_more_rounds_with_a_budget_it_has_already_spent_has_nothing_to_do():
    """(It ran, set the file's status to budget_spent and said "stopped early" having trained nothing.)"""
    spec = with_overrides(parse_problem(SMALL + LADDER), rounds=3)  # the cheapest level: 1/32 FTE
    stored = type("Stored", (), {})()
    stored.attrs = dict(status="complete", spent_fte=4.47, spent_train_hours=0.0133, strategy="moo")
    stored.sizes = {"round": 1}
    assert nothing_to_do(stored, spec, "c.nc", fidelity.Budget(fte=1.0)) == (
        "c.nc is a complete run of 1 round (asked: 3) that has spent 4.47 FTE (0.0133 h of training), and --budget 1 "
        "leaves no room for another training (0.0312 FTE)")
    assert nothing_to_do(stored, spec, "c.nc", fidelity.Budget(fte=4.47 + 1 / 32)) == ""  # one proxy fits
    assert nothing_to_do(stored, spec, "c.nc", None) == ""  # no cap
    assert "--budget-hours 0.01 leaves no room" in nothing_to_do(stored, spec, "c.nc", fidelity.Budget(hours=0.01))
    stored.sizes = {"round": 3}
    assert nothing_to_do(stored, spec, "c.nc", fidelity.Budget(fte=1.0)) == "c.nc is a complete run of 3 rounds (asked: 3)"


def test_an_asynchronous_run_its_budget_stopped_continues_with_a_larger_budget():
    """The asynchronous search keeps no ``budget_refused`` and counts passes, not rounds: a resume with a larger
    budget continues it (it said the file was "written before results files kept what the budget refused")."""
    spec = parse_problem(SMALL + LADDER)  # the cheapest training: 1 ep x 0.25 of 8 epochs = 1/32 FTE
    stored = type("Stored", (), {})()
    stored.attrs = dict(status="budget_spent", spent_fte=0.1, spent_train_hours=0.001, strategy="moo", search_mode="async")
    stored.sizes = {"round": 5}  # more passes than the problem's 2 rounds
    assert nothing_to_do(stored, spec, "as.nc", fidelity.Budget(fte=1.3)) == ""
    assert "leaves no room for another training" in nothing_to_do(stored, spec, "as.nc", fidelity.Budget(fte=0.11))
    del stored.attrs["search_mode"]  # a synchronous file of every round without refusals: nothing it can redo
    assert "written before" in nothing_to_do(stored, spec, "as.nc", fidelity.Budget(fte=1.3))


@pytest.mark.slow  # a results file written, read three times, and a resume prepared: 5-11 s on the shared machine
def test_pareto_and_a_resume_with_the_same_budget_say_the_budget_stopped_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    path = _stopped_by_its_budget(tmp_path)
    shown = CliRunner().invoke(app, ["pareto", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "budget_spent" in shown.stdout
    assert f"stopped early: {path}: {NOTE}" in shown.stderr
    assert json.loads(CliRunner().invoke(app, ["pareto", str(path), "--json"]).stdout)["status"] == "budget_spent"
    again = CliRunner().invoke(app, ["optimize", "--resume", str(path), "--torch-threads", "1"])
    assert again.exit_code == 0, again.output
    assert (f"nothing to do: {path} stopped because its budget was spent (1.5 FTE, 0.001 h of training) and --budget 1.5 "
            f"leaves no room for the 2 trainings it refused (1 FTE each); to continue it, give a larger budget: moo-snn optimize --resume "
            f"{path} --budget FTE") in " ".join(again.stderr.split())  # the FTE cap binds, not the hours (none given)
    assert "(status budget_spent)" in again.stdout and f"stopped early: {NOTE}" in " ".join(again.stdout.split())
    assert prepare_optimize(resume=path, budget_fte=3.0).nothing_to_do == ""  # a larger budget retries the refused ones
    # every round recorded and no record of what the budget refused (a file from before it was kept): a larger
    # budget would train nothing, so the resume says so instead of marking the run complete
    legacy = _stopped_by_its_budget(tmp_path / "old", refused=False)
    assert "was written before results files kept what the budget refused" in prepare_optimize(
        resume=legacy, budget_fte=3.0).nothing_to_do
    assert prepare_optimize(resume=legacy, budget_fte=3.0, search={"rounds": 3}).nothing_to_do == ""  # more rounds do


@pytest.mark.slow  # a results file written and read: 2-5 s on the shared machine
def test_a_file_from_before_the_status_is_read_and_shows_its_budget_note(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    path = _stopped_by_its_budget(tmp_path, status="complete")
    shown = CliRunner().invoke(app, ["pareto", str(path)])
    assert shown.exit_code == 0, shown.output
    assert f"note: {path}: {NOTE}" in shown.stderr and "complete" in shown.stdout


@pytest.mark.slow  # three search runs (fake trainings, real NSGA-II and checkpoints): 20-60 s
def test_a_run_its_budget_stopped_ends_budget_spent_and_a_larger_budget_completes_it(tmp_path):
    spec = parse_problem(SMALL + LADDER)
    out = tmp_path / "run.nc"
    ds = SearchRun(spec, out, archive_path=tmp_path / "none.nc", executor=FakeExecutor(), budget=fidelity.Budget(fte=1.5)).run()
    assert ds.attrs["status"] == "budget_spent" and ds.sizes["round"] < spec.search.rounds
    assert moo_snn.open_results(out).attrs["status"] == "budget_spent"
    ds2 = SearchRun(spec, out, archive_path=tmp_path / "none.nc", executor=FakeExecutor(), resume=out,
                    budget=fidelity.Budget(fte=100.0)).run()
    assert ds2.attrs["status"] == "complete" and ds2.sizes["round"] == spec.search.rounds
    # a budget that is spent exactly when the last round ends left nothing undone: complete
    exact = tmp_path / "exact.nc"
    shutil.copy(out, exact)
    ds3 = SearchRun(spec, exact, archive_path=tmp_path / "none.nc", executor=FakeExecutor(), resume=exact,
                    budget=fidelity.Budget(fte=float(ds2.attrs["spent_fte"]))).run()
    assert ds3.attrs["status"] == "complete" and ds3.attrs["budget_exhausted"] == 1


def test_a_hasnas_run_its_budget_stopped_exits_0_saying_so_and_a_larger_budget_trains_its_network(tmp_path, monkeypatch):
    """The one training of ``--strategy hasnas`` refused by ``--budget 0.5``: no front yet is not a verdict on
    the limits (exit 0, not 3), and ``--resume --budget 2`` trains the refused network (it did nothing and
    called the run complete)."""
    from cli_runs import fake_train, small_text
    from moo_snn.training import trainer

    monkeypatch.setattr(trainer, "train_architecture", fake_train)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.toml").write_text(small_text())
    first = CliRunner().invoke(app, ["optimize", "p.toml", "--strategy", "hasnas", "--samples", "30", "--budget", "0.5",
                                     "--out", "h.nc"])
    assert first.exit_code == 0, first.output
    said = " ".join(first.output.split())  # (lines wrapped at the terminal width)
    assert "no front yet: no training finished; the budget stopped the run first; every candidate is in" in said
    assert said.count("the budget stopped the run first") == 1  # (it was said twice in one line)
    assert "no candidate meets the limits" not in first.output
    ds = moo_snn.open_results(tmp_path / "h.nc")
    refused = json.loads(ds.attrs["budget_refused"])["archs"]
    assert ds.attrs["status"] == "budget_spent" and int(ds.trained.sum()) == 0 and len(refused) == 1

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train_architecture", interrupted)  # a resume interrupted in that training keeps the
    cut = CliRunner().invoke(app, ["optimize", "--resume", "h.nc", "--budget", "2"])  # refusal (it was dropped first:
    assert cut.exit_code == 130, cut.output  # the next resume found nothing to train and called the run complete)
    ds = moo_snn.open_results(tmp_path / "h.nc")
    assert ds.attrs["status"] == "interrupted" and json.loads(ds.attrs["budget_refused"])["archs"] == refused
    monkeypatch.setattr(trainer, "train_architecture", fake_train)
    again = CliRunner().invoke(app, ["optimize", "--resume", "h.nc", "--budget", "2"])
    assert again.exit_code == 0, again.output
    ds = moo_snn.open_results(tmp_path / "h.nc")
    assert ds.attrs["status"] == "complete" and "budget_refused" not in ds.attrs
    assert [str(a) for a in ds.arch.values[ds.trained.values]] == refused and float(ds.attrs["spent_fte"]) == 1.0
    assert ds.round_fte.values.tolist() == [1.0]  # the round's record counts its training (it said 0)
    assert float(ds.hypervolume.values[-1]) == pytest.approx(ds.moo.hypervolume()) and ds.moo.hypervolume() > 0


def test_pareto_and_export_say_why_a_budget_stopped_run_has_no_front(tmp_path, monkeypatch):
    """A budget that stops a ladder run before any full training: `pareto` and `export` said "no trained candidate
    meets every limit", a verdict on limits no network was measured against."""
    monkeypatch.setenv("COLUMNS", "250")
    spec = parse_problem(SMALL + LADDER)
    ds = SearchRun(spec, tmp_path / "b.nc", archive_path=tmp_path / "none.nc", executor=FakeExecutor(),
                   budget=fidelity.Budget(fte=0.2)).run()
    assert ds.attrs["status"] == "budget_spent" and not ds.trained.values.any() and (ds.status.values == "proxy").sum() == 6
    shown = CliRunner().invoke(app, ["pareto", str(tmp_path / "b.nc")])
    assert shown.exit_code == 0, shown.output
    said = "the run has no front: no network was trained fully yet (6 measured at low fidelity only, which the front does not take); the budget stopped the run first"
    assert said in " ".join(shown.stdout.split())
    assert "best compromise" not in shown.stdout  # no knee legend under an empty table
    exported = CliRunner().invoke(app, ["export", str(tmp_path / "b.nc"), "--nir", str(tmp_path / "net.nir")])
    assert exported.exit_code != 0
    assert f"{said}; nothing to export until a network is trained fully" in " ".join(exported.stderr.split())


def test_a_budget_that_covers_part_of_a_batch_says_how_much_and_that_the_run_stops_after_it(tmp_path):
    """Two full trainings asked for, room for one (1.5 FTE, nothing spent): the one covered starts, the run says
    now that it stops after it (not "budget spent" with the numbers before it trains), and the file's note
    counts what the budget covered."""
    from types import SimpleNamespace

    said = PhaseLines()
    run = SearchRun(parse_problem(SMALL + LADDER), tmp_path / "r.nc", archive_path=tmp_path / "none.nc",
                    executor=FakeExecutor(), progress=said, budget=fidelity.Budget(fte=1.5))
    full = run.levels[-1]
    covered = fidelity.within_budget(run, [SimpleNamespace(arch="a"), SimpleNamespace(arch="b")], full, round_=1)
    assert [c.arch for c in covered] == ["a"]
    assert said.lines == ["budget reached: 1 full training not started (the budget covered 1 of the 2 asked for); the run "
                          "stops after the 1 it covers (resume with a larger --budget / --budget-hours to continue)"]
    assert run.state.attrs["budget_note"].endswith(": 1 full training not started (the budget covered 1 of the 2 asked for); "
                                                   "resume with a larger --budget / --budget-hours to continue")
    assert json.loads(run.state.attrs["budget_refused"]) == {"round": 1, "level": full.index, "fte_each": 1.0, "archs": ["b"]}


class TimedStreamExecutor(FakeExecutor):
    """:class:`FakeExecutor` whose trainings each take ``seconds`` and start one by one (``stream``), at most
    ``slots`` at once, finishing in the order they started (a cluster of ``slots`` equal workers)."""

    def __init__(self, seconds: float, slots: int):
        super().__init__()
        self.seconds, self.slots = seconds, slots

    def stream(self, data=None):
        executor = self

        class Stream:
            slots = executor.slots

            def __init__(self):
                self.queue = []

            @property
            def pending(self):
                return len(self.queue)

            def submit(self, task, tag):
                self.queue.append((tag, task))

            def next_result(self):
                tag, task = self.queue.pop(0)
                _, result = next(executor.run([task]))
                return tag, dict(result, train_seconds=executor.seconds)

            def close(self):
                self.queue.clear()

        return Stream()


@pytest.mark.parametrize("slots, started", [(1, 3), (2, 4)])
def test_an_hours_cap_stops_starting_trainings_within_a_batch_and_a_larger_one_trains_the_rest(tmp_path, slots, started):
    """--budget-hours was checked before each batch only: a bootstrap of 6 trainings all started under a cap that
    the first 3 already spent (the cap overshot 23-fold on a tiny cap). Hand-computed: trainings of 2 s, cap 5 s;
    one at a time, the 3rd ends at 6 s and no 4th starts; two at a time, the 4th starts when 2 have ended (4 s)
    and the 4 running or started ones all finish and count (the cap stops starts, it throws away no work)."""
    spec = parse_problem(SMALL + LADDER)
    out = tmp_path / "h.nc"
    said = PhaseLines()
    executor = TimedStreamExecutor(seconds=2.0, slots=slots)
    ds = SearchRun(spec, out, archive_path=tmp_path / "none.nc", executor=executor, progress=said,
                   budget=fidelity.Budget(hours=5 / 3600)).run()
    assert len(executor.tasks) == started and ds.attrs["status"] == "budget_spent"
    assert int((ds.status.values == "proxy").sum()) == started
    assert float(ds.attrs["spent_train_hours"]) * 3600 == pytest.approx(2.0 * started)
    refused = json.loads(ds.attrs["budget_refused"])
    assert refused["round"] == 0 and refused["level"] == 0 and len(refused["archs"]) == 6 - started
    assert set(refused["archs"]).isdisjoint({t.arch for t in executor.tasks})
    assert (f"budget reached: {6 - started} L0 (1 ep, 0.25 data) trainings not started (the budget covered {started} of the 6 "
            f"asked for)") in said.lines[-1]
    # a larger cap trains exactly the refused ones first
    more = TimedStreamExecutor(seconds=2.0, slots=slots)
    SearchRun(spec, out, archive_path=tmp_path / "none.nc", executor=more, resume=out, budget=fidelity.Budget(hours=1.0)).run()
    assert [t.arch for t in more.tasks[:6 - started]] == refused["archs"]


def test_a_promotion_the_hours_cap_refused_is_not_marked_promoted(tmp_path):
    """Promotions are marked (``round_promoted``) before their batch starts; one the hours cap then kept from
    starting was not sent to full training, and the results file must not say it was."""
    from types import SimpleNamespace

    run = SearchRun(parse_problem(SMALL + LADDER), tmp_path / "r.nc", archive_path=tmp_path / "none.nc",
                    executor=FakeExecutor(), progress=PhaseLines(), budget=fidelity.Budget(hours=1.0))
    batch = [SimpleNamespace(arch=a, round_promoted=2, accuracy_predicted_when_selected=0.9) for a in "abc"]
    fidelity.refuse(run, batch, 1, run.levels[-1], 2)
    assert [(c.round_promoted, math.isnan(c.accuracy_predicted_when_selected)) for c in batch] == [(2, False), (-1, True), (-1, True)]
    assert json.loads(run.state.attrs["budget_refused"])["archs"] == ["b", "c"]


def test_optimize_json_says_what_pareto_json_says_and_splits_its_trainings_as_the_text_does(tmp_path, monkeypatch):
    """`optimize --json` had no problem and no budget keys, and its "trained" counted the archive's networks while
    the text said "trained 2 ... 8 known from the archive" (found trying the tool)."""
    from cli_runs import fake_train, small_text
    from moo_snn.training import trainer

    monkeypatch.setattr(trainer, "train_architecture", fake_train)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.toml").write_text(small_text())
    ran = CliRunner().invoke(app, ["optimize", "p.toml", "--rounds", "1", "--budget", "30", "--out", "r.nc", "--json"])
    assert ran.exit_code == 0, ran.output
    said = json.loads(ran.stdout)
    shown = json.loads(CliRunner().invoke(app, ["pareto", "r.nc", "--json"]).stdout)
    for key in ("problem", "status", "hypervolume", "knee", "front", "budget"):
        assert said[key] == shown[key], key
    ds = moo_snn.open_results(tmp_path / "r.nc")
    here = int((ds.trained.values & (ds.source.values != "archive")).sum())
    assert said["trained_in_run"] == here > 0 and said["from_archive"] == int((ds.source.values == "archive").sum())
    assert said["trained"] == int(ds.trained.sum()) and said["budget"]["budget_fte"] == 30.0
