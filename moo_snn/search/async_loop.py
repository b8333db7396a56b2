"""The asynchronous search (DESIGN §6b, §9): a free worker gets the next candidate; no round barrier.

::

    design  = space-filling feasible sample of max(bootstrap - archived, slots), the maximin
              augmentation of the archive's networks (skipped as in the synchronous loop when the
              archive already holds `bootstrap` trained networks)
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
it stops rounds: once the next training does not fit what is spent plus what the running ones will
cost (their level's FTE each), the run requests nothing more and says so (``budget_note``).

**With a ``[fidelity]`` table** (:mod:`moo_snn.search.async_ladder`): the design and the passes'
candidates are measured at the cheapest level; a free worker first gets a rung up the ladder or a
promotion to full training where the ladder's quota allows one (asynchronous successive halving),
else a new candidate; ``max_trainings`` then counts new candidates (promotions come on top, in the
ladder's proportions); only full trainings reach the front.

A pass is recorded as a round of the results file (hypervolume when it ran, Kendall τ of the
predictions against the results that arrived since the previous pass, its own wall time, candidates
scored and proposed); ``round_trained`` of a candidate is the pass that proposed it (0: the design).
A pass's ``round_fte`` is what the candidates it proposed have cost so far (their proxies, rungs and
promotions: :func:`moo_snn.search.fidelity.round_fte`) and ``n_promoted_in_round`` the promotions
made while it was the latest pass; both are brought up to date at every checkpoint, as trainings end
after their pass is recorded (they stayed 0). The design's trainings (and their rungs and promotions)
belong to no pass: the attribute ``bootstrap_fte`` holds them, so that it and the passes' ``round_fte``
add up to ``spent_fte``.

**Bounded refit cost.** A pass (predictor refit + NSGA-II) proposes k = max(``refit_every``,
⌈n · ``refit_growth``⌉) candidates, n the results received so far (defaults: ``refit_every`` =
max(survivors, ⌈slots / 4⌉), ``refit_growth`` = 1/16), so the search's own time per result is
about c(n) / k for a pass costing c(n). The pass's cost grows with n through the predictor's fit
(CPU seconds, ``benchmarks/bench_async_fit.py``, RESULTS.md: 1.0 at 25 records, 4.2 at 100, 7.6 at
400, 9.1 at 1,000, 13.6 at 4,000; NSGA-II about 3 whatever n), so with a fixed k the cost per result
would keep growing; with k growing as n / 16, c(n) / k ≤ 16 c(n) / n, which falls once n passes
16 · ``refit_every`` (the fit grows slower than n): the most per result is about
c(16 · refit_every) / refit_every. The price: the predictor behind a proposal may not have seen
the last 1/17 or so of the results. With one slot and k = survivors a pass proposes what a
synchronous round trains (until n > 16 · survivors).

**Per candidate** the results file gains (besides the synchronous fields): ``requested_s``,
``result_s`` (seconds on the run's clock: the executor's ``clock()`` if it has one, a simulated
cluster's simulated time, else wall seconds the run has been running, over all its resumes), ``worker`` (the name of the
worker that ran its last attempt), ``request_index`` and ``result_index`` (0, 1, 2, … in the order
of requests and of results; -1: never). The queue, the pass count and the run's settings are kept in
the attribute ``async_state`` (JSON).

**Resume.** Every decision depends only on the order in which results arrived: a pass runs when the
queue is empty at a request, on every result received before it, from the population of the pass
before, with a generator seeded by (seed, pass); a promotion on the results received and the last
pass's predictor (refit on resume from the results that pass saw). The file holds all of that after every result.
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
from collections import Counter
from contextlib import closing

import numpy as np
from scipy import stats

from moo_snn.results.state import RoundRecord
from moo_snn.search import async_ladder, fidelity
from moo_snn.search.loop import SearchRun, replacing_text
from moo_snn.search.selection import select_survivors


class AsyncSearchRun(SearchRun):
    """The asynchronous search (module docstring); arguments as :class:`SearchRun`, plus:

    Parameters
    ----------
    refit_every : candidates proposed per pass (refit + NSGA-II) at least; default max(survivors, ⌈slots/4⌉).
    refit_growth : a pass proposes at least this share of the results received so far (default 1/16; 0: never more
        than ``refit_every``), which bounds the search's own time per result (module docstring).
    max_trainings : requests at most (default: the synchronous run's count, design + rounds × survivors);
        with a ``[fidelity]`` table, new candidates at most (promotions come on top).
    budget_s : stop requesting once the run's clock passes this many seconds (default: no limit).
    checkpoint_fraction : write the results file after a result only while writing has taken at most
        this fraction of the run's time so far (1: after every result).
    """

    keeps_ladder_log = False  # its trainings log (async_state) serves a resume

    def __init__(self, spec, out, *, refit_every: int | None = None, refit_growth: float | None = None, max_trainings: int | None = None,
                 budget_s: float | None = None, checkpoint_fraction: float = 0.05, **kwargs):
        super().__init__(spec, out, **kwargs)
        self.state.attrs["search_mode"] = "async"
        stored = json.loads(self.state.attrs.get("async_state", "{}"))
        self.settings = dict(stored.get("settings", {}))
        given = dict(refit_every=refit_every, refit_growth=refit_growth, max_trainings=max_trainings, budget_s=budget_s)
        self.settings.update({k: v for k, v in given.items() if v is not None})
        self.queue: list[str] = list(stored.get("queue", []))
        self.design: list[str] = list(stored.get("design", []))
        self.passes: int = int(stored.get("passes", 0))
        self.checkpoint_fraction = float(checkpoint_fraction)
        self._clock = getattr(self.executor, "clock", None)
        self._t0 = time.time() - float(stored.get("clock_s", 0.0))  # wall clock: continues from the file's
        self._write_s = 0.0
        self.timing = dict(waiting_s=0.0, passes_s=0.0, checkpoints_s=0.0, results=0, passes_cpu_s=0.0, checkpoints_cpu_s=0.0,
                           fit_cpu_s=0.0, pass_log=[])
        """Where this process's time went (``benchmarks/bench_async.py``): wall seconds waiting for results, in
        passes and in checkpoints; CPU seconds of this thread (``time.thread_time``: what other processes on the
        machine do not change) in passes, predictor fits and checkpoints; ``pass_log``: per pass, the results
        received before it, the records its predictor was fit on, its fit's and its own CPU seconds, and this
        thread's CPU seconds and checkpoint CPU seconds since the run started (the bookkeeping between passes
        is the difference)."""
        self._cpu0 = time.thread_time()
        self._results_at_pass = int(stored.get("results_at_pass", 0))  # results received when the last pass ran
        self.ladder = spec.fidelity.enabled
        self.log: list[list] = [list(e) for e in stored.get("trainings", [])]
        """With a ``[fidelity]`` table: every request, ``[arch, level, result index, accuracy]`` (:mod:`~moo_snn.search.async_ladder`)."""
        self._rungs = async_ladder.Rungs(len(self.levels), self.log)
        self._chosen: dict = {}  # the promotion rule's picks since the last result or pass
        self._problem = None  # the last pass's SnnSearchProblem (its predictor checks the limits of promotions)

    # --- clock and bookkeeping ----------------------------------------------------------------
    def clock(self) -> float:
        """Seconds on the run's clock (the executor's, a simulated cluster's, else wall time)."""
        return float(self._clock()) if self._clock is not None else time.time() - self._t0

    def _save_async_state(self) -> None:
        self.state.attrs["async_state"] = json.dumps(dict(settings=self.settings, queue=self.queue, design=self.design,
                                                          passes=self.passes, results_at_pass=self._results_at_pass,
                                                          clock_s=self.clock(), **({"trainings": self.log} if self.ladder else {})))

    def checkpoint(self) -> None:
        """Write the results file (and the asynchronous search's own state with it), timed for the benchmark."""
        if hasattr(self, "settings"):  # (the base class writes once before this class is set up)
            self._save_async_state()
        spent = fidelity.round_ftes(self)  # the passes' costs and promotions so far (see the module docstring)
        promoted = Counter(c.round_promoted for c in self.state.candidates.values() if c.status in ("trained", "diverged", "failed"))
        for p, record in enumerate(self.state.rounds, start=1):
            record.fte, record.n_promoted = spent.get(p, 0.0), promoted[p]
        start, cpu = time.perf_counter(), time.thread_time()
        super().checkpoint()
        self._write_s += time.perf_counter() - start
        if hasattr(self, "timing"):
            self.timing["checkpoints_s"] += time.perf_counter() - start
            self.timing["checkpoints_cpu_s"] += time.thread_time() - cpu

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
        have = sum(c.status in ("trained", "proxy") for c in self.state.candidates.values()) + len(self.archive_records)
        size = 0 if have >= self.search.bootstrap else max(self.search.bootstrap - have, slots)
        self.settings["design_size"] = size
        self.settings.setdefault("refit_every", max(self.search.survivors, math.ceil(slots / 4)))
        self.settings.setdefault("refit_growth", 1 / 16)
        self.settings["first_pass_after"] = max(2, min(self.search.bootstrap, size) // 2)
        if size:  # the archive's networks top up as in the synchronous bootstrap (maximin augmentation of them)
            for x in space_filling_sample(self.spec, self.space, size, seed=self.state.seed,
                                          measured=list(self.archive_records)):
                c = self._candidate(str(self.space.decode(x)), x, 0)
                if c.status == "predicted" and c.arch not in self.design:
                    self.design.append(c.arch)

    def _next_candidate(self):
        """The next request, ``(candidate, source, level)``, or None (nothing can be proposed before more results).

        With a ``[fidelity]`` table a rung or promotion comes first (:func:`async_ladder.next_promotion`);
        new candidates (the design, then the passes' queue) start at the cheapest level.
        """
        if self.ladder:
            promotion = async_ladder.next_promotion(self, self._rungs, self._chosen)
            if promotion is not None:
                c, level, source = promotion
                return c, source, level
            if self._rungs.requested[0] >= self.max_trainings:
                return None
        requested = self._requested_archs
        for arch in self.design:
            if arch not in requested:
                return self.state.candidates[arch], "bootstrap", self.levels[0]
        if self._n_results + len(self.archive_records) < self.settings["first_pass_after"]:
            return None
        if self._too_few_measured():  # the predictor needs 2: wait for trainings in flight, or replace lost ones
            if self._n_requests > self._n_results or self._replace_lost_design():
                return self._next_candidate() if self._n_requests == self._n_results else None
        self._drop_taken(requested)
        if not self.queue:
            self._pass(exclude=requested)
            promotion = async_ladder.next_promotion(self, self._rungs, self._chosen) if self.ladder else None
            if promotion is not None:  # a new predictor: a promotion may come before the new candidates
                c, level, source = promotion
                return c, source, level
            self._drop_taken(requested)
        if not self.queue:
            return None
        return self.state.candidates[self.queue.pop(0)], "search", self.levels[0]

    def _too_few_measured(self) -> bool:
        measured = sum(c.status in ("trained", "proxy") for c in self.state.candidates.values())
        return measured + len(self.archive_records) < 2

    def _replace_lost_design(self) -> bool:
        """Extend the design by the next points of the same space-filling sample, one per design member
        whose training failed, once per run and only where one of its trainings succeeded (as the
        synchronous bootstrap: DESIGN §9, the run goes on). True where points were added."""
        from moo_snn.surrogate.sampling import space_filling_sample

        lost = [a for a in self.design if self.state.candidates[a].status in ("failed", "diverged")]
        measured = any(self.state.candidates[a].status in ("trained", "proxy") for a in self.design)
        if not lost or not measured or self.settings.get("design_replaced"):
            return False
        self.settings["design_replaced"] = len(lost)
        added = 0
        for x in space_filling_sample(self.spec, self.space, self.settings["design_size"] + len(lost), seed=self.state.seed,
                                      measured=list(self.archive_records)):
            c = self._candidate(str(self.space.decode(x)), x, 0)
            if c.status == "predicted" and c.arch not in self.design and added < len(lost):
                self.design.append(c.arch)
                added += 1
        if added:
            self.progress.phase(replacing_text(len(lost), added))
        return bool(added)

    def _drop_taken(self, requested: set) -> None:
        """Drop from the head of the queue what was requested or has a measurement (an archive network's
        too: the archive's records join the run as their architectures are first scored)."""
        while self.queue and (self.queue[0] in requested or self.state.candidates[self.queue[0]].status != "predicted"):
            self.queue.pop(0)

    def _fit_predictor(self, before_round: int):
        """With a ``[fidelity]`` table: the predictor fit on the results received so far, read from the
        trainings log (:func:`async_ladder.arrivals_view`), so that a resume refits the last pass's exactly."""
        cpu = time.thread_time()
        model = super()._fit_predictor(before_round) if not self.ladder else self._fit_on_arrivals(self._n_results)
        self._fit_cpu = time.thread_time() - cpu
        self.timing["fit_cpu_s"] += self._fit_cpu
        return model

    def _fit_on_arrivals(self, results_before: int):
        candidates = self.state.candidates
        self.state.candidates = async_ladder.arrivals_view(self.log, results_before, self.levels[-1].index)
        try:  # the loop's fit (fidelity.fit_predictor, or full trainings only) on what had arrived
            return super()._fit_predictor(before_round=self.passes + 2)
        finally:
            self.state.candidates = candidates

    def _pass(self, exclude: set) -> None:
        """Refit the predictor, run NSGA-II from the current population, queue up to k candidates."""
        start, cpu = time.perf_counter(), time.thread_time()
        p = self.passes + 1  # counted once done: a pass interrupted half-way is redone the same on resume
        self.progress.phase(f"asynchronous search, predictor refit {p}: fitting on "
                            f"{len(self.state.trained_archs()) + len(self.archive_records)} results")
        self._problem, scored, X, archs, F, G, std = self._nsga2(
            p, before_round=p + 1, phase=f"asynchronous search, predictor refit {p}: NSGA-II on the predicted accuracy and the cost model")
        self._chosen.clear()
        # measured ones are left out after NSGA-II: an archive network first scored in this pass joined the
        # candidates only now, measured (it was queued, then trained again as if new, and its archive
        # seconds counted as spent)
        exclude = exclude | self.state.trained_archs()
        k = max(int(self.settings["refit_every"]), math.ceil(self._n_results * float(self.settings.get("refit_growth", 0.0)) - 1e-9))
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
        pairs = [(c.accuracy_predicted_when_selected, c.val_accuracy if c.trained else c.proxy_accuracy) for c in received
                 if c.status in ("trained", "proxy") and np.isfinite(c.accuracy_predicted_when_selected)]
        tau = float(stats.kendalltau(*zip(*pairs)).statistic) if len(pairs) >= 2 else float("nan")
        self._results_at_pass = self._n_results
        self.passes = p
        self._update_front()
        self.state.rounds.append(RoundRecord(self.hypervolume(), tau, time.perf_counter() - start, len(scored.seen), len(self.queue)))
        self.timing["passes_s"] += time.perf_counter() - start
        self.timing["passes_cpu_s"] += time.thread_time() - cpu
        self.timing["pass_log"].append(dict(results=self._n_results, fit_records=self._n_results + len(self.archive_records),
                                            fit_cpu_s=self._fit_cpu, pass_cpu_s=time.thread_time() - cpu,
                                            thread_cpu_s=time.thread_time() - self._cpu0,
                                            checkpoints_cpu_s=self.timing["checkpoints_cpu_s"]))

    # --- the loop -----------------------------------------------------------------------------
    def _request(self, stream, c, source: str, level=None, index: int | None = None) -> None:
        from moo_snn.executor import training_tasks

        level = level or self.levels[-1]
        task = training_tasks(self.spec, [c.arch], seed=self.state.seed, device=self.device,
                              weights_paths=[self.weights_path(c.arch) if level.full else None],
                              epochs=level.epochs, train_fraction=level.train_fraction)[0]
        c.source = source
        if index is None:
            index, self._n_requests = self._n_requests, self._n_requests + 1
            if self.ladder:
                self.log.append([c.arch, level.index, -1, None])
                self._rungs.request(c.arch, level.index)
                if level.full and level.index > 0:  # a promotion (as the synchronous ladder records one)
                    c.round_promoted, c.accuracy_predicted_when_selected = self.passes, c.predicted_accuracy
        c.request_index, c.result_index, c.result_s = index, -1, np.nan
        self._requested_archs.add(c.arch)
        self._running_fte += level.fte
        c.requested_s = self.clock()
        stream.submit(task, (c.arch, index, level.index))

    def _affordable(self, level) -> bool:
        """Whether the run's FTE / hours budget (``--budget``) leaves room for one training at ``level``,
        counting each running training at its level's cost (it will cost that). Once it does not, the
        run requests nothing more (what is spent and running only grows), and says so.

        (:func:`fidelity.within_budget` decides on finished trainings only; a cluster's running ones
        are committed spending too, hence :meth:`fidelity.Budget.affordable` with them added.)"""
        if self.budget.fte is None and self.budget.hours is None:
            return True
        if self._spent is None:
            from moo_snn.search import fidelity

            self._spent = fidelity.spent_now(self)  # changes only when a result arrives (then reset)
        fte, seconds = self._spent
        if self.budget.affordable(1, level.fte, fte + self._running_fte, seconds) > 0:
            return True
        self.budget_refused = True
        self.state.attrs["budget_exhausted"] = 1
        fte_cap = f" of {self.budget.fte:g}" if self.budget.fte is not None else ""  # as fidelity.update_attrs words it
        hours_cap = f" of {self.budget.hours:g}" if self.budget.hours is not None else ""
        self.state.attrs["budget_note"] = (f"budget spent ({fte:.3g}{fte_cap} FTE spent, {self._running_fte:.3g} FTE running, "
                                           f"{seconds / 3600:.3g}{hours_cap} h of training): "
                                           f"no {level.name} training started after it; resume with a larger "
                                           f"--budget / --budget-hours to continue")
        self.progress.phase(self.state.attrs["budget_note"])
        return False

    def stopped_by_budget(self) -> bool:
        """Whether the budget refused a request (status ``budget_spent``); passes are not rounds to count."""
        return fidelity.refused_here(self)

    @property
    def max_trainings(self) -> int:
        """Requests at most (new candidates with a ``[fidelity]`` table): as given, else the synchronous
        run's count (design + rounds × survivors, so that a resume with more ``--rounds`` goes on)."""
        given = self.settings.get("max_trainings")
        return int(given) if given is not None else self.settings["design_size"] + self.search.rounds * self.search.survivors

    @property
    def planned_trainings(self) -> int:
        """Requests of the whole run at most (the total of its progress counter of results): :attr:`max_trainings`, and with
        a ``[fidelity]`` table the rungs and promotions their quotas allow if every training succeeds
        (``⌊n · rate⌋`` level by level, :func:`async_ladder.allowed`); promotions that cannot add to the
        front are not made, so a run may end below it. (The counter's total grew with each promotion.)"""
        total = n = self.max_trainings
        if self.ladder:
            share = async_ladder.rates(self.spec)
            for level in self.levels[1:]:
                n = async_ladder.allowed(n, share[level.index])
                total += n
        return total

    def _fill(self, stream) -> None:
        while stream.pending < stream.slots and not fidelity.refused_here(self):
            if not self.ladder and self._n_requests >= self.max_trainings:
                return
            if self.settings.get("budget_s") is not None and self.clock() >= self.settings["budget_s"]:
                return
            if not self._affordable(self.levels[0]):  # not even the cheapest training fits: no pass for nothing
                return
            nxt = self._next_candidate()
            if nxt is None:
                return
            c, source, level = nxt
            if not self._affordable(level):
                if source == "search" and level.index == 0:  # a proposed candidate goes back to the front of the queue
                    self.queue.insert(0, c.arch)
                return
            self._request(stream, c, source, level)

    def _search(self) -> None:
        stream = self.executor.stream(data=self._data)
        with closing(stream):
            self._settle(stream.slots)
            self._spent, self._running_fte = None, 0.0
            if self.ladder:
                running = [(i, e) for i, e in enumerate(self.log) if e[2] < 0]
                self._requested_archs = {e[0] for e in self.log}
                self._n_requests, self._n_results = len(self.log), len(self.log) - len(running)
                if self.passes:  # the last pass's predictor, refit on the results it saw
                    from moo_snn.search.pymoo_problem import SnnSearchProblem

                    self._problem = SnnSearchProblem(self.spec, self.space, self._fit_on_arrivals(self._results_at_pass))
            else:
                requested = self._requested()
                self._requested_archs = {c.arch for c in requested}
                self._n_requests = len(requested)
                self._n_results = int(sum(c.result_index >= 0 for c in self.state.candidates.values()))
                running = [(c.request_index, [c.arch, len(self.levels) - 1]) for c in requested if c.result_index < 0]
            for index, (arch, level, *_) in running:  # trainings that were running when the run stopped: again, in request order
                c = self.state.candidates[arch]
                self._request(stream, c, c.source, self.levels[level], index=index)
            self.progress.training(self._n_results, max(self.planned_trainings, self._n_requests), "")
            self._fill(stream)
            while stream.pending:
                waited = time.perf_counter()
                (arch, index, level), result = stream.next_result()
                self.timing["waiting_s"] += time.perf_counter() - waited
                self.timing["results"] += 1
                c = self.state.candidates[arch]
                self._record_training(c, result, c.round_trained, c.source)
                self._running_fte -= self.levels[level].fte
                self._spent = None
                c.result_s, c.worker = self.clock(), str(result.get("worker", ""))
                c.result_index = self._n_results
                if self.ladder:
                    measured = result["val_accuracy"] if result["status"] == "trained" else None
                    self.log[index][2:] = [self._n_results, measured]
                    self._rungs.result(arch, level, measured)
                    self._chosen.clear()
                self._n_results += 1
                self.progress.trained(arch, result if self.levels[level].full else dict(result, level=self.levels[level].name))
                self.progress.training(self._n_results, max(self.planned_trainings, self._n_requests), arch)
                self._fill(stream)
                self._maybe_checkpoint()
        self._update_front()
        from moo_snn.search import fidelity

        fidelity.update_attrs(self)
