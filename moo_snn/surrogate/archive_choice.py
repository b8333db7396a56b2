"""Which accuracy archive a problem starts from: the one rule that ``optimize``, ``plan``,
``surrogate report`` and ``surrogate predict`` share (DESIGN §6: "archive = surrogates/<dataset>.nc
if it matches the problem, else bootstrap").

A data set may have several archives of different recipes: ``surrogates/digits.nc`` holds 10-epoch
trainings (``problems/digits.toml``), ``surrogates/digits-fidelity.nc`` 30-epoch ones and their
low-fidelity proxies (``problems/digits-long.toml``). A record is reusable only when it was measured
with the problem's data and recipe (:func:`moo_snn.surrogate.archive.matches`: ``[data]`` and
``[training]`` but the epochs) at the problem's epochs on the whole training split. So:

* **A path given** (``--archive``, ``archive=``): that file and no other. A path that does not
  exist is refused with :class:`ArchiveNotFoundError` (:func:`check_archive_exists`), by the command
  line and the Python API alike: a typo would otherwise cost a whole bootstrap of trainings.
* **``none``** (:data:`NO_ARCHIVE`, ``--archive none``): no archive; the bootstrap measures every
  network it needs (a benchmark from scratch, a plan without one). Before this value existed, a
  missing path such as ``/tmp/none.nc`` was the way to say it (benchmarks/RESULTS.md).
* **No path**: the candidates are, in this order, the data set's default archive
  (:func:`moo_snn.resources.archive_to_read`: ``./surrogates/<dataset>.nc``, else the shipped one),
  then the other ``<dataset>*.nc`` files of ``./surrogates/`` and of the shipped folder, by name.
  The first that is an archive of the problem's recipe holding at least one trained record at the
  problem's epochs on the whole training split is read; when none is, the default one (which then
  supplies no record: :attr:`ArchiveChoice.state` says why).

Why no ``[search] archive`` key in the problem file: the lookup already finds every archive that
``moo-snn surrogate build`` writes by default (``./surrogates/<dataset>.nc``) or that a user names
``surrogates/<dataset>-anything.nc``; an archive kept elsewhere is one ``--archive`` away; a path in
a problem file would be resolved against whichever folder the file is run from (problem files are
shared, DESIGN §2); and a run records the archive it read (results attribute ``archive``) so that a
resume reads the same one (:mod:`moo_snn.run`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from moo_snn.errors import ResultsError

STATES = ("matches", "missing", "another recipe", "no full trainings", "none")
""":attr:`ArchiveChoice.state` values."""
NO_ARCHIVE = "none"
"""The ``archive`` value (any case) that asks for no archive."""


class ArchiveNotFoundError(ResultsError):
    """An archive path was given (``--archive``, ``archive=``) and no file is there."""


def is_no_archive(path) -> bool:
    """Whether ``path`` is :data:`NO_ARCHIVE` (``none``, any case): no archive asked for."""
    return path is not None and not isinstance(path, ArchiveChoice) and str(path).lower() == NO_ARCHIVE


def check_archive_exists(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path` (``none``: :data:`NO_ARCHIVE`, accepted as is), or
    :class:`ArchiveNotFoundError` naming it.

    The one check behind ``moo-snn optimize --archive``, ``moo-snn plan --archive`` and
    ``moo_snn.optimize(archive=...)``.

    Raises
    ------
    ArchiveNotFoundError
        Nothing exists at ``path``.
    """
    path = Path(path)
    if not path.exists() and not is_no_archive(path):
        raise ArchiveNotFoundError(f"archive not found: no file at {path}; expected an accuracy archive (.nc) of trained "
                                   f"networks (moo-snn surrogate build writes one); give an existing file, leave the "
                                   f"archive out to start from the problem's default one, or give 'none' to start from none")
    return path


