"""What ``moo-snn optimize`` prints at the end (the checks before it writes anything are
:func:`moo_snn.run.prepare_optimize` and :mod:`moo_snn.run_checks`).

* :func:`report_run`: the front table (:mod:`moo_snn.cli.front_table`), the knee and how to export
  it, or, when no trained candidate meets the limits, which limits are broken and by how much;
  ``--json`` prints the same as one object. Returns the exit code (0, or 3 without a front).
"""

from __future__ import annotations

import numpy as np

from moo_snn.cli.common import print_json
from moo_snn.cli.front_table import print_front
from moo_snn.cli.render import clean_float, number, plain, print_copyable
from moo_snn.errors import InfeasibleError


def broken_limits(ds, spec) -> str:
    """Which limits the trained candidates break and by how much, and the closest candidate: one line."""
    trained = np.asarray(ds.trained.values, bool)
    if not trained.any():
        from moo_snn.results.export import no_full_training_reason

        return no_full_training_reason(ds)
    excess = np.asarray(ds.limit_excess.values, float).reshape(ds.sizes["candidate"], -1)[trained]
    limits = {c.name: c for c in spec.constraints}
    names = [str(n) for n in ds.constraint.values]
    n = int(trained.sum())
    parts = []
    for j, cname in enumerate(names):
        broken = excess[:, j] > 0
        if not broken.any():
            continue
        c = limits.get(cname)
        sign = "≥" if c is not None and c.kind == "min" else "≤"
        best = float(np.nanmin(excess[:, j]))
        limit = c.limit if c is not None else float("nan")
        value = limit - best if c is not None and c.kind == "min" else limit + best
        parts.append(f"{cname} {sign} {number(limit)} broken by {int(broken.sum())} of {n} (closest {number(value)}, "
                     f"{'short' if sign == '≥' else 'over'} by {number(max(best, 0.0))})")
    scale = np.array([max(abs(limits[c].limit), 1e-12) if c in limits else 1.0 for c in names])
    relative = np.nansum(np.maximum(excess, 0) / scale, axis=1)
    k = int(np.argmin(np.where(np.isfinite(relative), relative, np.inf)))
    closest = np.flatnonzero(trained)[k]
    cand, arch = int(ds.candidate.values[closest]), str(ds.arch.values[closest])
    breaks = [f"{names[j]} by {number(excess[k, j])}" for j in range(len(names)) if excess[k, j] > 0]
    text = "; ".join(parts) or "every trained candidate failed or diverged"
    return f"{text}. Closest to meeting them: candidate {cand} ({arch}), past {', '.join(breaks) or 'no measured limit'}"


def report_run(out, err, spec, ds, path, *, json_out: bool = False, wide: bool = False) -> int:
    """Print the run's front (or why it has none); return the exit code (0, or 3 without a front; 0
    without one when the budget stopped the run: status ``budget_spent`` says so)."""
    front = ds.moo.front_records()
    knee = next((r for r in front if r["knee"]), None)
    feasible = bool(front)
    why = None if feasible else broken_limits(ds, spec)
    if json_out:
        from moo_snn.cli.pareto_cmd import budget_summary

        # the keys of `moo-snn pareto --json` (problem, budget) and the text's counts: "trained" counts every trained
        # candidate, the archive's included; "trained_in_run" and "from_archive" split it as the text line does
        summary = {"results": str(path), "problem": spec.name, "status": ds.attrs.get("status", ""),
                   "hypervolume": ds.moo.hypervolume() if feasible else 0.0,
                   "reference_point": {m.name: clean_float(v) for m, v in zip(ds.moo.objectives(), ds.moo.reference_point(natural=True))},
                   "knee": knee, "front": front, "trained": int(ds.trained.sum()), "scored": int(ds.sizes["candidate"]),
                   "trained_in_run": int((ds.trained & (ds.source != "archive")).sum()),
                   "from_archive": int((ds.source == "archive").sum()),
                   "low_fidelity_only": int((ds.status == "proxy").sum()), **budget_summary(ds.attrs)}
        if why is not None:
            summary["no_front"] = why
        print_json(summary)
    else:
        from_archive = int((ds.source == "archive").sum())
        trained_here = int((ds.trained & (ds.source != "archive")).sum())
        proxies = int((ds.status == "proxy").sum())  # measured at low fidelity only (a [fidelity] ladder)
        trained_text = f"trained {trained_here} fully and {proxies} at low fidelity only" if proxies else f"trained {trained_here}"
        title = (f"{spec.name}: measured front, {len(front)} network{'s' if len(front) != 1 else ''} (scored {ds.sizes['candidate']}, {trained_text} "
                 f"in this run, {from_archive} known from the archive); hypervolume {ds.moo.hypervolume() if feasible else 0.0:.3f}")
        if front:
            print_front(out, ds, front, title=title, wide=wide,
                        caption="objectives: " + ", ".join(m.name for m in ds.moo.objectives()))
        else:
            out.print(plain(title))
        unmeasured = _without_nonideal(ds)
        if unmeasured:
            out.print(plain(f"{unmeasured} trained network{'s have' if unmeasured != 1 else ' has'} no measured accuracy on "
                            f"non-ideal crossbars (archive records, or trained before it was asked for) and stay"
                            f"{'s' if unmeasured == 1 else ''} off the front; `moo-snn train PROBLEM --arch ARCH --nonideal` measures one"))
        out.print(plain(f"results: {path} (status {ds.attrs.get('status', '?')}); open with moo_snn.open_results or:"))
        print_copyable(out, f"moo-snn pareto {path}")
        if ds.attrs.get("status") == "budget_spent":  # the run stopped before its rounds were done
            out.print(plain(f"stopped early: {ds.attrs.get('budget_note', 'its budget was spent')}"))
        if knee is not None:
            out.print(plain(f"best compromise (knee): candidate {knee['candidate']}:"))
            print_copyable(out, knee["arch"])
            out.print(plain("export it with:"))
            print_copyable(out, f"moo-snn export {path} --nir net.nir")
    if feasible:
        return 0
    if ds.attrs.get("status") == "budget_spent":  # stopped before one was measured: no verdict on the limits
        # with nothing trained, `why` (no_full_training_reason) already says the budget stopped the run: said once
        first = "the budget stopped the run first: " if np.asarray(ds.trained.values, bool).any() else ""
        err.print(plain(f"no front yet: {first}{why}; every candidate is in {path}"))
        return 0
    err.print(plain(f"no candidate meets the limits of {spec.name}: {why}; every candidate and its violations are in {path}"))
    return InfeasibleError.exit_code


def _without_nonideal(ds) -> int:
    """Trained networks of a run that needs ``accuracy_nonideal`` (an objective or a limit) without that measurement."""
    from moo_snn.training.nonideal import NONIDEAL_METRIC

    names = {m.name for m in ds.moo.objectives()} | ({str(c) for c in ds.constraint.values} if "constraint" in ds.coords else set())
    if NONIDEAL_METRIC not in names or NONIDEAL_METRIC not in ds:
        return 0
    return int((ds.trained.values & ~np.isfinite(np.asarray(ds[NONIDEAL_METRIC].values, dtype=float))).sum())
