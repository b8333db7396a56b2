"""The search space: integer genomes ⇄ architectures, bounds, repair and vectorised layer tables.

Genome (one integer per gene, all bounds from the problem's ``[space]``):

* 6 edge genes, one per node pair of :data:`~moo_snn.architecture.EDGE_PAIRS`; the value indexes
  :attr:`SearchSpace.edge_choices`: ``zero`` (if in the op set), then every other op forward, then
  (if backward edges are allowed) every other op backward;
* index genes into the choice lists ``channels``, ``timesteps``, ``weight_bits``, ``final_pool``,
  ``hidden``;
* optional hardware genes ``crossbar_size``, ``cell_bits``, ``adc_bits`` where ``[space]`` lists
  choices for them (the search then co-designs the accelerator).

The repair is deterministic: values are rounded and clipped to the bounds; a cell with no forward
path from node 0 to node 3 gets the edge 0→3 set to the first non-zero op of the op set, forward;
then every edge on a pruned node is set to ``zero`` and the cell is rewritten to its canonical form
(:meth:`Architecture.canonical <moo_snn.architecture.Architecture.canonical>`: skip chains contracted,
nodes 1 and 2 in a fixed order, no backward edge at one timestep), so that one network has one genome.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from moo_snn.architecture import CONV_KERNEL, EDGE_PAIRS, HARDWARE_FIELDS, Architecture, canonical_cell, canonical_edges
from moo_snn.config.problem import SpaceSpec
from moo_snn.errors import ArchitectureError
from moo_snn.layers import LayerTable, NetworkInput

VALUE_GENES = ("channels", "timesteps", "weight_bits", "final_pool", "hidden")
HARDWARE_GENES = tuple(name for _, name in HARDWARE_FIELDS)
EDGE_GENES = tuple(f"edge{i}-{j}" for i, j in EDGE_PAIRS)


class OutsideSpaceWarning(UserWarning):
    """A network outside a problem's ``[space]`` is evaluated anyway (:func:`moo_snn.network_costs`: a
    designer's what-if); the message names each value outside it and the space's choices
    (:meth:`SearchSpace.outside`). The search never proposes such a network, and the predictor refuses it."""


SLOT_NAMES = (
    ("stem",)
    + tuple(f"cell1.{i}-{j}" for i, j in EDGE_PAIRS)
    + ("reduction",)
    + tuple(f"cell2.{i}-{j}" for i, j in EDGE_PAIRS)
    + ("fc1", "fc2")
)
"""Slots of a :class:`LayerTable` made from genomes; cell slots are named by node pair."""


def slot_for(layer_name: str) -> int:
    """The slot of a crossbar layer name (``cell1.bwd2-0`` → the slot of pair 0-2 of cell 1)."""
    if layer_name.startswith(("cell1.", "cell2.")):
        cell, edge = layer_name.split(".", 1)
        a, b = sorted(int(n) for n in edge[3:].split("-"))
        layer_name = f"{cell}.{a}-{b}"
    return SLOT_NAMES.index(layer_name)


def canonical_measurement(arch: Architecture, spike_rate) -> tuple[Architecture, np.ndarray]:
    """An architecture's canonical form (:meth:`Architecture.canonical`) and what was measured on it
    per layer, moved to the layers' places in that form.

    Parameters
    ----------
    arch : Architecture
        As trained (any equivalent form).
    spike_rate : array_like of float, shape (len(SLOT_NAMES),)
        Measured input spike rate per slot of :data:`SLOT_NAMES` (NaN: no layer there).

    Returns
    -------
    canonical : Architecture
    spike_rate : ndarray of float, shape (len(SLOT_NAMES),)
        The same rates, each cell layer's at the pair its edge moved to.
    """
    rates = np.asarray(spike_rate, dtype=float)
    edges, origins = canonical_cell(arch.pruned().edges, single_step=arch.timesteps == 1)
    moved = rates.copy()
    for cell in (1, 2):
        first = SLOT_NAMES.index(f"cell{cell}.0-1")
        for pair, origin in enumerate(origins):
            moved[first + pair] = np.nan if origin is None else rates[first + origin]
    return replace(arch, edges=edges), moved


class SearchSpace:
    """The integer genome of a problem's ``[space]`` table.

    Parameters
    ----------
    spec : SpaceSpec
        The problem's ``[space]`` table.
    """

    def __init__(self, spec: SpaceSpec):
        self.spec = spec
        others = [op for op in spec.ops if op != "zero"]
        self.edge_choices: list[tuple[str, bool]] = [("zero", False)] if "zero" in spec.ops else []
        self.edge_choices += [(op, False) for op in others]
        if spec.backward:
            self.edge_choices += [(op, True) for op in others]
        self.choices: dict[str, tuple[int, ...]] = {name: getattr(spec, name) for name in VALUE_GENES}
        self.choices.update({name: getattr(spec, name) for name in HARDWARE_GENES if getattr(spec, name)})
        self.gene_names: tuple[str, ...] = EDGE_GENES + tuple(self.choices)
        self.xl = np.zeros(len(self.gene_names), dtype=np.int64)
        self.xu = np.array([len(self.edge_choices) - 1] * 6 + [len(v) - 1 for v in self.choices.values()], dtype=np.int64)
        ops = [op for op, _ in self.edge_choices]
        self._nonzero = np.array([op != "zero" for op in ops])
        self._forward = np.array([op != "zero" and not bwd for op, bwd in self.edge_choices])
        self._kernel = np.array([CONV_KERNEL.get(op, 0) for op in ops], dtype=np.int64)
        self._zero_gene = ops.index("zero") if "zero" in ops else None
        self._repair_gene = self.edge_choices.index((others[0], False))
        self._values = {name: np.asarray(v, dtype=np.int64) for name, v in self.choices.items()}

    @property
    def n_var(self) -> int:
        """Genes per genome (6 edge genes, then the value and hardware genes): pymoo's ``n_var``."""
        return len(self.gene_names)

    # --- genome ⇄ architecture ---------------------------------------------------------------
    def decode(self, x) -> Architecture:
        """The architecture of one genome (not repaired: see :meth:`repair`).

        Parameters
        ----------
        x : array_like of int, shape (n_var,)
            One genome, within the bounds ``xl``..``xu``.

        Returns
        -------
        Architecture

        Raises
        ------
        ArchitectureError
            ``x`` has the wrong shape, a gene out of bounds or a non-integer gene.
        """
        x = np.asarray(x)
        if x.shape != (self.n_var,) or np.any(x < self.xl) or np.any(x > self.xu) or np.any(x != np.round(x)):
            raise ArchitectureError(f"genome {x.tolist()} is outside the bounds {self.xl.tolist()}..{self.xu.tolist()}")
        x = x.astype(np.int64)
        values = {name: int(self._values[name][x[6 + k]]) for k, name in enumerate(self.choices)}
        return Architecture(edges=tuple(self.edge_choices[g] for g in x[:6]), **values)

    def encode(self, arch: Architecture) -> np.ndarray:
        """The genome of ``arch``.

        Parameters
        ----------
        arch : Architecture
            An architecture whose edges and values this space holds.

        Returns
        -------
        ndarray of int64, shape (n_var,)

        Raises
        ------
        ArchitectureError
            An edge or value the space does not hold (the message lists the valid ones), or a hardware
            field that the problem's ``[hardware]`` fixes.
        """
        outside = self.outside(arch)
        if outside:
            what, valid = outside[0]
            fixed = "" if valid.startswith("valid:") else "; remove it from the architecture string"
            raise ArchitectureError(f"{what} is not in this space; {valid}{fixed}")
        genes = [self.edge_choices.index(edge) for edge in arch.edges]
        genes += [values.index(getattr(arch, name)) for name, values in self.choices.items()]
        return np.array(genes, dtype=np.int64)

    def outside(self, arch: Architecture) -> list[tuple[str, str]]:
        """What of ``arch`` this space does not hold, in genome order (empty: :meth:`encode` takes it).

        Parameters
        ----------
        arch : Architecture

        Returns
        -------
        list of (str, str)
            ``(value, choices)`` per value outside the space, e.g. ``("channels 7", "valid: 8, 16, 32")``,
            ``("edge 0-1 avgpool3x3", "valid: zero, skip, ...")``, and for a hardware field the problem's
            ``[hardware]`` table fixes (not a gene: ``[space]`` lists no choices for it)
            ``("crossbar_size 32", "fixed by the problem's [hardware] table: [space] crossbar_size lists no choices")``.
            :meth:`encode` refuses the first (the predictor cannot extrapolate); ``moo-snn cost`` and
            ``train`` evaluate such a network and warn, naming them all.
        """
        found = []
        for pair, edge in zip(EDGE_PAIRS, arch.edges):
            if edge not in self.edge_choices:
                valid = ", ".join(f"{op}{' (backward)' if b else ''}" for op, b in self.edge_choices)
                found.append((f"edge {pair[0]}-{pair[1]} {edge[0]}{' (backward)' if edge[1] else ''}", f"valid: {valid}"))
        for name, values in self.choices.items():
            value = getattr(arch, name)
            if value not in values:
                found.append((f"{name} {value}", f"valid: {', '.join(map(str, values))}"))
        for name in HARDWARE_GENES:
            if name not in self.choices and getattr(arch, name) is not None:
                found.append((f"{name} {getattr(arch, name)}", f"fixed by the problem's [hardware] table: [space] {name} lists no choices"))
        return found

    def outside_note(self, arch: Architecture, problem_name: str, doing: str = "evaluating") -> str | None:
        """One line naming what of ``arch`` this space does not hold (:meth:`outside`), or None when it holds it all.

        Parameters
        ----------
        arch : Architecture
        problem_name : str
            The problem whose space this is (named in the line).
        doing : str
            What is done with the network anyway (``"costing"``, ``"training"``).
        """
        outside = self.outside(arch)
        if not outside:
            return None
        values = "; ".join(f"{what} ({valid})" for what, valid in outside)
        return (f"{arch} is outside the space of {problem_name}: {values}; {doing} it anyway (the search never proposes "
                f"it, and moo-snn surrogate predict refuses it)")

    def parse(self, text: str) -> np.ndarray:
        """The genome of an architecture string.

        Parameters
        ----------
        text : str
            The canonical string form (:meth:`Architecture.parse <moo_snn.architecture.Architecture.parse>`).

        Returns
        -------
        ndarray of int64, shape (n_var,)

        Raises
        ------
        ArchitectureError
            As :meth:`Architecture.parse <moo_snn.architecture.Architecture.parse>` and :meth:`encode`.
        """
        return self.encode(Architecture.parse(text))

    # --- repair -------------------------------------------------------------------------------
    def _on_path(self, edges: np.ndarray) -> np.ndarray:
        """Whether each node of each row lies on a forward 0 → 3 path, shape ``(n, 4)``."""
        f = self._forward[edges]  # (n, 6), columns in EDGE_PAIRS order
        f01, f02, f03, f12, f13, f23 = f.T
        from1 = f01
        from2 = f02 | (from1 & f12)
        from3 = f03 | (from1 & f13) | (from2 & f23)
        to2 = f23
        to1 = f13 | (f12 & to2)
        to0 = f03 | (f01 & to1) | (f02 & to2)
        return np.stack([to0, from1 & to1, from2 & to2, from3], axis=1)

    def edge_active(self, X) -> np.ndarray:
        """Whether each edge of each genome is active: non-zero and on a forward 0 → 3 path.

        Parameters
        ----------
        X : array_like of int, shape (n, n_var)
            Genomes (only the 6 edge genes are read).

        Returns
        -------
        ndarray of bool, shape (n, 6)
            Columns in :data:`~moo_snn.architecture.EDGE_PAIRS` order.
        """
        edges = np.asarray(X, dtype=np.int64)[:, :6]
        on = self._on_path(edges)
        i, j = np.array(EDGE_PAIRS).T
        return self._nonzero[edges] & on[:, i] & on[:, j]

    def repair(self, X, canonical: bool = True) -> np.ndarray:
        """Round, clip, give every cell a forward 0 → 3 path, zero its pruned edges, write it canonically.

        Deterministic and idempotent (pymoo's ``Repair`` of the search calls it).

        Parameters
        ----------
        X : array_like, shape (n, n_var) or (n_var,)
            Genomes, possibly real-valued and out of bounds (as pymoo's operators leave them).
        canonical : bool
            Write each cell in its canonical form (default); False stops at the pruned cell (the form a
            uniform draw of genomes gives, for samplers that want that prior: :mod:`moo_snn.surrogate.sampling`).

        Returns
        -------
        ndarray of int64, shape (n, n_var)
            A new array; a cell without a forward path gets the edge 0 → 3 with the first non-zero op.
        """
        X = np.clip(np.rint(np.atleast_2d(np.asarray(X, dtype=float))), self.xl, self.xu).astype(np.int64)
        no_path = ~self._on_path(X[:, :6])[:, 3]
        X[no_path, 2] = self._repair_gene  # pair (0, 3), forward, first non-zero op
        if self._zero_gene is not None:
            active = self.edge_active(X)
            X[:, :6] = np.where(active, X[:, :6], self._zero_gene)
        if not canonical:
            return X
        single = self._values["timesteps"][X[:, 6 + list(self.choices).index("timesteps")]] == 1
        cells, inverse = np.unique(np.column_stack([X[:, :6], single]), axis=0, return_inverse=True)
        X[:, :6] = np.array([self._canonical_genes(tuple(row[:6]), bool(row[6])) for row in cells],
                            dtype=np.int64).reshape(len(cells), 6)[inverse.reshape(-1)]
        return X

    def _canonical_genes(self, genes: tuple, single_step: bool) -> list[int]:
        """The edge genes of a pruned cell's canonical form; the cell's own where that form needs an edge
        this space does not hold (a ``zero`` or a backward edge outside its op set)."""
        edges = canonical_edges(tuple(self.edge_choices[g] for g in genes), single_step=single_step)
        return [self.edge_choices.index(e) for e in edges] if all(e in self.edge_choices for e in edges) else list(genes)

    def sample(self, n: int, rng: np.random.Generator, canonical: bool = True) -> np.ndarray:
        """``n`` uniformly drawn genomes, repaired (``canonical``: as :meth:`repair`).

        Parameters
        ----------
        n : int
            How many.
        rng : numpy.random.Generator
            The source of randomness (the caller seeds it).
        canonical : bool
            Canonical cells (default), or pruned ones (as :meth:`repair`).

        Returns
        -------
        ndarray of int64, shape (n, n_var)
        """
        return self.repair(rng.integers(self.xl, self.xu + 1, size=(n, self.n_var)), canonical=canonical)

    def smallest(self, X) -> np.ndarray:
        """The genomes ``X`` made as small as the space allows: fewest channels, timesteps, weight bits
        and hidden units, the largest final pool (the fewest classifier inputs), and one forward edge
        0 → 3 where the space has 'zero'; hardware genes kept. Repaired.

        Parameters
        ----------
        X : array_like of int, shape (n, n_var) or (n_var,)
            Genomes.

        Returns
        -------
        ndarray of int64, shape (n, n_var)
        """
        X = np.array(np.atleast_2d(X), dtype=np.int64)
        if self._zero_gene is not None:
            X[:, :6] = self._zero_gene  # repair adds the one edge 0 → 3
        for k, name in enumerate(self.gene_names[6:], start=6):
            if name in VALUE_GENES:
                pick = np.argmax if name == "final_pool" else np.argmin
                X[:, k] = int(pick(self.choices[name]))
        return self.repair(X)

    # --- values and layers --------------------------------------------------------------------
    def values(self, X, name: str) -> np.ndarray | None:
        """The value of gene ``name`` per genome.

        Parameters
        ----------
        X : array_like of int, shape (n, n_var)
            Genomes.
        name : str
            A value or hardware gene (``channels``, ``timesteps``, ``crossbar_size``, ...).

        Returns
        -------
        ndarray of int64, shape (n,), or None
            The values (channels, timesteps, bits, ...); None where ``name`` is not a gene of this space.
        """
        if name not in self.choices:
            return None
        column = self.gene_names.index(name)
        return self._values[name][np.asarray(X, dtype=np.int64)[:, column]]

    def layer_table(self, X, net_input: NetworkInput) -> LayerTable:
        """Crossbar layers of a population of genomes, vectorised.

        Parameters
        ----------
        X : array_like of int, shape (n, n_var) or (n_var,)
            Genomes (repaired: :meth:`repair`).
        net_input : NetworkInput
            Channels, side and classes of the problem's images (:attr:`ProblemSpec.network_input
            <moo_snn.config.problem.ProblemSpec.network_input>`).

        Returns
        -------
        LayerTable
            ``(n, n_slots)`` arrays over the slots :data:`SLOT_NAMES` (stem, 6 edges of cell 1,
            reduction, 6 edges of cell 2, fc1, fc2), inactive slots masked; the same layers as
            :func:`moo_snn.layers.crossbar_layers` of each decoded genome.
        """
        X = np.atleast_2d(np.asarray(X, dtype=np.int64))
        n = X.shape[0]
        c, hidden, pool = (self.values(X, k) for k in ("channels", "hidden", "final_pool"))
        side = net_input.cell_side
        conv = self.edge_active(X) & (self._kernel[X[:, :6]] > 0)
        kernel = np.where(conv, self._kernel[X[:, :6]], 0)
        features = 2 * c * (side // 2 // pool) ** 2
        ones = np.ones(n, np.int64)

        def cell(width, d):
            w = np.where(conv, width[:, None], 0)
            return w, w, kernel, np.where(conv, d, 0), np.where(conv, d, 0), conv

        stem = (ones * net_input.channels, c, ones * 3, ones * net_input.side, ones * side, ones > 0)
        reduction = (c, 2 * c, ones * 3, ones * side, ones * side, ones > 0)
        has_hidden = hidden > 0
        fc1 = tuple(np.where(has_hidden, v, 0) for v in (features, hidden, ones, ones, ones)) + (has_hidden,)
        fc2 = (np.where(has_hidden, hidden, features), ones * net_input.n_classes, ones, ones, ones, ones > 0)
        # slots: stem | cell1 (6) | reduction | cell2 (6) | fc1 | fc2; each block holds
        # (c_in, c_out, kernel, d_in, d_out, active), as (n,) or (n, 6) arrays
        blocks = [stem, cell(c, side), reduction, cell(2 * c, side // 2), fc1, fc2]
        c_in, c_out, k_, d_in, d_out, active = (
            np.column_stack([b[k] if b[k].ndim == 2 else b[k][:, None] for b in blocks]) for k in range(6)
        )
        return LayerTable(SLOT_NAMES, c_in, c_out, k_, d_in, d_out, active.astype(bool))
