"""Multi-fidelity search (DESIGN §6b): fidelity levels, their cost, successive halving, promotion, budget.

**Levels.** A problem's ``[fidelity]`` table lists low-fidelity levels, cheapest first: level ``i``
trains ``epochs[i]`` epochs on a stratified fraction ``train_fraction[i]`` of the training split
(:func:`moo_snn.data.splits.training_subset`). Above them is full training, the ``[training]``
recipe: the only level whose measurements reach the front (what users deploy).

**Cost in full-training equivalents (FTE).** A training of ``e`` epochs on a fraction ``f`` of the
training split processes ``e · f · N`` samples, a full one ``E · N`` (``E``: ``[training] epochs``),
so it costs

    fte = e · f / E

full trainings: forward and backward time per sample do not depend on the level (the same network,
the same batch size), so time is proportional to samples seen. The validation and test passes
after each training are the same at every level and are not counted (on digits they take under
5 % of a full training; with ``e · f`` small they make a proxy dearer than its FTE says, which the
recorded seconds show). A run records every training's epochs, fraction, samples seen, seconds and
FTE (:class:`moo_snn.results.state.Candidate`).

**Successive halving** (Jamieson & Talwalkar, AISTATS 2016; the rung structure of Hyperband, Li et
al., JMLR 2018): a round's survivors are measured at level 0; of the candidates measured at level
``i`` (this round's and earlier rounds' not yet above it), the best ``⌈n / eta⌉`` go up to level
``i + 1``; finally ``promote`` candidates of the highest low level are *promoted* to full training.
The bootstrap (measured at level 0) goes through the same ladder once, as round 0, so that the
first round already knows how far each proxy lies below full training (:func:`after_bootstrap`), or,
with ``promote_bootstrap = false``, does not: the first promotions then come after round 1, whose
candidates the search chose, instead of from a random sample.
"Best" for a rung: the measured accuracy at that level as the accuracy objective, the cost
model's values as the others, then the same front-by-front, spread-over-the-front choice as the
round's survivors (:func:`choose`). Promotion to full training buys the only measurement that
reaches the front, so it goes where the measured front's hypervolume is expected to grow most
(:mod:`moo_snn.search.promotion`: EHVI with the proxy accuracy calibrated to full training by the
gaps measured on earlier promotions); at most ``promote`` per round, never one whose EHVI is 0.

**Budget.** ``Budget(fte=…, hours=…)`` caps what a run spends: before a batch of trainings the run
asks :meth:`Budget.affordable` how many it may start, and with an hours cap it checks again before
each training of the batch starts (:func:`hours_left`); what is spent is recomputed from the
results (the sum of every training's FTE and seconds), so a resumed run with a larger budget
continues where the smaller one stopped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Level:
    """One fidelity: ``epochs`` on ``train_fraction`` of the training split; ``fte`` its cost.

    ``index``: 0 … n-1 for the low levels, n for full training.
    """

    index: int
    epochs: int
    train_fraction: float
    fte: float
    full: bool

    @property
    def name(self) -> str:
        """``full``, or ``L<index> (<epochs> ep, <fraction> data)`` for a low-fidelity level."""
        return "full" if self.full else f"L{self.index} ({self.epochs} ep, {self.train_fraction:g} data)"


def cost_fte(epochs: int, train_fraction: float, full_epochs: int) -> float:
    """Cost of a training in full-training equivalents: ``epochs · train_fraction / full_epochs``."""
    return float(epochs) * float(train_fraction) / float(full_epochs)


def levels(problem) -> list[Level]:
    """The problem's fidelity levels, cheapest first, full training last (only that one without ``[fidelity]``)."""
    fid, full = problem.fidelity, problem.training.epochs
    fractions = fid.train_fraction or (1.0,) * len(fid.epochs)
    out = [Level(i, e, f, cost_fte(e, f, full), False) for i, (e, f) in enumerate(zip(fid.epochs, fractions))]
    return out + [Level(len(out), full, 1.0, 1.0, True)]


def check_levels(problem, data) -> None:
    """Raise :class:`~moo_snn.errors.ProblemError` if a low level's fraction of the training split holds fewer
    samples than the data have classes (:func:`moo_snn.data.splits.training_subset` keeps ``⌈f · n⌉``):
    a proxy trained on it cannot see every class, and measures nothing a search could rank by.

    ``data``: the problem's :class:`~moo_snn.data.DataSplits`. :func:`check_level_sizes` does the same from
    counts (``moo-snn plan``, which reads no data).
    """
    check_level_sizes(problem, len(data.y_train), len(np.unique(data.y_train)))


