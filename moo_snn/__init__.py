"""moo-snn: hardware-aware multi-objective search for spiking neural networks on RRAM CIM accelerators.

The public API, as scikit-learn keeps its own: a few names here; everything else is reached through
its module and may change. Light on import: ``import moo_snn`` imports neither torch nor norse
(:func:`train_architecture` and :class:`SearchRun` are loaded on first use), and registers the
``ds.moo`` accessor on xarray Datasets.

>>> import moo_snn
>>> problem = moo_snn.load_problem("digits")                       # a shipped problem, or a path
>>> space = moo_snn.SearchSpace(problem.space)
>>> costs = moo_snn.population_costs(problem, space, space.encode(problem.reference_arch)[None])
>>> costs.energy_uJ.shape
(1,)

One network's costs, layer by layer, against the problem's limits (what ``moo-snn cost`` prints):

>>> costs = moo_snn.network_costs("digits")                         # its reference_arch, or arch=...
>>> costs.totals["params"], len(costs.layers)
(55952, 11)

A search, as ``moo-snn optimize`` runs it: ``moo_snn.optimize("digits", "results/run.nc",
search={"rounds": 2}, workers=4)`` returns the results Dataset (``resume="results/run.nc"`` continues
one); ``moo_snn.open_results(path)`` reads it back. :class:`SearchRun` is the loop itself, for finer
control. The map of the modules and of one run is docs/architecture.md.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from moo_snn.architecture import Architecture
from moo_snn.config.problem import ProblemSpec, load_problem
from moo_snn.costing import NetworkCosts, network_costs
from moo_snn.errors import MooSnnError
from moo_snn.evaluation import population_costs
from moo_snn.objectives import Objective, objective
from moo_snn.results import open_results  # registers the ds.moo accessor
from moo_snn.run import optimize  # imports the search on first call only
from moo_snn.space import SearchSpace

try:
    __version__ = version("moo-snn")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"

_LAZY = {
    # name: module that defines it; imported on first access (torch, pymoo, scikit-learn stay unloaded until then)
    "SearchRun": "moo_snn.search.loop",
    "train_architecture": "moo_snn.training.trainer",
}

__all__ = [
    "Architecture",
    "MooSnnError",
    "NetworkCosts",
    "Objective",
    "ProblemSpec",
    "SearchRun",
    "SearchSpace",
    "load_problem",
    "network_costs",
    "objective",
    "open_results",
    "optimize",
    "population_costs",
    "train_architecture",
    "__version__",
]


def __getattr__(name: str):
    """Load :data:`_LAZY` names on first use (PEP 562)."""
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'moo_snn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
