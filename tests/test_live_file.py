"""The results file as a run leaves it after each training: what a reader sees while the run goes on, and
all that is left of a run killed outright (SIGKILL, a lost node), carries the front and the spending as
they are then, not as of the last round's end (it showed an empty front and 0 FTE during round 1)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import moo_snn
from moo_snn.config.problem import parse_problem
from moo_snn.pareto import feasible_front
from moo_snn.search.loop import SearchRun
from test_fidelity import LADDER, SMALL, FakeExecutor


class Snapshots(FakeExecutor):
    """Before each training, a copy of the results file as the last checkpoint left it."""

    def __init__(self, out, folder):
        super().__init__()
        self.out, self.folder, self.copies = out, folder, []

    def run(self, tasks, data=None):
        for item in super().run(tasks, data):
            copy = self.folder / f"snap{len(self.copies)}.nc"
            shutil.copy(self.out, copy)
            self.copies.append(copy)
            yield item


# the full-only run is slow (11 s on 2 cores): the ladder run checks the same and more by default
@pytest.mark.parametrize("ladder", [pytest.param(False, marks=pytest.mark.slow), True])
def test_every_checkpoint_holds_the_front_and_the_fte_spent_so_far(tmp_path, ladder):
    spec = parse_problem(SMALL + (LADDER if ladder else ""))
    out = tmp_path / "run.nc"
    executor = Snapshots(out, tmp_path)
    SearchRun(spec, out, archive_path=tmp_path / "none.nc", executor=executor).run()
    checked = 0
    for copy in executor.copies:
        ds = moo_snn.open_results(copy)
        fte = float(ds.cost_fte.values.sum())
        assert ds.attrs["spent_fte"] == pytest.approx(fte)  # was the last round end's figure (0 in round 1)
        trained = np.flatnonzero(ds.trained.values)
        if len(trained) == 0:
            assert not ds.on_front.values.any()
            continue
        F, G = ds.moo.minimized()[trained], ds.measured_limit_excess.values[trained]
        expected = {int(trained[i]) for i in feasible_front(F, G)}
        assert set(np.flatnonzero(ds.on_front.values).tolist()) == expected  # was empty until the first round ended
        checked += bool(expected)
    assert checked >= 3  # fronts were there to check, before the end of the run