def check_level_sizes(problem, n: int, classes: int) -> None:
    """:func:`check_levels` for a training split of ``n`` samples of ``classes`` classes."""
    from moo_snn.data.splits import subset_size
    from moo_snn.errors import ProblemError

    for level in levels(problem)[:-1]:
        keep = subset_size(n, level.train_fraction)
        if keep < classes:
            least = math.ceil(classes / n * 1000) / 1000
            raise ProblemError(f"{problem.name}: [fidelity] train_fraction[{level.index}] = {level.train_fraction:g} keeps {keep} of the {n} "
                               f"training samples, fewer than the {classes} classes: a proxy trained on it cannot see every "
                               f"class; give at least {least:g}")


def level_of(problem, epochs: int, train_fraction: float) -> Level | None:
    """The level with these epochs and fraction (None: not one of the problem's)."""
    for level in levels(problem):
        if level.epochs == epochs and math.isclose(level.train_fraction, train_fraction):
            return level
    return None


def rung_size(n: int, eta: int) -> int:
    """How many of ``n`` candidates measured at a level go up one level: ``⌈n / eta⌉``."""
    return math.ceil(n / eta) if n > 0 else 0


@dataclass
class Budget:
    """What a run may spend: ``fte`` full-training equivalents and/or ``hours`` of training time (None: no cap)."""

    fte: float | None = None
    hours: float | None = None

    def affordable(self, n: int, level_fte: float, spent_fte: float, spent_seconds: float) -> int:
        """How many of ``n`` trainings of cost ``level_fte`` may still start (trainings start whole)."""
        if self.hours is not None and spent_seconds >= self.hours * 3600.0:
            return 0
        if self.fte is None or math.isinf(self.fte):  # inf: no cap (moo_snn.run._budget turns it into None)
            return n
        room = self.fte - spent_fte
        return max(0, min(n, int(math.floor(room / level_fte + 1e-9))))

    def exhausted(self, spent_fte: float, spent_seconds: float, cheapest_fte: float) -> bool:
        """True when not even one training of the cheapest level may start."""
        return self.affordable(1, cheapest_fte, spent_fte, spent_seconds) == 0

    def as_attrs(self) -> dict:
        """Results-file attributes (numbers; -1: no cap)."""
        return {"budget_fte": -1.0 if self.fte is None else float(self.fte),
                "budget_hours": -1.0 if self.hours is None else float(self.hours)}


def choose(problem, pool: list, measured_accuracy, k: int) -> list[int]:
    """Indices into ``pool`` (candidates) of up to ``k`` to measure at the next level.

    ``problem``: the round's :class:`~moo_snn.search.pymoo_problem.SnnSearchProblem` (its predictor
    gives the full-fidelity accuracy for the limits; its cost model the other objectives);
    ``measured_accuracy``: each candidate's measured accuracy at its current level (the ranking
    evidence). Only candidates that meet every limit with the predicted full accuracy are chosen
    first; then the least violating (see :func:`~moo_snn.search.selection.select_survivors`).
    """
    from moo_snn.objectives import metric_values
    from moo_snn.search.selection import select_survivors

    if k <= 0 or not pool:
        return []
    X = np.array([c.genome for c in pool], dtype=np.int64)
    p = problem.predict(X)
    values = metric_values(problem.metrics, np.asarray(measured_accuracy, dtype=float), p["costs"], p["archs"],
                           problem=problem.spec)
    F = np.column_stack([m.to_minimize(values[:, j]) for j, m in enumerate(problem.metrics)])
    G = p["G"] if problem.n_ieq_constr else np.zeros((len(pool), 0))
    return select_survivors(p["archs"], F, G, np.zeros(len(pool)), trained=set(), k=k,
                            metric_names=problem.spec.objectives.names, constraints=problem.spec.constraints,
                            uncertainty_weight=0.0)


# --- the hooks of the search loop (moo_snn.search.loop.SearchRun) ---------------------------------

