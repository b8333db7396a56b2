"""The state of a search run, and its results file: an xarray Dataset (DESIGN §7).

Dims ``candidate``, ``gene``, ``objective``, ``constraint``, ``round``, ``layer``. Per candidate:
``genome``, ``arch``, predicted and measured objectives (natural units, NaN where not measured),
the predictor's spread, constraint values (measured where trained, else predicted), ``feasible``,
``trained``, ``on_front``, ``pareto_rank``, ``round_found``, ``round_trained``, ``train_seconds``,
``spike_rate``, ``val_accuracy``, ``test_accuracy``, ``status`` (``predicted``, ``trained``,
``diverged``, ``failed``), ``source`` (``search``, ``bootstrap``, ``archive``: measured before this
run with the same recipe), ``in_population`` (the last NSGA-II population, for a resume). Per
round: the hypervolume of the measured front, the predictor's Kendall τ on that round's survivors,
wall time, candidates scored and trained. Attributes: the problem file's text, the seed, versions,
start and end time, status (``running``, ``interrupted``, ``complete``), the command line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import xarray as xr

from moo_snn.objectives import BUILTIN, known_objective
from moo_snn.space import SLOT_NAMES

FORMAT = "moo-snn-results-1"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Candidate:
    arch: str
    genome: np.ndarray
    round_found: int
    predicted_accuracy: float = np.nan
    predicted_std: float = np.nan
    predicted_values: np.ndarray | None = None
    predicted_G: np.ndarray | None = None
    status: str = "predicted"
    source: str = "search"
    val_accuracy: float = np.nan
    test_accuracy: float = np.nan
    measured_values: np.ndarray | None = None
    measured_G: np.ndarray | None = None
    train_seconds: float = np.nan
    spike_rate: np.ndarray | None = None
    round_trained: int = -1
    accuracy_predicted_when_selected: float = np.nan
    training_free_score: float = np.nan

    @property
    def trained(self) -> bool:
        return self.status == "trained"


@dataclass
class RoundRecord:
    hypervolume: float
    predictor_tau: float
    wall_seconds: float
    n_scored: int
    n_trained: int


@dataclass
class RunState:
    """Everything a run knows; :meth:`to_dataset` and :meth:`from_dataset` are exact inverses."""

    problem_text: str
    objective_names: list[str]
    constraint_names: list[str]
    gene_names: list[str]
    seed: int
    command: str = ""
    started: str = field(default_factory=now)
    ended: str = ""
    status: str = "running"
    candidates: dict[str, Candidate] = field(default_factory=dict)
    rounds: list[RoundRecord] = field(default_factory=list)
    population: list[str] = field(default_factory=list)
    reference_point: list[float] = field(default_factory=list)
    objective_units: list[str] = field(default_factory=list)
    """Units and directions of the objectives (empty: looked up among the known objectives)."""
    objective_directions: list[str] = field(default_factory=list)
    on_front: set[str] = field(default_factory=set)
    pareto_rank: dict[str, int] = field(default_factory=dict)
    least_violating: list[str] = field(default_factory=list)
    attrs: dict = field(default_factory=dict)

    def trained_archs(self, before_round: int | None = None) -> set[str]:
        """Architectures with a training result (any status), only those of rounds before ``before_round`` if given."""
        return {a for a, c in self.candidates.items()
                if c.status != "predicted" and (before_round is None or c.round_trained < before_round)}

    # --- Dataset conversion ---------------------------------------------------------------------
    def to_dataset(self) -> xr.Dataset:
        cands = list(self.candidates.values())
        n, n_obj, n_con, n_layer = len(cands), len(self.objective_names), len(self.constraint_names), len(SLOT_NAMES)

        def stack(attr, width):
            rows = [getattr(c, attr) for c in cands]
            out = np.full((n, width), np.nan)
            for k, row in enumerate(rows):
                if row is not None:
                    out[k] = row
            return out

        def column(attr, dtype=float):
            return np.array([getattr(c, attr) for c in cands], dtype=dtype)

        measured_G = stack("measured_G", n_con)
        predicted_G = stack("predicted_G", n_con)
        trained = column("status", object) == "trained"
        constraint = np.where(trained[:, None], measured_G, predicted_G)
        feasible = np.all(constraint <= 0, axis=1) if n_con else np.ones(n, bool)
        known = [BUILTIN.get(m) or known_objective(m) for m in self.objective_names]
        metric_units = self.objective_units or [m.units if m else "" for m in known]
        metric_dirs = self.objective_directions or [m.direction if m else "" for m in known]
        cand = ("candidate",)
        ds = xr.Dataset(
            {
                "genome": (("candidate", "gene"), np.array([c.genome for c in cands], dtype=np.int64).reshape(n, len(self.gene_names))),
                "arch": (cand, column("arch", object)),
                "status": (cand, column("status", object)),
                "source": (cand, column("source", object)),
                "predicted_objective": (("candidate", "objective"), stack("predicted_values", n_obj)),
                "predicted_accuracy": (cand, column("predicted_accuracy")),
                "predicted_accuracy_std": (cand, column("predicted_std")),
                "measured_objective": (("candidate", "objective"), stack("measured_values", n_obj)),
                "predicted_constraint": (("candidate", "constraint"), predicted_G),
                "constraint_value": (("candidate", "constraint"), constraint),
                "feasible": (cand, feasible),
                "trained": (cand, trained),
                "on_front": (cand, np.array([c.arch in self.on_front for c in cands], dtype=bool)),
                "pareto_rank": (cand, np.array([self.pareto_rank.get(c.arch, -1) for c in cands], dtype=np.int64)),
                "least_violating": (cand, np.array([c.arch in self.least_violating for c in cands], dtype=bool)),
                "in_population": (cand, np.array([c.arch in self.population for c in cands], dtype=bool)),
                "round_found": (cand, column("round_found", np.int64)),
                "round_trained": (cand, column("round_trained", np.int64)),
                "accuracy_predicted_when_selected": (cand, column("accuracy_predicted_when_selected")),
                "training_free_score": (cand, column("training_free_score")),
                "val_accuracy": (cand, column("val_accuracy")),
                "test_accuracy": (cand, column("test_accuracy")),
                "train_seconds": (cand, column("train_seconds")),
                "spike_rate": (("candidate", "layer"), stack("spike_rate", n_layer)),
                "objective_units": (("objective",), np.array(metric_units, dtype=object)),
                "objective_direction": (("objective",), np.array(metric_dirs, dtype=object)),
                "hypervolume": (("round",), np.array([r.hypervolume for r in self.rounds], dtype=float)),
                "predictor_tau": (("round",), np.array([r.predictor_tau for r in self.rounds], dtype=float)),
                "round_wall_seconds": (("round",), np.array([r.wall_seconds for r in self.rounds], dtype=float)),
                "round_scored": (("round",), np.array([r.n_scored for r in self.rounds], dtype=np.int64)),
                "round_trained_count": (("round",), np.array([r.n_trained for r in self.rounds], dtype=np.int64)),
            },
            coords={
                "candidate": np.arange(n, dtype=np.int64),
                "gene": list(self.gene_names),
                "objective": list(self.objective_names),
                "constraint": list(self.constraint_names),
                "round": np.arange(1, len(self.rounds) + 1, dtype=np.int64),
                "layer": list(SLOT_NAMES),
            },
            attrs={
                "format": FORMAT, "problem": self.problem_text, "seed": self.seed, "command": self.command,
                "started": self.started, "ended": self.ended, "status": self.status,
                "reference_point": json.dumps(self.reference_point), **self.attrs,
            },
        )
        for name, units in (("val_accuracy", "1"), ("test_accuracy", "1"), ("train_seconds", "s"), ("spike_rate", "1"),
                            ("round_wall_seconds", "s"), ("hypervolume", "1")):
            ds[name].attrs["units"] = units
        ds["objective"].attrs.update(units=", ".join(metric_units), direction=", ".join(metric_dirs))
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> RunState:
        known = {"format", "problem", "seed", "command", "started", "ended", "status", "reference_point"}
        state = cls(
            problem_text=ds.attrs["problem"], objective_names=[str(v) for v in ds.objective.values],
            constraint_names=[str(v) for v in ds.constraint.values], gene_names=[str(v) for v in ds.gene.values],
            seed=int(ds.attrs["seed"]), command=str(ds.attrs.get("command", "")), started=str(ds.attrs.get("started", "")),
            ended=str(ds.attrs.get("ended", "")), status=str(ds.attrs.get("status", "")),
            reference_point=json.loads(ds.attrs.get("reference_point", "[]")),
            objective_units=[str(v) for v in ds.objective_units.values],
            objective_directions=[str(v) for v in ds.objective_direction.values],
            attrs={k: v for k, v in ds.attrs.items() if k not in known},
        )

        def row(var, k):
            values = ds[var].values[k]
            return None if np.all(np.isnan(values)) else values.astype(float)

        for k in range(ds.sizes["candidate"]):
            c = Candidate(
                arch=str(ds.arch.values[k]), genome=ds.genome.values[k].astype(np.int64), round_found=int(ds.round_found.values[k]),
                predicted_accuracy=float(ds.predicted_accuracy.values[k]), predicted_std=float(ds.predicted_accuracy_std.values[k]),
                predicted_values=row("predicted_objective", k), predicted_G=row("predicted_constraint", k) if ds.sizes["constraint"] else np.zeros(0),
                status=str(ds.status.values[k]), source=str(ds.source.values[k]),
                val_accuracy=float(ds.val_accuracy.values[k]), test_accuracy=float(ds.test_accuracy.values[k]),
                measured_values=row("measured_objective", k),
                measured_G=(ds.constraint_value.values[k].astype(float) if ds.trained.values[k] else None) if ds.sizes["constraint"] else None,
                train_seconds=float(ds.train_seconds.values[k]), spike_rate=row("spike_rate", k),
                round_trained=int(ds.round_trained.values[k]),
                accuracy_predicted_when_selected=float(ds.accuracy_predicted_when_selected.values[k]),
                training_free_score=float(ds.training_free_score.values[k]),
            )
            if ds.sizes["constraint"] == 0:
                c.measured_G = np.zeros(0) if c.trained else None
            state.candidates[c.arch] = c
            if ds.on_front.values[k]:
                state.on_front.add(c.arch)
            if ds.pareto_rank.values[k] >= 0:
                state.pareto_rank[c.arch] = int(ds.pareto_rank.values[k])
            if ds.least_violating.values[k]:
                state.least_violating.append(c.arch)
            if ds.in_population.values[k]:
                state.population.append(c.arch)
        for r in range(ds.sizes["round"]):
            state.rounds.append(RoundRecord(float(ds.hypervolume.values[r]), float(ds.predictor_tau.values[r]),
                                            float(ds.round_wall_seconds.values[r]), int(ds.round_scored.values[r]),
                                            int(ds.round_trained_count.values[r])))
        return state
