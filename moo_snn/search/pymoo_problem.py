"""The search as a pymoo problem: integer genomes, predicted accuracy, analytical IMC costs.

``_evaluate`` is vectorised over the population: the predictor scores all candidates in one call and
the cost model (pure numpy) prices them in another. F holds the objectives to minimise (accuracy as
the error 1 − accuracy), G the limits (value − limit ≤ 0; for a lower bound, limit − value).
Every evaluated candidate is remembered (canonical string → genome, predictions, costs), so the
results file can hold every candidate the search scored, not only the survivors.
"""

from __future__ import annotations

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
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
        self.seen: dict[str, dict] = {}
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
        out["accuracy_std"] = p["accuracy_std"]
        for k, arch in enumerate(p["archs"]):
            if arch not in self.seen:
                self.seen[arch] = dict(genome=p["X"][k], accuracy=p["accuracy"][k], accuracy_std=p["accuracy_std"][k],
                                       values=p["values"][k], G=p["G"][k])


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
