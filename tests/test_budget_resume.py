"""A run its budget stopped keeps what the budget refused in its file, and a larger budget finishes it.

The budget refuses trainings whole (:meth:`moo_snn.search.fidelity.Budget.affordable`); what it
refused (the round, the level, the FTE of one such training, the architectures) is the results
file's ``budget_refused`` attribute, so that a resume (a new process) knows that a refused full
training needs 1 FTE of room (not a proxy's), and retries the refused promotions of the round it
stopped in, the last one included. The reference is the same run with no budget: stopped and
resumed with a larger budget, it measures the same networks at the same fidelities.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import moo_snn
from moo_snn.cli.optimize_report import broken_limits
from moo_snn.config.problem import parse_problem
from moo_snn.errors import ProblemError
from moo_snn.run import prepare_optimize
from moo_snn.run_checks import nothing_to_do
from moo_snn.search import fidelity
from moo_snn.search.loop import SearchRun
from small_search import TEXT
from test_fidelity import LADDER, SMALL, FakeExecutor

FULL = (8, 1.0)  # SMALL's full recipe: 8 epochs on all the data


def _measured(ds):
    """Every measured candidate: status, fidelity epochs, FTE spent on it."""
    return {str(a): (str(s), int(e), float(f)) for a, s, e, f in
            zip(ds.arch.values, ds.status.values, ds.fidelity_epochs.values, ds.cost_fte.values) if s != "predicted"}


def test_an_infinite_budget_is_no_cap_and_a_non_number_is_refused(tmp_path):
    assert fidelity.Budget(fte=math.inf).affordable(5, 1.0, 3.0, 0.0) == 5  # was an OverflowError
    problem = tmp_path / "p.toml"
    problem.write_text(TEXT)
    assert prepare_optimize(problem, out=tmp_path / "r.nc", budget_fte=math.inf).budget is None
    assert prepare_optimize(problem, out=tmp_path / "r.nc", budget_fte=math.inf, budget_hours=2).budget.fte is None
    for bad in ("2", True, [1.0], float("nan"), -1.0):
        with pytest.raises(ProblemError, match="budget_fte: expected a number >= 0"):
            moo_snn.optimize(problem, out=tmp_path / "r.nc", budget_fte=bad)
    assert not (tmp_path / "r.nc").exists()


def _stopping_budget(tmp_path, which: str):
    """The ladder problem run whole (the reference), and a budget that stops it at training ``j``: round 0's first
    promotion (``first``), the last round's last one (``last``), or round 1's second survivor (``survivors``).
    Returns (spec, the no-archive path, the whole run, its executor, j, the budget, the FTE of the refused kind)."""
    spec = parse_problem(SMALL + LADDER)
    none = tmp_path / "none.nc"
    reference = FakeExecutor()
    whole = SearchRun(spec, tmp_path / "whole.nc", archive_path=none, executor=reference).run()
    kinds = [(t.epochs, t.train_fraction) for t in reference.tasks]
    fte = np.cumsum([e * f / 8 for e, f in kinds])
    fulls = [i for i, k in enumerate(kinds) if k == FULL]
    if which == "survivors":  # the second level-0 training after round 0's promotions: round 1's survivors
        j = [i for i, k in enumerate(kinds) if i > fulls[0] and k == (1, 0.25)][1]
        return spec, none, whole, reference, j, float(fte[j - 1]) + 0.01, 0.25 / 8  # no room for the proxy j (1/32 FTE)
    j = fulls[0] if which == "first" else fulls[-1]
    return spec, none, whole, reference, j, float(fte[j - 1]) + 0.5, 1.0  # room for proxies, not for the full training j


@pytest.mark.slow  # per case three search runs (fake trainings, real NSGA-II and checkpoints): 30-90 s on 2 shared cores
@pytest.mark.parametrize("which", ["first", "last", "survivors"])  # round 0's promotions (no full training yet), the
def test_a_budget_stop_inside_a_round_is_kept_in_the_file_and_a_larger_budget_finishes_it(tmp_path, which):
    # last round's promotions, round 1's survivors (level 0, before its ladder)
    spec, none, whole, reference, j, budget, fte_each = _stopping_budget(tmp_path, which)
    out = tmp_path / "run.nc"
    stopped = SearchRun(spec, out, archive_path=none, executor=FakeExecutor(), budget=fidelity.Budget(fte=budget)).run()

    assert stopped.attrs["status"] == "budget_spent"
    refused = json.loads(stopped.attrs["budget_refused"])
    assert refused["fte_each"] == fte_each and reference.tasks[j].arch in refused["archs"]
    status, promoted = stopped.status.values.astype(str), stopped.round_promoted.values
    assert (status[promoted >= 0] == "trained").all()  # marked promoted: only what was trained
    assert not {str(a) for a in stopped.arch.values[promoted >= 0]} & set(refused["archs"])
    # the same budget: nothing to do, judged by the refused full training (1 FTE), not by a proxy's 1/32
    stored = moo_snn.open_results(out)
    said = nothing_to_do(stored, spec, out, fidelity.Budget(fte=budget))
    n = len(refused["archs"])
    assert f"no room for the {n} training{'s' if n != 1 else ''} it refused ({fte_each:.3g} FTE{' each' if n != 1 else ''})" in said
    assert nothing_to_do(stored, spec, out, fidelity.Budget(fte=budget + fte_each)) == ""
    if which == "first":  # only proxies measured: the report says so, and that the budget stopped it
        assert not stopped.trained.values.any()
        assert broken_limits(stopped, spec).startswith("no network was trained fully yet (")
        assert broken_limits(stopped, spec).endswith("which the front does not take); the budget stopped the run first")

    again = FakeExecutor()
    resumed = SearchRun(spec, out, archive_path=none, executor=again, resume=out, budget=fidelity.Budget(fte=100.0)).run()
    assert resumed.attrs["status"] == "complete" and "budget_refused" not in resumed.attrs
    assert _measured(resumed) == _measured(whole)  # the refused promotions were trained, nothing else changed
    assert resumed.attrs["spent_fte"] == pytest.approx(whole.attrs["spent_fte"])
    assert (resumed.round_promoted.values == whole.round_promoted.values).all()
    assert resumed.sizes["round"] == whole.sizes["round"] == spec.search.rounds


@pytest.mark.slow  # per case four search runs (fake trainings, real NSGA-II and checkpoints): 40-120 s on 2 shared cores
@pytest.mark.parametrize("which", ["last", "survivors"])  # the last round's refused promotions; round 1's refused survivors
def test_a_resume_that_finishes_a_budget_stop_and_is_interrupted_leaves_the_refusal_for_the_next(tmp_path, which):
    # A run its budget stopped inside a round is resumed with a larger budget and interrupted (Ctrl-C) while it
    # trains what the budget had refused. The refusal was dropped before those trainings ran, so the next resume
    # took the round as finished and went on: the refused promotions were never made (or made as the next round's).
    # The refusal now stays until its trainings are done; every process's FTE counts in the round's record.
    from test_resume_exact import InterruptedAt

    spec, none, whole, _, _, budget, fte_each = _stopping_budget(tmp_path, which)
    level = FULL if fte_each == 1.0 else (1, 0.25)  # the kind of training the budget refused
    out = tmp_path / "run.nc"
    stopped = SearchRun(spec, out, archive_path=none, executor=FakeExecutor(), budget=fidelity.Budget(fte=budget)).run()
    assert stopped.attrs["status"] == "budget_spent"
    with pytest.raises(KeyboardInterrupt):  # the first refused training is lost with the interruption
        SearchRun(spec, out, archive_path=none, executor=InterruptedAt(1, level), resume=out, budget=fidelity.Budget(fte=100.0)).run()
    interrupted = moo_snn.open_results(out)
    assert interrupted.attrs["status"] == "interrupted" and "budget_refused" in interrupted.attrs
    resumed = SearchRun(spec, out, archive_path=none, executor=FakeExecutor(), resume=out, budget=fidelity.Budget(fte=100.0)).run()
    assert resumed.attrs["status"] == "complete" and "budget_refused" not in resumed.attrs
    assert _measured(resumed) == _measured(whole)
    assert (resumed.round_promoted.values == whole.round_promoted.values).all()
    assert resumed.n_promoted_in_round.values.tolist() == whole.n_promoted_in_round.values.tolist()
    assert resumed.round_fte.values == pytest.approx(whole.round_fte.values)  # was short of the interrupted process's part
    assert resumed.attrs["spent_fte"] == pytest.approx(whole.attrs["spent_fte"])


def test_a_refusal_is_dropped_once_a_resume_has_trained_what_it_refused(tmp_path):
    # The budget refused the whole bootstrap; a resume with room for the bootstrap's proxies but not for one more
    # training trained them and stopped, leaving the bootstrap's refusal in the file: the next resume said
    # "no room for the 6 trainings it refused" of networks measured long ago.
    spec = parse_problem(SMALL + LADDER)
    none, out = tmp_path / "none.nc", tmp_path / "run.nc"
    first = SearchRun(spec, out, archive_path=none, executor=FakeExecutor(), budget=fidelity.Budget(fte=0.0)).run()
    refused = json.loads(first.attrs["budget_refused"])
    assert refused["round"] == 0 and len(refused["archs"]) == spec.search.bootstrap
    cover = spec.search.bootstrap / 32 + 0.01  # the bootstrap's proxies (1/32 FTE each), not one more training
    second = SearchRun(spec, out, archive_path=none, executor=FakeExecutor(), resume=out, budget=fidelity.Budget(fte=cover)).run()
    assert second.attrs["status"] == "budget_spent"
    assert (second.status.values == "proxy").sum() == spec.search.bootstrap
    assert "budget_refused" not in second.attrs  # was the bootstrap's, of networks measured now
    said = nothing_to_do(moo_snn.open_results(out), spec, out, fidelity.Budget(fte=cover + 0.01))
    assert said.endswith("leaves no room for another training")
