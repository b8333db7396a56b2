"""Layer lists that SpikeSim's own script would refuse, and the warning ``spikesim`` mode gives for them.

SpikeSim's ``ela_spikesim.py`` (github.com/Intelligent-Computing-Lab-Yale/SpikeSim) gives no numbers
for three kinds of input (REFERENCE.md, "SpikeSim"):

* ``pe_tile_count`` returns nothing ("Check layer order") unless the per-layer PE counts
  P_l = ⌈c_in/X⌉·⌈c_out/X⌉ are sorted, non-decreasing, in execution order;
* its layer tables hold at most 12 layers;
* its latency loop never ends when every layer is smaller than one crossbar (c_in·c_out < X²).

moo-snn's ``spikesim`` mode still prices such lists with SpikeSim's formulas: the numbers are then an
extension of SpikeSim, not something SpikeSim itself would print. :func:`warn_if_refused` says so with
a :class:`SpikeSimCompatibilityWarning` (the ``moo-snn cost`` command prints it as a ``warning:`` line).
"""

from __future__ import annotations

import warnings

import numpy as np

SPIKESIM_MAX_LAYERS = 12
"""Most layers SpikeSim's script handles."""


class SpikeSimCompatibilityWarning(UserWarning):
    """SpikeSim's own script would refuse this layer list; ``spikesim`` numbers extend its formulas."""


def spikesim_refusals(c_in: np.ndarray, c_out: np.ndarray, active: np.ndarray, crossbar_size: np.ndarray) -> list[str]:
    """Why SpikeSim's script would refuse each candidate's layer list ('' where it accepts it).

    Parameters
    ----------
    c_in, c_out : ndarray of int, shape (n, n_slots)
    active : ndarray of bool, shape (n, n_slots)
    crossbar_size : ndarray of int, shape (n, 1) or (n,)
        X of each candidate.

    Returns
    -------
    list of str, length n
    """
    xbar = np.asarray(crossbar_size).reshape(-1, 1)
    pes = -(-c_in // xbar) * -(-c_out // xbar)
    reasons = []
    for row in range(active.shape[0]):
        on = active[row]
        if not on.any():
            reasons.append("")
            continue
        row_pes = pes[row, on]
        found = []
        if np.any(np.diff(row_pes) < 0):
            found.append(f"PE counts per layer {row_pes.tolist()} are not sorted (SpikeSim's pe_tile_count stops)")
        if on.sum() > SPIKESIM_MAX_LAYERS:
            found.append(f"{int(on.sum())} layers, more than SpikeSim's {SPIKESIM_MAX_LAYERS}")
        if np.all(c_in[row, on] * c_out[row, on] < xbar[row, 0] ** 2):
            found.append(f"every layer is smaller than one {int(xbar[row, 0])}x{int(xbar[row, 0])} crossbar "
                         "(SpikeSim's latency loop never ends)")
        reasons.append("; ".join(found))
    return reasons


def warn_if_refused(reasons: list[str], *, stacklevel: int = 3) -> None:
    """One :class:`SpikeSimCompatibilityWarning` naming how many lists, and the first reason, if any."""
    refused = [r for r in reasons if r]
    if refused:
        which = "this layer list" if len(reasons) == 1 else f"{len(refused)} of {len(reasons)} layer lists"
        warnings.warn(f"SpikeSim's own script would refuse {which} ({refused[0]}); the spikesim numbers extend its "
                      f"formulas beyond what SpikeSim computes", SpikeSimCompatibilityWarning, stacklevel=stacklevel)
