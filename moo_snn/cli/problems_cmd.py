"""``moo-snn problems``: the shipped problem files, and every key a problem file may hold."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from moo_snn.cli.render import Column, fit_tables, plain, print_tables
from moo_snn.cli.common import JsonOpt, print_json, stdout, user_errors


def toml_value(value) -> str:
    """``value`` as it is written in a problem file (TOML): ``true``, ``"text"``, ``[1, 2]``.

    Python's ``repr`` (``True``, ``'text'``, ``(1, 2)``) is not TOML: a user who copies it into a
    problem file gets a parse error. Strings use :func:`json.dumps`, whose quoting is TOML's basic
    string for the plain names and numbers these defaults are.
    """
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def toml_rows(cls) -> list[tuple[str, str, str]]:
    """``(key, default as TOML, doc)`` of every field of a problem-file section (``(required)``: no default)."""
    import dataclasses

    rows = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = toml_value(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = toml_value(f.default_factory())
        else:
            default = "(required)"
        rows.append((f.name, default, f.metadata.get("doc", "")))
    return rows


def json_rows(cls) -> list[dict]:
    """Every field of a problem-file section for ``--keys --json``: ``key``, ``default`` as a JSON value (a list for a
    list, null where ``required``), ``doc``, and its bounds and choices (``min``, ``max``, ``max_source``, ``choices``) where
    it has them."""
    import dataclasses

    rows = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        row = dict(key=f.name, default=list(default) if isinstance(default, tuple) else default,
                   required=f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                   doc=f.metadata.get("doc", ""))
        row.update({k: list(f.metadata[k]) if k == "choices" else f.metadata[k] for k in ("min", "max", "max_source", "choices") if k in f.metadata})
        rows.append(row)
    return rows


TOP_LEVEL_KEYS = [
    ("name", "(required)", "the problem's name: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit "
                           "(it names the results files)"),
    ("description", '""', "one line that `moo-snn problems` shows"),
    ("reference_arch", "(required)", "an architecture string (`moo-snn cost` and `moo_snn.network_costs` price it by "
                                     "default; the search's sampler of networks that meet the limits starts from it)"),
]
"""Keys outside every table (:func:`moo_snn.config.problem.parse_problem` reads them)."""


def constraints_text() -> str:
    """What the ``[constraints]`` table takes, from the parser's own metric list."""
    from moo_snn.config.problem import METRICS

    minimum = [m for m in METRICS if m.startswith("accuracy")]
    return (f"metric = limit, or metric = {{min = x}} / {{max = x}}; a bare limit is a minimum for {' and '.join(minimum)}, "
            f"a maximum for the others; metrics: {', '.join(METRICS)}, an installed plug-in's name, or 'module:function'")


@user_errors
def problems(
    keys: Annotated[bool, typer.Option("--keys", help="list every key of every table with its default and meaning")] = False,
    json_out: JsonOpt = False,
) -> None:
    """List the shipped problems (or, with --keys, the problem-file reference)."""
    from moo_snn.config.problem import SECTIONS, load_problem
    from moo_snn.resources import shipped_problems
    from moo_snn.schema import describe

    if keys:
        rows = {section: describe(cls) for section, cls in SECTIONS.items()}
        constraints = constraints_text()
        if json_out:
            # defaults as JSON values (numbers, lists, null where required), not as the tables' text
            print_json({"top level": [dict(key=k, default=None if d == "(required)" else "", required=d == "(required)", doc=doc)
                                      for k, d, doc in TOP_LEVEL_KEYS],
                        **{s: json_rows(SECTIONS[s]) for s in rows},
                        "constraints": constraints})
            return
        for section, items in [("top level", TOP_LEVEL_KEYS), *((s, toml_rows(SECTIONS[s])) for s in rows)]:
            table = Table(title=plain(section if section == "top level" else f"[{section}]"), title_justify="left")
            for col in ("key", "default", "meaning"):
                table.add_column(col, overflow="fold")
            for key, default, doc in items:
                table.add_row(plain(key), plain(default), plain(doc))
            stdout.print(table)
        stdout.print(plain(f"[constraints]: {constraints}"))
        return
    found = []
    for path in shipped_problems().values():
        spec = load_problem(path)
        found.append(dict(name=path.stem, path=str(path), dataset=spec.data.dataset, objectives=list(spec.objectives.names),
                          limits={c.name: dict(limit=c.limit, kind=c.kind) for c in spec.constraints},
                          description=spec.description, reference_arch=str(spec.reference_arch)))
    if json_out:  # limits as numbers, as moo-snn cost --json gives them ({name: {"limit", "kind"}})
        print_json({"problems": found})
        return
    columns = [Column("name", "left", repeat=True), Column("dataset", "left"), Column("objectives", "left"),
               Column("limits", "left"), Column("description", "left")]
    rows = [[p["name"], p["dataset"], ", ".join(p["objectives"]),
             ", ".join(f"{name} {'<=' if c['kind'] == 'max' else '>='} {c['limit']:g}" for name, c in p["limits"].items()),
             p["description"]] for p in found]
    print_tables(stdout, fit_tables(columns, rows, stdout.width, title="shipped problems"))
