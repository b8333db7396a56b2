"""The attributes of a results file, read as written even after another NetCDF tool rewrote them.

Tools that copy or edit NetCDF files (nco, netCDF4-python, h5py, MATLAB) may store an attribute
differently from how moo-snn wrote it: text as a fixed-length byte string, a number as a
one-element array, a number where text was written (``ended = 0``), text where a number was written
(``seed = "3"``), or drop an attribute. :func:`moo_snn.netcdf.clean_attributes` undoes the
representation changes (one-element arrays → their element, bytes → text, numpy scalars → Python
numbers) for every attribute; :func:`run_attributes` then reads the attributes a run needs by the
table :data:`RUN_ATTRIBUTES`, converting where the value is unambiguous and raising one
:class:`~moo_snn.errors.ResultsError` that names the attribute where it is not (or where a required
one is missing). No such file ever meets a bare ``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

import json
import math

from moo_snn.errors import ResultsError
from moo_snn.netcdf import clean_attributes


def _text(name, value, where):
    if isinstance(value, (list, dict)):
        raise ResultsError(f"{where}: attribute {name!r} holds {value!r}; expected text")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _as_float(value) -> float:
    """``value`` as a float; NaN where it is none (a bool, text that is not a number, a list)."""
    try:
        return float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        return math.nan


def _integer(name, value, where):
    number = _as_float(value)
    if not math.isfinite(number) or not number.is_integer():
        raise ResultsError(f"{where}: attribute {name!r} holds {value!r}; expected an integer")
    return int(number)


def _json(kind):
    def read(name, value, where):
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else kind()
            except json.JSONDecodeError:
                raise ResultsError(f"{where}: attribute {name!r} is not JSON text ({value[:60]!r})") from None
        elif kind is list and isinstance(value, (int, float)):
            value = [value]  # a one-element list that a tool stored as a number
        if not isinstance(value, kind) or (kind is list and not all(isinstance(v, (int, float)) for v in value)):
            raise ResultsError(f"{where}: attribute {name!r} holds {value!r}; expected a JSON "
                               f"{'list of numbers' if kind is list else 'object'}")
        return value
    return read


def _status(name, value, where):
    """How the run ended: one of :data:`moo_snn.results.state.RUN_STATUSES`."""
    from moo_snn.results.state import RUN_STATUSES

    text = _text(name, value, where)
    if text not in RUN_STATUSES:
        raise ResultsError(f"{where}: attribute {name!r} holds {text!r}; expected one of {', '.join(RUN_STATUSES)}")
    return text


def _number(name, value, where):
    number = _as_float(value)
    if math.isnan(number):
        raise ResultsError(f"{where}: attribute {name!r} holds {value!r}; expected a number")
    return number


def _json_shaped(check, expected: str):
    """A reader of JSON text whose parsed value ``check`` accepts (``expected`` says what it must be)."""
    def read(name, value, where):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ResultsError(f"{where}: attribute {name!r} is not JSON text ({value[:60]!r})") from None
        if not check(value):
            raise ResultsError(f"{where}: attribute {name!r} holds {str(value)[:80]!r}; expected {expected}")
        return value
    return read


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_refusal = _json_shaped(lambda v: isinstance(v, dict) and _is_int(v.get("round")) and _is_int(v.get("level"))
                        and _is_number(v.get("fte_each")) and isinstance(v.get("archs"), list)
                        and all(isinstance(a, str) for a in v["archs"]),
                        "a JSON object with round, level, fte_each and archs (what the budget refused)")
_ladder_log = _json_shaped(lambda v: isinstance(v, list) and all(
    isinstance(e, list) and len(e) == 4 and isinstance(e[0], str) and _is_int(e[1]) and _is_int(e[2])
    and (e[3] is None or _is_number(e[3])) for e in v), "a JSON list of [architecture, level, round, accuracy]")
_rungs = _json_shaped(lambda v: isinstance(v, dict) and all(
    isinstance(levels, dict) and all(isinstance(a, list) and all(isinstance(x, str) for x in a) for a in levels.values())
    for levels in v.values()), "a JSON object {round: {level: [architectures]}}")
_object = _json_shaped(lambda v: isinstance(v, dict), "a JSON object")

# name → (reader, default; None: required)
RUN_ATTRIBUTES = {
    "problem": (_text, None),
    "seed": (_integer, None),
    "reference_point": (_json(list), None),
    "command": (_text, ""),
    "started": (_text, ""),
    "ended": (_text, ""),
    "status": (_status, None),
    "failure": (_text, ""),
    "options": (_json(dict), "{}"),
    "ideal_point": (_json(list), None),
    "problem_name": (_text, ""),
    "strategy": (_text, "moo"),
    # the budget and the ladder's records (files written before them, or without a ladder, have none)
    "spent_fte": (_number, None),
    "bootstrap_fte": (_number, None),
    "spent_train_hours": (_number, None),
    "budget_fte": (_number, None),
    "budget_hours": (_number, None),
    "budget_exhausted": (_integer, None),
    "budget_refused": (_refusal, None),
    "ladder_log": (_ladder_log, None),
    "ladder_rungs": (_rungs, None),
    "async_state": (_object, None),
}
OPTIONAL_WITHOUT_DEFAULT = {"ideal_point", "spent_fte", "bootstrap_fte", "spent_train_hours", "budget_fte", "budget_hours", "budget_exhausted",
                            "budget_refused", "ladder_log", "ladder_rungs", "async_state"}
JSON_TEXT = {"reference_point", "ideal_point", "options", "budget_refused", "ladder_log", "ladder_rungs", "async_state"}
"""Attributes moo-snn writes as JSON text (:func:`normalise` writes them back so)."""


def run_attributes(ds, where: str = "results file") -> dict:
    """The run's attributes of :data:`RUN_ATTRIBUTES`, each in its type (a missing optional one: its default;
    ``ideal_point`` only where present)."""
    attrs = clean_attributes(ds.attrs)
    out = {}
    for name, (reader, default) in RUN_ATTRIBUTES.items():
        if name not in attrs:
            if name in OPTIONAL_WITHOUT_DEFAULT:
                continue
            if default is None:
                raise ResultsError(f"{where}: attribute {name!r} is missing (another tool may have rewritten the file); "
                                   f"a results file written by moo-snn holds it")
            out[name] = reader(name, default, where)
        else:
            out[name] = reader(name, attrs[name], where)
    return out


def normalise(ds, where: str = "results file"):
    """``ds`` with its attributes cleaned and the run's attributes in the types moo-snn writes (text for JSON
    ones), so code reading ``ds.attrs`` sees what moo-snn wrote; the whole file checked before any command
    prints from it: its stored problem parses, and its variables are there, of the dims, types and values
    a run writes (:func:`moo_snn.results.state.check_variables`). Raises :class:`ResultsError` naming the
    file (``where``) and the attribute or variable that cannot be read."""
    from moo_snn.config.problem import parse_problem
    from moo_snn.errors import ProblemError
    from moo_snn.results.state import CANDIDATE_FIELDS, DERIVED_FIELDS, ROUND_FIELDS, check_variables

    attrs = clean_attributes(ds.attrs)
    run = run_attributes(ds, where)
    for name, value in run.items():
        attrs[name] = json.dumps(value) if name in JSON_TEXT else value
    # every variable a run writes (a resume reads them all; pareto and export most): one line, not a traceback
    missing = [name for name in [f.name for f in (*CANDIDATE_FIELDS, *ROUND_FIELDS)] + [d[0] for d in DERIVED_FIELDS]
               if name not in ds.variables]
    if missing:
        raise ResultsError(f"{where}: variable {missing[0]!r} is missing{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''} "
                           f"(another tool may have rewritten the file); a results file written by moo-snn holds it")
    for name in ("reference_point", "ideal_point"):
        if name in run and "objective" in ds.sizes and len(run[name]) != ds.sizes["objective"]:
            raise ResultsError(f"{where}: attribute {name!r} has {len(run[name])} values for the file's "
                               f"{ds.sizes['objective']} objectives")
    try:  # every command reads it (pareto, export, a resume): refused here, naming the file, before anything is printed
        parse_problem(run["problem"], source=f"{where}: attribute 'problem'", check_plugins=False)
    except ProblemError as exc:
        raise ResultsError(str(exc)) from None
    ds = check_variables(ds, where)
    ds.attrs = attrs
    return ds
