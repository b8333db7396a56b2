"""The fidelity ladder of the asynchronous search (DESIGN §6b, §9): promotions without a round barrier.

With a ``[fidelity]`` table, a free worker of :class:`~moo_snn.search.async_loop.AsyncSearchRun`
gets, in this order:

1. a **promotion** to full training, or a **rung** up the ladder: the highest level ``l`` (full
   training first) whose quota is not used up and whose pool is not empty gets the candidate the
   synchronous ladder's rule picks, with the predictor of the last pass: into full training
   :func:`moo_snn.search.promotion.promotion_order` (expected hypervolume improvement; it may pick
   none: a candidate that cannot add to the front is never promoted), between low levels
   :func:`moo_snn.search.fidelity.choose` (measured accuracy at level ``l − 1``, the cost model's
   other objectives, the limits checked with the predictor);
2. else a **new candidate** at the cheapest level (the design, then the passes' queue, as without
   the table).

*Pool* of level ``l``: the candidates whose last measurement is a successful one at level ``l − 1``
and that were never requested at level ``l``. *Quota* of level ``l``: of the ``n`` candidates
measured at level ``l − 1`` so far, at most ``⌊n · rate_l⌋`` are ever requested at level ``l``
(failures included, so a failure is not retried there), with the proportions of a synchronous
round of the ladder (:func:`moo_snn.search.fidelity.ladder`): ``rate = 1 / eta`` between low
levels, and ``rate = promote / m`` (at most 1) into full training, ``m`` the number of a round's
``survivors`` that reach the highest low level (``⌈⌈s / eta⌉ / eta⌉ …``). This is asynchronous
successive halving (ASHA: Li et al., "A System for Massively Parallel Hyperparameter Tuning",
MLSys 2020, Algorithm 2): a rung promotes as soon as it holds enough measurements, never waiting
for a round; ``⌊·⌋`` (ASHA's) rather than the synchronous ``⌈·⌉`` so that the first result of a
rung is not promoted before there is anything to compare it with. Unlike the synchronous loop
(:func:`moo_snn.search.fidelity.after_bootstrap`), the design is not run up the ladder before the
first pass: promotions start once a pass has fit a predictor, and the passes before the first full
result fit proxies on their own scale (no gap between proxy and full accuracy is known yet).

**Trainings log** (``trainings``, in the run's ``async_state`` attribute): one entry per request,
in request order: ``[arch, level index, result index (-1: running), measured accuracy (None:
failed or running)]``. A candidate's own variables (``request_index``, ``result_index``,
``requested_s``, ``result_s``, ``worker``) describe its *last* training; the fidelity variables
(``fidelity_epochs``, ``proxy_accuracy``, ``proxy_level``, ``cost_fte``, ``round_promoted``, …) are
those of the synchronous ladder.

**Exact resume.** A pass fits the predictor on the results that arrived before it (the log's
entries with a result index below the pass's count, :func:`arrivals_view`), not on the candidates'
current values, so that a resumed run rebuilds the last pass's predictor exactly (one fit) and
picks the same promotions the uninterrupted run picked, given the same arrival order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from moo_snn.search import fidelity


def rates(problem) -> dict[int, float]:
    """Per level index ≥ 1: the share of the candidates measured one level below that may go up (module docstring)."""
    levels = fidelity.levels(problem)
    fid = problem.fidelity
    reach = problem.search.survivors
    for _ in levels[1:-1]:
        reach = fidelity.rung_size(reach, fid.eta)
    out = {lv.index: 1.0 / fid.eta for lv in levels[1:-1]}
    out[levels[-1].index] = min(1.0, fid.promote / reach) if reach else 0.0
    return out


def allowed(n_measured: int, rate: float) -> int:
    """How many of ``n_measured`` candidates of a rung may ever go up: ``⌊n · rate⌋``."""
    return int(math.floor(n_measured * rate + 1e-9))


@dataclass
class Arrived:
    """What a candidate's arrived results say (the attributes the predictor fit reads)."""

    arch: str
    status: str = "predicted"
    val_accuracy: float = np.nan
    proxy_accuracy: float = np.nan
    proxy_level: int = -1
    round_trained: int = 0
    error: str = ""

    @property
    def trained(self) -> bool:
        """Whether a full training of it arrived (with a measured accuracy)."""
        return self.status == "trained"


