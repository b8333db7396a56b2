"""``--strategy hasnas``: the papers' search, as we reconstruct it, written in the same results format.

HASNAS / NeuroNAS (Putra & Shafique, arXiv 2407.00641) publish their method only in outline; this
reconstruction follows what they build on (REFERENCE.md): sample N random valid cells of the space
(SNASNet samples 5,000), reject every candidate that breaks a limit with the cost model *before*
scoring it, limit by limit in the papers' order (memory, then area, latency, energy; parameters
with memory), score the survivors with SNASNet's training-free score (the sparsity-aware Hamming
kernel's log-determinant on the untrained network, on mini-batches of distinct images), and fully
train the best one. Where the score is ``-inf`` for every cell (every kernel singular: it cannot rank
them), the run stops with one :class:`~moo_snn.errors.TrainingError` line (exit 2) after saving the
scores, rather than train the first cell sampled (:func:`moo_snn.training.sahd.best_scored`).

The result is a one-member front (if that network also meets an accuracy limit), so that
``moo-snn pareto`` compares it with a moo-snn run directly. The funnel (how many candidates each
limit rejected) is stored in the results file's ``hasnas_funnel`` attribute.
"""

from __future__ import annotations

import json
import time

import numpy as np

from moo_snn.errors import InfeasibleError
from moo_snn.evaluation import population_costs
from moo_snn.results.state import RoundRecord
from moo_snn.search import fidelity
from moo_snn.search.loop import SearchRun
from moo_snn.objectives import constraint_matrix, metric_values

FUNNEL_ORDER = ("params", "memory_kB", "area_mm2", "latency_ms", "energy_uJ")


class HasnasRun(SearchRun):
    """The papers' search; the same results file as :class:`SearchRun`, no accuracy archive used."""

    def __init__(self, spec, out, **kwargs):
        kwargs["archive_path"] = None
        super().__init__(spec, out, **kwargs)
        self.archive_records = {}  # the papers' method measures only the network it picks
        self.state.attrs["strategy"] = "hasnas"

    def stopped_by_budget(self) -> bool:
        """Whether the budget refused a training (status ``budget_spent``); this strategy has one round of its own."""
        return bool(getattr(self, "budget_refused", False))

    def _search(self) -> None:
        from moo_snn.training.sahd import best_scored, training_free_score

        start = time.perf_counter()
        if not self.state.rounds:
            rng = np.random.default_rng([self.state.seed, 7])
            X = self.space.sample(self.search.hasnas_samples, rng)
            archs = [str(self.space.decode(x)) for x in X]
            _, first = np.unique(archs, return_index=True)
            X = X[np.sort(first)]
            costs = population_costs(self.spec, self.space, X)
            keep = np.ones(len(X), bool)
            funnel = {"sampled": self.search.hasnas_samples, "distinct": int(len(X))}
            limits = {c.name: c for c in self.spec.constraints}
            for name in FUNNEL_ORDER:
                if name in limits:
                    keep &= limits[name].violation(np.asarray(getattr(costs, name), float)) <= 0
                    funnel[f"after_{name}"] = int(keep.sum())
            self.state.attrs["hasnas_funnel"] = json.dumps(funnel)
            X = X[keep]
            if len(X) == 0:
                raise InfeasibleError(f"{self.spec.name}: none of {funnel['distinct']} sampled cells meets the cost "
                                      f"limits (funnel: {funnel}); relax [constraints] or sample more")
            costs = population_costs(self.spec, self.space, X)
            accuracy = np.full(len(X), np.nan)
            archs = [str(self.space.decode(x)) for x in X]  # what custom objectives see
            values = metric_values(self.metrics, accuracy, costs, archs, problem=self.spec)
            G = constraint_matrix(self.spec.constraints, accuracy, costs, archs, problem=self.spec)
            self.progress.phase(f"hasnas: training-free score of {len(X)} cells that meet the cost limits")
            scores = []
            for k, x in enumerate(X):
                arch = str(self.space.decode(x))
                c = self._candidate(arch, x, 1, dict(accuracy=np.nan, accuracy_std=np.nan, values=values[k], G=G[k]))
                c.training_free_score = training_free_score(self.spec, arch, self.data, seed=self.state.seed,
                                                            device=self.device)
                scores.append(c.training_free_score)
                if (k + 1) % max(1, len(X) // 10) == 0:  # every tenth (not NSGA-II generations: no generation event)
                    self.progress.phase(f"hasnas: training-free score of {k + 1}/{len(X)} cells")
            self.checkpoint()  # the scores are kept even when none can rank the cells
            best = self.state.candidates[str(self.space.decode(X[best_scored(scores, archs)]))]
            self.progress.phase("hasnas: training the best-scoring cell")
            if best.status == "predicted":  # a resumed run does not train it again
                self._train([best], 1, "search")
            self._update_front()
            self.state.rounds.append(RoundRecord(self.hypervolume(), float("nan"), time.perf_counter() - start, len(X), 1,
                                                 fidelity.round_fte(self, 1)))
        else:  # resumed after the budget refused the one training (attribute budget_refused): train it now
            refused = [a for archs in fidelity.stored_refusal(self, 1).values() for a in archs]
            todo = [self.state.candidates[a] for a in refused if a in self.state.candidates
                    and self.state.candidates[a].status == "predicted"]
            if todo:
                self.progress.phase("hasnas: training the best-scoring cell")
                self._train(todo, 1, "search")
                fidelity.refusal_taken_up(self, 1)
                self._update_front()
                self.state.rounds[-1].hypervolume = self.hypervolume()
                self.state.rounds[-1].fte = fidelity.round_fte(self, 1)
