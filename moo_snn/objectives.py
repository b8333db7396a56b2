"""Objectives and constraints of a search, in pymoo's convention (minimise F, G ≤ 0 is met).

A metric is a named quantity per candidate with units and a direction. The built-ins are
``accuracy`` (maximise; enters F as the error 1 − accuracy) and the IMC costs ``params``,
``memory_kB``, ``area_mm2``, ``latency_ms``, ``energy_uJ`` (minimise). The same metrics serve as
objectives (``[objectives] names``) and as limits (``[constraints]``).

Custom objectives
-----------------
An :class:`Objective` is a name, units, a direction and **one call over a batch of candidates**:
``fn(batch) -> array of shape (n,)`` in natural units, where ``batch`` is a :class:`Batch` (the
architectures, their accuracy, the IMC cost report, the input spike rate of every crossbar layer,
the problem). The search calls it once per population with predicted accuracy and the problem's
assumed spike rate, and once per trained candidate with measured accuracy and measured spike
rates. Write one with the :func:`objective` decorator::

    from moo_snn.objectives import objective

    @objective(units="uJ*ms", direction="minimize")
    def edp(batch):
        "Energy-delay product."
        return batch.costs.energy_uJ * batch.costs.latency_ms

and make it known in one of three ways:

* an entry point of the group ``moo_snn.objectives`` in the package that holds it
  (``[project.entry-points."moo_snn.objectives"] edp = "my_package:edp"``): installed plug-ins are
  trusted and found by name (``names = ["accuracy", "edp"]``). moo-snn registers its built-ins the
  same way (see its ``pyproject.toml``). A plug-in that fails to load is skipped with a
  :class:`PluginWarning` that names it; the run goes on with the others.
* ``--objective my_module:edp`` on the command line (the user's own code: trusted).
* ``"my_module:edp"`` in a problem file's ``[objectives] names`` or ``[constraints]``: problem files
  are shared, so such code runs only when the user allows it (``moo-snn optimize --allow-code``;
  in Python ``resolve_metrics(names, allow_code=True)``). Once allowed, the name stays allowed in
  this process.

A ``module:function`` objective is called by that string (it is the objective's name in the results).
A plain function may stand in for an :class:`Objective`; its ``units`` and ``direction``
attributes are read where it has them (default ``"1"``, ``"minimize"``).

An objective must return a finite number for every candidate whose accuracy is known: a NaN or
±inf (the mean of an empty selection, say) is a :class:`~moo_snn.errors.ProblemError` naming the
objective and an architecture, raised where the run evaluates it (every NSGA-II population, every
measured candidate, the reference point), never a NaN ranked by NSGA-II. Built-ins and plug-ins
alike, objectives and limits alike.
:func:`moo_snn.testing.check_objective` checks a plug-in against this contract.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from moo_snn.config.problem import METRICS
from moo_snn.errors import ProblemError, did_you_mean
from moo_snn.evaluation import COST_METRICS
from moo_snn.plugins import objective_entry_points

DIRECTIONS = ("minimize", "maximize")
ACCURACIES = ("accuracy", "accuracy_nonideal")
"""Fractions that pymoo minimises as 1 - value (an error)."""


class PluginWarning(UserWarning):
    """An objective plug-in could not be loaded (it is skipped; the run goes on)."""


@dataclass(frozen=True)
class Metric:
    """A named quantity per candidate: ``units`` and ``direction`` (``minimize`` or ``maximize``)."""

    name: str
    units: str
    direction: str  # "minimize" or "maximize"

    def to_minimize(self, value):
        """The value as pymoo minimises it: 1 − accuracy, −value for another maximised metric."""
        value = np.asarray(value, dtype=float)
        if self.direction == "minimize":
            return value
        return 1.0 - value if self.name in ACCURACIES else -value

    def from_minimized(self, f):
        """The natural value of pymoo's minimised ``f`` (the inverse of :meth:`to_minimize`)."""
        f = np.asarray(f, dtype=float)
        if self.direction == "minimize":
            return f
        return 1.0 - f if self.name in ACCURACIES else -f


