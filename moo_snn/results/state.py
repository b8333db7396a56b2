"""The state of a search run, and its results file: an xarray Dataset (DESIGN §7).

One table of fields drives the file both ways (as xarray's CF coders do with their variable
tables): :data:`CANDIDATE_FIELDS` maps each :class:`Candidate` attribute to a data variable on
``candidate`` (and an optional second dim), :data:`ROUND_FIELDS` each :class:`RoundRecord` attribute
to a variable on ``round``; :meth:`RunState.to_dataset` writes them, :meth:`RunState.from_dataset`
reads them back (exact inverses: a test checks ``from_dataset(to_dataset(s))``). Every variable
carries a CF ``long_name``, and ``units`` where it holds one physical quantity; variables over
``objective``, ``constraint`` or ``cost`` hold a different quantity per column, whose units are in
``objective_units``, ``constraint_units`` and the ``cost`` coordinate's ``units`` attribute.

Besides the table, the file holds what follows from it (written, recomputed, never read back):
``limit_excess`` (the measured value where trained, else the predicted one), ``feasible``,
``trained``; and the run's marks: ``on_front``, ``pareto_rank``, ``least_violating``, and the last
NSGA-II population **in its order** (``population_genome`` on dim ``population``), which the next
round starts from.

``limit_excess`` is pymoo's G: how far past each limit a candidate is, in the limit's units (value −
limit for a maximum, limit − value for a minimum; ≤ 0: the limit is met).

Attributes (:mod:`moo_snn.results.attributes` reads them tolerantly): ``format``, ``problem`` (the
problem file's text), ``seed``, ``command``, ``started``, ``ended``, ``status`` (``running``,
``interrupted``, ``complete``: every round asked for is done, ``budget_spent``: the budget stopped the run
with work left undone, see ``budget_note``, ``failed``: an error stopped it, or it ended with no network
measured, every training failed or diverged), ``failure`` (the one-line reason of a failed run),
``reference_point`` (JSON), ``options`` (JSON: the run's search options, objectives, torch threads
and device, which a resume reuses), ``version_<package>`` (moo-snn, norse, pymoo, scikit-learn,
xarray; torch where it was imported), ``torch_cpu_capability`` and ``cpu_model`` (the CPU kernels and the
CPU of the trainings made in this process, e.g. ``AVX512``; absent when only Dask workers trained),
``workers`` and ``scheduler`` (where its trainings ran: local Dask workers, 0 for this process; the
cluster's address, "" for none; a resume starts the same local workers), and free attributes (``problem_name``, ``strategy`` …; a run with
a ``[fidelity]`` ladder: ``ladder_log``, ``ladder_rungs``, ``budget_*``, :mod:`moo_snn.search.fidelity`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import xarray as xr

from moo_snn.evaluation import COST_METRICS
from moo_snn.objectives import BUILTIN, known_objective
from moo_snn.space import SLOT_NAMES

FORMAT = "moo-snn-results-2"
RUN_STATUSES = ("running", "interrupted", "complete", "budget_spent", "failed")
"""The values of a results file's ``status`` attribute (how the run ended; module docstring)."""
CANDIDATE_STATUSES = ("predicted", "proxy", "trained", "diverged", "failed")
"""The values of the ``status`` variable (one per candidate)."""
SOURCES = ("search", "bootstrap", "promotion", "archive")
"""The values of the ``source`` variable: who asked for its training (``archive``: measured before the run)."""
VERSIONED = ("moo-snn", "torch", "norse", "pymoo", "scikit-learn", "xarray")
_IMPORT_NAMES = {"moo-snn": "moo_snn", "scikit-learn": "sklearn"}


