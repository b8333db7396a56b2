"""The data of a problem: its ``[data]`` table read with :func:`load_dataset`, checked against the
input shape the problem declares (which the cost model uses before any data is read)."""

from __future__ import annotations

from moo_snn.data.load import load_dataset
from moo_snn.data.splits import DataSplits
from moo_snn.errors import DataError


def load_problem_data(problem) -> DataSplits:
    """Load the data of ``problem`` (a :class:`~moo_snn.config.problem.ProblemSpec`)."""
    spec = problem.data
    data = load_dataset(spec.dataset, problem.data_path, val_fraction=spec.val_fraction,
                        test_fraction=spec.test_fraction, split_seed=spec.split_seed, max_train=spec.max_train)
    net = problem.network_input
    found = (data.channels, data.side, data.n_classes)
    if found != (net.channels, net.side, net.n_classes):
        raise DataError(
            f"{problem.data_path or spec.dataset}: the data hold {found[0]}-channel {found[1]}x{found[1]} images "
            f"of {found[2]} classes, the problem declares {net.channels}-channel {net.side}x{net.side} of "
            f"{net.n_classes} classes; fix [data] channels/side/classes"
        )
    return data
