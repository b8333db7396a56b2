"""The asynchronous search (DESIGN §6b, §9): a free worker gets the next candidate; no round barrier.

::

    design  = space-filling feasible sample of max(bootstrap, slots) (skipped as in the synchronous
              loop when the archive already holds `bootstrap` trained networks)
    fill every slot: design points first, then proposals
    whenever a training finishes: record it (times, worker), checkpoint, give its slot the next candidate
    next candidate = the next of the queue; an empty queue starts a *pass*:
        predictor.fit(archive + every result received so far)
        NSGA-II warm-started from the current population (as a synchronous round)
        queue = up to k candidates chosen as a round's survivors are, excluding every candidate
                trained, running or queued; where the final population holds fewer than k such,
                the rest by the same rule from every candidate the pass scored
    stop requesting at `max_trainings` requests or when the clock passes `budget_s`; wait for the rest

A ``--budget`` / ``--budget-hours`` (:class:`~moo_snn.search.fidelity.Budget`) stops requests as
it stops rounds, each running training counted as the full training it will cost. A problem with a
``[fidelity]`` table is refused (:class:`SearchModeError`): low-fidelity proxies and promotions run
in the synchronous loop only, so far.

A pass is recorded as a round of the results file (hypervolume when it ran, Kendall τ of the
predictions against the results that arrived since the previous pass, its own wall time, candidates
scored and proposed); ``round_trained`` of a candidate is the pass that proposed it (0: the design).

**Bounded refit cost.** The predictor is refit and NSGA-II rerun once every ``refit_every`` = k
requests (default max(survivors, ⌈slots / 4⌉)): with results arriving one at a time from S
workers of mean training time t̄, a pass costing c seconds takes about 4c / t̄ of the head's time
when k = S/4: on the simulated 64-worker cluster of ``benchmarks/bench_async.py`` well under 10 %
(measured there). With one slot and k = survivors a pass proposes what a synchronous round trains.

**Per candidate** the results file gains (besides the synchronous fields): ``requested_s``,
``result_s`` (seconds on the run's clock: the executor's ``clock()`` if it has one, a simulated
cluster's simulated time, else wall seconds the run has been running, over all its resumes), ``worker`` (the name of the
worker that ran its last attempt), ``request_index`` and ``result_index`` (0, 1, 2, … in the order
of requests and of results; -1: never). The queue, the pass count and the run's settings are kept in
the attribute ``async_state`` (JSON).

**Resume.** Every decision depends only on the order in which results arrived: a pass runs when the
queue is empty at a request, on every result received before it, from the population of the pass
before, with a generator seeded by (seed, pass). The file holds all of that after every result.
Resuming resubmits the trainings that were running (in request order, keeping their request
index), then continues from the stored queue. Given the same order of arrivals afterwards, the
resumed run makes the same requests and ends with the same trained set as the uninterrupted one
(``tests/test_async.py``). What differs: the times (a resubmitted training starts again from
zero; on a real cluster that also changes which result comes first, so the runs then differ as two
uninterrupted asynchronous runs on a real cluster differ), and a result that arrived after the
last checkpoint is trained again (checkpoints are skipped while writing would take more than
``checkpoint_fraction`` of the run's time; SIGINT and SIGTERM still write the file at once).
"""

from __future__ import annotations

import json
import math
import time
from contextlib import closing

import numpy as np
from scipy import stats

from moo_snn.errors import MooSnnError
from moo_snn.results.state import RoundRecord
from moo_snn.search.loop import SearchRun
from moo_snn.search.selection import select_survivors


class SearchModeError(MooSnnError):
    """The asynchronous search was asked for what it does not do."""