def record_cost(run, c, result: dict, round_: int, source: str) -> bool:
    """Record what a training of ``c`` cost and at which fidelity (and, at one of the problem's levels, in the
    run's ladder log: :func:`log_training`); True if it was a low-fidelity one (then recorded here as a
    proxy measurement: status ``proxy``, ``proxy_accuracy``), False if it was a full training (the caller
    records its measurements as before)."""
    epochs = int(result.get("epochs", run.spec.training.epochs))
    fraction = float(result.get("train_fraction", 1.0))
    level = level_of(run.spec, epochs, fraction) or Level(-1, epochs, fraction, cost_fte(epochs, fraction, run.spec.training.epochs),
                                                          epochs == run.spec.training.epochs and fraction == 1.0)
    if source != "archive":  # measured before this run: free
        if level.index >= 0:  # one of the problem's levels
            log_training(run, c, level, round_, result)
        c.cost_fte = float(c.cost_fte) + level.fte
        c.samples_seen = int(c.samples_seen) + int(result.get("samples_seen", 0) or 0)
    if level.full or c.fidelity_epochs == 0 or level.fte > cost_fte(c.fidelity_epochs, c.fidelity_fraction, run.spec.training.epochs):
        c.fidelity_epochs, c.fidelity_fraction = epochs, fraction
    if level.full:
        return False
    c.proxy_seconds = float(np.nansum([c.proxy_seconds, result.get("train_seconds", np.nan)]))
    ok = result["status"] == "trained" and bool(np.isfinite(result.get("val_accuracy", np.nan)))  # a proxy has an accuracy
    if ok:
        c.proxy_accuracy, c.proxy_level = float(result["val_accuracy"]), level.index
    if c.status in ("predicted", "proxy"):
        c.status = "proxy" if ok or c.status == "proxy" else (result["status"] if result["status"] in ("diverged", "failed") else "failed")
        c.source = source
        c.round_trained = round_
    return True


LOG_ATTR = "ladder_log"
"""Results-file attribute of a synchronous ladder run (JSON): every training in the order it finished,
``[arch, level index, round, validation accuracy or null (failed, diverged)]``; full training is the
highest level index. A candidate's own variables keep its highest level only (``proxy_accuracy``,
``proxy_level``, ``round_trained``: the round of its last training); the log keeps every level's
measurement and when it was made, so that a round redone on resume sees what it saw the first time
(:func:`as_before`). Files written before the log existed, and runs resumed from them, have none."""


def log_training(run, c, level: Level, round_: int, result: dict) -> None:
    """Append a training of ``c`` at ``level`` in round ``round_`` to the run's ladder log (if it keeps one)."""
    if LOG_ATTR not in run.state.attrs:
        return
    log = json.loads(run.state.attrs[LOG_ATTR])
    ok = result["status"] == "trained" and np.isfinite(result.get("val_accuracy", np.nan))
    log.append([c.arch, level.index, int(round_), float(result["val_accuracy"]) if ok else None])
    run.state.attrs[LOG_ATTR] = json.dumps(log)


def round_ftes(run) -> dict[int, float]:
    """FTE the run spent on each round's trainings, ``{round: FTE}`` (rounds without trainings absent), in
    every process that worked on it (a round redone or finished on resume counted what its own process
    spent, so an interrupted round's first part was lost from its record): from the ladder log where the
    run keeps one (a promotion trains an earlier round's candidate again, and a candidate keeps its last
    round only), else the costs of the candidates each round trained (without a ladder each is trained
    once). Archive networks are free. One pass over the log or the candidates."""
    spent: dict[int, float] = {}
    log = ladder_log(run)
    if log is not None:
        for _, level, r, _ in log:
            spent[r] = spent.get(r, 0.0) + run.levels[level].fte
        return spent
    for c in run.state.candidates.values():
        if c.source != "archive":
            spent[c.round_trained] = spent.get(c.round_trained, 0.0) + float(c.cost_fte)
    return spent


def round_fte(run, r: int) -> float:
    """FTE the run spent on round ``r``'s trainings (:func:`round_ftes`)."""
    return round_ftes(run).get(r, 0.0)


def ladder_log(run) -> list | None:
    """The run's ladder log (:data:`LOG_ATTR`), None when it keeps none."""
    text = run.state.attrs.get(LOG_ATTR)
    return None if text is None else json.loads(text)


