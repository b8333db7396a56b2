"""What ``moo-snn optimize`` checks before it writes anything, and what it prints at the end.

* :func:`check_before_writing`: everything that can fail on the user's inputs is checked before
  the first write of the results file (objectives and plug-ins are resolved earlier by
  :func:`moo_snn.objectives.with_objectives`): the data, and the destination. A failed start
  leaves no results file and no ``.weights/`` folder behind.
* :func:`nothing_to_resume`: a resume that has nothing left to do says so and why.
* :func:`report_run`: the front table (:mod:`moo_snn.cli.front_table`), the knee and how to export
  it, or, when no trained candidate meets the limits, which limits are broken and by how much;
  ``--json`` prints the same as one object. Returns the exit code (0, or 3 without a front).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from moo_snn.cli.common import print_json
from moo_snn.cli.front_table import print_front
from moo_snn.cli.render import clean_float, number, plain
from moo_snn.errors import InfeasibleError, ResultsError


def _writable_folder(path: Path) -> None:
    """Raise :class:`ResultsError` unless the folder of ``path`` exists and is writable, or can be created."""
    if path.is_dir():
        raise ResultsError(f"{path}: is a folder; give a results file name ending in .nc (or a folder without .nc)")
    folder = path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ResultsError(f"{folder}: cannot write there ({existing} is not a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ResultsError(f"{folder}: cannot write there (no write permission on {existing}); give --out in a folder of yours")


def check_before_writing(spec, path: Path, *, in_process: bool, remote: bool):
    """Check the destination and the data of a run before its first write.

    Returns the loaded data for an in-process run (the run uses them), None otherwise. With local
    workers the data are read here once to check them; with ``--scheduler`` the workers read their
    own (possibly on other machines), so nothing is read here.
    """
    _writable_folder(Path(path))
    if remote:
        return None
    from moo_snn.data import load_problem_data

    data = load_problem_data(spec)
    return data if in_process else None


def nothing_to_resume(stored, spec, path, console=None) -> bool:
    """True (and says why on stderr) when resuming ``stored`` would do nothing: the run is complete
    and has every round asked for."""
    from moo_snn.cli.common import stderr

    console = console or stderr
    if str(stored.attrs.get("status", "")) != "complete":
        return False
    done = int(stored.sizes.get("round", 0))
    if str(stored.attrs.get("strategy", "moo")) == "hasnas":
        console.print(plain(f"nothing to do: {path} is a complete hasnas run (that strategy trains one network); start a "
                            f"new run (another --seed or --samples) for another"))
        return True
    if done < spec.search.rounds:
        return False
    console.print(plain(f"nothing to do: {path} is a complete run of {done} rounds (asked: {spec.search.rounds}); to "
                        f"continue it, ask for more: moo-snn optimize --resume {path} --rounds {done + 1}"))
    return True


def broken_limits(ds, spec) -> str:
    """Which limits the trained candidates break and by how much, and the closest candidate: one line."""
    trained = np.asarray(ds.trained.values, bool)
    if not trained.any():
        return "no training finished"
    name = "limit_excess" if "limit_excess" in ds else "constraint_value"
    excess = np.asarray(ds[name].values, float).reshape(ds.sizes["candidate"], -1)[trained]
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
    """Print the run's front (or why it has none); return the exit code (0, or 3 without a front)."""
    front = ds.moo.front_records()
    knee = next((r for r in front if r["knee"]), None)
    feasible = bool(front)
    why = None if feasible else broken_limits(ds, spec)
    if json_out:
        summary = {"results": str(path), "status": ds.attrs.get("status", ""),
                   "hypervolume": ds.moo.hypervolume() if feasible else 0.0,
                   "reference_point": {m.name: clean_float(v) for m, v in zip(ds.moo.objectives(), ds.moo.reference_point(natural=True))},
                   "knee": knee, "front": front, "trained": int(ds.trained.sum()), "scored": int(ds.sizes["candidate"])}
        if why is not None:
            summary["no_front"] = why
        print_json(summary)
    else:
        from_archive = int((ds.source == "archive").sum())
        trained_here = int((ds.trained & (ds.source != "archive")).sum())
        title = (f"{spec.name}: measured front, {len(front)} networks (scored {ds.sizes['candidate']}, trained {trained_here} "
                 f"in this run, {from_archive} known from the archive); hypervolume {ds.moo.hypervolume() if feasible else 0.0:.3f}")
        if front:
            print_front(out, ds, front, title=title, wide=wide,
                        caption="objectives: " + ", ".join(m.name for m in ds.moo.objectives()))
        else:
            out.print(plain(title))
        out.print(plain(f"results: {path} (status {ds.attrs.get('status', '?')}); open with moo_snn.open_results or "
                        f"moo-snn pareto {path}"))
        if knee is not None:
            out.print(plain(f"best compromise (knee): candidate {knee['candidate']}, {knee['arch']}; export it with: "
                            f"moo-snn export {path} --nir net.nir"))
    if feasible:
        return 0
    err.print(plain(f"no candidate meets the limits of {spec.name}: {why}; every candidate and its violations are in {path}"))
    return InfeasibleError.exit_code
