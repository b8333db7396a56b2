"""What a run of :func:`moo_snn.optimize` checks before its first write, and where it writes.

* :func:`results_path`: the default destination, ``./results/<problem>-seed<N>-<time>.nc``.
* :func:`check_before_writing`: everything that can fail on the user's inputs is checked before the
  first write of the results file (objectives and plug-ins are resolved earlier by
  :func:`moo_snn.objectives.with_objectives`): the destination, and the data. A failed start leaves
  no results file and no ``.weights/`` folder behind.
* :func:`nothing_to_do`: a resume that would do nothing says why.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from moo_snn.errors import ResultsError

__all__ = ["check_before_writing", "nothing_to_do", "results_path"]


def results_path(problem_name: str, seed: int, out: str | os.PathLike | None = None) -> Path:
    """Where a new run writes: ``out`` if it ends in ``.nc``, else ``<out or ./results>/<problem>-seed<N>-<time>.nc``.

    Parameters
    ----------
    problem_name : str
        The problem's ``name``.
    seed : int
        The run's seed.
    out : path-like, optional
        A results file or a folder (default: :func:`moo_snn.resources.default_results_dir`).

    Returns
    -------
    Path
        The results file (its folder is created by the first checkpoint).
    """
    from moo_snn.resources import default_results_dir

    out = None if out is None else Path(out)
    if out is not None and out.suffix == ".nc":
        return out
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return (out or default_results_dir()) / f"{problem_name}-seed{seed}-{stamp}.nc"


def check_before_writing(spec, path: str | os.PathLike, *, in_process: bool, remote: bool):
    """Check the destination and the data of a run before its first write.

    A failed start leaves no results file and no ``.weights/`` folder behind.

    Parameters
    ----------
    spec : ProblemSpec
        The problem (its ``[data]`` table is read).
    path : path-like
        The results file.
    in_process : bool
        The trainings run in this process (the loaded data are returned for them).
    remote : bool
        The trainings run on a cluster's workers, which read their own data (possibly on other
        machines): nothing is read here.

    Returns
    -------
    DataSplits or None
        The loaded data for an in-process run, None otherwise (with local workers the data are read
        here once to check them).

    Raises
    ------
    ResultsError
        ``path`` is a folder, or its folder cannot be created or written.
    DataError
        The data cannot be read.
    ProblemError
        A ``[fidelity]`` level's fraction of the training split holds fewer samples than there are
        classes (:func:`moo_snn.search.fidelity.check_levels`).
    """
    _writable_folder(Path(path))
    if remote:
        return None
    from moo_snn.data import load_problem_data

    data = load_problem_data(spec)
    if spec.fidelity.enabled:
        from moo_snn.search.fidelity import check_levels

        check_levels(spec, data)  # a level too small to hold every class
    return data if in_process else None


def nothing_to_do(stored, spec, path, budget=None) -> str:
    """Why continuing the results ``stored`` with ``spec`` would do nothing; ``""`` when it would.

    Parameters
    ----------
    stored : xarray.Dataset
        A results file's contents (:func:`moo_snn.open_results`).
    spec : ProblemSpec
        The problem the resume would run (its ``[search] rounds``, its fidelity levels).
    path : path-like
        The results file (named in the reason).
    budget : Budget, optional
        The budget the resume would run with (:class:`moo_snn.search.fidelity.Budget`; None: no cap).

    Returns
    -------
    str
        ``""``, or one line: the run is complete, and is a ``hasnas`` run (that strategy trains one
        network) or already has ``spec.search.rounds`` rounds, or has fewer but ``budget`` leaves no room
        for one training of the cheapest level after what it spent; or it stopped because its budget was
        spent (status ``budget_spent``) and ``budget`` leaves no room for one training of the level the
        budget refused (attribute ``budget_refused``, :func:`moo_snn.search.fidelity.within_budget`: a
        refused full training needs 1 FTE of room, not a proxy's), or of the cheapest level in a file
        without that attribute (an asynchronous run, which keeps none and requests again; a synchronous
        one written before refusals were kept with every round recorded: a resume cannot retry what was
        refused, and says so).
    """
    status = str(stored.attrs.get("status", ""))
    if status == "budget_spent":
        return _budget_still_spent(stored, spec, path, budget)
    if status != "complete":
        return ""
    if str(stored.attrs.get("strategy", "moo")) == "hasnas":
        return f"{path} is a complete hasnas run (that strategy trains one network)"
    done = int(stored.sizes.get("round", 0))
    if done < spec.search.rounds:
        return _no_room_for_more(stored, spec, path, budget)
    return f"{path} is a complete run of {_rounds(done)} (asked: {spec.search.rounds})"


def _rounds(n: int) -> str:
    return f"{n} round{'s' if n != 1 else ''}"


def _spent(stored) -> tuple[float, float]:
    """(FTE, hours of training) a stored run has spent (its ``spent_fte`` / ``spent_train_hours``; 0 if absent)."""
    return float(stored.attrs.get("spent_fte", 0.0)), float(stored.attrs.get("spent_train_hours", 0.0))


def _caps(budget) -> str:
    """The budget options as given (``--budget 3 and --budget-hours 2``; ``its budget`` for none)."""
    caps = ([f"--budget {budget.fte:g}"] if budget.fte is not None else []) + \
           ([f"--budget-hours {budget.hours:g}"] if budget.hours is not None else [])
    return " and ".join(caps) or "its budget"


def larger_budget_flags(stored, spec, budget) -> str:
    """The options a resume of ``stored`` must raise to train again: ``--budget FTE`` and/or ``--budget-hours H``,
    whichever of ``budget``'s caps leaves no room for one training (of the refused level, else the cheapest);
    ``--budget FTE (or --budget-hours H)`` where neither binds (``budget`` None: no cap known here)."""
    from moo_snn.search.fidelity import levels

    spent_fte, spent_hours = _spent(stored)
    refused = json.loads(stored.attrs.get("budget_refused") or "null")
    fte_each = float(refused["fte_each"]) if refused else levels(spec)[0].fte
    flags = []
    if budget is not None and budget.fte is not None and budget.affordable(1, fte_each, spent_fte, 0.0) == 0:
        flags.append("--budget FTE")
    if budget is not None and budget.hours is not None and spent_hours >= budget.hours:
        flags.append("--budget-hours H")
    return " and ".join(flags) or "--budget FTE (or --budget-hours H)"


def _no_room_for_more(stored, spec, path, budget) -> str:
    """Why a complete run asked for more rounds would train nothing with ``budget`` (what it spent already
    leaves no room for one training of the cheapest level); ``""`` when one fits or there is no cap. (It
    ran, changed the file's status to ``budget_spent`` and said "stopped early" having done nothing.)"""
    from moo_snn.search.fidelity import levels

    if budget is None:
        return ""
    spent_fte, spent_hours = _spent(stored)
    fte_each = levels(spec)[0].fte
    if not budget.exhausted(spent_fte, spent_hours * 3600.0, fte_each):
        return ""
    return (f"{path} is a complete run of {_rounds(int(stored.sizes.get('round', 0)))} (asked: {spec.search.rounds}) that has "
            f"spent {spent_fte:.3g} FTE ({spent_hours:.3g} h of training), and {_caps(budget)} leaves no room for another "
            f"training ({fte_each:.3g} FTE)")


def _budget_still_spent(stored, spec, path, budget) -> str:
    """Why a ``budget_spent`` run would train nothing with ``budget``; ``""`` when one training of the
    refused level fits."""
    from moo_snn.search.fidelity import Budget, levels

    budget = budget or Budget()
    spent_fte, spent_hours = _spent(stored)
    refused = json.loads(stored.attrs.get("budget_refused") or "null")
    done = int(stored.sizes.get("round", 0))
    asynchronous = stored.attrs.get("search_mode") == "async"  # keeps no refusal: it requests again (its passes are not rounds)
    if not refused and done >= spec.search.rounds and not asynchronous:  # written before refusals were kept: nothing to redo
        return (f"{path} stopped because its budget was spent in its last round ({done} of {spec.search.rounds}), and "
                f"was written before results files kept what the budget refused, so a resume with a larger budget "
                f"cannot retry it")
    fte_each = float(refused["fte_each"]) if refused else levels(spec)[0].fte
    if not budget.exhausted(spent_fte, spent_hours * 3600.0, fte_each):
        return ""
    n = len(refused["archs"]) if refused else 0
    what = ("another training" if not refused else
            f"the {n} training{'s' if n != 1 else ''} it refused ({fte_each:.3g} FTE{' each' if n != 1 else ''})")
    return (f"{path} stopped because its budget was spent ({spent_fte:.3g} FTE, {spent_hours:.3g} h of training) and "
            f"{_caps(budget)} leaves no room for {what}")


def _writable_folder(path: Path) -> None:
    """Raise :class:`~moo_snn.outputs.OutputError` (a :class:`ResultsError`) unless the results file
    ``path`` can be written: not a folder, its folder writable or creatable (:func:`moo_snn.outputs.check_output_file`)."""
    from moo_snn.outputs import check_output_file

    check_output_file(path, folder_hint="give a results file name ending in .nc (or a folder without .nc)")
