"""The data of a problem: its ``[data]`` table read with :func:`load_dataset`, checked against the
input shape the problem declares (which the cost model uses before any data is read)."""

from __future__ import annotations

from pathlib import Path

from moo_snn.data import cifar10, cifar100, npz, tinyimagenet
from moo_snn.data.load import load_dataset
from moo_snn.data.splits import DataSplits
from moo_snn.errors import DataError

WHAT = {
    "cifar10": (cifar10.EXPECTED, cifar10.GET),
    "cifar100": (cifar100.EXPECTED, cifar100.GET),
    "tinyimagenet": (f"the tiny-imagenet-200 folder ({tinyimagenet.EXPECTED})", tinyimagenet.GET),
    "npz": (npz.EXPECTED, npz.GET),
}
"""Data set → (what its ``[data] path`` must hold, how to get it), for the message of missing data."""


def load_problem_data(problem) -> DataSplits:
    """Load the data of ``problem`` (a :class:`~moo_snn.config.problem.ProblemSpec`)."""
    spec = problem.data
    path = problem.data_path
    if path is not None and not path.exists():
        raise DataError(missing_data_message(problem, path))
    data = load_dataset(spec.dataset, path, val_fraction=spec.val_fraction,
                        test_fraction=spec.test_fraction, split_seed=spec.split_seed, max_train=spec.max_train)
    net = problem.network_input
    found = (data.channels, data.side, data.n_classes)
    if found != (net.channels, net.side, net.n_classes):
        raise DataError(f"{path or spec.dataset}: the data hold {found[0]}-channel {found[1]}x{found[1]} images "
                        f"of {found[2]} classes, the problem declares {net.channels}-channel {net.side}x{net.side} of "
                        f"{net.n_classes} classes; {_shape_fix(spec.dataset, found)}")
    return data


def _shape_fix(dataset: str, found: tuple[int, int, int]) -> str:
    """How to make a problem's declared image shape and the data agree (only npz declares it in [data])."""
    if dataset == "npz":
        return f"set [data] channels = {found[0]}, side = {found[1]}, classes = {found[2]} (or fix the file)"
    return (f"{dataset} fixes the shape: give the complete data set, or store these images as an .npz and set "
            f"[data] dataset = \"npz\", channels = {found[0]}, side = {found[1]}, classes = {found[2]}")


def missing_data_message(problem, path: Path) -> str:
    """One line: the problem's data path does not exist; where to put the data, or how to point elsewhere.

    A shipped problem reads a relative ``[data] path`` from the current folder (its own folder is inside
    the installed package): the message says so and names the shipped file to copy and edit.
    """
    from moo_snn.resources import is_shipped_problem

    spec = problem.data
    expected, get = WHAT.get(spec.dataset, ("its files", "see moo-snn problems --keys"))
    head = f"{spec.dataset} data not found: {path} does not exist; put {expected} there ({get})"
    relative = not Path(spec.path).expanduser().is_absolute()
    if relative and problem.file and is_shipped_problem(problem.file):
        return (f"{head}: the shipped problem {problem.name} reads its [data] path {spec.path!r} from the current "
                f"folder ({problem.base_dir}), so run moo-snn in the folder that holds {spec.path}, or copy {problem.file} and "
                f"set [data] path in the copy to where the data lie")
    where = f"in {problem.file}" if problem.file else "of the problem"
    note = f" (a relative path is read from {problem.base_dir})" if relative else ""
    return f"{head}, or set [data] path {where} to where they lie{note}"
