"""Finding a data set's folder, with one-line errors that say what to put where."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from moo_snn.errors import DataError


def require_path(dataset: str, path: str | Path | None, expected: str, how: str) -> Path:
    """Return ``path`` as an existing :class:`Path`, or raise :class:`DataError`.

    ``expected`` says what the folder (or file) should hold, ``how`` how to get it; both go into
    the message.
    """
    if path is None or str(path).strip() == "":
        raise DataError(f"{dataset} needs a data path: set [data] path to {expected}; {how}")
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{dataset} data not found: {path} does not exist; expected {expected}; {how}")
    return path


def find_folder(dataset: str, path: Path, subdir: str, markers: Sequence[str], expected: str, how: str) -> Path:
    """Return ``path`` or ``path/subdir``, whichever holds any of ``markers``.

    Raises :class:`DataError` when neither does, or when the chosen folder lacks one of them
    (naming the first missing one).
    """
    if not path.is_dir():
        raise DataError(f"{dataset} data not found: {path} is not a folder; expected {expected}; {how}")
    for folder in (path, path / subdir):
        present = [name for name in markers if (folder / name).exists()]
        if present:
            missing = [name for name in markers if name not in present]
            if missing:
                raise DataError(
                    f"{dataset} data incomplete: {folder / missing[0]} is missing "
                    f"(expected {', '.join(markers)} in {folder}); {how}"
                )
            return folder
    raise DataError(f"{dataset} data not found: expected {expected} in {path} or {path / subdir}; {how}")