class Batch:
    """What an objective sees: ``n`` candidates evaluated together.

    Attributes
    ----------
    archs : list of :class:`~moo_snn.architecture.Architecture`, length n.
    accuracy : ndarray, shape (n,): validation accuracy, predicted (``measured`` False) or measured.
    costs : :class:`~moo_snn.cost.CostReport` of the n candidates (``costs.energy_uJ`` …), priced
        with ``spike_rate``.
    spike_rate : ndarray, shape (n, n_slots): input spike rate of every crossbar-layer slot
        (:data:`moo_snn.space.SLOT_NAMES`): measured on the validation split for a trained candidate,
        the problem's assumed ``[hardware] spike_rate`` otherwise; the stem reads the image (1); 0
        in slots without a layer. Needs ``problem``.
    layers : :class:`~moo_snn.layers.LayerTable` of the n candidates (``c_in``, ``d_in`` … per slot).
        Needs ``problem``.
    problem : the :class:`~moo_snn.config.problem.ProblemSpec`, or None.
    measured : bool: True for trained candidates (measured accuracy and spike rates).
    """

    def __init__(self, archs, accuracy, costs, *, problem=None, spike_rate=None, measured: bool | None = None,
                 accuracy_nonideal=None):
        self._archs = None if archs is None else list(archs)
        self.accuracy = np.asarray(accuracy, dtype=float).reshape(-1)
        self.accuracy_nonideal = None if accuracy_nonideal is None else np.asarray(accuracy_nonideal, dtype=float).reshape(-1)
        self.costs = costs
        self.problem = problem
        self._spike_rate = None if spike_rate is None else np.nan_to_num(np.atleast_2d(np.asarray(spike_rate, dtype=float)))
        self.measured = (spike_rate is not None) if measured is None else bool(measured)
        self._layers = None

    def __len__(self) -> int:
        return len(self.accuracy)

    @property
    def archs(self) -> list:
        """The batch's architectures as :class:`~moo_snn.architecture.Architecture` objects (parsed once)."""
        from moo_snn.architecture import Architecture

        if self._archs is None:
            raise ProblemError("this objective needs the architectures, but the caller evaluated metrics without them "
                               "(pass archs to metric_values)")
        if not all(isinstance(a, Architecture) for a in self._archs):
            self._archs = [a if isinstance(a, Architecture) else Architecture.parse(str(a)) for a in self._archs]
        return self._archs

    def _need_problem(self, what: str):
        if self.problem is None:
            raise ProblemError(f"this objective needs batch.{what}, which needs the problem (pass problem to metric_values)")
        return self.problem

    @property
    def layers(self):
        """The crossbar layer table of the batch, ``(n, n_slots)`` (needs ``problem``; built once)."""
        if self._layers is None:
            from moo_snn.space import SearchSpace

            problem = self._need_problem("layers")
            space = SearchSpace(problem.space)
            X = np.array([space.encode(a) for a in self.archs], dtype=np.int64).reshape(len(self), space.n_var)
            self._layers = space.layer_table(X, problem.network_input)
        return self._layers

    @property
    def spike_rate(self) -> np.ndarray:
        """Input spike rate of every layer slot, ``(n, n_slots)``: measured where given, else the problem's assumed rate (the stem's is 1)."""
        if self._spike_rate is not None:
            return self._spike_rate
        active = self.layers.active
        rate = np.where(active, float(self._need_problem("spike_rate").hardware.spike_rate), 0.0)
        rate[:, 0] = 1.0  # the stem reads the image
        return rate


