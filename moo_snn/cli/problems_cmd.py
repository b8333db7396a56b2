"""``moo-snn problems``: the shipped problem files, and every key a problem file may hold."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from moo_snn.cli.render import Column, fit_tables, plain, print_tables
from moo_snn.cli.common import JsonOpt, print_json, stdout, user_errors


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
        if json_out:
            print_json({s: [dict(key=k, default=d, doc=doc) for k, d, doc in r] for s, r in rows.items()})
            return
        for section, items in rows.items():
            table = Table(title=plain(f"[{section}]"), title_justify="left")
            for col in ("key", "default", "meaning"):
                table.add_column(col, overflow="fold")
            for row in items:
                table.add_row(*(plain(cell) for cell in row))
            stdout.print(table)
        stdout.print(plain("[constraints]: metric = upper limit, or metric = {min = x} / {max = x}; metrics: accuracy, params, memory_kB, area_mm2, latency_ms, energy_uJ"))
        return
    found = []
    for path in shipped_problems().values():
        spec = load_problem(path)
        limits = ", ".join(f"{c.name} {'<=' if c.kind == 'max' else '>='} {c.limit:g}" for c in spec.constraints)
        found.append(dict(name=path.stem, path=str(path), dataset=spec.data.dataset, objectives=list(spec.objectives.names),
                          limits=limits, description=spec.description))
    if json_out:
        print_json({"problems": found})
        return
    columns = [Column("name", "left", repeat=True), Column("dataset", "left"), Column("objectives", "left"),
               Column("limits", "left"), Column("description", "left")]
    rows = [[p["name"], p["dataset"], ", ".join(p["objectives"]), p["limits"], p["description"]] for p in found]
    print_tables(stdout, fit_tables(columns, rows, stdout.width, title="shipped problems"))
