"""The ``ds.moo`` accessor of a results Dataset: the measured front and what users do with it.

>>> import xarray as xr, moo_snn                                     # doctest: +SKIP
>>> ds = moo_snn.open_results("results/digits-seed0.nc")             # doctest: +SKIP
>>> ds.moo.front()             # the trained, feasible, non-dominated candidates   # doctest: +SKIP
>>> ds.moo.hypervolume()       # fraction of the box [0, reference point]          # doctest: +SKIP
>>> ds.moo.knee()              # index of the best compromise on the front         # doctest: +SKIP
>>> ds.moo.to_dataframe()      # one row per candidate, objectives as columns      # doctest: +SKIP
>>> ds.moo.architecture(3)     # the Architecture object of candidate 3           # doctest: +SKIP
>>> ds.moo.plot("front.png")   # pairwise objective scatter, front highlighted     # doctest: +SKIP
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from moo_snn.architecture import Architecture
from moo_snn.search.objectives import BUILTIN, Metric


@xr.register_dataset_accessor("moo")
class MooAccessor:
    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def _metrics(self) -> list[Metric]:
        ds = self._ds
        return [BUILTIN.get(str(n), Metric(str(n), str(u), str(d)))
                for n, u, d in zip(ds.objective.values, ds.objective_units.values, ds.objective_direction.values)]

    def front(self) -> xr.Dataset:
        """The measured front: trained candidates that meet every limit and are non-dominated."""
        return self._ds.isel(candidate=np.flatnonzero(self._ds.on_front.values))

    def minimized(self, measured: bool = True) -> np.ndarray:
        """Objectives of every candidate as pymoo minimises them (accuracy as error), ``(n, n_obj)``."""
        values = (self._ds.measured_objective if measured else self._ds.predicted_objective).values
        return np.column_stack([m.to_minimize(values[:, k]) for k, m in enumerate(self._metrics())])

    def hypervolume(self) -> float:
        """Hypervolume of the measured front as a fraction of [0, reference point] (pymoo's HV)."""
        from moo_snn.search.selection import hypervolume

        ref = json.loads(self._ds.attrs["reference_point"])
        return hypervolume(self.minimized()[self._ds.on_front.values], ref)

    def knee(self) -> int | None:
        """Candidate index of the best compromise on the front: pymoo's high trade-off point where it
        finds one, else the front member nearest the ideal point (objectives normalised over the front)."""
        idx = np.flatnonzero(self._ds.on_front.values)
        if len(idx) == 0:
            return None
        F = self.minimized()[idx]
        if len(idx) <= 2:
            return int(self._ds.candidate.values[idx[np.argmin(F[:, 0])]])
        span = np.ptp(F, axis=0)
        Z = (F - F.min(axis=0)) / np.where(span > 0, span, 1)
        from pymoo.mcdm.high_tradeoff import HighTradeoffPoints

        try:
            points = HighTradeoffPoints().do(Z)
        except Exception:  # pymoo raises on degenerate fronts; fall back to the distance rule
            points = None
        best = int(points[0]) if points is not None and len(points) else int(np.argmin(np.linalg.norm(Z, axis=1)))
        return int(self._ds.candidate.values[idx[best]])

    def front_records(self) -> list[dict]:
        """The front as plain records: architecture, predicted and measured validation accuracy, test
        accuracy, and every cost metric with the measured spike rates (sorted by accuracy)."""
        from moo_snn.config.problem import parse_problem
        from moo_snn.evaluation import COST_METRICS, population_costs
        from moo_snn.space import SearchSpace

        front = self.front()
        if front.sizes["candidate"] == 0:
            return []
        spec = parse_problem(self._ds.attrs["problem"])
        rates = np.nan_to_num(front.spike_rate.values, nan=0.0)
        costs = population_costs(spec, SearchSpace(spec.space), front.genome.values, spike_rate=rates)
        records = []
        for k in range(front.sizes["candidate"]):
            record = {"candidate": int(front.candidate.values[k]), "arch": str(front.arch.values[k]),
                      "source": str(front.source.values[k]),
                      "predicted_accuracy": float(front.predicted_accuracy.values[k]),
                      "val_accuracy": float(front.val_accuracy.values[k]), "test_accuracy": float(front.test_accuracy.values[k])}
            record.update({name: float(getattr(costs, name)[k]) for name in COST_METRICS})
            records.append(record)
        return sorted(records, key=lambda r: -r["val_accuracy"])

    def architecture(self, i: int) -> Architecture:
        """The :class:`Architecture` of candidate ``i``."""
        return Architecture.parse(str(self._ds.arch.sel(candidate=i).values))

    def to_dataframe(self):
        """One row per candidate: architecture, status, predicted and measured objectives, test accuracy."""
        import pandas as pd

        ds = self._ds
        frame = pd.DataFrame({"arch": ds.arch.values, "status": ds.status.values, "source": ds.source.values,
                              "on_front": ds.on_front.values, "feasible": ds.feasible.values,
                              "round_found": ds.round_found.values}, index=pd.Index(ds.candidate.values, name="candidate"))
        for k, name in enumerate(ds.objective.values):
            frame[f"predicted_{name}"] = ds.predicted_objective.values[:, k]
            frame[f"measured_{name}"] = ds.measured_objective.values[:, k]
        frame["test_accuracy"] = ds.test_accuracy.values
        return frame

    def plot(self, path=None):
        """Pairwise scatter of the objectives: predicted (grey), measured (blue), front (red), limits
        (dashed). Saves to ``path`` if given; returns the matplotlib figure."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ds, metrics = self._ds, self._metrics()
        limits = {str(n): None for n in ds.constraint.values}
        from moo_snn.config.problem import parse_problem

        for c in parse_problem(ds.attrs["problem"]).constraints:
            limits[c.name] = c.limit
        pairs = [(i, j) for i in range(len(metrics)) for j in range(i + 1, len(metrics))] or [(0, 0)]
        fig, axes = plt.subplots(1, len(pairs), figsize=(4.6 * len(pairs), 4.2), dpi=110, squeeze=False)
        trained, front = ds.trained.values, ds.on_front.values
        for ax, (i, j) in zip(axes[0], pairs):
            mi, mj = metrics[i], metrics[j]
            pv, mv = ds.predicted_objective.values, ds.measured_objective.values
            ax.scatter(pv[~trained, j], pv[~trained, i], s=6, c="0.75", label="predicted (not trained)")
            ax.scatter(mv[trained, j], mv[trained, i], s=16, c="tab:blue", label="trained (measured)")
            ax.scatter(mv[front, j], mv[front, i], s=40, facecolors="none", edgecolors="tab:red", linewidths=1.5,
                       label="measured front")
            for m, axline in ((mi, ax.axhline), (mj, ax.axvline)):
                if limits.get(m.name) is not None:
                    axline(limits[m.name], color="tab:red", ls="--", lw=0.8)
            ax.set_xlabel(f"{mj.name} [{mj.units}]")
            ax.set_ylabel(f"{mi.name} [{mi.units}]")
            if mj.direction == "minimize" and mj.name != "accuracy":
                ax.set_xscale("log")
        axes[0][0].legend(fontsize=7, loc="lower right")
        fig.suptitle(f"{ds.attrs.get('problem_name', '')}: measured front, hypervolume {self.hypervolume():.3f}", fontsize=10)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
            plt.close(fig)
        return fig
