"""IMC cost model: the accelerator's constants and the costs of a population (DESIGN §4)."""

from moo_snn.cost.hardware import HardwareConfig
from moo_snn.cost.model import evaluate_costs
from moo_snn.cost.report import CostReport
from moo_snn.cost.spikesim_checks import SpikeSimCompatibilityWarning

__all__ = ["CostReport", "HardwareConfig", "SpikeSimCompatibilityWarning", "evaluate_costs"]
