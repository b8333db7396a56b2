"""The search as a pymoo problem: integer genomes, predicted accuracy, analytical IMC costs.

``_evaluate`` is vectorised over the population: the predictor scores all candidates in one call and
the cost model (pure numpy) prices them in another. F holds the objectives to minimise (accuracy as
the error 1 − accuracy), G the limits (value − limit ≤ 0; for a lower bound, limit − value).
Besides F and G, ``_evaluate`` fills the extra keys ``accuracy``, ``accuracy_std`` (the predictor's
ensemble spread) and ``values`` (natural objective values, one row per candidate); pymoo's evaluator
writes every key of ``out`` onto the population, so the round reads them back with
``result.pop.get("F", "G", "accuracy_std")`` instead of predicting the final population again.
:class:`EvaluatedCandidates`, a light pymoo callback, keeps the first evaluation of every genome the
round scored (``algorithm.off`` of every generation), so the results file holds every candidate the
search scored, not only the survivors (no ``save_history``: it would deep-copy the predictor).

Non-finite objective or constraint values (a plug-in's NaN, say) never reach NSGA-II: the objectives
raise a :class:`~moo_snn.errors.ProblemError` naming the objective and an architecture
(:class:`moo_snn.objectives.Objective`).
"""

from __future__ import annotations

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.callback import Callback
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair

from moo_snn.evaluation import population_costs
from moo_snn.objectives import constraint_matrix, metric_values, resolve_metrics
from moo_snn.space import SearchSpace
from moo_snn.surrogate.predictor import predict_with_std, predictor_inputs


class SpaceRepair(Repair):
    """pymoo repair: round, clip, give every cell a forward path, zero pruned edges (deterministic)."""

    def __init__(self, space: SearchSpace):
        super().__init__()
        self.space = space

    def _do(self, problem, X, **kwargs):
        return self.space.repair(X)


class SnnSearchProblem(Problem):
    """Predicted accuracy and IMC costs of integer genomes, under the problem's limits.

    Parameters
    ----------
    spec : the :class:`~moo_snn.config.problem.ProblemSpec`.
    space : its :class:`SearchSpace`.
    predictor : a fitted predictor pipeline (architecture strings → accuracy, with ensemble spread).
    """

    def __init__(self, spec, space: SearchSpace, predictor):
        self.spec = spec
        self.space = space
        self.predictor = predictor
        self.metrics = resolve_metrics(spec.objectives.names)
        super().__init__(n_var=space.n_var, n_obj=len(self.metrics), n_ieq_constr=len(spec.constraints),
                         xl=space.xl.astype(float), xu=space.xu.astype(float), vtype=int)

    def predict(self, X) -> dict:
        """Predicted accuracy (and spread), costs, natural objective values and G for genomes ``X``."""
        X = np.atleast_2d(np.asarray(X, dtype=np.int64))
        archs = [str(self.space.decode(x)) for x in X]
        accuracy, spread = predict_with_std(self.predictor, predictor_inputs(archs))
        costs = population_costs(self.spec, self.space, X)
        values = metric_values(self.metrics, accuracy, costs, archs, problem=self.spec)
        G = constraint_matrix(self.spec.constraints, accuracy, costs, archs, problem=self.spec)
        return dict(archs=archs, X=X, accuracy=accuracy, accuracy_std=spread, values=values, G=G, costs=costs)

    def _evaluate(self, X, out, *args, **kwargs):
        p = self.predict(np.rint(X))
        out["F"] = np.column_stack([m.to_minimize(p["values"][:, k]) for k, m in enumerate(self.metrics)])
        if self.n_ieq_constr:
            out["G"] = p["G"]
        out["accuracy"] = p["accuracy"]
        out["accuracy_std"] = p["accuracy_std"]
        out["values"] = p["values"]


class EvaluatedCandidates(Callback):
    """pymoo callback: the first evaluation of every architecture a run of NSGA-II scored, in order.

    ``seen`` maps the canonical architecture string to ``dict(genome, accuracy, accuracy_std,
    values, G)`` (what :meth:`SnnSearchProblem._evaluate` put on the individuals). ``on_generation``
    (optional) is called with the generation number after each one.
    """

    def __init__(self, space: SearchSpace, n_constraints: int, on_generation=None):
        super().__init__()
        self.space, self.n_constraints, self.on_generation = space, n_constraints, on_generation
        self.seen: dict[str, dict] = {}

    def notify(self, algorithm):
        """pymoo's callback after each generation: keep every newly evaluated individual's genome and predictions in ``seen``."""
        off = algorithm.off  # the individuals evaluated in this generation (the initial population first)
        if off is not None and len(off):
            X = np.rint(off.get("X")).astype(np.int64)
            accuracy, std, values = off.get("accuracy", "accuracy_std", "values")
            G = off.get("G") if self.n_constraints else np.zeros((len(off), 0))
            for k, x in enumerate(X):
                arch = str(self.space.decode(x))
                if arch not in self.seen:
                    self.seen[arch] = dict(genome=x, accuracy=float(accuracy[k]), accuracy_std=float(std[k]),
                                           values=np.asarray(values[k], dtype=float), G=np.asarray(G[k], dtype=float))
        if self.on_generation is not None:
            self.on_generation(algorithm.n_gen)


def make_algorithm(space: SearchSpace, pop_size: int, initial=None) -> NSGA2:
    """NSGA-II for integer genomes: integer sampling (or a warm-start population), SBX and PM on
    floats with rounding, the space's repair, duplicate elimination."""
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    sampling = IntegerRandomSampling() if initial is None else np.asarray(initial, dtype=float)
    return NSGA2(
        pop_size=pop_size,
        sampling=sampling,
        crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
        mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
        repair=SpaceRepair(space),
        eliminate_duplicates=True,
    )