class AsyncSearchRun(SearchRun):
    """The asynchronous search (module docstring); arguments as :class:`SearchRun`, plus:

    Parameters
    ----------
    refit_every : candidates proposed per pass (refit + NSGA-II); default max(survivors, ⌈slots/4⌉).
    max_trainings : requests at most (default: the synchronous run's count, design + rounds × survivors).
    budget_s : stop requesting once the run's clock passes this many seconds (default: no limit).
    checkpoint_fraction : write the results file after a result only while writing has taken at most
        this fraction of the run's time so far (1: after every result).
    """

    def __init__(self, spec, out, *, refit_every: int | None = None, max_trainings: int | None = None,
                 budget_s: float | None = None, checkpoint_fraction: float = 0.05, **kwargs):
        if spec.fidelity.enabled:
            raise SearchModeError(f"problem {spec.name!r} has a [fidelity] table: the asynchronous search trains at full "
                                  f"fidelity only (no low-fidelity proxies or promotions yet); run it with --sync")
        super().__init__(spec, out, **kwargs)
        self.state.attrs["search_mode"] = "async"
        stored = json.loads(self.state.attrs.get("async_state", "{}"))
        self.settings = dict(stored.get("settings", {}))
        given = dict(refit_every=refit_every, max_trainings=max_trainings, budget_s=budget_s)
        self.settings.update({k: v for k, v in given.items() if v is not None})
        self.queue: list[str] = list(stored.get("queue", []))
        self.design: list[str] = list(stored.get("design", []))
        self.passes: int = int(stored.get("passes", 0))
        self.checkpoint_fraction = float(checkpoint_fraction)
        self._clock = getattr(self.executor, "clock", None)
        self._t0 = time.time() - float(stored.get("clock_s", 0.0))  # wall clock: continues from the file's
        self._write_s = 0.0
        self.timing = dict(waiting_s=0.0, passes_s=0.0, checkpoints_s=0.0, results=0)
        """Where this process's time went: waiting for results, passes, checkpoints (``bench_async.py``)."""
        self._results_at_pass = int(stored.get("results_at_pass", 0))  # results received when the last pass ran

    # --- clock and bookkeeping ----------------------------------------------------------------
    def clock(self) -> float:
        """Seconds on the run's clock (the executor's, a simulated cluster's, else wall time)."""
        return float(self._clock()) if self._clock is not None else time.time() - self._t0

    def _save_async_state(self) -> None:
        self.state.attrs["async_state"] = json.dumps(dict(settings=self.settings, queue=self.queue, design=self.design,
                                                          passes=self.passes, results_at_pass=self._results_at_pass,
                                                          clock_s=self.clock()))

    def checkpoint(self) -> None:
        """Write the results file (and the asynchronous search's own state with it), timed for the benchmark."""
        if hasattr(self, "settings"):  # (the base class writes once before this class is set up)
            self._save_async_state()
        start = time.perf_counter()
        super().checkpoint()
        self._write_s += time.perf_counter() - start
        if hasattr(self, "timing"):
            self.timing["checkpoints_s"] += time.perf_counter() - start

    def _maybe_checkpoint(self) -> None:
        elapsed = time.time() - self._t0 if self._clock is None else max(self.clock(), 1e-9)
        if self._write_s <= self.checkpoint_fraction * max(elapsed, 1e-9) or self.checkpoint_fraction >= 1:
            self.checkpoint()

    def _requested(self) -> list:
        return sorted((c for c in self.state.candidates.values() if c.request_index >= 0), key=lambda c: c.request_index)

    # --- what to train next -------------------------------------------------------------------
    def _settle(self, slots: int) -> None:
        """Fix the run's settings on its first start (a resume keeps them)."""
        from moo_snn.surrogate.sampling import space_filling_sample

        if "design_size" in self.settings:
            return
        have = sum(c.trained for c in self.state.candidates.values()) + len(self.archive_records)
        size = 0 if have >= self.search.bootstrap else max(self.search.bootstrap, slots)
        self.settings["design_size"] = size
        self.settings.setdefault("refit_every", max(self.search.survivors, math.ceil(slots / 4)))
        self.settings["first_pass_after"] = max(2, min(self.search.bootstrap, size) // 2)
        if size:
            for x in space_filling_sample(self.spec, self.space, size, seed=self.state.seed):
                c = self._candidate(str(self.space.decode(x)), x, 0)
                if c.status == "predicted" and c.arch not in self.design:
                    self.design.append(c.arch)

    def _next_candidate(self):
        """The next candidate to request, or None (nothing can be proposed before more results)."""
        requested = self._requested_archs
        for arch in self.design:
            if arch not in requested:
                return self.state.candidates[arch], "bootstrap"
        if self._n_results + len(self.archive_records) < self.settings["first_pass_after"]:
            return None
        while self.queue and (self.queue[0] in requested or self.state.candidates[self.queue[0]].status != "predicted"):
            self.queue.pop(0)
        if not self.queue:
            self._pass(exclude=requested | self.state.trained_archs())
        if not self.queue:
            return None
        return self.state.candidates[self.queue.pop(0)], "search"

    def _pass(self, exclude: set) -> None:
        """Refit the predictor, run NSGA-II from the current population, queue up to k candidates."""
        start = time.perf_counter()
        p = self.passes + 1  # counted once done: a pass interrupted half-way is redone the same on resume
        self.progress.phase(f"pass {p}: fitting the predictor on {len(self.state.trained_archs()) + len(self.archive_records)} results")
        _, scored, X, archs, F, G, std = self._nsga2(p, before_round=p + 1)
        k = int(self.settings["refit_every"])
        rule = dict(metric_names=self.spec.objectives.names, constraints=self.spec.constraints,
                    uncertainty_weight=self.search.uncertainty_weight)
        self.queue = [archs[i] for i in select_survivors(archs, F, G, std, trained=exclude, k=k, **rule)]
        if len(self.queue) < k:  # a converged population holds few untried networks: the rest of the pass's
            others = [a for a in scored.seen if a not in set(archs)]  # scored ones, by the same rule
            if others:
                seen = [scored.seen[a] for a in others]
                values = np.array([s["values"] for s in seen], dtype=float)
                F_seen = np.column_stack([m.to_minimize(values[:, j]) for j, m in enumerate(self.metrics)])
                G_seen = np.array([s["G"] for s in seen], dtype=float).reshape(len(seen), -1)
                std_seen = np.array([s["accuracy_std"] for s in seen], dtype=float)
                more = select_survivors(others, F_seen, G_seen, std_seen, trained=exclude | set(self.queue),
                                        k=k - len(self.queue), **rule)
                self.queue += [others[i] for i in more]
        self.state.population = [x.copy() for x in X]
        for arch in self.queue:
            c = self.state.candidates[arch]
            c.accuracy_predicted_when_selected = c.predicted_accuracy
            c.round_trained = p
        received = [c for c in self.state.candidates.values() if c.result_index >= self._results_at_pass]
        pairs = [(c.accuracy_predicted_when_selected, c.val_accuracy) for c in received
                 if c.trained and np.isfinite(c.accuracy_predicted_when_selected)]
        tau = float(stats.kendalltau(*zip(*pairs)).statistic) if len(pairs) >= 2 else float("nan")
        self._results_at_pass = self._n_results
        self.passes = p
        self._update_front()
        self.state.rounds.append(RoundRecord(self.hypervolume(), tau, time.perf_counter() - start, len(scored.seen), len(self.queue)))
        self.timing["passes_s"] += time.perf_counter() - start

    # --- the loop -----------------------------------------------------------------------------
    def _request(self, stream, c, source: str, index: int | None = None) -> None:
        from moo_snn.executor import training_tasks

        task = training_tasks(self.spec, [c.arch], seed=self.state.seed, device=self.device,
                              weights_paths=[self.weights_path(c.arch)])[0]
        c.source = source
        if index is None:
            index, self._n_requests = self._n_requests, self._n_requests + 1
        c.request_index = index
        self._requested_archs.add(c.arch)
        c.requested_s = self.clock()
        stream.submit(task, c.arch)

    def _budget_spent(self, running: int) -> bool:
        """True when the run's FTE / hours budget (``--budget``) leaves no room for one more full training,
        counting each running one as one full training (it will cost that)."""
        from moo_snn.search import fidelity

        if self.budget.fte is None and self.budget.hours is None:
            return False
        fte, seconds = fidelity.spent_now(self)
        if self.budget.affordable(1, 1.0, fte + running, seconds) == 0:
            self.state.attrs["budget_exhausted"] = 1
            return True
        return False

    @property
    def max_trainings(self) -> int:
        """Requests at most: as given, else the synchronous run's count (design + rounds × survivors, so
        that a resume with more ``--rounds`` goes on)."""
        given = self.settings.get("max_trainings")
        return int(given) if given is not None else self.settings["design_size"] + self.search.rounds * self.search.survivors

    def _fill(self, stream) -> None:
        while stream.pending < stream.slots and self._n_requests < self.max_trainings:
            if self.settings.get("budget_s") is not None and self.clock() >= self.settings["budget_s"]:
                return
            if self._budget_spent(stream.pending):
                return
            nxt = self._next_candidate()
            if nxt is None:
                return
            self._request(stream, *nxt)

    def _search(self) -> None:
        stream = self.executor.stream(data=self._data)
        with closing(stream):
            self._settle(stream.slots)
            requested = self._requested()
            self._requested_archs = {c.arch for c in requested}
            self._n_requests = len(requested)
            self._n_results = int(sum(c.result_index >= 0 for c in self.state.candidates.values()))
            for c in requested:  # trainings that were running when the run stopped: again, in request order
                if c.result_index < 0:
                    self._request(stream, c, c.source, index=c.request_index)
            self._fill(stream)
            total = self.max_trainings
            while stream.pending:
                waited = time.perf_counter()
                arch, result = stream.next_result()
                self.timing["waiting_s"] += time.perf_counter() - waited
                self.timing["results"] += 1
                c = self.state.candidates[arch]
                self._record_training(c, result, c.round_trained, c.source)
                c.result_s, c.worker = self.clock(), str(result.get("worker", ""))
                c.result_index = self._n_results
                self._n_results += 1
                self.progress.trained(arch, result)
                self.progress.training(self._n_results, total, arch)
                self._fill(stream)
                self._maybe_checkpoint()
        self._update_front()
        from moo_snn.search import fidelity

        fidelity.update_attrs(self)
