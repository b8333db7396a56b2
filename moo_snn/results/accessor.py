"""The ``ds.moo`` accessor of a results Dataset: the measured front and what users do with it.

Registered when :mod:`moo_snn` is imported. ``path`` below is a results file (``moo-snn optimize``
writes one per run; the test suite runs these examples against a small one it makes)::

    >>> import moo_snn
    >>> ds = moo_snn.open_results(path)
    >>> front = ds.moo.front()                       # trained, within every limit, non-dominated
    >>> bool(front.trained.all()) and bool((front.limit_excess <= 0).all())
    True
    >>> [m.name for m in ds.moo.objectives()]         # with units and direction
    ['accuracy', 'energy_uJ', 'latency_ms']
    >>> hv = ds.moo.hypervolume()                    # fraction of the box [ideal, reference point]
    >>> 0.0 < hv <= 1.0
    True
    >>> ds.moo.reference_point(natural=True)         # the limits: accuracy 0.5, 2.5 µJ, 0.25 ms
    array([0.5 , 2.5 , 0.25])
    >>> k = ds.moo.knee()                            # candidate id of the best compromise
    >>> bool(ds.on_front.sel(candidate=k))
    True
    >>> ds.moo.architecture(k).timesteps in (1, 2, 4, 6)
    True
    >>> records = ds.moo.front_records()             # plain dicts, most accurate first
    >>> {'candidate', 'arch', 'knee', 'val_accuracy', 'energy_uJ'} <= set(records[0])
    True
    >>> df = ds.moo.to_dataframe()                   # one row per candidate (pandas)
    >>> list(df.columns[:3]), len(df) == ds.sizes["candidate"]
    (['arch', 'status', 'source'], True)
    >>> fig = ds.moo.plot()                          # or ds.moo.plot("front.png")
    >>> len([ax for ax in fig.axes if ax.get_visible()])   # one panel per pair of objectives
    3
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import xarray as xr

from moo_snn.architecture import Architecture
from moo_snn.objectives import BUILTIN, Metric

COUNTS = ("params",)
"""Measures that are counts: ints in :meth:`MooAccessor.front_records` (and so in ``--json``), not floats."""


@xr.register_dataset_accessor("moo")
class MooAccessor:
    """Pareto analysis of a results Dataset (see the module docstring for examples)."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    # --- what the run optimised -------------------------------------------------------------
    def objectives(self) -> list[Metric]:
        """The objectives, in order, with their units and direction (no plug-in code is imported)."""
        ds = self._ds
        return [BUILTIN.get(str(n)) or Metric(str(n), str(u), str(d))
                for n, u, d in zip(ds.objective.values, ds.objective_units.values, ds.objective_direction.values)]

    _metrics = objectives

    def problem(self):
        """The run's :class:`~moo_snn.config.problem.ProblemSpec` (parsed from the stored problem text)."""
        from moo_snn.config.problem import parse_problem

        return parse_problem(self._ds.attrs["problem"], source="the results file's problem", check_plugins=False)

    def limits(self) -> dict:
        """The problem's limits by metric name: :class:`~moo_snn.config.problem.Constraint` (``limit``, ``kind``)."""
        return {c.name: c for c in self.problem().constraints}

    # --- the front ----------------------------------------------------------------------------
    def front(self) -> xr.Dataset:
        """The measured front: trained candidates that meet every limit and are non-dominated."""
        return self._ds.isel(candidate=np.flatnonzero(self._ds.on_front.values))

    def minimized(self, measured: bool = True) -> np.ndarray:
        """Objectives of every candidate as pymoo minimises them (accuracy as error), ``(n, n_obj)``."""
        values = (self._ds.measured_objective if measured else self._ds.predicted_objective).values
        return np.column_stack([m.to_minimize(values[:, k]) for k, m in enumerate(self.objectives())])

    def reference_point(self, natural: bool = False) -> np.ndarray:
        """The hypervolume reference point: the limits where the problem sets them (see
        :mod:`moo_snn.search.selection`); minimised units, or natural units with ``natural=True``."""
        ref = np.asarray(json.loads(self._ds.attrs["reference_point"]), dtype=float)
        if not natural:
            return ref
        return np.array([float(m.from_minimized(r)) for m, r in zip(self.objectives(), ref)])

    def ideal_point(self) -> np.ndarray:
        """The hypervolume ideal point in minimised units (0 unless a custom objective goes below 0)."""
        stored = self._ds.attrs.get("ideal_point")
        return np.asarray(json.loads(stored), dtype=float) if stored else np.zeros(self._ds.sizes["objective"])

    def hypervolume(self) -> float:
        """Hypervolume of the measured front as a fraction of the box [ideal, reference point]
        (pymoo's HV indicator, :func:`moo_snn.pareto.hypervolume`): 1 would be a network
        with no error and no cost, 0 a front that does not improve on the reference point."""
        from moo_snn.pareto import hypervolume

        return hypervolume(self.minimized()[self._ds.on_front.values], self.reference_point(), self.ideal_point())

    def knee(self) -> int | None:
        """Candidate id of the best compromise on the front (None without a front).

        pymoo's high trade-off point (``pymoo.mcdm.high_tradeoff``) on the front's objectives
        normalised to [0, 1] where it finds one; else the member nearest the ideal point in that
        normalised space. With one or two members: the most accurate (the first objective's best).
        """
        idx = np.flatnonzero(self._ds.on_front.values)
        if len(idx) == 0:
            return None
        F = self.minimized()[idx]
        if len(idx) <= 2:
            return int(self._ds.candidate.values[idx[np.argmin(F[:, 0])]])
        span = np.ptp(F, axis=0)
        Z = (F - F.min(axis=0)) / np.where(span > 0, span, 1)
        with warnings.catch_warnings():  # pymoo imports a deprecated scipy name
            warnings.simplefilter("ignore", DeprecationWarning)
            from pymoo.mcdm.high_tradeoff import HighTradeoffPoints

            try:
                points = HighTradeoffPoints().do(Z)
            except Exception:  # pymoo raises on degenerate fronts; fall back to the distance rule
                points = None
        best = int(points[0]) if points is not None and len(points) else int(np.argmin(np.linalg.norm(Z, axis=1)))
        return int(self._ds.candidate.values[idx[best]])

    def front_records(self) -> list[dict]:
        """The front as plain records, most accurate first: ``candidate``, ``arch``, ``source``,
        ``knee`` (bool), ``predicted_accuracy``, ``val_accuracy``, ``test_accuracy``, every built-in
        cost (recomputed with the measured spike rates), every objective's measured value, and what
        measuring it took: ``round_found``, ``round_trained``, ``round_promoted`` (None: trained without
        a promotion; the file's −1), ``cost_fte`` (full-training equivalents spent on it, proxies included) and
        ``train_seconds``. A count is an int (``params``, cost or objective), every other measure a float
        (NaN where not measured)."""
        from moo_snn.evaluation import COST_METRICS

        front = self.front()
        if front.sizes["candidate"] == 0:
            return []
        costs = {name: front.measured_cost.sel(cost=name).values for name in COST_METRICS}  # computed once, when measured
        knee = self.knee()
        records = []
        for k in range(front.sizes["candidate"]):
            cand = int(front.candidate.values[k])
            record = {"candidate": cand, "arch": str(front.arch.values[k]), "source": str(front.source.values[k]),
                      "knee": cand == knee, "predicted_accuracy": float(front.predicted_accuracy.values[k]),
                      "val_accuracy": float(front.val_accuracy.values[k]), "test_accuracy": float(front.test_accuracy.values[k])}
            record.update({name: float(costs[name][k]) for name in COST_METRICS})
            record.update({name: int(front[name].values[k]) for name in ("round_found", "round_trained", "round_promoted")
                           if name in front})
            if record.get("round_promoted", 0) < 0:  # the file's "never" (-1) is no round
                record["round_promoted"] = None
            record.update({name: float(front[name].values[k]) for name in ("cost_fte", "train_seconds") if name in front})
            if "accuracy_nonideal" in front:  # on non-ideal crossbars ([nonideal]), NaN where not measured
                record.update(accuracy_nonideal=float(front.accuracy_nonideal.values[k]),
                              accuracy_nonideal_std=float(front.accuracy_nonideal_std.values[k]))
            record.update({str(name): float(front.measured_objective.values[k, j]) for j, name in enumerate(front.objective.values)})
            record.update({name: int(round(record[name])) for name in COUNTS if name in record and np.isfinite(record[name])})
            records.append(record)
        return sorted(records, key=lambda r: -r["val_accuracy"])

    def summary(self) -> dict:
        """What ``moo-snn pareto --json`` prints for one run: ``problem``, ``status``,
        ``hypervolume``, ``reference_point`` (natural units, by objective), ``knee`` (its record or
        None) and ``front`` (:meth:`front_records`)."""
        front = self.front_records()
        knee = next((r for r in front if r["knee"]), None)
        ref = self.reference_point(natural=True)
        return {"problem": self._ds.attrs.get("problem_name", ""), "status": self._ds.attrs.get("status", ""),
                "hypervolume": self.hypervolume(),
                "reference_point": {m.name: float(f"{v:.12g}") for m, v in zip(self.objectives(), ref)},  # 0.3, not 0.30000000000000004
                "knee": knee, "front": front}

    # --- single candidates and tables ---------------------------------------------------------
    def architecture(self, i: int) -> Architecture:
        """The :class:`Architecture` of candidate ``i`` (a value of the ``candidate`` coordinate)."""
        return Architecture.parse(str(self._ds.arch.sel(candidate=i).values))

    def to_dataframe(self):
        """One row per candidate (index: candidate id), with every per-candidate value the results file keeps.

        Columns, in this order: ``arch``, ``status``, ``source``, ``on_front``, ``feasible``,
        ``round_found``; ``predicted_<objective>`` and ``measured_<objective>`` for each objective;
        ``val_accuracy``, ``test_accuracy``; then every other variable of the file on the
        ``candidate`` dim alone, in the file's order (predictions and their spread, the rounds it was
        trained and promoted in, training time and threads, the fidelity of its highest training
        ``fidelity_epochs`` and ``fidelity_fraction``, ``proxy_accuracy``, ``proxy_level``, its cost
        ``cost_fte`` and ``samples_seen``, ``pareto_rank`` ...; their meaning and units are the
        variables' ``long_name`` and ``units`` attributes); ``fidelity_level``: the level of that
        training (0 … n−1 the problem's ``[fidelity]`` levels cheapest first, n full training, −1 none,
        as :class:`moo_snn.search.fidelity.Level` numbers them); and one column per constraint or cost
        of the variables over those dims: ``limit_excess_<c>``, ``predicted_limit_excess_<c>``,
        ``measured_limit_excess_<c>``, ``measured_cost_<name>``. Left out: ``genome`` (``arch`` says
        it) and the per-layer ``spike_rate`` (``ds.spike_rate.to_pandas()``).
        """
        import pandas as pd

        ds = self._ds
        frame = pd.DataFrame({"arch": ds.arch.values, "status": ds.status.values, "source": ds.source.values,
                              "on_front": ds.on_front.values, "feasible": ds.feasible.values,
                              "round_found": ds.round_found.values}, index=pd.Index(ds.candidate.values, name="candidate"))
        for k, name in enumerate(ds.objective.values):
            frame[f"predicted_{name}"] = ds.predicted_objective.values[:, k]
            frame[f"measured_{name}"] = ds.measured_objective.values[:, k]
        frame["val_accuracy"] = ds.val_accuracy.values
        frame["test_accuracy"] = ds.test_accuracy.values
        for name, var in ds.data_vars.items():
            if var.dims == ("candidate",) and name not in frame:
                frame[name] = var.values
        if "fidelity_epochs" in ds:
            frame["fidelity_level"] = self._fidelity_levels()
        for name, var in ds.data_vars.items():
            if len(var.dims) == 2 and var.dims[0] == "candidate" and var.dims[1] in ("constraint", "cost"):
                for k, label in enumerate(ds[var.dims[1]].values):
                    frame[f"{name}_{label}"] = var.values[:, k]
        return frame

    def _fidelity_levels(self) -> np.ndarray:
        """Per candidate, the fidelity level of its highest training (0 … n−1 low, n full, −1 none)."""
        problem = self.problem()
        fid = problem.fidelity
        low = list(zip(fid.epochs, fid.train_fraction or (1.0,) * len(fid.epochs)))
        out = np.full(self._ds.sizes["candidate"], -1, dtype=np.int64)
        for k, (epochs, fraction) in enumerate(zip(self._ds.fidelity_epochs.values, self._ds.fidelity_fraction.values)):
            if epochs == problem.training.epochs and np.isclose(fraction, 1.0):
                out[k] = len(low)
            else:
                out[k] = next((i for i, (e, f) in enumerate(low) if e == epochs and np.isclose(f, fraction)), -1)
        return out

    def plot(self, path=None, **kwargs):
        """Pairwise objective panels: predicted and measured points, the front joined, the knee, the
        limits (see :mod:`moo_snn.results.plot`). Saves to ``path`` if given; returns the Figure."""
        from moo_snn.results.plot import plot_runs

        return plot_runs([self._ds], path=path, **kwargs)
