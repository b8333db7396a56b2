"""The front of one or several runs as a figure: one panel per pair of objectives (one objective:
its values against the round, :data:`ROUND`).

In each panel (y: the first objective of the pair, x: the second; accuracy always on y):

* grey hollow circles: candidates the search only *predicted* (predictor + cost model, assumed
  spike rate), one run only;
* small filled dots: trained candidates, *measured* (validation accuracy, costs with measured
  spike rates); faded where they break a limit;
* large markers joined by a staircase: the measured front, the staircase being the best trade-off
  reachable in this projection; thin grey ticks join a front member's predicted position to its
  measured one (how far the predictor was off);
* a star: the knee (best compromise); overlaid runs mark theirs with one marker shape per run,
  in the run's colour, drawn under the front members (a one-member front stays visible);
* dashed lines and shading: the problem's limits (the shaded side breaks them).

Several runs are overlaid, one colour each, with their hypervolumes in the legend. Matplotlib's
object API only (no pyplot state), so plotting is safe in scripts, notebooks and tests.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
KNEE_MARKERS = ("*", "D", "P", "X", "p", "h", "^", "v")
"""The knee's marker of each overlaid run (with the run's colour): told apart without colour too."""


def default_labels(datasets) -> list[str]:
    """One distinct label per run: problem and seed, then the strategy, the start time, a number,
    as far as needed to tell two runs apart (two runs of one problem and seed are not one label)."""
    def attr(d, key, default="?"):
        return str(d.attrs.get(key, default))

    labels = [f"{attr(d, 'problem_name', 'run')} seed {attr(d, 'seed')}" for d in datasets]
    for extra in (lambda d: attr(d, "strategy", "moo"), lambda d: attr(d, "started", "")):
        if len(set(labels)) == len(labels):
            return labels
        labels = [f"{label}, {extra(d)}".rstrip(", ") for label, d in zip(labels, datasets)]
    if len(set(labels)) != len(labels):
        labels = [f"{label} (run {k + 1})" for k, label in enumerate(labels)]
    return labels


ROUND = SimpleNamespace(name="round", units="1", direction="minimize")
"""The x-axis of a run with one objective (nothing to trade it against): the round a candidate was
found in (predicted) or trained in (measured), 0 the bootstrap; the staircase is then the best so far."""


def _label(metric) -> str:
    units = {"1": "", "uJ": "µJ", "mm2": "mm²"}.get(metric.units, metric.units)
    if metric is ROUND:
        return "round (0: bootstrap, or read from the archive)"
    name = metric.name.replace("_uJ", "").replace("_ms", "").replace("_mm2", "").replace("_kB", "").replace("_", " ")
    return f"{name} [{units}]" if units else name


def _staircase(ax, x, y, x_dir, y_dir, colour):
    """The 2-D non-dominated subset of (x, y) (pymoo's non-dominated sorting) joined as an attainment staircase."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    pts = np.column_stack([x if x_dir == "minimize" else -x, y if y_dir == "minimize" else -y])
    keep = NonDominatedSorting().do(pts, only_non_dominated_front=True) if len(pts) else []
    order = sorted(keep, key=lambda k: (pts[k, 0], pts[k, 1]))
    xs, ys = x[order], y[order]
    ax.step(xs, ys, where="post", color=colour, lw=1.4, alpha=0.8, zorder=3)


def _limits_shading(ax, limit, kind, axis):
    """Dashed line at a limit and a light shading on the side that breaks it."""
    line = ax.axhline if axis == "y" else ax.axvline
    line(limit, color="0.25", ls="--", lw=0.9, zorder=1)
    span = ax.axhspan if axis == "y" else ax.axvspan
    lo, hi = (ax.get_ylim() if axis == "y" else ax.get_xlim())
    if kind == "max":
        span(limit, max(hi, limit) * 10 if hi > 0 else hi, color="0.5", alpha=0.07, lw=0, zorder=0)
    else:
        span(min(lo, limit) - abs(limit) * 10 - 1, limit, color="0.5", alpha=0.07, lw=0, zorder=0)
    if axis == "y":
        ax.set_ylim(lo, hi)
    else:
        ax.set_xlim(lo, hi)


def check_same_objectives(datasets, labels=None) -> None:
    """Raise :class:`~moo_snn.errors.ResultsError` unless every run has the first run's objectives,
    in its order: overlaid fronts share their axes (``moo-snn pareto --plot`` checks it before it
    prints or writes anything)."""
    datasets = list(datasets)
    labels = list(labels) if labels is not None else default_labels(datasets)
    names = [m.name for m in datasets[0].moo.objectives()]
    for d, label in zip(datasets[1:], labels[1:]):
        if [m.name for m in d.moo.objectives()] != names:
            from moo_snn.errors import ResultsError

            raise ResultsError(f"{label}: its objectives ({', '.join(map(str, d.objective.values))}) differ from the first "
                               f"run's ({', '.join(names)}); overlay runs of the same objectives (the tables, --csv "
                               f"and --json take runs of any objectives)")


def plot_runs(datasets, labels=None, path=None, *, title: str | None = None):
    """Plot the fronts of ``datasets`` (results Datasets); save to ``path`` if given; return the Figure.

    ``labels``: one per dataset (default: :func:`default_labels`, distinct). Each run has its
    colour; its front members are drawn above its knee marker (a one-member front stays visible);
    overlaid runs mark their knees with distinct markers (:data:`KNEE_MARKERS`).
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    datasets = list(datasets)
    labels = list(labels) if labels is not None else default_labels(datasets)
    check_same_objectives(datasets, labels)
    first = datasets[0]
    metrics = first.moo.objectives()
    names = [m.name for m in metrics]
    limits = first.moo.limits()
    pairs = [(i, j) for i in range(len(metrics)) for j in range(i + 1, len(metrics))] or [(0, -1)]  # -1: ROUND on x
    n_cols = min(len(pairs), 3)
    n_rows = -(-len(pairs) // n_cols)
    fig = Figure(figsize=(max(4.3 * n_cols, 9.0), 3.9 * n_rows + 1.1), dpi=130, layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    single = len(datasets) == 1
    for ax in axes[len(pairs):]:
        ax.set_visible(False)
    handles = []
    for ax, (i, j) in zip(axes, pairs):
        mi, mj = metrics[i], (metrics[j] if j >= 0 else ROUND)
        shown_x, shown_y = [], []
        for r, ds in enumerate(datasets):
            colour = COLOURS[r % len(COLOURS)]
            pv, mv = ds.predicted_objective.values, ds.measured_objective.values
            if j < 0:  # one objective: its values against the round (found: predicted; trained: measured)
                pv = np.column_stack([pv[:, 0], ds.round_found.values.astype(float)])
                mv = np.column_stack([mv[:, 0], ds.round_trained.values.astype(float)])
            trained, front, feasible = ds.trained.values, ds.on_front.values, ds.feasible.values
            if single:
                todo = ~trained & np.isfinite(pv[:, i]) & np.isfinite(pv[:, j])
                ax.scatter(pv[todo, j], pv[todo, i], s=7, facecolors="none", edgecolors="0.8", linewidths=0.5, zorder=1)
                idx = np.flatnonzero(front)
                for k in idx:
                    ax.plot([pv[k, j], mv[k, j]], [pv[k, i], mv[k, i]], color="0.55", lw=0.7, zorder=2)
                ax.scatter(pv[idx, j], pv[idx, i], s=14, marker="x", color="0.45", linewidths=0.9, zorder=2)
            ok = trained & feasible & ~front
            bad = trained & ~feasible
            dot = "#1f77b4" if single else colour
            ax.scatter(mv[ok, j], mv[ok, i], s=16, color=dot, alpha=0.75, zorder=3, lw=0)
            ax.scatter(mv[bad, j], mv[bad, i], s=14, color=dot, alpha=0.25, zorder=3, lw=0)
            if front.any():
                _staircase(ax, mv[front, j], mv[front, i], mj.direction, mi.direction, colour)
                # front members above the knee's marker: a one-member front shows as a point in its star
                ax.scatter(mv[front, j], mv[front, i], s=46, color=colour, edgecolors="black", linewidths=0.7, zorder=6,
                           gid=f"front-{r}")
                knee = ds.moo.knee()
                if knee is not None:
                    k = int(np.flatnonzero(ds.candidate.values == knee)[0])
                    ax.scatter([mv[k, j]], [mv[k, i]], s=230 if single else 260, marker=KNEE_MARKERS[0 if single else r % len(KNEE_MARKERS)],
                               color="gold" if single else colour, edgecolors="black", linewidths=0.8, zorder=5, alpha=1 if single else 0.55,
                               gid=f"knee-{r}")
            shown_x.append(mv[trained, j])
            shown_y.append(mv[trained, i])
            if single:
                shown_x.append(pv[front, j])
                shown_y.append(pv[front, i])
        x = np.concatenate(shown_x)
        y = np.concatenate(shown_y)
        x, y = x[np.isfinite(x)], y[np.isfinite(y)]
        for metric, values, axis in ((mj, x, "x"), (mi, y, "y")):
            lim = limits.get(metric.name)
            bound = [lim.limit] if lim is not None else []
            if len(values) == 0 and not bound:
                continue
            lo, hi = np.min(np.r_[values, bound]), np.max(np.r_[values, bound])
            log = metric.name != "accuracy" and lo > 0 and hi / lo > 20
            if log:
                (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
                lo, hi = lo / 1.25, hi * 1.25
                target = ax.xaxis if axis == "x" else ax.yaxis
                target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                target.set_minor_formatter(NullFormatter())
            elif metric.name == "accuracy":  # zoom on what matters: the front and the limit
                front_values = np.concatenate([d.measured_objective.values[d.on_front.values, names.index("accuracy")]
                                               for d in datasets])
                top = np.max(np.r_[values, bound])
                floor = np.min(np.r_[front_values, bound]) if len(front_values) or bound else lo
                lo = max(lo, floor - 0.6 * max(top - floor, 0.02))
                pad = 0.05 * (top - lo or 1)
                lo, hi = lo - pad, min(top + pad, 1.0 + pad / 2)
                hidden = int(np.sum(values < lo))
                if hidden:
                    where = (0.98, 0.02) if axis == "y" else (0.02, 0.98)
                    ax.text(*where, f"{hidden} trained below {lo:.2f}: not shown", transform=ax.transAxes, fontsize=7,
                            color="0.4", ha="right" if axis == "y" else "left", va="bottom" if axis == "y" else "top")
            else:
                pad = 0.06 * (hi - lo or abs(hi) or 1)
                lo, hi = lo - pad, hi + pad
            (ax.set_xlim if axis == "x" else ax.set_ylim)(lo, hi)
            if lim is not None:
                _limits_shading(ax, lim.limit, lim.kind, axis)
        if mj is ROUND:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
            if not len(x):  # nothing trained: one whole round, not a span around 0
                ax.set_xlim(-0.5, 0.5)
        if single and not first.on_front.values.any():  # said in the figure, not only by what is missing
            ax.text(0.5, 0.5, "no measured front yet: " + ("nothing trained" if not first.trained.values.any() else
                                                          "no trained network meets every limit"),
                    transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.3")
        ax.set_xlabel(_label(mj))
        ax.set_ylabel(_label(mi))
        ax.grid(True, which="major", color="0.92", lw=0.6, zorder=0)
        ax.set_axisbelow(True)
    has_front = bool(first.on_front.values.any())
    if single:
        handles += [Line2D([], [], ls="", marker="o", mfc="none", mec="0.7", ms=4, label="predicted only (not trained)"),
                    Line2D([], [], ls="", marker="o", color="#1f77b4", ms=4, label="trained: measured")]
        if has_front:  # (one objective: the front is the best network, a point, not a staircase)
            handles += [Line2D([], [], ls="-" if len(metrics) > 1 else "", marker="o", color=COLOURS[0], mec="black", ms=6,
                               label=f"measured front ({int(first.on_front.sum())}): hypervolume {first.moo.hypervolume():.3f}"),
                        Line2D([], [], ls="-", marker="x", color="0.45", ms=5, lw=0.7, label="front member as predicted → measured")]
    else:
        for r, (ds, label) in enumerate(zip(datasets, labels)):
            colour = COLOURS[r % len(COLOURS)]
            handles.append(Line2D([], [], ls="-", marker="o", color=colour, mec="black", ms=6,
                                  label=f"{label}: hypervolume {ds.moo.hypervolume():.3f} ({int(ds.on_front.sum())} on front)"))
            knee = ds.moo.knee()
            if knee is not None:
                handles.append(Line2D([], [], ls="", marker=KNEE_MARKERS[r % len(KNEE_MARKERS)], color=colour, mec="black", ms=10,
                                      alpha=0.8, label=f"{label}: knee, candidate {knee}"))
    knee = first.moo.knee() if single else None
    if knee is not None:
        row = first.sel(candidate=knee)
        values = ", ".join(f"{float(v):.3g} {_label(m).split('[')[1][:-1] if '[' in _label(m) else ''}".strip()
                           for m, v in zip(metrics, row.measured_objective.values))
        handles.append(Line2D([], [], ls="", marker="*", color="gold", mec="black", ms=12,
                              label=f"best compromise (knee): candidate {knee}, {row.arch.values}\n({values})"))
    handles.append(Line2D([], [], ls="--", color="0.25", lw=0.9, label="limit (shaded side breaks it)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=3 if single and n_cols > 1 else 2, fontsize=8, frameon=False)
    if title is None:
        name = first.attrs.get("problem_name") or first.moo.problem().name
        ref = ", ".join(f"{_label(m).split(' [')[0]} {v:g}{' ' + _label(m).split('[')[1][:-1] if '[' in _label(m) else ''}"
                        for m, v in zip(metrics, first.moo.reference_point(natural=True)))
        title = (f"{name}: measured Pareto front" if single else f"{name}: measured fronts of {len(datasets)} runs") + \
                f"\nhypervolume reference point: {ref}"
    fig.suptitle(title, fontsize=9.5)
    if path is not None:
        fig.savefig(path)
    return fig
