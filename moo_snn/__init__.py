"""moo-snn: hardware-aware multi-objective search for spiking neural networks on RRAM CIM accelerators.

Light on import: torch and norse are imported only by :mod:`moo_snn.training`.
"""

from moo_snn.architecture import Architecture
from moo_snn.config.problem import ProblemSpec, load_problem
from moo_snn.errors import MooSnnError
from moo_snn.results import open_results  # registers the ds.moo accessor

__version__ = "0.1.0"
__all__ = ["Architecture", "MooSnnError", "ProblemSpec", "load_problem", "open_results", "__version__"]
