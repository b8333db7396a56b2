"""The ``accuracy_nonideal`` metric: a built-in objective and limit, the [nonideal] table, no torch needed."""

from __future__ import annotations

import numpy as np
import pytest

from moo_snn.config.problem import METRICS, parse_problem
from moo_snn.cost.nonideal import NonidealConfig
from moo_snn.errors import ProblemError
from moo_snn.objectives import BUILTIN, available_objectives, get_objective, metric_values

PROBLEM = """
name = "t"
reference_arch = "0003-0000-0000-0000_c8_t2_w4_p2_h0"
[data]
dataset = "digits"
[objectives]
names = ["accuracy", "accuracy_nonideal"]
[constraints]
accuracy_nonideal = 0.7
[nonideal]
draws = 3
stuck_on_fraction = 0.0
"""


def test_registered_like_the_built_ins():
    assert "accuracy_nonideal" in METRICS and "accuracy_nonideal" in BUILTIN and "accuracy_nonideal" in available_objectives()
    metric = get_objective("accuracy_nonideal")
    assert (metric.units, metric.direction) == ("1", "maximize")
    assert metric.to_minimize(0.8) == pytest.approx(0.2)  # an error, as accuracy


def test_measured_value_where_there_is_one_else_the_ideal_prediction():
    """Before training the predicted (ideal) accuracy stands in: an upper bound of the non-ideal one."""
    values = metric_values(["accuracy", "accuracy_nonideal"], [0.9, 0.8, 0.7], costs=None,
                           accuracy_nonideal=[0.6, np.nan, 0.5])
    np.testing.assert_array_equal(values, [[0.9, 0.6], [0.8, 0.8], [0.7, 0.5]])
    np.testing.assert_array_equal(metric_values(["accuracy_nonideal"], [0.9], costs=None), [[0.9]])


def test_problem_table_and_a_bare_limit_is_a_lower_bound():
    spec = parse_problem(PROBLEM)
    assert spec.nonideal == NonidealConfig(draws=3, stuck_on_fraction=0.0)
    (limit,) = spec.constraints
    assert (limit.name, limit.kind, limit.limit) == ("accuracy_nonideal", "min", 0.7)
    assert limit.violation(0.75) < 0 < limit.violation(0.65)
    assert parse_problem(PROBLEM.split("[nonideal]")[0]).nonideal.draws == 5  # defaults without the table


@pytest.mark.parametrize("edit, message", [
    (("draws = 3", "draws = 0"), "draws"),
    (("stuck_on_fraction = 0.0", "stuck_on_fraction = 1.5"), "stuck_on_fraction"),
    (("stuck_on_fraction = 0.0", "stuck_on = 0.1"), "stuck_on"),
    (("accuracy_nonideal = 0.7", "accuracy_nonideal = 1.2"), "impossible limit"),
])
def test_bad_nonideal_settings_are_one_line_errors(edit, message):
    with pytest.raises(ProblemError, match=message):
        parse_problem(PROBLEM.replace(*edit))
