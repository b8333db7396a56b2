"""Turn a TOML table into a frozen dataclass, checking every key, type and value.

A dataclass field may carry metadata: ``doc`` (shown to users), ``choices`` (valid values; for a
tuple field, valid items), ``min`` / ``max`` (inclusive bounds; for a tuple field, of each item; ``max_source``: where the
maximum comes from, said with the error),
``nonempty`` (a tuple that must hold at least one item), ``distinct`` (a tuple whose items must
differ; default true, right for a list of *choices* such as ``[space] channels``; false for a list
that gives one value *per level*, such as ``[fidelity] epochs``, where repeats are legitimate and the
table's own check decides what two levels may share). Every error names the file and the full key
(``[training] lr``) and says what was expected and what was found.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from typing import Any

from moo_snn.errors import ProblemError, did_you_mean


def _type_name(tp: Any) -> str:
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    origin = typing.get_origin(tp)
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0]).split(' ', 1)[1]}s"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    return str(tp)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        for arg in args:
            try:
                return _coerce(value, arg, where)
            except ProblemError:
                continue
        raise ProblemError(f"{where}: expected {_type_name(tp)}, found {value!r}")
    if origin is tuple:
        item = typing.get_args(tp)[0]
        if not isinstance(value, list):
            raise ProblemError(f"{where}: expected {_type_name(tp)}, found {value!r}")
        return tuple(_coerce(v, item, f"{where}[{k}]") for k, v in enumerate(value))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProblemError(f"{where}: expected a number, found {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ProblemError(f"{where}: expected a finite number, found {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProblemError(f"{where}: expected an integer, found {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ProblemError(f"{where}: expected a string, found {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ProblemError(f"{where}: expected true or false, found {value!r}")
        return value
    raise TypeError(f"unsupported field type {tp!r}")  # a bug in a spec class, not user input


def _check_value(value: Any, meta: dict, where: str) -> None:
    items = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and meta.get("nonempty") and not value:
        raise ProblemError(f"{where}: the list is empty; give at least one value")
    if isinstance(value, tuple) and meta.get("distinct", True) and len(set(value)) != len(value):
        repeated = sorted({v for v in value if value.count(v) > 1}, key=repr)
        raise ProblemError(f"{where}: the list holds duplicates ({', '.join(map(repr, repeated))} more than once): "
                           f"{list(value)}; each choice may appear once")
    for i, item in enumerate(items):
        if item is None:
            continue
        at = f"{where}[{i}]" if isinstance(value, tuple) else where  # the item of a list, as the type errors name it
        if "choices" in meta and item not in meta["choices"]:
            raise ProblemError(f"{at}: unknown value {item!r}{did_you_mean(item, meta['choices'])}")
        if "min" in meta and item < meta["min"]:
            raise ProblemError(f"{at}: {item!r} is below the minimum {meta['min']}{_allowed(meta)}")
        if "max" in meta and item > meta["max"]:
            raise ProblemError(f"{at}: {item!r} is above the maximum {meta['max']}{_allowed(meta)}")


def _allowed(meta: dict) -> str:
    """`` (allowed: 1 to 31; why)`` of a bounded field: its range, and where its maximum comes from (``max_source``)."""
    if "max" not in meta:
        return ""
    source = f"; {meta['max_source']}" if "max_source" in meta else ""
    return f" (allowed: {meta.get('min', '-inf')} to {meta['max']}{source})"


def parse_table(cls: type, table: Any, section: str, source: str) -> Any:
    """Build the dataclass ``cls`` from the TOML ``table`` of ``[section]`` in file ``source``."""
    where = f"{source}: [{section}]"
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise ProblemError(f"{where}: expected a table, found {table!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in table:
        if key not in fields:
            raise ProblemError(f"{where}: unknown key {key!r}{did_you_mean(key, fields)}")
    values = {}
    for name, field in fields.items():
        if name not in table:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ProblemError(f"{where}: missing required key {name!r} ({field.metadata.get('doc', _type_name(hints[name]))})")
            continue
        key_where = f"{where} {name}"
        value = _coerce(table[name], hints[name], key_where)
        _check_value(value, field.metadata, key_where)
        values[name] = value
    return cls(**values)


def describe(cls: type) -> list[tuple[str, str, str]]:
    """``(key, default, doc)`` for every field of ``cls``: the documentation of a section."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "(required)")
        rows.append((f.name, repr(default), f.metadata.get("doc", "")))
    return rows


def parse_toml(text: str, source: str, top_level: tuple[str, ...]) -> dict:
    """The TOML document ``text`` of file ``source``, whose top-level keys must be in ``top_level``."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProblemError(f"{source}: not valid TOML: {exc}") from None
    for key in doc:
        if key not in top_level:
            raise ProblemError(f"{source}: unknown top-level key {key!r}{did_you_mean(key, top_level)}")
    return doc
