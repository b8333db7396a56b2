"""Files the user names for moo-snn to write: checked before the work, their folder made at the write.

Every output option of every command (``optimize --out``, ``train --save``, ``export --nir``,
``pareto --csv`` / ``--plot``, ``surrogate build --out``, ``surrogate report --plot``) and the
library functions behind them treat a destination the same way:

* :func:`check_output_file` before anything expensive (reading data, training, fitting) and before
  anything is printed or written: a destination that is a folder, under a file, or in a folder
  without write permission is one :class:`OutputError` (exit 2). Nothing is created.
* :func:`make_parent` just before the write: missing folders are created (``--save new/sub/w.pt``
  trains, then writes ``new/sub/w.pt``), as ``optimize --out`` always did.

Write permission is tried, not read from the permission bits (``os.access``, which the superuser
passes everywhere, also on a read-only or pseudo file system): an existing file is opened for
writing without changing it, and a folder is asked for an unnamed temporary file
(``tempfile.TemporaryFile``: ``O_TMPFILE`` on Linux, never visible; elsewhere removed at once). A
write can still fail later (a full disk): the writers turn that into an error too.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from moo_snn.errors import ResultsError

__all__ = ["OutputError", "check_figure_file", "check_output_file", "make_parent"]


class OutputError(ResultsError):
    """A destination cannot be written: a folder, a path under a file, a folder without write permission."""


def _label(what: str | None, path: Path) -> str:
    return f"{what} {path}" if what else str(path)


def check_output_file(path: str | os.PathLike, what: str | None = None, *, folder_hint: str = "give a file name") -> Path:
    """``path`` as a :class:`Path` if a file can be written there (its missing folders created then).

    Parameters
    ----------
    path : path-like
        The file to write.
    what : str, optional
        The option or parameter that named it (``"--save"``), put before the path in the message.
    folder_hint : str
        What to do instead when ``path`` is a folder.

    Raises
    ------
    OutputError
        ``path`` is a folder; its nearest existing folder is a file; that folder, or the file
        itself, is not writable.
    """
    path = Path(path)
    label = _label(what, path)
    if path.is_dir():
        raise OutputError(f"{label}: is a folder; {folder_hint}")
    if path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))  # neither truncated nor touched
        except OSError as exc:
            raise OutputError(f"{label}: cannot write there ({exc.strerror or exc})") from None
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{label}: cannot write there ({existing} is not a folder)")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise OutputError(f"{label}: cannot write there ({exc.strerror or exc} in {existing})") from None
    return path


def make_parent(path: str | os.PathLike, what: str | None = None) -> Path:
    """Create the missing folders of ``path`` (just before writing it); an :class:`OutputError` if that fails."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{_label(what, path)}: cannot write there ({exc.strerror or exc})") from None
    return path


def check_figure_file(path: str | os.PathLike, what: str | None = None) -> Path:
    """:func:`check_output_file` for a figure, whose suffix must also be one matplotlib writes
    (``.png``, ``.pdf``, ``.svg``, …; none: PNG): an unknown one failed only once the figure was made."""
    path = check_output_file(path, what)
    if path.suffix:
        from matplotlib.figure import Figure

        formats = Figure().canvas.get_supported_filetypes()
        if path.suffix[1:].lower() not in formats:
            raise OutputError(f"{_label(what, path)}: matplotlib cannot write {path.suffix} figures; "
                              f"give one of {', '.join('.' + f for f in sorted(formats))}")
    return path
