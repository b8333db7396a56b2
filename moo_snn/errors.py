"""Errors raised by moo-snn.

Library code raises subclasses of :class:`MooSnnError`; their message says what was expected, what
was found and how to fix it. Only the command line turns them into a one-line message and an exit
code (``exit_code``): 2 for a user mistake, 3 when no candidate meets the limits.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MooSnnError(Exception):
    """Base class of every error that moo-snn raises on purpose."""

    exit_code = 2


class ProblemError(MooSnnError):
    """A problem file is malformed: unknown key, wrong type, impossible value."""


class ArchitectureError(MooSnnError):
    """An architecture string or genome is malformed or outside the search space."""


class DataError(MooSnnError):
    """A data set is missing, incomplete or in the wrong format."""


class TrainingError(MooSnnError):
    """A training run could not be carried out (not a divergence: that is a result)."""


class ResultsError(MooSnnError):
    """A results or archive file is missing, corrupt or does not match the problem."""


class InfeasibleError(MooSnnError):
    """No candidate meets the problem's limits."""

    exit_code = 3


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?); valid: a, b, c"`` for an unknown ``name``."""
    valid = sorted(str(v) for v in valid)
    close = difflib.get_close_matches(str(name), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; valid: {', '.join(valid)}"