class as_before:
    """``with as_before(run, r):`` the run's candidates as the trainings of the rounds before ``r`` left
    them (full accuracy where a full training was measured, the highest low level measured and its
    accuracy), read from the ladder log; without a log (or with ``r`` None) the candidates as they are.

    Why: a promotion or a rung of round ``r`` trains candidates of earlier rounds again at a higher level,
    which overwrites their level and round; a round redone on resume from the candidates as they are would
    fit its predictor on other inputs than the first time and choose other survivors.
    """

    def __init__(self, run, r: int | None):
        self.run, self.r, self.saved = run, r, None

    def __enter__(self):
        from moo_snn.search.async_ladder import arrivals_view

        log = ladder_log(self.run)
        if log is not None and self.r is not None:
            self.saved = self.run.state.candidates
            view = arrivals_view(log, self.r, self.run.levels[-1].index)  # round < r
            # in the candidates' order, which the predictor's fit sees (its ensemble samples by position)
            self.run.state.candidates = {a: view[a] for a in self.saved if a in view}
        return self.run

    def __exit__(self, *exc):
        if self.saved is not None:
            self.run.state.candidates = self.saved


def measured_before(run, r: int) -> set[str] | None:
    """Architectures with any training (failed ones too) in the rounds before ``r``, from the ladder log,
    and those the archive holds (the run read them, never trains them; they were left out, so a round's
    survivor places went to networks it then did not train); None without a log."""
    log = ladder_log(run)
    if log is None:
        return None
    return {a for a, c in run.state.candidates.items() if c.source == "archive"} | {arch for arch, _, round_, _ in log if round_ < r}


def spent_now(run) -> tuple[float, float]:
    """(FTE, seconds) the run has spent on trainings so far."""
    fte = seconds = 0.0
    for c in run.state.candidates.values():
        if c.source == "archive":
            continue
        fte += float(c.cost_fte)
        seconds += float(np.nansum([c.train_seconds if c.status in ("trained", "diverged") else np.nan, c.proxy_seconds]))
    return fte, seconds


def within_budget(run, candidates: list, level: Level, round_: int | None = None) -> list:
    """The first of ``candidates`` the budget still allows at ``level`` (round ``round_``); notes in the
    results file when it runs out (:func:`refuse`).

    An hours cap is also checked before each training of the batch starts (:func:`hours_left`, by
    :meth:`moo_snn.search.loop.SearchRun._train`): the time a training takes is not known before it
    ends, so the batch is not cut here by hours, only by FTE.
    """
    fte, seconds = spent_now(run)
    n = run.budget.affordable(len(candidates), level.fte, fte, seconds)
    if n < len(candidates):
        refuse(run, candidates, n, level, round_)
    return candidates[:n]


def hours_left(run) -> bool:
    """Whether the run's hours cap (``--budget-hours``) still lets a training start: the seconds of every
    finished training so far are below it (True without a cap)."""
    return run.budget.hours is None or spent_now(run)[1] < run.budget.hours * 3600.0


def refuse(run, candidates: list, n: int, level: Level, round_: int | None) -> None:
    """Record that the budget lets only the first ``n`` of ``candidates`` (a batch at ``level``) start.

    The refusal is kept in the results file (attribute ``budget_refused``, JSON: ``round``, ``level``,
    ``fte_each``: the FTE of one refused training, ``archs``: the refused architectures), so that a
    resume with a larger budget knows what it must afford (:func:`moo_snn.run_checks.nothing_to_do`)
    and which of a round's chosen candidates it still has to train (:func:`ladder`). A refused
    promotion loses its mark (``round_promoted``): it was not sent to full training.
    """
    run.budget_refused = True  # this run left trainings undone for the budget: it stops after this batch
    left = len(candidates) - n
    run.budget_refusal = (f"{left} {level.name} training{'s' if left != 1 else ''} not started"
                          f"{f' (the budget covered {n} of the {len(candidates)} asked for)' if n else ''}")
    if level.full:
        for c in candidates[n:]:
            if getattr(c, "round_promoted", -1) == round_:
                c.round_promoted, c.accuracy_predicted_when_selected = -1, np.nan
    run.state.attrs["budget_refused"] = json.dumps({"round": -1 if round_ is None else int(round_), "level": level.index,
                                                    "fte_each": level.fte, "archs": [c.arch for c in candidates[n:]]})
    update_attrs(run)
    # said now, before the covered ones train (or while the last of them run): the results file's note (spent, with
    # its numbers) follows at the end
    run.progress.phase(f"budget reached: {run.budget_refusal}; the run stops "
                       f"{f'after the {n} it covers' if n else 'here'} (resume with a larger --budget / --budget-hours to continue)")


