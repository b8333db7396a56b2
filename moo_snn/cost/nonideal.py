"""Device non-idealities of the RRAM crossbars (a problem's ``[nonideal]`` table).

The accuracy the search reports is measured on ideal weights; :mod:`moo_snn.training.nonideal`
measures it again with the trained weights programmed into crossbars of the problem's
``[hardware]`` size and bits, under the non-idealities below (Monte-Carlo over programmed chips).
Defaults and their sources:

* stuck-at faults: 1.75 % of the cells stuck at the lowest conductance (stuck-off, SA0) and 9.04 %
  stuck at the highest (stuck-on, SA1), the rates measured on a fabricated 4-Mb RRAM chip by
  C.-Y. Chen et al., "RRAM defect modeling and failure analysis based on march test and a novel
  squeeze-search scheme", IEEE Trans. Computers 64(1), 2015, used as defaults by the RRAM
  fault-tolerance literature (e.g. L. Xia et al., "Stuck-at fault tolerance in RRAM computing
  systems", IEEE JETCAS 2018). They are as-fabricated rates, before any remapping or redundancy.
* programming (conductance) variation: a Gaussian error of ``conductance_sigma`` × the cell's
  conductance range on every programmed cell, 0.1 by default: device-to-device variation of
  σ/range ≈ 10 % is the level commonly assumed for multi-level RRAM after program-and-verify
  (an assumption, not one chip's measurement: set it from your devices).
* ADC quantisation of every crossbar's partial sums at ``[hardware] adc_bits`` (on by default).

Setting every rate to 0 and ``adc = false`` gives exactly the ideal accuracy (a test).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _rate(default: float, doc: str, maximum: float = 1.0):
    return field(default=default, metadata={"doc": doc, "min": 0.0, "max": maximum})


@dataclass(frozen=True)
class NonidealConfig:
    """What goes wrong on real crossbars, and how many chips to draw. Every field has a default."""

    draws: int = field(default=5, metadata={"doc": "Monte-Carlo draws: chips programmed independently; accuracy_nonideal is the mean over them (the spread is kept)", "min": 1, "max": 1000})
    conductance_sigma: float = _rate(0.1, "programming variation: std of each cell's conductance error, as a fraction of its conductance range (assumed RRAM level after program-and-verify)")
    stuck_off_fraction: float = _rate(0.0175, "fraction of cells stuck at the lowest conductance, SA0 (Chen et al., IEEE Trans. Computers 2015: 1.75 %)")
    stuck_on_fraction: float = _rate(0.0904, "fraction of cells stuck at the highest conductance, SA1 (Chen et al., IEEE Trans. Computers 2015: 9.04 %)")
    adc: bool = field(default=True, metadata={"doc": "quantise every crossbar's partial sums with an ADC of [hardware] adc_bits (range calibrated on one batch of ideal partial sums)"})
    seed: int = field(default=0, metadata={"doc": "seed of the draws (draw d of seed s is the same chip in every evaluation)", "min": 0})
    split: str = field(default="val", metadata={"doc": "data split measured: 'val' (usable for selection) or 'test' (only reported)", "choices": ("val", "test")})

    @property
    def ideal(self) -> bool:
        """True when nothing non-ideal is simulated (the accuracy is then the ideal one)."""
        return self.conductance_sigma == 0 and self.stuck_off_fraction == 0 and self.stuck_on_fraction == 0 and not self.adc