def now() -> str:
    """The current UTC time, ISO 8601 to the second (the results file's ``started``/``ended``)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    """``version_<name>`` attributes of the installed packages a run uses (read from the package metadata:
    nothing is imported, so torch's version is written even when only Dask workers imported it)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in VERSIONED:
        try:
            out[f"version_{_IMPORT_NAMES.get(name, name).replace('-', '_')}"] = version(name)
        except PackageNotFoundError:
            continue
    import sys

    torch = sys.modules.get("torch")  # imported by in-process trainings (not imported here for this alone)
    if torch is not None and hasattr(torch, "backends"):
        # the CPU kernels torch chose (e.g. AVX2, AVX512): trainings are bit-for-bit per CPU type and thread count
        # (docs/reliability.md, "Determinism"), so this says which machines can reproduce the file's trainings
        out["torch_cpu_capability"] = str(torch.backends.cpu.get_cpu_capability())
        out["cpu_model"] = cpu_model()  # the same capability on another vendor's CPU gave other trainings (turn 11)
    return out


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (Linux: ``/proc/cpuinfo``; elsewhere :func:`platform.processor`; "" if unknown).
    Read once per process: every checkpoint writes it."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


@dataclass
class Candidate:
    """One architecture the run scored or trained; see :data:`CANDIDATE_FIELDS` for each attribute.

    Parameters
    ----------
    arch : str
        Canonical architecture string.
    genome : numpy.ndarray of int, shape (n_var,)
        Its genome in the run's search space.
    round_found : int
        The round in which the search first scored it (0: bootstrap).
    predicted_accuracy, predicted_std : float
        The predictor's accuracy and spread when last scored (NaN if never predicted).
    predicted_values : numpy.ndarray, shape (n_objectives,), optional
        Predicted objective values in natural units.

    The remaining attributes (measured accuracies, costs, spike rates, status, ...) are filled as
    the run measures it; each is listed with its units in :data:`CANDIDATE_FIELDS`.
    """

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
    accuracy_nonideal: float = np.nan
    accuracy_nonideal_std: float = np.nan
    measured_values: np.ndarray | None = None
    measured_G: np.ndarray | None = None
    measured_costs: np.ndarray | None = None
    train_seconds: float = np.nan
    torch_threads: int = 0
    spike_rate: np.ndarray | None = None
    round_trained: int = -1
    accuracy_predicted_when_selected: float = np.nan
    training_free_score: float = np.nan
    error: str = ""
    requested_s: float = np.nan
    result_s: float = np.nan
    worker: str = ""
    request_index: int = -1
    result_index: int = -1
    # multi-fidelity (moo_snn.search.fidelity): what its trainings were and cost
    fidelity_epochs: int = 0
    fidelity_fraction: float = np.nan
    proxy_accuracy: float = np.nan
    proxy_level: int = -1
    proxy_seconds: float = np.nan
    cost_fte: float = 0.0
    samples_seen: int = 0
    round_promoted: int = -1

    @property
    def trained(self) -> bool:
        """Whether the candidate was fully trained (status ``trained``)."""
        return self.status == "trained"


@dataclass
class RoundRecord:
    """What one round of the search measured (see :data:`ROUND_FIELDS`)."""

    hypervolume: float
    predictor_tau: float
    wall_seconds: float
    n_scored: int
    n_trained: int
    fte: float = 0.0
    n_promoted: int = 0


@dataclass(frozen=True)
class Field:
    """One data variable: ``name`` in the file ⇄ ``attr`` of the record, its second dim (or None), dtype, units."""

    name: str
    attr: str
    dim: str | None
    dtype: type
    units: str | None
    long_name: str


# dtype object: text. A row variable (dim set) is None in the record where every value is NaN.
CANDIDATE_FIELDS = (
    Field("genome", "genome", "gene", np.int64, None, "genes (indices into the problem's choice lists)"),
    Field("arch", "arch", None, object, None, "canonical architecture string"),
    Field("status", "status", None, object, None, "predicted, proxy (measured at low fidelity only), trained, diverged or failed"),
    Field("source", "source", None, object, None, "search, bootstrap, promotion, or archive (measured before this run)"),
    Field("round_found", "round_found", None, np.int64, None, "round in which the search first scored it (0: bootstrap)"),
    Field("predicted_accuracy", "predicted_accuracy", None, float, "1", "validation accuracy predicted"),
    Field("predicted_accuracy_std", "predicted_std", None, float, "1", "spread of the predictor's ensemble"),
    Field("predicted_objective", "predicted_values", "objective", float, None, "objectives with predicted accuracy (units: objective_units)"),
    Field("predicted_limit_excess", "predicted_G", "constraint", float, None, "G with predicted accuracy and the assumed spike rate (units: constraint_units)"),
    Field("measured_objective", "measured_values", "objective", float, None, "objectives as measured (units: objective_units)"),
    Field("measured_limit_excess", "measured_G", "constraint", float, None, "G as measured (units: constraint_units)"),
    Field("measured_cost", "measured_costs", "cost", float, None, "IMC costs with the measured spike rates (units: the cost coordinate's)"),
    Field("round_trained", "round_trained", None, np.int64, None, "round whose survivors it was trained among (-1: never)"),
    Field("accuracy_predicted_when_selected", "accuracy_predicted_when_selected", None, float, "1", "predicted accuracy when chosen for training"),
    Field("training_free_score", "training_free_score", None, float, "1", "SNASNet's training-free score (strategy hasnas)"),
    Field("val_accuracy", "val_accuracy", None, float, "1", "measured validation accuracy"),
    Field("test_accuracy", "test_accuracy", None, float, "1", "measured test accuracy"),
    Field("accuracy_nonideal", "accuracy_nonideal", None, float, "1", "validation accuracy on non-ideal crossbars, mean over the [nonideal] draws (NaN: not asked for)"),
    Field("accuracy_nonideal_std", "accuracy_nonideal_std", None, float, "1", "standard deviation of that accuracy over the draws"),
    Field("train_seconds", "train_seconds", None, float, "s", "wall time of the training"),
    Field("torch_threads", "torch_threads", None, np.int64, None, "torch intra-op threads its training used (the per-training "
          "policy's choice or --torch-threads; equal counts give equal results for a seed; 0: not trained in this run)"),
    Field("spike_rate", "spike_rate", "layer", float, "1", "measured input spike rate of each crossbar-layer slot"),
    Field("error", "error", None, object, None, "why its training failed (one line; empty otherwise)"),
    # the asynchronous search (moo_snn.search.async_loop) fills these; the run's clock: simulated on a simulated cluster
    Field("requested_s", "requested_s", None, float, "s", "when its training was requested, on the run's clock"),
    Field("result_s", "result_s", None, float, "s", "when its training's result arrived, on the run's clock"),
    Field("worker", "worker", None, object, None, "the worker that ran its training's last attempt"),
    Field("request_index", "request_index", None, np.int64, None, "order of its training's request (-1: never)"),
    Field("result_index", "result_index", None, np.int64, None, "order of its training's result (-1: none)"),
    # multi-fidelity (moo_snn.search.fidelity, DESIGN §6b); a run without [fidelity] trains fully only
    Field("fidelity_epochs", "fidelity_epochs", None, np.int64, None, "epochs of its highest-fidelity training (0: none)"),
    Field("fidelity_fraction", "fidelity_fraction", None, float, "1", "fraction of the training split of that training"),
    Field("proxy_accuracy", "proxy_accuracy", None, float, "1", "validation accuracy of its highest low-fidelity training"),
    Field("proxy_level", "proxy_level", None, np.int64, None, "low-fidelity level of proxy_accuracy (-1: none)"),
    Field("proxy_seconds", "proxy_seconds", None, float, "s", "wall time of its low-fidelity trainings"),
    Field("cost_fte", "cost_fte", None, float, "1", "full-training equivalents spent on it (epochs x fraction / full epochs, summed)"),
    Field("samples_seen", "samples_seen", None, np.int64, "1", "training samples processed by its trainings (epochs x samples)"),
    Field("round_promoted", "round_promoted", None, np.int64, None, "round in which it was promoted to full training (-1: never)"),
)
ROUND_FIELDS = (
    Field("hypervolume", "hypervolume", None, float, "1", "hypervolume of the measured front (fraction of the box)"),
    Field("predictor_tau", "predictor_tau", None, float, "1", "Kendall tau of predicted vs measured accuracy of the round's survivors"),
    Field("round_wall_seconds", "wall_seconds", None, float, "s", "wall time of the round"),
    Field("n_scored_in_round", "n_scored", None, np.int64, "1", "distinct architectures NSGA-II scored in the round"),
    Field("n_trained_in_round", "n_trained", None, np.int64, "1", "survivors chosen for training in the round"),
    Field("round_fte", "fte", None, float, "1", "full-training equivalents spent in the round (round 0, the bootstrap "
          "and its promotions: attribute bootstrap_fte; with it they add up to spent_fte)"),
    Field("n_promoted_in_round", "n_promoted", None, np.int64, "1", "candidates promoted to full training in the round"),
)
STATE_ATTRS = ("format", "problem", "seed", "command", "started", "ended", "status", "failure", "reference_point", "options")


def _units_of(names) -> list[str]:
    known = [BUILTIN.get(m) or known_objective(m) for m in names]
    return [m.units if m else "" for m in known]


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
    failure: str = ""
    """The one-line reason of a run that ended with status ``failed``."""
    options: dict = field(default_factory=dict)
    """The run's options (``[search]`` values in force, objectives, torch threads, device)."""
    candidates: dict[str, Candidate] = field(default_factory=dict)
    rounds: list[RoundRecord] = field(default_factory=list)
    population: list[np.ndarray] = field(default_factory=list)
    """The last NSGA-II population (genomes), in NSGA-II's order: the next round starts from it."""
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
    def _width(self, dim: str | None) -> int | None:
        return {None: None, "gene": len(self.gene_names), "objective": len(self.objective_names),
                "constraint": len(self.constraint_names), "cost": len(COST_METRICS), "layer": len(SLOT_NAMES)}[dim]

    def to_dataset(self) -> xr.Dataset:
        """The results Dataset (see the module docstring).

        Returns
        -------
        xarray.Dataset
            Dims ``candidate``, ``gene``, ``objective``, ``constraint``, ``round`` (and ``layer`` for
            spike rates); every physical variable carries ``units``; attrs hold the problem's TOML
            text, seed, versions and status. :meth:`from_dataset` reads it back.
        """
        cands = list(self.candidates.values())
        n = len(cands)
        variables = {}
        for f in CANDIDATE_FIELDS:
            width = self._width(f.dim)
            if width is None:
                values = np.array([getattr(c, f.attr) for c in cands], dtype=f.dtype)
                variables[f.name] = (("candidate",), values, _var_attrs(f))
            else:
                values = np.full((n, width), np.nan) if f.dtype is float else np.zeros((n, width), dtype=f.dtype)
                for k, c in enumerate(cands):
                    row = getattr(c, f.attr)
                    if row is not None:
                        values[k] = row
                variables[f.name] = (("candidate", f.dim), values.astype(f.dtype), _var_attrs(f))
        for f in ROUND_FIELDS:
            variables[f.name] = (("round",), np.array([getattr(r, f.attr) for r in self.rounds], dtype=f.dtype), _var_attrs(f))
        trained = variables["status"][1] == "trained"
        excess = np.where(trained[:, None], variables["measured_limit_excess"][1], variables["predicted_limit_excess"][1])
        units = self.objective_units or _units_of(self.objective_names)
        known = [BUILTIN.get(m) or known_objective(m) for m in self.objective_names]
        directions = self.objective_directions or [m.direction if m else "" for m in known]
        arch_index = {c.arch: k for k, c in enumerate(cands)}
        rank = np.full(n, -1, dtype=np.int64)
        for arch, r in self.pareto_rank.items():
            rank[arch_index[arch]] = r
        variables.update({
            "limit_excess": (("candidate", "constraint"), excess,
                             {"long_name": "G: measured where trained, else predicted (≤ 0: met; units: constraint_units)"}),
            "feasible": (("candidate",), np.all(excess <= 0, axis=1) if excess.shape[1] else np.ones(n, bool),
                         {"long_name": "every limit met (measured where trained)"}),
            "trained": (("candidate",), trained, {"long_name": "status is trained"}),
            "on_front": (("candidate",), np.array([c.arch in self.on_front for c in cands], dtype=bool),
                         {"long_name": "on the measured, feasible, non-dominated front"}),
            "pareto_rank": (("candidate",), rank, {"long_name": "non-dominated rank among the feasible trained (-1: none)"}),
            "least_violating": (("candidate",), np.array([c.arch in self.least_violating for c in cands], dtype=bool),
                                {"long_name": "among the least violating trained, when none is feasible"}),
            "population_genome": (("population", "gene"), np.array(self.population, dtype=np.int64).reshape(len(self.population), len(self.gene_names)),
                                  {"long_name": "the last NSGA-II population in its order (the next round starts from it)"}),
            "objective_units": (("objective",), np.array(units, dtype=object)),
            "objective_direction": (("objective",), np.array(directions, dtype=object)),
            "constraint_units": (("constraint",), np.array(_units_of(self.constraint_names), dtype=object)),
        })
        ds = xr.Dataset(
            variables,
            coords={
                "candidate": np.arange(n, dtype=np.int64),
                "gene": list(self.gene_names),
                "objective": list(self.objective_names),
                "constraint": list(self.constraint_names),
                "cost": list(COST_METRICS),
                "round": np.arange(1, len(self.rounds) + 1, dtype=np.int64),
                "layer": list(SLOT_NAMES),
            },
            attrs={**self.attrs, **package_versions(),
                   "format": FORMAT, "problem": self.problem_text, "seed": self.seed, "command": self.command,
                   "started": self.started, "ended": self.ended, "status": self.status, "failure": self.failure,
                   "reference_point": json.dumps(self.reference_point), "options": json.dumps(self.options, sort_keys=True)},
        )
        ds["objective"].attrs.update(units=", ".join(units), direction=", ".join(directions))
        ds["cost"].attrs["units"] = ", ".join(_units_of(COST_METRICS))
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> RunState:
        """The state a results Dataset holds (attributes as :func:`moo_snn.results.attributes.run_attributes` reads them)."""
        from moo_snn.results.attributes import run_attributes

        attrs = run_attributes(ds)
        state = cls(
            problem_text=attrs["problem"], objective_names=[str(v) for v in ds.objective.values],
            constraint_names=[str(v) for v in ds.constraint.values], gene_names=[str(v) for v in ds.gene.values],
            seed=attrs["seed"], command=attrs["command"], started=attrs["started"], ended=attrs["ended"],
            status=attrs["status"], failure=attrs["failure"], options=attrs["options"],
            reference_point=attrs["reference_point"],
            objective_units=[str(v) for v in ds.objective_units.values],
            objective_directions=[str(v) for v in ds.objective_direction.values],
            attrs={k: v for k, v in ds.attrs.items() if k not in STATE_ATTRS and not k.startswith("version_")},
        )
        columns = {f.name: ds[f.name].values for f in CANDIDATE_FIELDS}
        for k in range(ds.sizes["candidate"]):
            values = {}
            for f in CANDIDATE_FIELDS:
                v = columns[f.name][k]
                if f.dim is None:
                    values[f.attr] = str(v) if f.dtype is object else f.dtype(v)
                elif f.dtype is float:
                    values[f.attr] = None if v.size and np.all(np.isnan(v)) else v.astype(float)
                else:
                    values[f.attr] = v.astype(f.dtype)
            c = Candidate(**values)
            state.candidates[c.arch] = c
            if ds.on_front.values[k]:
                state.on_front.add(c.arch)
            if ds.pareto_rank.values[k] >= 0:
                state.pareto_rank[c.arch] = int(ds.pareto_rank.values[k])
            if ds.least_violating.values[k]:
                state.least_violating.append(c.arch)
        state.population = [x.astype(np.int64) for x in ds.population_genome.values]
        for r in range(ds.sizes["round"]):
            state.rounds.append(RoundRecord(**{f.attr: f.dtype(ds[f.name].values[r]) for f in ROUND_FIELDS}))
        return state


def _var_attrs(f: Field) -> dict:
    return {"long_name": f.long_name, **({"units": f.units} if f.units else {})}


DERIVED_FIELDS = (
    ("limit_excess", ("candidate", "constraint"), float),
    ("feasible", ("candidate",), bool),
    ("trained", ("candidate",), bool),
    ("on_front", ("candidate",), bool),
    ("pareto_rank", ("candidate",), np.int64),
    ("least_violating", ("candidate",), bool),
    ("population_genome", ("population", "gene"), np.int64),
    ("objective_units", ("objective",), object),
    ("objective_direction", ("objective",), object),
    ("constraint_units", ("constraint",), object),
)
"""``(name, dims, dtype)`` of the variables :meth:`RunState.to_dataset` computes from the fields (read by
:meth:`RunState.from_dataset` and the ``ds.moo`` accessor)."""

_KINDS = {float: ("fiu", "numbers"), np.int64: ("iu", "integers"), bool: ("b", "true/false values"), object: ("OU", "text")}
MEASURED_WHEN_TRAINED = ("val_accuracy", "test_accuracy")
"""Variables every trained candidate holds a finite value of (a training that measured nothing is ``failed``)."""
MEASURED_ROWS = ("measured_objective", "measured_limit_excess", "measured_cost")
"""Rows of a trained candidate that are finite throughout, or NaN throughout (not computed yet: a resume computes them)."""
_ACCURACY = (0.0, 1.0, "an accuracy is a fraction correct, in [0, 1]")
_COUNT = (0, np.inf, "a count is never negative")
_SECONDS = (0.0, np.inf, "a time in seconds is never negative")
_INDEX = (-1, np.inf, "it is an index or a round, -1 where there is none")
VALUE_RANGES = {
    "round_found": (0, np.inf, "it is a round, 0 for the bootstrap"),
    "val_accuracy": _ACCURACY, "test_accuracy": _ACCURACY, "accuracy_nonideal": _ACCURACY, "proxy_accuracy": _ACCURACY,
    "predicted_accuracy_std": (0.0, np.inf, "a spread is never negative"),
    "accuracy_nonideal_std": (0.0, np.inf, "a standard deviation is never negative"),
    "measured_cost": (0.0, np.inf, "parameters, memory, area, latency and energy are never negative"),
    "train_seconds": _SECONDS, "proxy_seconds": _SECONDS, "requested_s": _SECONDS, "result_s": _SECONDS,
    "torch_threads": _COUNT, "fidelity_epochs": _COUNT, "samples_seen": _COUNT,
    "spike_rate": (0.0, np.inf, "a spike rate is never negative"),
    "fidelity_fraction": (0.0, 1.0, "it is a fraction of the training split, in (0, 1]"),
    "cost_fte": (0.0, np.inf, "full-training equivalents are never negative"),
    "round_trained": _INDEX, "request_index": _INDEX, "result_index": _INDEX, "proxy_level": _INDEX, "round_promoted": _INDEX,
    "hypervolume": (0.0, 1.0, "it is a fraction of the box, in [0, 1]"),
    "predictor_tau": (-1.0, 1.0, "a Kendall tau lies in [-1, 1]"),
    "round_wall_seconds": _SECONDS, "n_scored_in_round": _COUNT, "n_trained_in_round": _COUNT, "n_promoted_in_round": _COUNT,
    "round_fte": (0.0, np.inf, "full-training equivalents are never negative"),
}
"""``name: (low, high, why)``: the values a run can write into a variable (NaN aside: not measured); anything
outside is refused by :func:`check_variables`, naming the candidate (or round)."""


def _schema() -> list[tuple[str, tuple, type]]:
    rows = [(f.name, ("candidate",) + ((f.dim,) if f.dim else ()), f.dtype) for f in CANDIDATE_FIELDS]
    return rows + [(f.name, ("round",), f.dtype) for f in ROUND_FIELDS] + list(DERIVED_FIELDS)


def _found(var) -> str:
    """What a variable of the wrong type holds, in words (``text``, ``numbers with fractions`` ...)."""
    kind = var.dtype.kind
    return {"f": "floating-point numbers", "b": "true/false values", "O": "text", "U": "text", "S": "text",
            "i": "integers", "u": "integers"}.get(kind, f"values of type {var.dtype}")


def check_variables(ds: xr.Dataset, where: str = "results file") -> xr.Dataset:
    """Check every variable a run writes (:data:`CANDIDATE_FIELDS`, :data:`ROUND_FIELDS`, :data:`DERIVED_FIELDS`)
    as :mod:`moo_snn.schema` checks a problem file's keys: its dims, its type, its values.

    Integers are accepted where numbers are expected, 0/1 integers where true/false values are (a tool that
    dropped xarray's ``dtype`` mark), byte strings where text is (converted); anything else is refused:
    text or floats where integers belong, numbers where text belongs. Values: a candidate's ``status``
    and ``source`` are among :data:`CANDIDATE_STATUSES` and :data:`SOURCES`; its ``arch`` is an
    architecture string; a trained candidate holds finite :data:`MEASURED_WHEN_TRAINED` and rows of
    :data:`MEASURED_ROWS` finite throughout (or NaN throughout: not computed yet); a ``proxy`` one a finite
    ``proxy_accuracy``. No two candidates hold the same ``arch``, and every value lies in its variable's range
    (:data:`VALUE_RANGES`: accuracies in [0, 1], costs, counts and seconds never negative).

    Parameters
    ----------
    ds : xarray.Dataset
        A results file's contents, every variable present (:func:`moo_snn.results.attributes.normalise`).
    where : str
        The file, for the messages.

    Returns
    -------
    xarray.Dataset
        ``ds``, with the accepted conversions made.

    Raises
    ------
    ResultsError
        One line naming the file, the variable and (for a value) the candidate and its architecture.
    """
    from moo_snn.architecture import Architecture
    from moo_snn.errors import ArchitectureError, ResultsError

    for name, dims, dtype in _schema():
        var = ds[name]
        if var.dims != dims:
            raise ResultsError(f"{where}: variable {name!r} has dims ({', '.join(var.dims)}); a results file written by "
                               f"moo-snn has ({', '.join(dims)})")
        kinds, expected = _KINDS[dtype]
        values = var.values
        if values.size == 0:
            continue
        if dtype is object and values.dtype.kind in "OS":
            items = [v.decode("utf-8", errors="replace") if isinstance(v, (bytes, np.bytes_)) else v for v in values.reshape(-1)]
            if not all(isinstance(v, str) for v in items):
                bad = next(v for v in items if not isinstance(v, str))
                raise ResultsError(f"{where}: variable {name!r} holds {bad!r}; a results file written by moo-snn holds {expected} there")
            ds[name] = (var.dims, np.array(items, dtype=object).reshape(values.shape), var.attrs)
            continue
        if dtype is bool and values.dtype.kind in "iu" and np.isin(values, (0, 1)).all():
            ds[name] = (var.dims, values.astype(bool), var.attrs)
            continue
        if values.dtype.kind not in kinds:
            raise ResultsError(f"{where}: variable {name!r} holds {_found(var)} ({values.dtype}); a results file written by "
                               f"moo-snn holds {expected} there")
    ids, archs, status = ds.candidate.values, ds.arch.values, ds.status.values
    for name, allowed in (("status", CANDIDATE_STATUSES), ("source", SOURCES)):
        bad = np.flatnonzero(~np.isin(ds[name].values.astype(str), allowed))
        if len(bad):
            k = bad[0]
            raise ResultsError(f"{where}: variable {name!r} of candidate {ids[k]} ({archs[k]}) holds {ds[name].values[k]!r}; "
                               f"expected one of {', '.join(allowed)}")
    for k, text in enumerate(archs):
        try:
            Architecture.parse(text)
        except ArchitectureError as exc:
            raise ResultsError(f"{where}: variable 'arch' of candidate {ids[k]} is not an architecture string: {exc}") from None

    first = {}
    for k, text in enumerate(archs):  # a run records each architecture once (its key in RunState.candidates)
        if text in first:
            raise ResultsError(f"{where}: variable 'arch' of candidates {ids[first[text]]} and {ids[k]} holds the same "
                               f"architecture ({text}); a run records each architecture once (the file was edited by hand "
                               f"or by another tool); restore it, or start a new run")
        first[text] = k
    for name, (low, high, why) in VALUE_RANGES.items():
        values = ds[name].values.astype(float)
        outside = ~np.isnan(values) & ((values < low) | (values > high) | ((values == 0) & (name == "fidelity_fraction")))
        if outside.any():
            k = np.argwhere(outside)[0]
            row = f"candidate {ids[k[0]]} ({archs[k[0]]})" if ds[name].dims[0] == "candidate" else f"round {ds['round'].values[k[0]]}"
            column = f" (its {ds[name].dims[1]} {ds[ds[name].dims[1]].values[k[1]]})" if len(k) > 1 and ds[name].dims[1] in ds.coords else ""
            shown = int(values[tuple(k)]) if ds[name].dtype.kind in "iu" else float(values[tuple(k)])
            raise ResultsError(f"{where}: variable {name!r} of {row}{column} holds {shown!r}, which no run writes: "
                               f"{why} (the file was edited by hand or by another tool); restore it, or start a new run")

    def refuse(name, k, what):
        raise ResultsError(f"{where}: variable {name!r} of candidate {ids[k]} ({archs[k]}) is {what}, but the candidate is "
                           f"marked {status[k]}, which has a measured value there (the file was edited by hand or by "
                           f"another tool); restore it, or start a new run")

    trained, proxy = status == "trained", status == "proxy"
    for name in MEASURED_WHEN_TRAINED:
        bad = np.flatnonzero(trained & ~np.isfinite(ds[name].values.astype(float)))
        if len(bad):
            refuse(name, bad[0], f"not a finite number ({ds[name].values[bad[0]]})")
    for name in MEASURED_ROWS:
        finite = np.isfinite(ds[name].values.astype(float))
        bad = np.flatnonzero(trained & finite.any(axis=1) & ~finite.all(axis=1))
        if len(bad):
            refuse(name, bad[0], "partly NaN (a row is finite throughout, or NaN throughout until it is computed)")
    bad = np.flatnonzero(proxy & ~np.isfinite(ds.proxy_accuracy.values.astype(float)))
    if len(bad):
        refuse("proxy_accuracy", bad[0], f"not a finite number ({ds.proxy_accuracy.values[bad[0]]})")
    return ds