def budget_exhausted(run) -> bool:
    """True when the budget refused a training in this run, or not even one training of the cheapest
    level fits it any more: the run stops (and its results file says so)."""
    update_attrs(run)
    return bool(run.state.attrs["budget_exhausted"])


def update_attrs(run) -> None:
    """The budget and what was spent, as results-file attributes (numbers; -1: no cap): ``spent_fte``,
    ``spent_train_hours``, and ``bootstrap_fte``, the FTE of round 0 (the bootstrap's trainings and their
    promotions; an asynchronous run's design), which the ``round`` dimension (rounds 1, 2, ...) does not
    hold: ``bootstrap_fte`` plus the recorded rounds' ``round_fte`` is ``spent_fte`` (less what a round
    interrupted before its record spent)."""
    fte, seconds = spent_now(run)
    bootstrap = sum(v for r, v in round_ftes(run).items() if r <= 0)  # round 0 (an asynchronous design: 0 or -1)
    run.state.attrs.update(run.budget.as_attrs(), spent_fte=fte, spent_train_hours=seconds / 3600.0, bootstrap_fte=bootstrap,
                           fidelity_levels="; ".join(f"{lv.epochs} ep x {lv.train_fraction:g} = {lv.fte:.4g} FTE" for lv in run.levels))
    stopped = refused_here(run) or run.budget.exhausted(fte, seconds, run.levels[0].fte)
    run.state.attrs["budget_exhausted"] = int(stopped)
    if run.state.status == "complete":  # every round done: nothing refused is left to retry
        run.state.attrs.pop("budget_refused", None)
    if not stopped:
        run.state.attrs.pop("budget_note", None)
        return
    caps = [f"{fte:.3g} of {run.budget.fte:g} FTE" if run.budget.fte is not None else f"{fte:.3g} FTE",
            f"{seconds / 3600:.3g} of {run.budget.hours:g} h of training" if run.budget.hours is not None
            else f"{seconds / 3600:.3g} h of training"]
    refusal = getattr(run, "budget_refusal", "")
    run.state.attrs["budget_note"] = (f"budget spent ({', '.join(caps)}){': ' + refusal if refusal else ''}; resume with a "
                                      f"larger --budget / --budget-hours to continue")


def refusal_taken_up(run, r: int, levels=None) -> None:
    """Drop the stored refusal of round ``r`` (at one of ``levels``; None: any) once what it refused has been
    trained and the budget refused nothing more in this process. Called only after those trainings (and,
    for a round's survivors, after the round's ladder): a refusal dropped before them was lost to an
    interruption, and the next resume took the round as finished (its promotions never made)."""
    refused = json.loads(run.state.attrs.get("budget_refused") or "null")
    if refused_here(run) or not refused or int(refused["round"]) != r:
        return
    if levels is None or int(refused["level"]) in levels:
        run.state.attrs.pop("budget_refused")


def refused_here(run) -> bool:
    """True when the budget refused a training in this process (the run stops; what was refused is in
    the ``budget_refused`` attribute for a resume)."""
    return bool(getattr(run, "budget_refused", False))


def stored_refusal(run, r: int) -> dict[int, set[str]]:
    """The trainings of round ``r`` the budget refused in an earlier process (read from the results
    file's ``budget_refused`` attribute): ``{level index: architectures}``, empty when none."""
    refused = json.loads(run.state.attrs.get("budget_refused") or "null")
    if not refused or int(refused["round"]) != r:
        return {}
    return {int(refused["level"]): set(refused["archs"])}


def log_odds(accuracy):
    """log(a / (1 − a)) of an accuracy (fraction correct), clipped to [0.001, 0.999] as the predictor's
    logit target (:mod:`moo_snn.surrogate.predictor`); shape preserved."""
    from scipy.special import logit

    return logit(np.clip(np.asarray(accuracy, dtype=float), 1e-3, 1 - 1e-3))


def lift(proxy_accuracy, gap):
    """A proxy accuracy on the full-training scale: ``expit(log_odds(proxy) + gap)``, ``gap`` a level's
    mean log-odds gap (:func:`fidelity_gaps`); shape of ``proxy_accuracy``."""
    from scipy.special import expit

    return expit(log_odds(proxy_accuracy) + gap)


