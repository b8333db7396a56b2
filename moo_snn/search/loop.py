"""The search loop (DESIGN §6): cheap scores for everything, full training for Pareto survivors.

::

    archive = surrogates/<dataset>.nc if it matches the problem, else bootstrap (train feasible samples)
    for round in 1..R:
        predictor.fit(archive)
        NSGA-II on (predicted accuracy, costs) under the limits, warm-started from the last population
        survivors = up to k untrained candidates that meet the limits, spread over the predicted front,
                    uncertainty-aware
        train the survivors; archive += survivors; write the results file
    final front = non-dominated feasible TRAINED candidates, on measured validation accuracy and
                  costs recomputed with the measured spike rates

The results file is written atomically after every training, with status ``running``; an
interruption (SIGINT, SIGTERM) writes it with status ``interrupted`` and re-raises; any other
exception writes it with status ``failed`` and the one-line reason in its ``failure`` attribute,
then re-raises (so does a run that did every round but measured no network: every training failed
or diverged): once the process is gone the file never says ``running`` (except after SIGKILL or
power loss, which nothing can catch: the file is then the last checkpoint).

``resume`` continues from a results file without retraining anything it already holds, with the
run's own options (``options`` attribute: ``[search]`` values, objectives, torch threads, device;
:func:`resume_spec` rebuilds the problem with them) unless the caller changes them:
:attr:`SearchRun.option_changes` lists what changed. A round depends only on what the file holds
(the last NSGA-II population in its order, the trainings of the rounds before it, the seed and the
round number that seed its generator), so 1 round + resume gives the same run as 2 rounds.
"""

from __future__ import annotations

import json
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import stats

from moo_snn.errors import ProblemError, ResultsError, TrainingError
from moo_snn.evaluation import COST_METRICS, check_cost_limits_reachable, population_costs
from moo_snn.netcdf import write_atomic
from moo_snn.results.state import Candidate, RoundRecord, RunState, now
from moo_snn.objectives import constraint_matrix, metric_values, resolve_metrics
from moo_snn.pareto import feasible_front, hypervolume
from moo_snn import interrupts
from moo_snn.search import fidelity
from moo_snn.search.selection import ideal_point, reference_point, select_survivors
from moo_snn.space import SLOT_NAMES, SearchSpace, slot_for
from moo_snn.surrogate import archive as arc
from moo_snn.surrogate.predictor import DEFAULT_REGRESSOR, make_predictor, predictor_inputs


class SearchEvents:
    """Callbacks of a run; the command line shows them, library users may ignore them."""

    def phase(self, text: str) -> None:
        """A new phase of the run begins (``text``: one line saying what it does)."""

    def generation(self, round_: int, gen: int, n_gen: int) -> None:
        """NSGA-II of round ``round_`` finished generation ``gen`` of ``n_gen``."""

    def training(self, done: int, total: int, arch: str) -> None:
        """``done`` of ``total`` trainings of this batch have finished (``arch``: the last one, "" at the start);
        the asynchronous search has one batch, its whole run (``total``: its planned requests)."""

    def trained(self, arch: str, result: dict) -> None:
        """Each finished training (in any order), with its result dict (``level``: the fidelity level's name
        where it was a low-fidelity one, :attr:`moo_snn.search.fidelity.Level.name`)."""