@dataclass(frozen=True)
class ArchiveChoice:
    """The archive a run, a plan or a report of a problem reads, and what it holds for that problem.

    Attributes
    ----------
    path : Path
        The archive read (``state == "missing"``: where the default one would be).
    default : Path
        The data set's default archive (:func:`moo_snn.resources.archive_to_read`).
    state : str
        ``matches`` (it holds records of the problem's recipe at its epochs), ``missing`` (no file),
        ``another recipe`` (measured with other data or another ``[data]``/``[training]`` recipe),
        ``no full trainings`` (its recipe, but no trained record at the problem's epochs on the whole
        training split) or ``none`` (no archive asked for: :data:`NO_ARCHIVE`).
    given : bool
        The path was named by the user (no lookup).
    n_records : int
        Records of the file (0 when missing).
    n_matching : int
        Trained records of the problem's recipe at its epochs on the whole training split.
    n_networks : int
        Distinct architectures among those (what a run reuses: one record per architecture).
    epochs : int
        The problem's epochs.
    archive : xarray.Dataset or None
        The archive as read (None when missing); not compared.
    """

    path: Path
    default: Path
    state: str
    given: bool
    n_records: int
    n_matching: int
    n_networks: int
    epochs: int
    archive: object = field(default=None, compare=False, repr=False)

    @property
    def recorded(self) -> str:
        """What a run stores in its results attribute ``archive``: the absolute path, or ``none``."""
        return NO_ARCHIVE if self.state == "none" else str(Path(self.path).resolve())

    def note(self) -> str:
        """One line for a run's progress: which archive is read and how many of its records match."""
        if self.state == "none":
            return "archive: none (asked for none): the bootstrap trains every network it needs"
        if self.state == "missing":
            return (f"archive: none read ({self.path} does not exist): the bootstrap trains every network it needs")
        if self.state != "matches":
            why = ("it was measured with other data or another [data] or [training] recipe" if self.state == "another recipe"
                   else f"it holds no training of this recipe at {self.epochs} epochs on the whole training split")
            where = "" if self.given else "; no other archive of this data set here holds such trainings"
            return f"archive: {self.path} not used, none of its {self.n_records} records match ({why}{where})"
        instead = ("" if self.given or _same(self.path, self.default)
                   else f" (not {self.default}: it holds no training of this recipe at {self.epochs} epochs)")
        return (f"archive: {self.path}{instead}: {self.n_matching} of its {self.n_records} records are trainings of this "
                f"recipe at {self.epochs} epochs ({self.n_networks} networks)")


def _same(a: Path, b: Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _examine(spec, path: Path, default: Path, given: bool, archive=None) -> ArchiveChoice:
    """The :class:`ArchiveChoice` of ``path`` for ``spec`` (``archive``: the file, already read)."""
    from moo_snn.surrogate import archive as arc

    epochs = int(spec.training.epochs)
    if is_no_archive(path):
        return ArchiveChoice(Path(NO_ARCHIVE), default, "none", True, 0, 0, 0, epochs)
    if archive is None and not path.exists():
        return ArchiveChoice(path, default, "missing", given, 0, 0, 0, epochs)
    archive = arc.load_archive(path) if archive is None else archive
    n = int(archive.sizes.get("record", 0))
    if not arc.matches(archive, spec):
        return ArchiveChoice(path, default, "another recipe", given, n, 0, 0, epochs, archive)
    done = arc.trained(archive, epochs=epochs, train_fraction=1.0)
    m = int(done.sizes["record"])
    return ArchiveChoice(path, default, "matches" if m else "no full trainings", given, n, m, len(set(done.arch.values)),
                         epochs, archive)


def choose_archive(spec, path: str | Path | ArchiveChoice | None = None, *, folder: str | Path = ".",
                   missing_ok: bool = False) -> ArchiveChoice:
    """The archive a run of ``spec`` reads (module docstring): ``path`` if given, else the lookup.

    Parameters
    ----------
    spec : moo_snn.config.problem.ProblemSpec
        The problem (its data set, recipe and epochs decide).
    path : path-like or ArchiveChoice, optional
        An archive named by the user (it must exist), ``none`` (:data:`NO_ARCHIVE`: no archive), or a
        choice already made (returned as is).
    folder : path-like, optional
        Where the user's ``surrogates/`` folder is (default: the current folder).
    missing_ok : bool, optional
        A given ``path`` that does not exist means "no archive" (state ``missing``) instead of an
        error: for :class:`~moo_snn.search.loop.SearchRun` itself, whose callers (the API, the
        command line) check the user's path first.

    Returns
    -------
    ArchiveChoice

    Raises
    ------
    ArchiveNotFoundError
        ``path`` is given and does not exist (unless ``missing_ok``).
    moo_snn.errors.ResultsError
        ``path``, or the default archive, is not a readable archive (other candidates that are not
        are skipped).
    """
    from moo_snn.errors import MooSnnError
    from moo_snn.resources import archive_to_read, shipped_archive, user_archive_path

    if isinstance(path, ArchiveChoice):
        return path
    dataset = spec.data.dataset
    default = archive_to_read(dataset, folder) or user_archive_path(dataset, folder)
    if path is not None:
        path = Path(path) if missing_ok else check_archive_exists(path)
        return _examine(spec, path, default, given=True)
    first = _examine(spec, default, default, given=False)
    if first.state == "matches":
        return first
    shipped = shipped_archive(dataset)
    folders = [user_archive_path(dataset, folder).parent] + ([shipped.parent] if shipped is not None else [])
    seen = {default.resolve()}
    for other in (p for f in folders for p in sorted(f.glob(f"{dataset}*.nc"))):
        if other.resolve() in seen or not other.is_file():
            continue
        seen.add(other.resolve())
        try:
            choice = _examine(spec, other, default, given=False)
        except MooSnnError:
            continue  # not an archive of this moo-snn: not a candidate
        if choice.state == "matches":
            return choice
    return first