def fidelity_gaps(run, before_round: int | None = None, *, archive: bool = True) -> dict[int, tuple[float, float, int]]:
    """Per low level ``i``: ``(mean, std, n)`` of the log-odds gap ``log_odds(full) − log_odds(proxy)``
    of validation accuracy over the run's candidates measured at both (their last proxy at level ``i``
    and a full training), of the rounds before ``before_round`` (all if None), and, with ``archive``,
    over the networks its archive holds at both (``run.archive_proxies``: a proxy at the level's
    recipe and a full training), the better half by proxy of them, as a ladder promotes
    (``surrogates/digits-fidelity.nc`` holds 61 such pairs for digits-long's level: the better 31
    give 1.73 ± 0.80, all 61 2.25 ± 1.14; so its first round already knows the gap). A level
    without such pairs takes the nearest level above it that has some (the gap only grows towards
    cheaper levels, so this understates it); without an archive no level has any before the first
    promotion: the dict is empty.

    Why log-odds rather than accuracy points: full accuracy saturates below 1 while proxies spread
    far below it, so the gap in points shrinks as the proxy grows (a constant one lifts good proxies
    past 1), while the log-odds gap is nearly constant. Measured on the 116 digits networks with both
    an 8 ep × ¼ proxy and a 30-epoch training (``surrogates/digits-fidelity.nc`` and
    ``benchmarks/multifidelity_cache.nc``), over the better half by proxy: gap in points 0.157 ± 0.105,
    in log-odds 1.59 ± 0.57; predicting each network's full accuracy from the others' mean gap
    (leave-one-out) errs by 0.106 RMS in points and 0.031 in log-odds (0.120 and 0.037 when the gap
    comes from 3 networks only, as after a run's first promotions).
    """
    diffs: dict[int, list[float]] = {}
    for level, proxies in (getattr(run, "archive_proxies", {}) if archive else {}).items():
        pairs = [(proxy, run.archive_records[a]["val_accuracy"]) for a, proxy in proxies.items() if a in run.archive_records]
        if pairs:  # the better half by proxy: what a ladder promotes (the worse half, near chance, lies further below)
            middle = float(np.median([proxy for proxy, _ in pairs]))
            diffs[level] = [float(log_odds(full) - log_odds(proxy)) for proxy, full in pairs if proxy >= middle]
    for c in run.state.candidates.values():
        if before_round is not None and c.round_trained >= before_round:
            continue
        if c.trained and c.proxy_level >= 0 and np.isfinite(c.proxy_accuracy) and np.isfinite(c.val_accuracy):
            diffs.setdefault(int(c.proxy_level), []).append(float(log_odds(c.val_accuracy) - log_odds(c.proxy_accuracy)))
    gaps: dict[int, tuple[float, float, int]] = {}
    low = [lv.index for lv in run.levels if not lv.full]
    for i in low:
        for j in [k for k in low if k >= i]:
            if j in diffs:
                d = np.asarray(diffs[j])
                gaps[i] = (float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else float("nan"), len(d))
                break
    return gaps


def fit_predictor(run, before_round: int):
    """The predictor fitted across fidelities: every measurement (archive, full and proxy trainings of
    the rounds before ``before_round``) with its cost in FTE as an input; it predicts full accuracy.

    A proxy measurement enters on the full-accuracy scale, lifted by its level's mean log-odds gap
    (:func:`lift`, :func:`fidelity_gaps`): a tree ensemble cannot extrapolate along the fidelity
    input, so without the lift a run whose measurements are mostly proxies would predict proxy-scale
    accuracy for full training and check the accuracy limit against it. Before the first promotion no
    gap is known and proxies enter as measured.
    """
    from moo_snn.errors import TrainingError
    from moo_snn.surrogate.predictor import DEFAULT_REGRESSOR, make_predictor, predictor_inputs

    low = {lv.index: lv for lv in run.levels if not lv.full}
    gaps = fidelity_gaps(run, before_round)
    archs = list(run.archive_records)
    acc = [r["val_accuracy"] for r in run.archive_records.values()]
    fte = [1.0] * len(archs)
    for c in run.state.candidates.values():
        if c.arch in run.archive_records or c.round_trained >= before_round:
            continue
        if c.trained:
            archs.append(c.arch), acc.append(c.val_accuracy), fte.append(1.0)
        if c.proxy_level in low and np.isfinite(c.proxy_accuracy):
            lifted = lift(c.proxy_accuracy, gaps[c.proxy_level][0]) if c.proxy_level in gaps else c.proxy_accuracy
            archs.append(c.arch), acc.append(float(lifted)), fte.append(low[c.proxy_level].fte)
    if len(set(archs)) < 2:
        raise TrainingError(f"the accuracy predictor needs at least 2 measured networks, the run has {len(set(archs))}; "
                            f"see the trainings' messages above, fix it, and run again")
    model = make_predictor(run.spec, DEFAULT_REGRESSOR, random_state=run.state.seed, use_fidelity=True)
    return model.fit(predictor_inputs(archs, fte=fte), np.asarray(acc, dtype=float))