class SearchRun:
    """One run of the search on a problem; ``run()`` returns the results Dataset.

    Parameters
    ----------
    spec : the problem (with ``[search]`` overrides already applied).
    out : the results file.
    archive_path : the accuracy archive to warm-start from (default ``surrogates/<dataset>.nc``);
        used only if it matches the problem's data and recipe.
    resume : a results file to continue (build ``spec`` with :func:`resume_spec` to keep its options).
    command : the command line that started the run (stored in the results file's attributes).
    progress : receives the run's phases, generations and trainings (:class:`SearchEvents`; default: silent).
    data : the problem's :class:`~moo_snn.data.DataSplits` (loaded from the problem on first use when None).
    budget : a :class:`~moo_snn.search.fidelity.Budget` in full-training equivalents or hours (default: none).
    device : torch device for the trainings.
    executor : where the trainings run (:mod:`moo_snn.executor`); default in this process.

    Attributes
    ----------
    option_changes : list of (name, stored value, new value): the run's options that differ from those
        stored in the resumed file (empty for a new run).
    """

    keeps_ladder_log = True
    """Whether a run with a ``[fidelity]`` table keeps :data:`moo_snn.search.fidelity.LOG_ATTR` (the
    asynchronous search keeps its own trainings log)."""

    def __init__(self, spec, out: Path, *, archive_path: Path | None = None, resume: Path | None = None,
                 device: str = "cpu", command: str = "", progress: SearchEvents | None = None, data=None, executor=None,
                 budget: fidelity.Budget | None = None):
        self.spec = spec
        self.levels = fidelity.levels(spec)  # [fidelity] levels, full training last (only it without the table)
        self.budget = budget or fidelity.Budget()
        self.out = Path(out)
        from moo_snn.training.runtime import check_device

        # before the archive is read or anything written; a remote cluster's GPUs are not this machine's
        self.device = check_device(device, here=not getattr(executor, "remote", False))
        self.progress = progress or SearchEvents()
        self.space = SearchSpace(spec.space)
        self.metrics = resolve_metrics(spec.objectives.names)
        self.search = spec.search
        self._data = data
        if executor is None:
            from moo_snn.executor import InProcessExecutor
            executor = InProcessExecutor()
        self.executor = executor
        self.archive_records = self._load_archive(archive_path)
        self.archive_proxies = self._load_archive_proxies()
        options = run_options(spec, executor, device)
        self.option_changes: list[tuple[str, object, object]] = []
        if resume is not None:
            from moo_snn.results import open_results

            ds = open_results(resume)
            if ds.attrs.get("problem") != spec.source:
                raise ResultsError(f"{resume}: this run was made with another problem file; resume it with the problem "
                                   f"stored in it (moo-snn optimize --resume alone) or start a new run")
            self.state = RunState.from_dataset(ds)
            if spec.search.seed != self.state.seed:
                raise ResultsError(f"{resume}: this run's seed is {self.state.seed}; a resumed run keeps it (found "
                                   f"{spec.search.seed}): resume without --seed, or start a new run for another seed")
            self.state.status, self.state.failure = "running", ""
            self.state.command = command
            self.option_changes = [(k, self.state.options[k], v) for k, v in options.items()
                                   if k in self.state.options and self.state.options[k] != v]
            for c in self.state.candidates.values():
                if c.trained and c.measured_values is None:  # its objectives failed last time: measure it now
                    self._measured(c)
        else:
            self.state = RunState(problem_text=spec.source, objective_names=list(spec.objectives.names),
                                  constraint_names=[c.name for c in spec.constraints], gene_names=list(self.space.gene_names),
                                  seed=spec.search.seed, command=command, attrs={"problem_name": spec.name, "strategy": "moo"})
            self.state.reference_point = reference_point(spec, self.space, self.metrics).tolist()
            ideal = ideal_point(spec, self.space, self.metrics)
            if np.any(ideal != 0):  # only custom objectives that go below 0 need one (default: 0)
                self.state.attrs["ideal_point"] = json.dumps(ideal.tolist())
        self.state.options = options
        if resume is None and spec.fidelity.enabled and self.keeps_ladder_log:
            self.state.attrs[fidelity.LOG_ATTR] = "[]"  # only from a run's start: a partial log would mislead a resume

    # --- data and archive ---------------------------------------------------------------------
    @property
    def data(self):
        """The problem's data splits, loaded on first use (:func:`moo_snn.data.load_problem_data`)."""
        if self._data is None:
            from moo_snn.data import load_problem_data
            self._data = load_problem_data(self.spec)
        return self._data

    def _load_archive(self, path: Path | None) -> dict[str, dict]:
        """Measured records of a matching archive, by architecture (at the problem's epochs); which archive:
        :func:`~moo_snn.surrogate.archive_choice.choose_archive` (kept in ``self.archive_choice``)."""
        from moo_snn.surrogate.archive_choice import choose_archive

        self.archive_choice = choose_archive(self.spec, path, missing_ok=True)  # the API checked a user's path
        if self.archive_choice.state != "matches":
            return {}
        done = arc.trained(self.archive_choice.archive, epochs=self.spec.training.epochs, train_fraction=1.0)
        records = {}
        for k in range(done.sizes["record"]):
            arch = str(done.arch.values[k])
            if arch in records and int(done.seed.values[k]) != self.spec.search.seed:
                continue  # one record per architecture: the run's seed where there is one
            records[arch] = dict(val_accuracy=float(done.val_accuracy.values[k]), test_accuracy=float(done.test_accuracy.values[k]),
                                 train_seconds=float(done.train_seconds.values[k]), spike_rate=done.spike_rate.values[k].astype(float))
        return records

    def _load_archive_proxies(self) -> dict[int, dict[str, float]]:
        """The matching archive's validation accuracies at each of the problem's low fidelity levels (its
        recipe: epochs and training fraction), ``{level index: {architecture: accuracy}}``, one record per
        architecture (the run's seed where there is one); they tell the gap between a level and full
        training (:func:`moo_snn.search.fidelity.fidelity_gaps`) before the run promotes anything."""
        if self.archive_choice.state != "matches" or not self.spec.fidelity.enabled:
            return {}
        out: dict[int, dict[str, float]] = {}
        for level in self.levels[:-1]:
            done = arc.trained(self.archive_choice.archive, epochs=level.epochs, train_fraction=level.train_fraction)
            found: dict[str, float] = {}
            for k in range(done.sizes["record"]):
                arch = str(done.arch.values[k])
                if arch in found and int(done.seed.values[k]) != self.spec.search.seed:
                    continue
                found[arch] = float(done.val_accuracy.values[k])
            if found:
                out[level.index] = found
        return out

    # --- measuring ----------------------------------------------------------------------------
    def _measured(self, c: Candidate) -> None:
        """Measured costs (with the measured spike rates, computed once and stored), objectives and G."""
        rates = np.nan_to_num(np.asarray(c.spike_rate, dtype=float)[None], nan=0.0)
        costs = population_costs(self.spec, self.space, c.genome[None], spike_rate=rates)
        c.measured_costs = np.array([float(np.asarray(getattr(costs, name))[0]) for name in COST_METRICS])
        context = dict(problem=self.spec, spike_rate=rates,  # what custom objectives see (measured)
                       accuracy_nonideal=[getattr(c, "accuracy_nonideal", np.nan)])
        c.measured_values = metric_values(self.metrics, [c.val_accuracy], costs, [c.arch], **context)[0]
        c.measured_G = constraint_matrix(self.spec.constraints, [c.val_accuracy], costs, [c.arch], **context)[0]

    def _record_training(self, c: Candidate, result: dict, round_: int, source: str) -> None:
        if fidelity.record_cost(self, c, result, round_, source):  # a low-fidelity training: recorded as a proxy
            return
        c.status = result["status"] if result["status"] in ("trained", "diverged", "failed") else "failed"
        c.source = source
        c.round_trained = round_
        c.val_accuracy, c.test_accuracy = result["val_accuracy"], result["test_accuracy"]
        if c.status == "trained" and not (np.isfinite(c.val_accuracy) and np.isfinite(c.test_accuracy)):
            # a trained candidate has both accuracies (results.state.check_variables refuses a file without them)
            result = dict(result, error=f"the training measured no accuracy (validation {c.val_accuracy}, test {c.test_accuracy})")
            c.status = "failed"
        c.train_seconds = result["train_seconds"]
        c.torch_threads = int(result.get("torch_threads") or 0)  # archive records and failed tasks: 0
        c.accuracy_nonideal = float(result.get("accuracy_nonideal", np.nan))  # [nonideal], where a metric asks for it
        c.accuracy_nonideal_std = float(result.get("accuracy_nonideal_std", np.nan))
        c.error = " ".join(str(result.get("error") or "").split())[:300] if c.status == "failed" else ""
        rates = result.get("spike_rate")
        if rates is None:
            rates = np.full(len(SLOT_NAMES), np.nan)
            for name, rate in (result.get("spike_rates") or {}).items():
                rates[slot_for(name)] = rate
        c.spike_rate = np.asarray(rates, dtype=float)
        if c.status == "trained":
            self._measured(c)

    def _train(self, candidates: list[Candidate], round_: int, source: str, level: fidelity.Level | None = None) -> None:
        """Train ``candidates`` on the executor, recording and checkpointing each result as it arrives.

        Results may arrive in any order (Dask workers): each one only fills its own candidate, and
        what depends on order (the round's τ, the front) is computed after the last, in survivor order.
        """
        from moo_snn.executor import training_tasks

        level = level or self.levels[-1]  # full training unless a [fidelity] level is given
        candidates = fidelity.within_budget(self, candidates, level, round_)
        tasks = training_tasks(self.spec, [c.arch for c in candidates], seed=self.state.seed, device=self.device,
                               weights_paths=[self.weights_path(c.arch) if level.full else None for c in candidates],
                               epochs=level.epochs, train_fraction=level.train_fraction)
        self.progress.training(0, len(candidates), "")
        with closing(self._results(tasks, candidates, level, round_)) as results:
            for done, (k, result) in enumerate(results, start=1):
                self._record_training(candidates[k], result, round_, source)
                self.checkpoint()
                if hasattr(self.progress, "trained"):  # progress objects are duck-typed; older ones lack it
                    self.progress.trained(candidates[k].arch, result if level.full else dict(result, level=level.name))
                self.progress.training(done, len(candidates), candidates[k].arch)

    def _results(self, tasks: list, candidates: list[Candidate], level: fidelity.Level, round_: int):
        """The executor's ``(index, result)`` pairs for ``tasks`` as they finish.

        With an hours cap (``--budget-hours``) and an executor that takes trainings one by one (its
        ``stream``), each training starts only while the seconds of the finished ones stay below the
        cap; those not started are refused (:func:`moo_snn.search.fidelity.refuse`: kept for a resume).
        Trainings already running when the cap is reached finish and count: the cap stops starts,
        it does not throw away work. Without an hours cap the executor runs the whole batch.
        """
        if self.budget.hours is None or not hasattr(self.executor, "stream"):
            return self.executor.run(tasks, data=self._data)
        return self._results_within_hours(tasks, candidates, level, round_)

    def _results_within_hours(self, tasks: list, candidates: list[Candidate], level: fidelity.Level, round_: int):
        """:meth:`_results` with an hours cap: a generator; the caller records each result before the next start is decided."""
        from collections import deque

        stream = self.executor.stream(data=self._data)
        with closing(stream):
            waiting = deque(enumerate(tasks))
            while waiting or stream.pending:
                while waiting and stream.pending < stream.slots:
                    if not fidelity.hours_left(self):  # in submission order: the first ones started, the rest refused
                        fidelity.refuse(self, candidates, len(tasks) - len(waiting), level, round_)
                        waiting.clear()
                        break
                    i, task = waiting.popleft()
                    stream.submit(task, i)
                if stream.pending:
                    yield stream.next_result()

    def weights_path(self, arch: str) -> Path:
        """Where the trained weights of ``arch`` are kept (the folder is created).

        Parameters
        ----------
        arch : str
            The architecture string.

        Returns
        -------
        Path
            ``<results>.weights/<arch>.pt`` (:func:`moo_snn.results.weights.weights_file`).
        """
        from moo_snn.results.weights import weights_file

        path = weights_file(self.out, arch)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _candidate(self, arch: str, genome, round_: int, prediction: dict | None = None) -> Candidate:
        c = self.state.candidates.get(arch)
        if c is None:
            c = Candidate(arch=arch, genome=np.asarray(genome, dtype=np.int64), round_found=round_)
            self.state.candidates[arch] = c
            if arch in self.archive_records:
                self._record_training(c, dict(self.archive_records[arch], status="trained"), 0, "archive")
        if prediction is not None:
            c.predicted_accuracy = float(prediction["accuracy"])
            c.predicted_std = float(prediction["accuracy_std"])
            c.predicted_values = np.asarray(prediction["values"], dtype=float)
            c.predicted_G = np.asarray(prediction["G"], dtype=float)
        return c

    # --- the loop -----------------------------------------------------------------------------
    def _fit_predictor(self, before_round: int):
        """The predictor fit on the archive and on every training of the rounds before ``before_round``
        (so that a round redone on resume sees what it saw the first time)."""
        with fidelity.as_before(self, before_round):  # a ladder run: the candidates as those rounds left them
            if self.spec.fidelity.enabled and self.spec.fidelity.predictor == "fidelity_input":
                return fidelity.fit_predictor(self, before_round)
            archs, acc = self._full_measurements(before_round)
            if self.spec.fidelity.enabled and len(set(archs)) < 2:  # 'full_only' before 2 full trainings exist
                self.progress.phase(f"predictor: {len(set(archs))} full training so far, too few for [fidelity] predictor = "
                                    f"'full_only'; this round's also learns from the proxies (as 'fidelity_input')")
                return fidelity.fit_predictor(self, before_round)
            return self._fit_full_only(archs, acc)

    def _full_measurements(self, before_round: int) -> tuple[list, list]:
        """(architectures, validation accuracies) of the archive and of the full trainings before ``before_round``."""
        archs, acc = list(self.archive_records), [r["val_accuracy"] for r in self.archive_records.values()]
        for c in self.state.candidates.values():
            if c.trained and c.arch not in self.archive_records and c.round_trained < before_round:
                archs.append(c.arch)
                acc.append(c.val_accuracy)
        return archs, acc

    def _fit_full_only(self, archs: list, acc: list):
        if len(archs) < 2:
            failed = [c for c in self.state.candidates.values() if c.status in ("failed", "diverged")]
            why = failures_text(failed)
            proxies = sum(c.status == "proxy" for c in self.state.candidates.values())
            raise TrainingError(f"the accuracy predictor needs at least 2 trained networks, the run has {len(archs)} "
                                f"({len(failed)} training{'s' if len(failed) != 1 else ''} failed or diverged{': ' + why if why else ''}"
                                f"{f'; {proxies} measured at low fidelity only' if proxies else ''}); see why in the "
                                f"trainings' messages above, fix it, and run again (or give an --archive of trained networks)")
        model = make_predictor(self.spec, DEFAULT_REGRESSOR, random_state=self.state.seed)
        return model.fit(predictor_inputs(archs), np.asarray(acc, dtype=float))

    def _at_level(self) -> str:
        """`` at L0 (8 ep, 0.25 data)`` for a run with a ``[fidelity]`` table (its new candidates' level: a proxy's
        accuracy read as a full one's misleads), ``""`` without one."""
        return f" at {self.levels[0].name}" if self.spec.fidelity.enabled else ""

    def _bootstrap(self) -> None:
        """Without a matching archive, train a space-filling feasible sample first (round 0)."""
        n_have = sum(c.status in ("trained", "proxy") for c in self.state.candidates.values()) + len(self.archive_records)
        if n_have >= self.search.bootstrap:
            return
        from moo_snn.search.bootstrap_plan import bootstrap_phase_text

        self.progress.phase(f"bootstrap: sampling {self.search.bootstrap} feasible architectures")
        # a top-up: the archive measured some networks, so the design is the maximin augmentation of them (the archive
        # fixes it, so a resume draws the same); an earlier start trained its first members, so only the rest is
        # trained; design members neither measured nor trained are not recorded
        size = max(self.search.bootstrap - len(self.archive_records), 0)
        genomes, todo = self._design(size, n_have)
        self.progress.phase(bootstrap_phase_text(self.search.bootstrap, len(genomes) + len(self.archive_records),
                                                 len(todo), self._at_level(), measured=n_have))  # the true counts
        self._train(todo, 0, "bootstrap", level=self.levels[0])
        # a failed or lost training is replaced once by the design's next point (DESIGN §9: the run goes on),
        # where another training of the design succeeded (all failing says the recipe or the data fails: no retry)
        lost = [c for c in map(self.state.candidates.get, map(str, map(self.space.decode, genomes)))
                if c is not None and c.status in ("failed", "diverged")]
        measured = sum(c.status in ("trained", "proxy") for c in self.state.candidates.values())
        if lost and measured and measured + len(self.archive_records) < self.search.bootstrap:
            genomes, todo = self._design(size + len(lost), measured + len(self.archive_records))
            if todo:
                self.progress.phase(replacing_text(len(lost), len(todo)))
                self._train(todo, 0, "bootstrap", level=self.levels[0])
        fidelity.refusal_taken_up(self, 0, {0})  # a resume trained what the budget refused of the bootstrap

    def _design(self, size: int, n_have: int) -> tuple[np.ndarray, list]:
        """The bootstrap design's first ``size`` points, and those of them still to train (at most
        ``bootstrap - n_have``); design members neither measured nor trained are not recorded."""
        from moo_snn.surrogate.sampling import space_filling_sample

        genomes = space_filling_sample(self.spec, self.space, size, seed=self.state.seed, measured=list(self.archive_records))
        need, todo = self.search.bootstrap - n_have, []
        for x in genomes:
            arch = str(self.space.decode(x))
            if len(todo) >= need and arch not in self.state.candidates:
                continue
            c = self._candidate(arch, x, 0)
            if c.status == "predicted" and len(todo) < need:
                todo.append(c)
        return genomes, todo

    def _nsga2(self, r: int, before_round: int, phase: str | None = None):
        """One NSGA-II run (round or pass ``r``) on the predictor fit on the trainings before
        ``before_round``, warm-started from the stored population (in NSGA-II's order, topped up
        with samples of a generator seeded by (seed, r)); every scored candidate is recorded.

        Parameters
        ----------
        r : int
            Round (synchronous loop) or pass (asynchronous loop) number; seeds the run.
        before_round : int
            The predictor sees trainings of rounds < ``before_round`` only (a round redone on resume
            sees what it saw the first time).
        phase : str, optional
            Progress text shown once the predictor is fit.

        Returns
        -------
        problem : SnnSearchProblem
        scored : EvaluatedCandidates
            Every candidate NSGA-II scored, with its prediction.
        X : ndarray of int64, shape (pop_size, n_genes)
            The final population, in NSGA-II's order.
        archs : list of str, length pop_size
        F : ndarray, shape (pop_size, n_obj)
        G : ndarray, shape (pop_size, n_constr)
        std : ndarray, shape (pop_size,)
            Predicted accuracy spread.
        """
        from pymoo.optimize import minimize

        from moo_snn.search.pymoo_problem import EvaluatedCandidates, SnnSearchProblem, make_algorithm

        problem = SnnSearchProblem(self.spec, self.space, self._fit_predictor(before_round=before_round))
        initial = [np.asarray(x, dtype=np.int64) for x in self.state.population]  # the last round's, in NSGA-II's order
        rng = np.random.default_rng([self.state.seed, r])
        missing = self.search.pop_size - len(initial)
        if missing > 0:
            initial += list(self.space.sample(missing, rng))
        algorithm = make_algorithm(self.space, self.search.pop_size, np.array(initial[: self.search.pop_size]))
        if phase:
            self.progress.phase(phase)
        scored = EvaluatedCandidates(self.space, problem.n_ieq_constr,
                                     on_generation=lambda gen: self.progress.generation(r, gen, self.search.generations))
        result = minimize(problem, algorithm, ("n_gen", self.search.generations), seed=int(rng.integers(2**31 - 1)),
                          verbose=False, callback=scored)
        for arch, p in scored.seen.items():
            self._candidate(arch, p["genome"], r, p)
        pop = result.pop  # the final population, in NSGA-II's order, with what _evaluate computed
        X = np.rint(pop.get("X")).astype(np.int64)
        archs = [str(self.space.decode(x)) for x in X]
        F, std = pop.get("F", "accuracy_std")
        G = pop.get("G") if problem.n_ieq_constr else np.zeros((len(pop), 0))
        return problem, scored, X, archs, F, G, std

    def _round(self, r: int) -> None:
        start = time.perf_counter()
        self.progress.phase(f"round {r}/{self.search.rounds}: fitting the predictor")
        problem, scored, X, archs, F, G, std = self._nsga2(r, before_round=r, phase=f"round {r}/{self.search.rounds}: NSGA-II on the predicted accuracy and the cost model")
        # a round interrupted during its trainings is redone on resume from the same inputs (the
        # last round's population, the trainings before it), so it chooses the same survivors and
        # trains only those it had not finished
        before = fidelity.measured_before(self, r)  # with a ladder log: also those trained again since
        chosen = select_survivors(archs, F, G, std, trained=self.state.trained_archs(before_round=r) if before is None else before,
                                  k=self.search.survivors, metric_names=self.spec.objectives.names,
                                  constraints=self.spec.constraints, uncertainty_weight=self.search.uncertainty_weight)
        survivors = [self.state.candidates[archs[i]] for i in chosen]
        for c in survivors:
            c.accuracy_predicted_when_selected = c.predicted_accuracy
        todo = [c for c in survivors if c.status == "predicted"]  # a round redone on resume: those not measured yet
        known = len(survivors) - len(todo)
        self.progress.phase(f"round {r}/{self.search.rounds}: training {len(todo)} survivors{self._at_level()}"
                            + (f" ({known} of the {len(survivors)} chosen were measured before the run stopped)" if known else ""))
        self._train(todo, r, "search", level=self.levels[0])
        # survivors refused by the budget: no ladder (a resume finishes the round: fidelity.finish_refused_round)
        promoted = fidelity.ladder(self, r, problem) if self.spec.fidelity.enabled and not fidelity.refused_here(self) else 0
        self.state.population = [x.copy() for x in X]  # the next round starts from it
        measured = [(c.accuracy_predicted_when_selected, c.val_accuracy if c.trained else c.proxy_accuracy)
                    for c in survivors if c.trained or c.status == "proxy"]
        tau = float(stats.kendalltau(*zip(*measured)).statistic) if len(measured) >= 2 else float("nan")
        self._update_front()
        self.state.rounds.append(RoundRecord(self.hypervolume(), tau, time.perf_counter() - start, len(scored.seen), len(survivors),
                                             fidelity.round_fte(self, r), promoted))
        self.checkpoint()

    def _update_front(self) -> None:
        # a training whose objectives could not be evaluated (a plug-in's error) stays out until a resume measures it
        # and a network whose accuracy on non-ideal crossbars the run needs but nobody measured (an archive's, or one
        # trained before the objective was asked for) stays out: the ideal accuracy that stands in for it before
        # training is an upper bound, which made unmeasured networks meet non-ideal limits on the front
        from moo_snn.training.nonideal import needs_nonideal

        unmeasured_nonideal = needs_nonideal(self.spec)
        trained = [c for c in self.state.candidates.values() if c.trained and c.measured_values is not None
                   and not (unmeasured_nonideal and not np.isfinite(getattr(c, "accuracy_nonideal", np.nan)))]
        self.state.on_front, self.state.pareto_rank, self.state.least_violating = set(), {}, []
        if not trained:
            return
        F = np.array([[m.to_minimize(v) for m, v in zip(self.metrics, c.measured_values)] for c in trained])
        G = np.array([c.measured_G for c in trained]).reshape(len(trained), -1)
        from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

        ok = np.flatnonzero(np.all(G <= 0, axis=1)) if G.size else np.arange(len(trained))
        if len(ok):
            for rank, front in enumerate(NonDominatedSorting().do(F[ok])):
                for i in front:
                    self.state.pareto_rank[trained[ok[i]].arch] = rank
            self.state.on_front = {trained[ok[i]].arch for i in feasible_front(F[ok], G[ok])}
        else:
            violation = np.maximum(G, 0).sum(axis=1)
            self.state.least_violating = [trained[i].arch for i in np.argsort(violation, kind="stable")[: self.search.survivors]]

    def front(self) -> list[Candidate]:
        """The trained candidates on the measured feasible front (as of the last round)."""
        return [c for c in self.state.candidates.values() if c.arch in self.state.on_front]

    def front_objectives(self) -> np.ndarray:
        """Minimised measured objectives of :meth:`front`, shape ``(n_front, n_obj)``."""
        F = [[m.to_minimize(v) for m, v in zip(self.metrics, c.measured_values)] for c in self.front()]
        return np.array(F, dtype=float).reshape(len(F), len(self.metrics))

    def hypervolume_box(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The hypervolume's reference point and ideal point (None: 0 in every objective), minimised units."""
        return np.asarray(self.state.reference_point, dtype=float), json.loads(self.state.attrs.get("ideal_point", "null"))

    def hypervolume(self) -> float:
        """Hypervolume of the measured front, a fraction of the box [ideal, reference point] (:func:`moo_snn.pareto.hypervolume`)."""
        F = self.front_objectives()
        return hypervolume(F, *self.hypervolume_box()) if len(F) else 0.0

    def checkpoint(self) -> None:
        """Write the run's state to its results file atomically (temp file + rename), with the front and the
        spending as they are now: the file is read while the run goes on (``moo-snn pareto``) and is all
        that is left of a run killed outright (SIGKILL, a lost node), so it must not show the front and
        the FTE spent as of the last round's end (an empty front and 0 FTE during round 1)."""
        self._update_front()
        fidelity.update_attrs(self)
        write_atomic(self.state.to_dataset(), self.out)

    def _search(self) -> None:
        """The strategy itself: bootstrap, then the rounds still to do."""
        self._bootstrap()
        fidelity.after_bootstrap(self)  # with a [fidelity] table: promote from the bootstrap so the gap is known
        fidelity.finish_refused_round(self)  # a resume after a budget stop: train what the last round's budget refused
        for r in range(len(self.state.rounds) + 1, self.search.rounds + 1):
            if fidelity.budget_exhausted(self):  # the budget is spent: stop (the results file says so)
                break
            self._round(r)
        fidelity.update_attrs(self)

    def stopped_by_budget(self) -> bool:
        """Whether the search ended with work left undone because its budget was spent (the results file's
        status ``budget_spent``): the budget refused a training, or was spent before the last round."""
        return fidelity.refused_here(self) or (fidelity.budget_exhausted(self)
                                                                and len(self.state.rounds) < self.search.rounds)

    def _check_measured(self) -> None:
        """Raise :class:`TrainingError` when the run holds no measured network (none trained, none measured at low
        fidelity, none known from the archive): every training failed or diverged, or none was made. Its status is
        then ``failed`` (:meth:`run`), not ``complete``, and the command exits 2, not 3 ("no candidate meets the
        limits": nothing was measured against them)."""
        candidates = self.state.candidates.values()
        if any(c.status in ("trained", "proxy") for c in candidates):
            return
        tried = [c for c in candidates if c.status in ("failed", "diverged")]
        why = failures_text(tried)
        what = (f"all {len(tried)} training{'s' if len(tried) != 1 else ''} of the run failed or diverged ({why})" if tried
                else "the run made no training")
        raise TrainingError(f"no network was measured: {what}; every candidate is in {self.out}; see why in the trainings' "
                            f"messages above, fix it, and run again")

    def run(self):
        """Run (or continue) the search; returns the results Dataset (written on every exit).

        Raises
        ------
        TrainingError
            The run ended with no network measured (:meth:`_check_measured`); the file says ``failed``.
        """
        check_cost_limits_reachable(self.spec, self.space)  # exit 3 at once, before anything is written
        # an unwritable destination fails now, before any training; the budget is in the file from the start (a
        # resume after an interruption keeps it)
        self.checkpoint()
        try:
            self._search()
            stopped = self.stopped_by_budget()
            if not stopped:
                self._check_measured()  # all the rounds done, but nothing measured: the run failed, and says so
            self.state.status = "budget_spent" if stopped else "complete"
        except KeyboardInterrupt:
            self.state.status = "interrupted"
            raise
        except BaseException as exc:  # any other end (an error, SystemExit): the file says how the run ended
            self.state.status = "failed"
            self.state.failure = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
            raise
        finally:
            with interrupts.deferred():  # a second Ctrl-C waits for the file to be whole (moo_snn.interrupts)
                if self.state.status == "running":  # a second signal cut the except clause short: still a stop
                    self.state.status = "interrupted"
                self.state.ended = now()
                self.checkpoint()  # with the front and what was spent, however the run ended
        return self.state.to_dataset()


def run_options(spec, executor=None, device: str = "cpu") -> dict:
    """The options of a run that its results depend on: every ``[search]`` value, the objectives, the
    torch threads per training (None: torch's default) and the device. Stored in the results file
    (attribute ``options``, JSON) and reused by a resume (:func:`resume_spec`)."""
    from dataclasses import asdict

    return {**asdict(spec.search), "objectives": list(spec.objectives.names),
            "torch_threads": getattr(executor, "torch_threads", None), "device": device}


def resume_spec(ds, source: str = "the results file"):
    """The problem of a stored run with the run's own ``[search]`` options, and the stored options.

    ``ds``: a results Dataset (:func:`moo_snn.open_results`). Returns ``(spec, options)``; apply the
    caller's changes to ``spec`` with :func:`with_overrides` and take ``options["torch_threads"]``
    where the caller gives none. Objectives: ``options["objectives"]`` (apply with
    :func:`moo_snn.objectives.with_objectives` and ``stored=``). A file without stored options
    (written before they were) gives the problem file's own ``[search]``.
    """
    from dataclasses import asdict

    from moo_snn.config.problem import SearchSpec, parse_problem
    from moo_snn.schema import parse_table

    spec = parse_problem(ds.attrs["problem"], source=f"{source} (its problem)")
    options = json.loads(ds.attrs.get("options") or "{}")
    search = {k: options[k] for k in SearchSpec.__dataclass_fields__ if k in options}
    try:  # checked as the problem file's [search] is (another tool may have edited them): one line, not a TypeError
        parse_table(SearchSpec, {**asdict(spec.search), **{k: v for k, v in search.items() if v is not None}}, "search",
                    f"{source}: attribute 'options'")
    except ProblemError as exc:
        raise ResultsError(str(exc)) from None
    return with_overrides(spec, **search), options


def with_overrides(spec, **overrides):
    """The problem with ``[search]`` values replaced (None leaves a value as it is)."""
    changes = {k: v for k, v in overrides.items() if v is not None}
    return replace(spec, search=replace(spec.search, **changes)) if changes else spec


def failures_text(failed: list, shown: int = 2) -> str:
    """``arch: reason; ...`` of the first ``shown`` failed or diverged candidates, each reason its first sentence."""
    return "; ".join(f"{c.arch}: {_first_sentence(c.error) or c.status}" for c in failed[:shown])


def replacing_text(lost: int, replacing: int) -> str:
    """The progress line when lost bootstrap (or design) trainings are replaced by the design's next points."""
    return (f"bootstrap: {lost} training{'s' if lost != 1 else ''} failed; training {replacing} more of the design in "
            f"{'their' if lost != 1 else 'its'} place")


def _first_sentence(text: str | None, limit: int = 160) -> str:
    """The first sentence of a training's error (Dask's KilledWorker message runs over several)."""
    if not text:
        return ""
    first = text.split(". ")[0].strip()
    return first if len(first) <= limit else first[: limit - 1] + "…"