@dataclass(frozen=True)
class Objective(Metric):
    """A :class:`Metric` with its computation: ``objective(batch)`` → ndarray ``(n,)`` in ``units``.

    Parameters
    ----------
    name : str
        Its name in problem files, on the command line and in the results file.
    units : str
        Units of the values (``"1"``: none).
    direction : {"minimize", "maximize"}
        Which way is better (pymoo minimises: a maximised value enters negated or as 1 − value).
    fn : callable
        ``fn(batch: Batch) -> array_like (n,)``.
    description : str
        One line about it.

    Raises
    ------
    ProblemError
        An unknown direction or a ``fn`` that is not callable.
    """

    fn: Callable = field(default=None, repr=False, compare=False)
    description: str = ""

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ProblemError(f"objective {self.name!r}: direction must be one of {', '.join(DIRECTIONS)}, found {self.direction!r}")
        if not callable(self.fn):
            raise ProblemError(f"objective {self.name!r}: fn must be callable, found {self.fn!r}")

    def __call__(self, batch: Batch) -> np.ndarray:
        try:
            values = np.asarray(self.fn(batch), dtype=float)
        except ProblemError:
            raise
        except Exception as exc:  # a plug-in's bug: one clear line (check_objective shows the traceback)
            raise ProblemError(f"objective {self.name!r} failed on a batch of {len(batch)} candidates: {type(exc).__name__}: "
                               f"{exc} (moo_snn.testing.check_objective shows where)") from exc
        if values.shape != (len(batch),):
            values = values.reshape(-1) if values.size == len(batch) else values
        if values.shape != (len(batch),):
            raise ProblemError(f"objective {self.name!r} returned shape {values.shape} for a batch of {len(batch)} "
                               f"candidates; expected ({len(batch)},)")
        # NSGA-II cannot rank NaN, a hypervolume reference point cannot hold it: refuse non-finite values
        # wherever the accuracy is known (hasnas's unscored candidates carry NaN accuracy on purpose)
        bad = ~np.isfinite(values) & np.isfinite(batch.accuracy)
        if np.any(bad):
            k = int(np.flatnonzero(bad)[0])
            example = str(batch._archs[k]) if batch._archs is not None else f"candidate {k} of the batch"
            kind = "measured" if batch.measured else "predicted"
            raise ProblemError(f"objective {self.name!r} returned {values[k]} for {int(bad.sum())} of {len(batch)} candidates "
                               f"(e.g. {example}, {kind} accuracy {batch.accuracy[k]:.3g}); an objective must return a finite "
                               f"number for every candidate: handle that case in the objective (a neutral or penalty value)")
        return values


def objective(name: str | None = None, *, units: str = "1", direction: str = "minimize", description: str | None = None):
    """Decorator: turn ``fn(batch) -> (n,)`` into an :class:`Objective` (name: the function's).

    Parameters
    ----------
    name : str, optional
        The objective's name (default: the function's name).
    units : str, optional
        Units of the values, as in the results file's ``units`` attributes (``"1"``: none).
    direction : {"minimize", "maximize"}, optional
        Which way is better.
    description : str, optional
        One line (default: the first line of the function's docstring).

    Returns
    -------
    callable
        A decorator returning the :class:`Objective`.
    """

    def wrap(fn):
        doc = (fn.__doc__ or "").strip().splitlines()
        return Objective(name or fn.__name__, units, direction, fn=fn, description=description or (doc[0] if doc else ""))

    return wrap


# --- the built-ins (registered as entry points in pyproject.toml, like any plug-in) ---------------
def _accuracy(batch: Batch) -> np.ndarray:
    return batch.accuracy


def _cost(name: str) -> Objective:
    units, direction = METRICS[name]
    return Objective(name, units, direction, fn=lambda batch: np.asarray(getattr(batch.costs, name), dtype=float),
                     description=f"IMC cost model: {name}")


accuracy = Objective("accuracy", *METRICS["accuracy"], fn=_accuracy, description="validation accuracy (predicted or measured)")


def _accuracy_nonideal(batch: Batch) -> np.ndarray:
    """Measured accuracy on non-ideal crossbars (moo_snn.training.nonideal, the mean over [nonideal] draws) where
    measured; before training, the ideal (predicted) accuracy stands in for it, an upper bound: a limit on it bites on
    trained candidates, and the final front holds trained candidates only."""
    if batch.accuracy_nonideal is None:
        return batch.accuracy
    return np.where(np.isfinite(batch.accuracy_nonideal), batch.accuracy_nonideal, batch.accuracy)


