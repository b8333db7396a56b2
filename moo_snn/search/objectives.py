"""Objectives and constraints of a search, in pymoo's convention (minimise F, G ≤ 0 is met).

A metric is a named quantity per candidate with units and a direction: the built-ins are
``accuracy`` (maximise; enters F as the error 1 − accuracy) and the IMC costs ``params``,
``memory_kB``, ``area_mm2``, ``latency_ms``, ``energy_uJ`` (minimise). The same metrics serve as
objectives (``[objectives] names``) and as limits (``[constraints]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moo_snn.config.problem import METRICS
from moo_snn.errors import ProblemError
from moo_snn.evaluation import COST_METRICS


@dataclass(frozen=True)
class Metric:
    name: str
    units: str
    direction: str  # "minimize" or "maximize"

    def to_minimize(self, value):
        """The value as pymoo minimises it: 1 − accuracy, −value for another maximised metric."""
        value = np.asarray(value, dtype=float)
        if self.direction == "minimize":
            return value
        return 1.0 - value if self.name == "accuracy" else -value

    def from_minimized(self, f):
        f = np.asarray(f, dtype=float)
        if self.direction == "minimize":
            return f
        return 1.0 - f if self.name == "accuracy" else -f


BUILTIN = {name: Metric(name, units, direction) for name, (units, direction) in METRICS.items()}


def resolve_metrics(names) -> list[Metric]:
    """The metrics named in a problem (built-ins; plug-ins are refused with a clear message for now)."""
    metrics = []
    for name in names:
        if name not in BUILTIN:
            raise ProblemError(f"objective {name!r}: only the built-in metrics ({', '.join(BUILTIN)}) can be searched "
                               f"in this version")
        metrics.append(BUILTIN[name])
    return metrics


def metric_values(names, accuracy, costs) -> np.ndarray:
    """Natural values ``(n, len(names))`` of the named metrics from accuracies and a cost report."""
    columns = []
    for name in names:
        if name == "accuracy":
            columns.append(np.asarray(accuracy, dtype=float))
        elif name in COST_METRICS:
            columns.append(np.asarray(getattr(costs, name), dtype=float))
        else:
            raise ProblemError(f"unknown metric {name!r}")
    return np.column_stack(columns)


def constraint_matrix(constraints, accuracy, costs) -> np.ndarray:
    """pymoo's G ``(n, k)`` for every constraint of the problem (≤ 0: met)."""
    if not constraints:
        return np.zeros((len(np.atleast_1d(accuracy)), 0))
    values = metric_values([c.name for c in constraints], accuracy, costs)
    return np.column_stack([c.violation(values[:, k]) for k, c in enumerate(constraints)])
