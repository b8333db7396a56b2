"""What a run's bootstrap will train, given the archive it starts from (priced by ``moo-snn plan``).

A run (:class:`moo_snn.search.loop.SearchRun`) reads an accuracy archive (``--archive``; default: the
first archive of the data set measured with the problem's recipe at its epochs,
:func:`moo_snn.surrogate.archive_choice.choose_archive`) and keeps the trainings in it that were measured with the problem's data and recipe at the
problem's epochs on the whole training split (``SearchRun.archive_records``, one per architecture).
Its bootstrap (``SearchRun._bootstrap``) then trains

* nothing, when those records number at least ``[search] bootstrap``;
* else it tops them up to ``bootstrap``: ``bootstrap − records`` feasible networks chosen by a maximin
  augmentation of the archive's networks (:func:`moo_snn.surrogate.sampling.space_filling_sample` with
  ``measured=``, the run's seed): the points of the space farthest from what the archive measured
  rather than members of an archive-blind sample, which may sit next to archived networks.

:func:`bootstrap_coverage` counts the same from the run's own reading of the archive: it constructs
the :class:`~moo_snn.search.loop.SearchRun` a new run would (nothing is written, loaded or trained),
so that the plan and the run cannot disagree on which records count. The synchronous run is counted;
the asynchronous one (``--workers 2`` or more) trains ``max(bootstrap − records, workers)`` where the
archive falls short (:mod:`moo_snn.search.async_loop`: one design point for each worker at least).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class BootstrapCoverage:
    """How much of a run's bootstrap its archive covers.

    Attributes
    ----------
    archive : str
        The archive the run would read (which may not exist: ``archive_state``).
    archive_state : str
        ``matches`` (its records are reused), ``missing`` (no such file), ``another recipe`` (measured
        with other data or another ``[data]``/``[training]`` recipe: the run ignores it),
        ``no full trainings`` (it matches, but holds no training at the problem's epochs on the whole
        training split) or ``none`` (``--archive none``: no archive asked for);
        :attr:`moo_snn.surrogate.archive_choice.ArchiveChoice.state`.
    archive_records : int
        Trainings of the archive the run reuses (one per architecture).
    bootstrap : int
        ``[search] bootstrap``: the networks the run wants measured before its first round.
    from_archive : int
        Of those, how many the archive supplies (no training).
    to_train : int
        How many the bootstrap trains.
    """

    archive: str
    archive_state: str
    archive_records: int
    bootstrap: int
    from_archive: int
    to_train: int

    def to_dict(self) -> dict:
        """The coverage as a plain dict (part of ``moo-snn plan --json``)."""
        return asdict(self)


def sample_shortfall(asked: int, found: int) -> str:
    """Why a bootstrap measures fewer networks than ``[search] bootstrap`` asks, or ``""`` when it does not.

    :func:`~moo_snn.surrogate.sampling.space_filling_sample` returns distinct feasible networks only;
    a space that holds fewer than ``asked`` (after its random draws and its targeted search) gives
    ``found < asked``. The text begins with ``"; "`` so that it can end any bootstrap line.
    """
    if found >= asked:
        return ""
    return (f"; the sampler found only {found} distinct feasible networks in the space (random draws and a targeted "
            f"search), fewer than the {asked} asked: the run measures those")


def bootstrap_phase_text(asked: int, sampled: int, to_train: int, at_level: str = "", measured: int | None = None) -> str:
    """The run's progress line when its bootstrap starts training (``SearchRun._bootstrap``).

    Parameters
    ----------
    asked : int
        ``[search] bootstrap``.
    sampled : int
        Networks of the space-filling sample (fewer than ``asked`` where the space holds fewer).
    to_train : int
        Of those, the ones not measured yet (the others come from the archive or an earlier start).
    at_level : str
        `` at <level>`` where they train at a low fidelity (``SearchRun._at_level``), else ``""``.
    measured : int, optional
        Networks measured already (the archive's, an earlier start's): the bootstrap tops them up to
        ``asked``. None: ``sampled - to_train``.
    """
    known = sampled - to_train if measured is None else measured
    return (f"bootstrap: training {to_train} feasible architecture{'s' if to_train != 1 else ''}{at_level}"
            + (f" ({known} measured already, from the archive or an earlier start: {to_train + known} with these)" if known else "")
            + sample_shortfall(asked, sampled))


def bootstrap_coverage(spec, archive_path: Path | str | None = None) -> BootstrapCoverage:
    """What the bootstrap of a new synchronous run of ``spec`` would train (module docstring).

    Parameters
    ----------
    spec : moo_snn.config.problem.ProblemSpec
        The problem with the run's ``[search]`` overrides applied (seed and bootstrap matter).
    archive_path : path or ArchiveChoice, optional
        The run's ``--archive`` (default: the one a run reads by default; a path that does not exist
        counts as no archive: state ``missing``).

    Returns
    -------
    BootstrapCoverage

    Raises
    ------
    moo_snn.errors.InfeasibleError
        No network meets the cost limits (the run would stop with exit 3 before training).
    """
    from moo_snn.search.loop import SearchRun
    from moo_snn.surrogate.archive_choice import choose_archive
    from moo_snn.surrogate.sampling import space_filling_sample

    choice = choose_archive(spec, archive_path, missing_ok=True)  # the run's own rule (plan refuses a missing --archive first)
    run = SearchRun(spec, Path(os.devnull), archive_path=choice)
    records = run.archive_records
    wanted = spec.search.bootstrap
    if len(records) >= wanted:  # SearchRun._bootstrap: enough measured networks, no bootstrap
        from_archive, to_train = wanted, 0
    else:
        from_archive = len(records)  # every record counts; the maximin augmentation of them tops them up
        to_train = len(space_filling_sample(spec, run.space, wanted - from_archive, seed=spec.search.seed,
                                             measured=list(records)))
    return BootstrapCoverage(archive=str(choice.path), archive_state=choice.state,
                             archive_records=len(records), bootstrap=wanted, from_archive=from_archive, to_train=to_train)