def after_bootstrap(run) -> int:
    """The ladder once on the bootstrap (as round 0) while no gap between the proxies and full training
    is known and no round has run: the first round's predictor then sees proxies lifted to the full
    scale (:func:`fit_predictor`), and NSGA-II checks the accuracy limit on that scale. Returns how
    many were promoted (0 without a ``[fidelity]`` table, on resume past it, or with no budget left).
    """
    from moo_snn.search.pymoo_problem import SnnSearchProblem

    begun = (any(c.round_promoted == 0 for c in run.state.candidates.values())  # interrupted or stopped in its promotions
             or any(i > 0 for i in stored_refusal(run, 0)))
    rounds_begun = any(c.round_found >= 1 for c in run.state.candidates.values())  # round 1 ran NSGA-II: round 0 is done
    if (not run.spec.fidelity.enabled or run.state.rounds or ((fidelity_gaps(run, archive=False) or rounds_begun) and not begun)
            or budget_exhausted(run) or not run.spec.fidelity.promote_bootstrap):
        return 0
    with as_before(run, 1):
        model = fit_predictor(run, before_round=1)
    return ladder(run, 0, SnnSearchProblem(run.spec, run.space, model))


def finish_refused_round(run) -> int:
    """On a resume after a budget stop inside recorded round ``r`` (the last): train what its budget
    refused (``budget_refused`` attribute, :func:`within_budget`) and the rest of its ladder, as the
    round would have with a larger budget, before the next round starts; the round's record (FTE,
    promotions, hypervolume) is updated. Returns how many the round promoted (0: nothing to finish).

    The round's NSGA-II is not run again: the predictor it used is refit from the trainings of the
    rounds before it (:meth:`SearchRun._fit_predictor`, the same inputs), for the ladder's choices
    above the refused level; the refused ones themselves are taken from the file.
    """
    from moo_snn.search.pymoo_problem import SnnSearchProblem

    refusal = json.loads(run.state.attrs.get("budget_refused") or "null")
    r = len(run.state.rounds)
    if not refusal or r < 1 or int(refusal["round"]) != r or budget_exhausted(run):
        return 0
    problem = SnnSearchProblem(run.spec, run.space, run._fit_predictor(before_round=r))
    if int(refusal["level"]) == 0:  # survivors refused: train them, then the round's whole ladder
        run._train([run.state.candidates[a] for a in refusal["archs"] if run.state.candidates[a].status == "predicted"],
                   r, "search", level=run.levels[0])
    promoted = ladder(run, r, problem) if run.spec.fidelity.enabled and not refused_here(run) else 0
    refusal_taken_up(run, r)  # the round is finished (an interruption before this leaves it for the next resume)
    record = run.state.rounds[-1]
    record.fte = round_fte(run, r)
    record.n_promoted = promoted
    run._update_front()
    record.hypervolume = run.hypervolume()
    run.checkpoint()
    return promoted