def arrivals_view(log: list, results_before: int, full_index: int) -> dict[str, Arrived]:
    """The candidates as the results with index below ``results_before`` left them: full accuracy where
    a full training arrived, the highest low level measured and its accuracy (as
    :func:`~moo_snn.search.fidelity.record_cost` keeps them)."""
    view: dict[str, Arrived] = {}
    for arch, level, result, accuracy in log:
        if result < 0 or result >= results_before or accuracy is None:
            continue
        a = view.setdefault(arch, Arrived(arch))
        if level == full_index:
            a.status, a.val_accuracy = "trained", float(accuracy)
        elif level >= a.proxy_level:
            a.proxy_level, a.proxy_accuracy = int(level), float(accuracy)
            if a.status == "predicted":
                a.status = "proxy"
    return view


class Rungs:
    """Counts of the log by level, kept as requests and results come (rebuilt from the log on resume).

    ``top[arch]``: the highest level requested for it; ``measured[l]``: architectures with a successful
    result at level ``l`` (in arrival order); ``requested[l]``: requests at level ``l``.
    """

    def __init__(self, n_levels: int, log: list):
        self.top: dict[str, int] = {}
        self.measured: list[list[str]] = [[] for _ in range(n_levels)]
        self.requested = [0] * n_levels
        for arch, level, _, _ in log:
            self.request(arch, level)
        for arch, level, result, accuracy in sorted((e for e in log if e[2] >= 0), key=lambda e: e[2]):
            self.result(arch, level, accuracy)

    def request(self, arch: str, level: int) -> None:
        """A training of ``arch`` at ``level`` was requested."""
        self.top[arch] = max(level, self.top.get(arch, -1))
        self.requested[level] += 1

    def result(self, arch: str, level: int, accuracy) -> None:
        """A result of ``arch`` at ``level`` arrived (``accuracy`` None: it failed)."""
        if accuracy is not None:
            self.measured[level].append(arch)

    def pool(self, level: int) -> list[str]:
        """Candidates measured at ``level − 1`` and never requested higher (in arrival order)."""
        return [a for a in self.measured[level - 1] if self.top[a] == level - 1]


def next_promotion(run, rungs: Rungs, chosen: dict) -> tuple | None:
    """The next rung or promotion request of ``run`` (an :class:`~moo_snn.search.async_loop.AsyncSearchRun`
    with a ``[fidelity]`` table): ``(candidate, level, source)``, or None.

    ``chosen`` caches, per level, the promotion rule's picks since the last result or pass (several
    free workers at once get the candidates the rule spreads over the front, not the best one
    several times); the caller empties it when a result arrives or a pass runs.
    """
    problem = getattr(run, "_problem", None)
    if problem is None:  # before the first pass: nothing to check the limits with
        return None
    share = rates(run.spec)
    for level in reversed(run.levels[1:]):
        quota = allowed(len(rungs.measured[level.index - 1]), share[level.index]) - rungs.requested[level.index]
        if quota <= 0:
            continue
        if level.index not in chosen:
            pool = [run.state.candidates[a] for a in rungs.pool(level.index)]
            if not pool:
                picks = []
            elif level.full:  # the synchronous ladder's promotion rule (expected hypervolume improvement)
                from moo_snn.search.promotion import promotion_order

                picks = promotion_order(run, problem, pool, quota, run.passes)
            else:
                picks = fidelity.choose(problem, pool, [c.proxy_accuracy for c in pool], quota)
            chosen[level.index] = [pool[i].arch for i in picks]
        while chosen[level.index]:
            arch = chosen[level.index].pop(0)
            if rungs.top[arch] == level.index - 1:
                return run.state.candidates[arch], level, "promotion" if level.full else "search"
    return None
