"""Crossbar layers of a network: what the IMC cost model counts.

Every layer that holds weights on crossbars is listed, in execution order: the stem conv, each
conv edge of the first cell (backward edges included, pruned edges not), the reduction conv, each
conv edge of the second cell, the classifier's hidden linear (if any) and its output linear.
Skip, zero and average-pool edges hold no weights. A linear layer is a 1×1 "conv" on a 1×1 map.

For a conv layer ``d_in`` is the side of its input map and ``d_out`` the side of its output map
*before* any pooling that follows it (the crossbar computes every output position).

Layer names are shared by the spiking network (which measures the input spike rate of each layer
under that name) and the cost model: ``stem``, ``cell1.fwd0-1``, ``cell1.bwd2-0``, ``reduction``,
``cell2.fwd1-2``, ``fc1``, ``fc2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moo_snn.architecture import CONV_KERNEL, Architecture


@dataclass(frozen=True)
class NetworkInput:
    """What the data set fixes about a network: input channels and side, classes, stem stride."""

    channels: int
    side: int
    n_classes: int
    stem_stride: int = 1

    @property
    def cell_side(self) -> int:
        """Side of the first cell's maps (after the stem)."""
        return self.side // self.stem_stride


@dataclass(frozen=True)
class CrossbarLayer:
    """One layer mapped on crossbars: ``c_in`` → ``c_out`` channels, ``kernel`` side, map sides."""

    name: str
    c_in: int
    c_out: int
    kernel: int
    d_in: int
    d_out: int

    @property
    def params(self) -> int:
        """Weights of the layer (no bias: every conv is followed by BatchNorm)."""
        return self.c_in * self.c_out * self.kernel * self.kernel


def classifier_features(arch: Architecture, net_input: NetworkInput) -> int:
    """Inputs of the classifier: 2C channels on the pooled map of side (cell_side / 2) / s."""
    side = net_input.cell_side // 2 // arch.final_pool
    return 2 * arch.channels * side * side


def crossbar_layers(arch: Architecture, net_input: NetworkInput) -> list[CrossbarLayer]:
    """The crossbar layers of ``arch`` on ``net_input``, in execution order."""
    c, side = arch.channels, net_input.cell_side
    layers = [CrossbarLayer("stem", net_input.channels, c, 3, net_input.side, side)]
    for cell, width, d in (("cell1", c, side), ("cell2", 2 * c, side // 2)):
        for edge in arch.active_edges():
            if edge.op in CONV_KERNEL:
                layers.append(CrossbarLayer(f"{cell}.{edge.name}", width, width, CONV_KERNEL[edge.op], d, d))
        if cell == "cell1":
            layers.append(CrossbarLayer("reduction", c, 2 * c, 3, side, side))
    features = classifier_features(arch, net_input)
    if arch.hidden:
        layers.append(CrossbarLayer("fc1", features, arch.hidden, 1, 1, 1))
        layers.append(CrossbarLayer("fc2", arch.hidden, net_input.n_classes, 1, 1, 1))
    else:
        layers.append(CrossbarLayer("fc2", features, net_input.n_classes, 1, 1, 1))
    return layers


@dataclass(frozen=True)
class LayerTable:
    """Crossbar layers of a population as padded arrays, shape ``(n_candidates, n_slots)``.

    ``active`` marks the slots that hold a layer; the other entries are 0. Slots keep execution
    order, so the active slots of a row, left to right, are that candidate's layer list.
    ``names`` labels the slots (a layer list read from a file has its own names).
    """

    names: tuple[str, ...]
    c_in: np.ndarray
    c_out: np.ndarray
    kernel: np.ndarray
    d_in: np.ndarray
    d_out: np.ndarray
    active: np.ndarray

    @property
    def n_candidates(self) -> int:
        """Number of networks in the table (its first axis)."""
        return self.active.shape[0]

    @classmethod
    def from_layers(cls, layers: list[CrossbarLayer]) -> LayerTable:
        """A one-candidate table from a layer list (a hand-written network, say)."""
        cols = {k: np.array([[getattr(l, k) for l in layers]], dtype=np.int64)
                for k in ("c_in", "c_out", "kernel", "d_in", "d_out")}
        return cls(names=tuple(l.name for l in layers), active=np.ones((1, len(layers)), bool), **cols)

    def layers(self, row: int) -> list[CrossbarLayer]:
        """The layer list of candidate ``row`` (active slots only)."""
        return [
            CrossbarLayer(self.names[s], *(int(getattr(self, k)[row, s]) for k in ("c_in", "c_out", "kernel", "d_in", "d_out")))
            for s in np.flatnonzero(self.active[row])
        ]

    @property
    def params(self) -> np.ndarray:
        """Weights per candidate, shape ``(n,)``."""
        return np.where(self.active, self.c_in * self.c_out * self.kernel**2, 0).sum(axis=1)
