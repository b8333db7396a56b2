"""``moo-snn pareto``: the measured front of one or several runs: table, hypervolume, knee, plot, CSV, JSON.

JSON (``--json``): for one run, one object::

    {"results": PATH, "problem": NAME, "status": ..., "hypervolume": HV,
     "reference_point": {objective: value in natural units}, "knee": RECORD or null,
     "front": [RECORD, ...], "budget": BUDGET}

where a RECORD is :meth:`MooAccessor.front_records`'s (``candidate``, ``arch``, ``source``, ``knee``,
``predicted_accuracy``, ``val_accuracy``, ``test_accuracy``, the built-in costs and every objective),
most accurate first, and BUDGET (present where the run recorded what it spent: a ``[fidelity]``
ladder or a ``--budget``) is :func:`budget_summary`'s: the caps, what was spent and the note of a run
its budget stopped, as the text output says them. For several runs: ``{"runs": [one such object per run, in the order given]}``.
CSV (``--csv``): one row per front member of every run, with a ``results`` column naming the run;
runs of different objectives may be mixed (the columns are the union; a column a run does not
record, a plug-in objective say, is empty in its rows). The tables and JSON take such runs too; only ``--plot``, which overlays the
fronts on shared axes, needs the same objectives, and refuses others before anything is printed
or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from moo_snn.cli.common import JsonOpt, WideOpt, print_json, stderr, stdout, user_errors
from moo_snn.cli.front_table import print_front
from moo_snn.cli.render import clean_float, plain, print_copyable


def run_labels(paths: list[Path]) -> list[str]:
    """One distinct label per results file: its name, with as much of its folder as tells it apart."""
    labels = [p.stem for p in paths]
    for depth in range(1, 4):
        if len(set(labels)) == len(labels):
            break
        labels = [str(Path(*p.resolve().parts[-depth - 1:-1], p.stem)) for p in paths]
    if len(set(labels)) != len(labels):
        labels = [f"{label} ({k + 1})" for k, label in enumerate(labels)]
    return labels


def budget_summary(attrs: dict) -> dict:
    """``{"budget": {...}}`` for ``moo-snn pareto --json``: ``budget_fte`` and ``budget_hours`` (null: no
    cap), ``spent_fte`` and ``spent_train_hours`` (full-training equivalents and hours of training
    spent), ``stopped_by_budget`` (the budget left work undone) and ``note`` (the run's sentence about it,
    or null); ``{}`` for a run that recorded none of these (a run before budgets, or without one)."""
    keys = ("budget_fte", "budget_hours", "spent_fte", "spent_train_hours", "budget_exhausted", "budget_note")
    if not any(k in attrs for k in keys):
        return {}

    def number(key, no_cap):  # stored as numbers; -1: no cap
        value = attrs.get(key)
        return None if value is None or (no_cap and float(value) < 0) else float(value)

    return {"budget": {"budget_fte": number("budget_fte", True), "budget_hours": number("budget_hours", True),
                       "spent_fte": number("spent_fte", False), "spent_train_hours": number("spent_train_hours", False),
                       "stopped_by_budget": attrs.get("status") == "budget_spent" or bool(attrs.get("budget_exhausted", 0)),
                       "note": attrs.get("budget_note")}}


def non_canonical(ds) -> list[tuple[str, str]]:
    """``(as written, canonical)`` of each architecture of a results file not written canonically.

    Runs made before canonical cells (:meth:`moo_snn.architecture.Architecture.canonical`) wrote a
    cell as the search met it, so one network may appear there under another string than in a
    newer run or archive; ``moo-snn pareto`` says so rather than letting a comparison by string
    miss it.
    """
    from moo_snn.architecture import Architecture

    pairs = []
    for text in dict.fromkeys(str(a) for a in ds.arch.values):
        canonical = str(Architecture.parse(text).canonical())
        if canonical != text:
            pairs.append((text, canonical))
    return pairs


@user_errors
def pareto(
    results: Annotated[list[Path], typer.Argument(help="results file(s) of moo-snn optimize (.nc); several are overlaid")],
    plot: Annotated[Optional[Path], typer.Option(help="save a figure of the front(s) to this file (.png, .pdf, .svg; missing folders are created); several runs are overlaid on the same axes, so they must have the same objectives (checked before anything is printed or written)")] = None,
    csv: Annotated[Optional[Path], typer.Option(help="write the front(s) as CSV to this file (missing folders are created): one row per front member, a results column naming its run; runs of other objectives may be mixed (a column a run does not record is empty in its rows)")] = None,
    wide: WideOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Show the measured Pareto front of a run: its networks, the hypervolume (reference point: the
    problem's limits), the best compromise (knee); several runs are compared side by side."""
    from moo_snn.outputs import check_figure_file, check_output_file, make_parent
    from moo_snn.results import open_results

    if plot is not None:  # before anything is read, printed or written
        check_figure_file(plot, "--plot")
    if csv is not None:
        check_output_file(csv, "--csv")
    datasets = [open_results(p) for p in results]
    if plot is not None:  # overlaid fronts share their axes: refused before anything is printed or written
        from moo_snn.results.plot import check_same_objectives

        check_same_objectives(datasets, run_labels(results))
    summaries = [dict(results=str(p), **ds.moo.summary(), **budget_summary(ds.attrs)) for p, ds in zip(results, datasets)]
    if plot is not None:
        from moo_snn.results.plot import plot_runs

        labels = run_labels(results)
        try:
            plot_runs(datasets, labels, path=make_parent(plot, "--plot"))
        except (OSError, ValueError) as exc:  # unwritable path, unknown image format
            from moo_snn.errors import ResultsError

            raise ResultsError(f"{plot}: cannot write the figure ({exc})") from None
        stderr.print(f"figure: {plot}")
    if csv is not None:
        import pandas as pd

        rows = [dict(results=s["results"], **r) for s in summaries for r in s["front"]]
        frame = pd.DataFrame(rows)
        for name in ("candidate", "round_found", "round_trained", "round_promoted", "params"):
            if name in frame:  # integers stay integers beside an empty cell (pandas would make the column floats)
                frame[name] = frame[name].astype("Int64")
        try:
            frame.to_csv(make_parent(csv, "--csv"), index=False)
        except OSError as exc:
            from moo_snn.errors import ResultsError

            raise ResultsError(f"{csv}: cannot write the CSV ({exc.strerror or exc})") from None
        stderr.print(f"CSV: {csv} ({len(rows)} rows)")
    if json_out:
        print_json(summaries[0] if len(summaries) == 1 else {"runs": summaries})
        return
    for path, ds, summary in zip(results, datasets, summaries):
        print_front(stdout, ds, summary["front"], wide=wide,
                    title=f"{path.name} ({summary['problem']}, {summary['status']}): measured front of "
                          f"{len(summary['front'])}, hypervolume {summary['hypervolume']:.4f}",
                    caption="objectives: " + ", ".join(m.name for m in ds.moo.objectives()))
        ref = ", ".join(f"{k} {clean_float(v):g}" for k, v in summary["reference_point"].items())
        knee = summary["knee"]
        stdout.print(plain(f"hypervolume {summary['hypervolume']:.4f} of the box between the ideal point and the reference "
                           f"point ({ref}: the problem's limits where it sets them)"))
        if knee is not None:
            stdout.print(plain(f"best compromise (knee): candidate {knee['candidate']}, val acc {knee['val_accuracy']:.4f}:"))
            print_copyable(stdout, knee["arch"])
            stdout.print(plain("export it with (the knee by default; another: --candidate ID):"))
            print_copyable(stdout, f"moo-snn export {path} --nir FILE.nir")
        else:
            from moo_snn.results.export import no_front_reason

            stdout.print(plain(f"the run has no front: {no_front_reason(ds)}"), style="red")
        if summary["status"] == "budget_spent" or ds.attrs.get("budget_note"):  # (files before status budget_spent: the note)
            early = "stopped early" if summary["status"] == "budget_spent" else "note"
            stderr.print(plain(f"{early}: {path}: {ds.attrs.get('budget_note', 'its budget was spent')}"))
        rewritten = non_canonical(ds)
        if rewritten:
            text, canonical = next(((t, c) for t, c in rewritten if t in {r["arch"] for r in summary["front"]}), rewritten[0])
            stderr.print(plain(f"note: {path}: {len(rewritten)} of its {len(set(map(str, ds.arch.values)))} architectures are "
                               f"written as before canonical cells (e.g. {text}, written {canonical} by moo-snn now: the "
                               f"same network); compare them with other runs and archives by their canonical form "
                               f"(Architecture.parse(s).canonical())"))
        if summary["status"] == "running":
            stderr.print(plain(f"note: {path} says its run is still running: it is in progress, or its process was "
                               f"killed (SIGKILL, power loss); the front is that of its last checkpoint"))
