"""``moo-snn pareto``: the measured front of one or several runs: table, hypervolume, knee, plot, CSV, JSON.

JSON (``--json``): for one run, one object::

    {"results": PATH, "problem": NAME, "status": ..., "hypervolume": HV,
     "reference_point": {objective: value in natural units}, "knee": RECORD or null,
     "front": [RECORD, ...]}

where a RECORD is :meth:`MooAccessor.front_records`'s (``candidate``, ``arch``, ``source``, ``knee``,
``predicted_accuracy``, ``val_accuracy``, ``test_accuracy``, the built-in costs and every objective),
most accurate first. For several runs: ``{"runs": [one such object per run, in the order given]}``.
CSV (``--csv``): one row per front member of every run, with a ``results`` column naming the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from moo_snn.cli.common import JsonOpt, print_json, stderr, stdout, user_errors


def _fmt(name: str, value) -> str:
    if value is None or value != value:
        return "–"
    if name == "params":
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _table(path: Path, ds, summary: dict) -> Table:
    limits = ds.moo.limits()
    objectives = [str(n) for n in ds.objective.values]
    costs = ("params", "memory_kB", "area_mm2", "latency_ms", "energy_uJ")
    extra = [n for n in objectives if n not in costs and n != "accuracy"]
    columns = ["candidate", "arch", "source", "predicted_accuracy", "val_accuracy", "test_accuracy", *costs, *extra]
    table = Table(title=f"{path.name} ({summary['problem']}, {summary['status']}): measured front of "
                        f"{len(summary['front'])}, hypervolume {summary['hypervolume']:.4f}",
                  caption="★ best compromise (knee); objectives: " + ", ".join(objectives))
    for col in columns:
        limit = limits.get("accuracy" if col == "val_accuracy" else col)
        title = col.replace("_accuracy", " acc").replace("predicted", "pred.")
        if limit is not None:
            title += f"\n({'≥' if limit.kind == 'min' else '≤'} {limit.limit:g})"
        table.add_column(title, justify="left" if col in ("arch", "source") else "right", no_wrap=col == "arch")
    for r in summary["front"]:
        cells = [f"{'★ ' if r['knee'] else ''}{r['candidate']}", r["arch"], r["source"]]
        cells += [_fmt(c, r.get(c)) for c in columns[3:]]
        table.add_row(*cells)
    return table


@user_errors
def pareto(
    results: Annotated[list[Path], typer.Argument(help="results file(s) of moo-snn optimize (.nc); several are overlaid")],
    plot: Annotated[Optional[Path], typer.Option(help="save a figure of the front(s) to this file (.png, .pdf, .svg)")] = None,
    csv: Annotated[Optional[Path], typer.Option(help="write the front(s) as CSV to this file")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the measured Pareto front of a run: its networks, the hypervolume (reference point: the
    problem's limits), the best compromise (knee); several runs are compared side by side."""
    from moo_snn.results import open_results

    datasets = [open_results(p) for p in results]
    summaries = [dict(results=str(p), **ds.moo.summary()) for p, ds in zip(results, datasets)]
    if plot is not None:
        from moo_snn.results.plot import plot_runs

        labels = [f"{p.stem}" for p in results]
        try:
            plot_runs(datasets, labels, path=plot)
        except (OSError, ValueError) as exc:  # unwritable path, unknown image format
            from moo_snn.errors import ResultsError

            raise ResultsError(f"{plot}: cannot write the figure ({exc})") from None
        stderr.print(f"figure: {plot}")
    if csv is not None:
        import pandas as pd

        rows = [dict(results=s["results"], **r) for s in summaries for r in s["front"]]
        try:
            pd.DataFrame(rows).to_csv(csv, index=False)
        except OSError as exc:
            from moo_snn.errors import ResultsError

            raise ResultsError(f"{csv}: cannot write the CSV ({exc.strerror or exc})") from None
        stderr.print(f"CSV: {csv} ({len(rows)} rows)")
    if json_out:
        print_json(summaries[0] if len(summaries) == 1 else {"runs": summaries})
        return
    for path, ds, summary in zip(results, datasets, summaries):
        stdout.print(_table(path, ds, summary))
        ref = ", ".join(f"{k} {v:g}" for k, v in summary["reference_point"].items())
        knee = summary["knee"]
        stdout.print(f"hypervolume {summary['hypervolume']:.4f} of the box between the ideal point and the reference point "
                     f"({ref}: the problem's limits where it sets them)")
        if knee is not None:
            stdout.print(f"best compromise (knee): candidate {knee['candidate']}, {knee['arch']}, val acc "
                         f"{knee['val_accuracy']:.4f}; export it with moo-snn export {path} --candidate {knee['candidate']} "
                         f"--nir FILE.nir")
        else:
            stdout.print("[red]no trained candidate meets every limit: the run has no front[/]")
