"""Files shipped with moo-snn (package data) and the default places of the files a user makes.

The repository keeps its shipped problem files in ``problems/`` and its accuracy archives in
``surrogates/`` (the layout DESIGN §2 fixes). ``pyproject.toml`` maps those two folders onto the
packages ``moo_snn.problems`` and ``moo_snn.surrogates`` (``[tool.setuptools.package-dir]``), so a
wheel carries them as ``moo_snn/problems/*.toml`` and ``moo_snn/surrogates/*.nc`` without a second
copy in git, and an editable install maps the same package names onto the checkout's folders. They
are read here with :func:`importlib.resources.files`, as scikit-learn reads its digits
(``sklearn.datasets.load_digits``), so an installed package works from any folder.

What a user makes goes to the current folder, never beside the installed package:
``results/`` (run datasets) and ``surrogates/`` (archives built with ``moo-snn surrogate build``).
What a user brings is read from there too: a relative ``[data] path`` of a shipped problem
(``data/cifar10``) names a folder under the current one (:func:`is_shipped_problem`).

Errors: :class:`~moo_snn.errors.ProblemError` for a shipped problem that does not exist.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from moo_snn.errors import ProblemError

PROBLEMS_PACKAGE = "moo_snn.problems"
"""Package whose data are the shipped problem files (``problems/`` in the repository)."""
SURROGATES_PACKAGE = "moo_snn.surrogates"
"""Package whose data are the shipped accuracy archives (``surrogates/`` in the repository)."""


def _folder(package: str) -> Path:
    """The folder of a data package as a file-system path.

    pip installs wheels unpacked, so :func:`importlib.resources.files` of a regular package is a
    :class:`pathlib.Path`; a zipped install (zipimport) is refused by name. A source checkout used
    without installing it (``PYTHONPATH=.``), or an editable install made before the data packages
    existed, has no ``moo_snn.problems`` to import: the checkout's own top-level folder is used then.
    """
    try:
        folder = files(package)
    except ModuleNotFoundError:
        checkout = Path(__file__).resolve().parents[1] / package.rpartition(".")[2]
        if (checkout / "__init__.py").is_file():
            return checkout
        raise ProblemError(f"the shipped files of moo-snn ({package}) are missing from this installation; "
                           f"reinstall it (pip install moo-snn, or pip install -e . in a checkout)") from None
    if not isinstance(folder, Path):
        raise ProblemError(f"the shipped files of {package} are inside an archive ({folder}); install moo-snn "
                           f"unpacked (pip install moo-snn)")
    return folder


def shipped_problems() -> dict[str, Path]:
    """The shipped problem files by name (``digits``, ``cifar10-hasnas``, ...), sorted by name.

    Returns
    -------
    dict of str to Path
        name (file stem) → path of its TOML file.
    """
    return {p.stem: p for p in sorted(_folder(PROBLEMS_PACKAGE).glob("*.toml"))}


def shipped_problem(name: str) -> Path:
    """Path of the shipped problem ``name`` (with or without ``.toml``).

    Raises
    ------
    ProblemError
        No shipped problem has that name; the message lists the valid ones.
    """
    problems = shipped_problems()
    stem = name.removesuffix(".toml")
    if stem not in problems:
        raise ProblemError(f"no shipped problem {name!r}; shipped: {', '.join(problems)}")
    return problems[stem]


def is_shipped_problem(path: str | Path) -> bool:
    """Whether ``path`` is one of the shipped problem files (it lies in their folder, :func:`shipped_problems`).

    A relative ``[data] path`` of a shipped problem is read from the current folder, not from beside
    the installed package (:func:`moo_snn.config.problem.load_problem`).
    """
    try:
        folder = _folder(PROBLEMS_PACKAGE)
    except ProblemError:
        return False
    return Path(path).resolve().parent == folder.resolve()


def shipped_archive(dataset: str) -> Path | None:
    """The shipped accuracy archive of ``dataset`` (``moo_snn/surrogates/<dataset>.nc``), or None."""
    path = _folder(SURROGATES_PACKAGE) / f"{dataset}.nc"
    return path if path.is_file() else None


def user_archive_path(dataset: str, folder: str | Path = ".") -> Path:
    """Where ``moo-snn surrogate build`` writes by default: ``<folder>/surrogates/<dataset>.nc``."""
    return Path(folder) / "surrogates" / f"{dataset}.nc"


def archive_to_read(dataset: str, folder: str | Path = ".") -> Path | None:
    """The archive a search on ``dataset`` starts from by default.

    The user's own ``<folder>/surrogates/<dataset>.nc`` (built with ``moo-snn surrogate build``)
    where it exists, else the shipped one, else None (the search bootstraps).
    """
    own = user_archive_path(dataset, folder)
    return own if own.is_file() else shipped_archive(dataset)


def default_results_dir(folder: str | Path = ".") -> Path:
    """Where runs write their results datasets by default: ``<folder>/results``."""
    return Path(folder) / "results"