accuracy_nonideal = Objective("accuracy_nonideal", *METRICS["accuracy_nonideal"], fn=_accuracy_nonideal,
                              description="validation accuracy on non-ideal crossbars, mean over chips ([nonideal]; ideal prediction before training)")
params = _cost("params")
memory_kB = _cost("memory_kB")
area_mm2 = _cost("area_mm2")
latency_ms = _cost("latency_ms")
energy_uJ = _cost("energy_uJ")
BUILTIN: dict[str, Objective] = {m.name: m for m in (accuracy, accuracy_nonideal, params, memory_kB, area_mm2, latency_ms, energy_uJ)}
assert set(BUILTIN) == set(METRICS) and set(COST_METRICS) < set(BUILTIN)


# --- resolution -----------------------------------------------------------------------------------
def as_objective(obj, name: str) -> Objective:
    """An :class:`Objective` named ``name`` from a loaded object (an Objective or a plain callable)."""
    if isinstance(obj, Objective):
        return obj if obj.name == name else replace(obj, name=name)
    if callable(obj):
        doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
        return Objective(name, str(getattr(obj, "units", "1")), str(getattr(obj, "direction", "minimize")), fn=obj,
                         description=doc[0] if doc else "")
    raise TypeError(f"expected an Objective or a callable, found {type(obj).__name__}")