def ladder(run, r: int, problem) -> int:
    """Successive halving after round ``r``'s survivors were measured at level 0, then promotion to
    full training (see the module docstring); returns how many were promoted.

    Each rung's choice is stored before its trainings (results-file attribute ``ladder_rungs``, JSON
    ``{round: {level index: [architectures]}}``), as promotions are marked (``round_promoted``): a round
    redone after an interruption finishes what it had chosen."""
    from moo_snn.search.promotion import promotion_order

    fid = run.spec.fidelity
    refused = stored_refusal(run, r)  # a budget stopped this round: finish what it had chosen
    marked = any(c.round_promoted == r for c in run.state.candidates.values())  # interrupted in its promotions
    redo_from = min(refused) if refused else (run.levels[-1].index if marked else 0)
    rungs = json.loads(run.state.attrs.get("ladder_rungs") or "{}")  # {round: {level: architectures raised to it}}
    raised = rungs.setdefault(str(r), {})
    for level in run.levels[1:]:
        if level.index < redo_from:  # raised before the stop: choosing again on the smaller pool would raise more
            continue
        below = run.levels[level.index - 1]
        pool = [c for c in run.state.candidates.values() if c.status == "proxy" and c.proxy_level == below.index]
        log = ladder_log(run)  # measured at the level below in this round (the candidates keep their last round only)
        fresh = (len({a for a, i, rr, _ in log if i == below.index and rr == r} & {c.arch for c in pool}) if log is not None
                 else sum(1 for c in pool if c.round_trained == r))
        k = fid.promote if level.full else rung_size(fresh, fid.eta)
        again = refused.get(level.index, set())
        if again or (level.full and marked):  # (no level below full marks anything: marked still holds)
            # round r redone after an interruption or a budget stop: its promotions (or this rung) were chosen
            # before it, and those sent to training marked (round_promoted), those the budget refused stored;
            # finish them instead of choosing again on a front that already holds some of them (exact resume)
            order = [i for i, c in enumerate(pool) if (level.full and c.round_promoted == r) or c.arch in again]
        elif level.full:
            order = promotion_order(run, problem, pool, k, r)
        elif str(level.index) in raised:
            # round r redone after an interruption inside or after this rung: the ones it chose left the pool
            # as they were measured, so choosing again on what is left would raise others; finish its choice
            where = {c.arch: i for i, c in enumerate(pool)}
            tried = {a for a, i, rr, _ in log or [] if i == level.index and rr == r}  # a failed one stays in the pool
            order = [where[a] for a in raised[str(level.index)] if a in where and a not in tried]
        else:
            order = choose(problem, pool, [c.proxy_accuracy for c in pool], k)
            raised[str(level.index)] = [pool[i].arch for i in order]  # stored before training: see above
            run.state.attrs["ladder_rungs"] = json.dumps(rungs)
        chosen = [pool[i] for i in order]
        if not chosen:
            continue
        run.progress.phase(f"round {r}: {'promoting' if level.full else 'raising'} {len(chosen)} to {level.name}")
        if level.full:  # marked: what is sent to training (the budget's refusals are stored by within_budget)
            for c in chosen[:run.budget.affordable(len(chosen), level.fte, *spent_now(run))]:
                c.round_promoted = r
                c.accuracy_predicted_when_selected = c.predicted_accuracy
        run._train(chosen, r, "promotion" if level.full else "search", level=level)
        if refused_here(run):  # the budget stopped the round: the levels above wait for a resume
            break
        if again:
            refusal_taken_up(run, r, {level.index})
    return sum(1 for c in run.state.candidates.values() if c.round_promoted == r and c.status != "proxy")


def phase_plan(problem) -> dict:
    """Trainings and FTE per phase of a run (bootstrap, rounds, rungs, promotions) with the problem's
    ladder, as :func:`moo_snn.training.plan.plan_run` takes them; ``"_total"``: their FTE,
    ``"_total_without_ladder"``: the FTE of the same run with full trainings only."""
    s, fid = problem.search, problem.fidelity
    ladder_levels = levels(problem)
    phases = {"bootstrap": dict(trainings=s.bootstrap, level=ladder_levels[0].name, fte_each=ladder_levels[0].fte)}
    if len(ladder_levels) == 1:
        phases["rounds"] = dict(trainings=s.rounds * s.survivors, level="full", fte_each=1.0)
    else:
        phases["rounds"] = dict(trainings=s.rounds * s.survivors, level=ladder_levels[0].name, fte_each=ladder_levels[0].fte)
        n, n0 = s.survivors, s.bootstrap if fid.promote_bootstrap else 0  # the rounds' rungs, and round 0's
        for level in ladder_levels[1:-1]:
            n, n0 = rung_size(n, fid.eta), rung_size(n0, fid.eta)
            phases[f"rungs {level.name}"] = dict(trainings=s.rounds * n + n0, level=level.name, fte_each=level.fte)
        # at most: a promotion whose expected improvement is 0 is skipped, and a round cannot promote more
        # than reach its highest low level (a round's pool may also hold earlier rounds' candidates: this
        # is the steady-state count)
        phases["promotions"] = dict(trainings=s.rounds * min(fid.promote, n) + min(fid.promote, n0), level="full",
                                    fte_each=1.0)
    for p in phases.values():
        p["fte"] = p["trainings"] * p["fte_each"]
    return dict(phases, _total=float(sum(p["fte"] for p in phases.values())),
                _total_without_ladder=float(s.bootstrap + s.rounds * s.survivors))
