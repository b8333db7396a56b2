"""What the IMC cost model returns: :class:`CostReport`, per candidate and (on request) per layer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moo_snn.errors import MooSnnError

UNITS: dict[str, str] = {
    "params": "1",
    "memory_kB": "KiB",  # 1024 bytes: params · weight_bits / 8 / 1024 (the key keeps the name memory_kB)
    "area_mm2": "mm2",
    "latency_ms": "ms",
    "energy_uJ": "uJ",
    "tiles": "1",
    "pes": "1",
}
"""Unit of every per-candidate output (a layer output ``layer_<x>`` has the unit of ``<x>``)."""

TOTALS: tuple[str, ...] = tuple(UNITS)
"""Names of the per-candidate outputs, in the order :meth:`CostReport.totals` gives them."""

LAYER_FIELDS: tuple[str, ...] = ("params", "pes", "area_mm2", "latency_ms", "energy_uJ")
"""Per-layer outputs, stored as ``layer_<name>`` when ``per_layer=True``."""


@dataclass(frozen=True, eq=False)
class CostReport:
    """Costs of a population on the accelerator (see :mod:`moo_snn.cost.model` for the equations).

    Attributes
    ----------
    mode : str
        Cost model that produced the numbers: ``'extended'`` or ``'spikesim'``.
    params : ndarray of int64, shape (n,)
        Weights (real kernels, no biases).
    memory_kB : ndarray of float, shape (n,)
        Weight memory, params · weight_bits / 8 / 1024 [KiB, 1024 bytes; the key's "kB" is that unit, as
        in DESIGN §4].
    area_mm2 : ndarray of float, shape (n,)
        Chip area [mm²].
    latency_ms : ndarray of float, shape (n,)
        Pipelined inference latency of one input over all timesteps [ms].
    energy_uJ : ndarray of float, shape (n,)
        Energy of one inference over all timesteps [µJ].
    tiles : ndarray of int64, shape (n,)
        Tiles, ceil(pes / pes_per_tile).
    pes : ndarray of int64, shape (n,)
        Processing elements used by the layers (sum of ``layer_pes``).
    names : tuple of str, length n_slots
        Slot names of the layer table (empty unless ``per_layer=True``).
    active : ndarray of bool, shape (n, n_slots), or None
        Slots that hold a layer (None unless ``per_layer=True``).
    layer_params, layer_pes : ndarray of int64, shape (n, n_slots), or None
        Weights and PEs of each layer (0 in inactive slots).
    layer_area_mm2 : ndarray of float, shape (n, n_slots), or None
        Area that belongs to one layer: its PEs, its input buffer and its neuron memory [mm²]. The
        rest of ``area_mm2`` is shared (tile overhead, unused PE slots of the last tile):
        :attr:`shared_area_mm2`.
    layer_latency_ms : ndarray of float, shape (n, n_slots), or None
        Each layer's share of the pipelined latency [ms] (:mod:`moo_snn.cost.latency`): in the work
        model finish_l − finish_{l−1}; in SpikeSim's rule ⌊f·N_l⌋ PE cycles per timestep for all but
        the last layer, N_l for the last. The row sums to ``latency_ms``.
    layer_energy_uJ : ndarray of float, shape (n, n_slots), or None
        Energy of each layer [µJ]; the row sums to ``energy_uJ``.
    """

    mode: str
    params: np.ndarray
    memory_kB: np.ndarray
    area_mm2: np.ndarray
    latency_ms: np.ndarray
    energy_uJ: np.ndarray
    tiles: np.ndarray
    pes: np.ndarray
    names: tuple[str, ...] = ()
    active: np.ndarray | None = None
    layer_params: np.ndarray | None = None
    layer_pes: np.ndarray | None = None
    layer_area_mm2: np.ndarray | None = None
    layer_latency_ms: np.ndarray | None = None
    layer_energy_uJ: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.params)

    @property
    def has_layers(self) -> bool:
        """True when the per-layer breakdown was computed (``per_layer=True``)."""
        return self.active is not None

    @property
    def shared_area_mm2(self) -> np.ndarray:
        """Area that no single layer owns (tile overhead, unused PE slots), shape (n,) [mm²]."""
        self._require_layers("shared_area_mm2")
        return self.area_mm2 - self.layer_area_mm2.sum(axis=1)

    def totals(self, row: int) -> dict[str, float | int]:
        """Per-candidate outputs of candidate ``row`` as plain Python numbers, keyed as :data:`TOTALS`."""
        return {name: getattr(self, name)[row].item() for name in TOTALS}

    def to_records(self, row: int) -> list[dict[str, str | float | int]]:
        """Per-layer breakdown of candidate ``row``: one dict per layer, in execution order.

        Each record holds ``name`` and the :data:`LAYER_FIELDS` (``params``, ``pes``, ``area_mm2``,
        ``latency_ms``, ``energy_uJ``) as Python numbers; a list of them makes a
        ``pandas.DataFrame`` directly. Needs ``evaluate_costs(..., per_layer=True)``.
        """
        self._require_layers("to_records")
        if not -len(self) <= row < len(self):
            raise MooSnnError(f"candidate {row} out of range: the report holds {len(self)} candidates")
        records = []
        for slot in np.flatnonzero(self.active[row]):
            record: dict[str, str | float | int] = {"name": self.names[slot]}
            for name in LAYER_FIELDS:
                record[name] = getattr(self, f"layer_{name}")[row, slot].item()
            records.append(record)
        return records

    def _require_layers(self, what: str) -> None:
        if not self.has_layers:
            raise MooSnnError(f"{what} needs the per-layer breakdown: call evaluate_costs(..., per_layer=True)")