class Registry:
    """Objectives known to this process: built-ins, installed plug-ins, allowed ``module:function``."""

    def __init__(self):
        self.plugins: dict[str, Objective] | None = None
        self.failed: dict[str, str] = {}
        self.code: dict[str, Objective] = {}

    def load_plugins(self) -> dict[str, Objective]:
        """Load every entry point of ``moo_snn.objectives`` once; a failure warns and is skipped."""
        if self.plugins is None:
            self.plugins = {}
            for ep in objective_entry_points():
                if ep.name in BUILTIN:
                    continue  # moo-snn's own registrations (another package cannot replace a built-in)
                try:
                    self.plugins[ep.name] = as_objective(ep.load(), ep.name)
                except Exception as exc:  # a broken plug-in must not stop the run
                    self.failed[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"
                    warnings.warn(f"objective plug-in {ep.name!r} ({ep.value}) failed to load, skipped: "
                                  f"{type(exc).__name__}: {exc}", PluginWarning, stacklevel=3)
        return self.plugins

    def valid_names(self) -> list[str]:
        """The built-in objective names, then the installed plug-ins' (sorted)."""
        return list(BUILTIN) + sorted(self.load_plugins())

    def get(self, name: str, *, allow_code: bool = False) -> Objective:
        """The objective ``name``: a built-in, a plug-in, or ``module:function`` (only with ``allow_code``); unknown names are a ProblemError with the valid ones."""
        if name in BUILTIN:
            return BUILTIN[name]
        if name in self.code:
            return self.code[name]
        if ":" in name:
            if not allow_code:
                raise ProblemError(
                    f"objective {name!r} names Python code; code named in a problem file runs only when you allow it "
                    f"(problem files are shared): read it, then add --allow-code (in Python: resolve_metrics(names, "
                    f"allow_code=True)), or install it as a 'moo_snn.objectives' plug-in")
            self.code[name] = self._import(name)
            return self.code[name]
        plugins = self.load_plugins()
        if name in plugins:
            return plugins[name]
        failed = f"; plug-in {name!r} failed to load ({self.failed[name]})" if name in self.failed else ""
        raise ProblemError(f"unknown objective {name!r}{did_you_mean(name, self.valid_names())} "
                           f"(or 'module:function'){failed}")

    @staticmethod
    def _import(name: str) -> Objective:
        module_name, _, attr = name.partition(":")
        try:
            obj = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
            return as_objective(obj, name)
        except Exception as exc:
            raise ProblemError(f"objective {name!r}: cannot load it ({type(exc).__name__}: {exc}); expected "
                               f"'module:function' with the module importable from here") from None


REGISTRY = Registry()


def available_objectives() -> dict[str, Objective]:
    """Every objective usable by name here: the built-ins and the installed plug-ins (loaded)."""
    return {**BUILTIN, **REGISTRY.load_plugins()}


def known_objective(name: str) -> Objective | None:
    """The objective ``name`` if this process already knows it (built-in, loaded plug-in, allowed code); no import."""
    return BUILTIN.get(name) or REGISTRY.code.get(name) or (REGISTRY.plugins or {}).get(name)


def get_objective(name: str) -> Objective:
    """The objective called ``name``: built-in, installed plug-in, or an allowed ``module:function``."""
    return REGISTRY.get(name)


def resolve_metrics(names, *, allow_code: bool = False) -> list[Objective]:
    """The objectives named (see the module docstring); an unknown name lists the valid ones.

    ``allow_code``: import ``module:function`` names (and keep them allowed in this process).
    """
    return [REGISTRY.get(str(name), allow_code=allow_code) for name in names]


def metric_values(names, accuracy, costs, archs=None, *, problem=None, spike_rate=None, accuracy_nonideal=None) -> np.ndarray:
    """Natural values ``(n, len(names))`` of the named metrics (names or :class:`Metric` objects).

    ``archs``: the n architectures (strings or objects); ``problem``, ``spike_rate`` (measured
    rates, shape (n, n_slots)): what custom objectives may read (see :class:`Batch`).
    """
    batch = Batch(archs, accuracy, costs, problem=problem, spike_rate=spike_rate, accuracy_nonideal=accuracy_nonideal)
    columns = []
    for name in names:
        metric = name if isinstance(name, Objective) else get_objective(getattr(name, "name", name))
        columns.append(metric(batch))
    return np.column_stack(columns) if columns else np.zeros((len(batch), 0))


def constraint_matrix(constraints, accuracy, costs, archs=None, **context) -> np.ndarray:
    """pymoo's G ``(n, k)`` for every constraint of the problem (≤ 0: met); ``context`` as :func:`metric_values`."""
    if not constraints:
        return np.zeros((len(np.atleast_1d(accuracy)), 0))
    values = metric_values([c.name for c in constraints], accuracy, costs, archs, **context)
    return np.column_stack([c.violation(values[:, k]) for k, c in enumerate(constraints)])


def with_objectives(spec, requested=(), *, allow_code: bool = False, stored=None):
    """The problem with the command line's objectives applied and every objective and limit resolved.

    ``requested``: ``--objective`` values. ``NAME`` values, in order, replace the problem's
    objectives; ``+NAME`` adds one to them. They come from the user's command line, so a
    ``module:function`` among them is trusted. ``stored``: the objectives of a run being resumed
    (the run goes on with them; ``requested`` may only repeat them). ``allow_code``: also run
    ``module:function`` names that come from the problem file (or the resumed results file).
    """
    from dataclasses import replace as dc_replace

    requested = [str(n).strip() for n in requested]
    trusted = {n.lstrip("+") for n in requested}
    base = list(stored) if stored is not None else list(spec.objectives.names)
    replacing = [n for n in requested if not n.startswith("+")]
    names = replacing or base
    names += [n[1:] for n in requested if n.startswith("+") and n[1:] not in names]
    if not names or any(not n for n in names):
        raise ProblemError(f"--objective: expected objective names, found {requested!r}")
    if len(set(names)) != len(names):
        raise ProblemError(f"objectives {names} hold duplicates")
    if stored is not None and names != list(stored):
        raise ProblemError(f"the run being resumed optimises {', '.join(stored)}; it cannot switch to {', '.join(names)} "
                           f"(start a new run for other objectives)")
    for name in names:
        REGISTRY.get(name, allow_code=allow_code or name in trusted)
    for c in spec.constraints:
        REGISTRY.get(c.name, allow_code=allow_code or c.name in trusted)
    return dc_replace(spec, objectives=dc_replace(spec.objectives, names=tuple(names)))
