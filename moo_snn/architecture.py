"""Architectures of the SNASNet/NeuroNAS cell space and their canonical string form.

An architecture is the macro-architecture of DESIGN §3 (stem, cell at C channels, reduction, the
same cell at 2C channels, final pool, classifier) with one cell of 4 nodes (0 = input, 3 = output)
and one edge for each of the 6 pairs i < j. An edge carries an operation and a direction:

* forward: node i → node j at the same timestep;
* backward: node j at timestep t−1 → node i at timestep t (temporal feedback).

Canonical string (SNASNet's connection matrix, Kim et al., ECCV 2022)::

    0303-0030-2002-0200_c256_t5_w4_p4_h1024

The first field holds the 4 rows of the 4×4 connection matrix; entry ``[i][j]`` is the op code of
the edge i → j: above the diagonal a forward edge, below it a backward edge (from node i at t−1 to
node j). Op codes: 0 zero, 1 skip, 2 conv1x1, 3 conv3x3, 4 avgpool3x3. Then ``c`` channels C,
``t`` timesteps T, ``w`` weight bits, ``p`` final pool side s, ``h`` classifier hidden width
(0: a single linear layer) and, only where the search co-designs the accelerator, ``x`` crossbar
size, ``b`` bits per memory cell, ``a`` ADC bits. :meth:`Architecture.parse` reads fields in any
order; :func:`str` writes them in this order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from moo_snn.errors import ArchitectureError

OPS: tuple[str, ...] = ("zero", "skip", "conv1x1", "conv3x3", "avgpool3x3")
"""Every operation an edge can carry; the index is the SNASNet op code."""
CONV_KERNEL = {"conv1x1": 1, "conv3x3": 3}
"""Operations that hold a crossbar layer, with their kernel side."""
EDGE_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
"""The 6 node pairs of a cell, in genome order."""
N_NODES = 4

_INT_FIELDS = (
    ("c", "channels"),
    ("t", "timesteps"),
    ("w", "weight_bits"),
    ("p", "final_pool"),
    ("h", "hidden"),
)
HARDWARE_FIELDS = (("x", "crossbar_size"), ("b", "cell_bits"), ("a", "adc_bits"))
"""Hardware settings that an architecture may carry (co-design genes)."""
_KEYS = dict(_INT_FIELDS + HARDWARE_FIELDS)

FIELD_BOUNDS: dict[str, tuple[int, int]] = {
    "channels": (1, 4096),
    "timesteps": (1, 256),
    "weight_bits": (1, 16),
    "final_pool": (1, 1024),
    "hidden": (0, 65536),
    "crossbar_size": (8, 1024),
    "cell_bits": (1, 8),
    "adc_bits": (1, 12),
}
"""The smallest and largest value of every field of an architecture (and of every ``[space]``
choice list: :class:`moo_snn.config.problem.SpaceSpec` takes its bounds from here).

A value beyond them is a typo, not a network: ``c100000`` asked for 13 GB of weights in one layer,
``t100000`` for 720 GB of membrane states, and ``c99999999999999999999`` overflowed numpy. The
maxima leave room above the published spiking networks (DESIGN §3): C = 4096 makes the second cell
8192 channels wide (a 3x3 conv of 600 M weights, past the widest VGG/ResNet SNNs at 512-2048); T =
256 is above the timesteps of directly trained SNNs (1-8) and of most ANN-to-SNN conversions; 16-bit
weights are unquantised in effect; a final pool of 1024 exceeds any image side after the reduction;
a hidden layer of 65536 units is wider than any classifier head. The hardware fields follow RRAM
compute-in-memory practice (SpikeSim, NeuroSim): crossbars of 8 to 1024 rows (the cost model's
smallest tile holds 8), 1 to 8 bits per cell (multi-level cells shown up to ~6-8 bits), ADCs of 1 to
12 bits."""
_MATRIX = re.compile(r"^[0-9]{4}(-[0-9]{4}){3}$")


def _out_of_bounds(key: str, name: str, shown) -> str:
    low, high = FIELD_BOUNDS[name]
    return (f"{name} ({key}) must be an integer from {low} to {high}, found {shown} (beyond these bounds, "
            f"architecture.FIELD_BOUNDS, a network cannot be trained or costed sensibly)")


@dataclass(frozen=True)
class Edge:
    """One edge of a cell: ``op`` on the pair ``(i, j)``, i < j, forward or backward."""

    i: int
    j: int
    op: str
    backward: bool = False

    @property
    def source(self) -> int:
        """The node the edge reads (at t−1 for a backward edge)."""
        return self.j if self.backward else self.i

    @property
    def target(self) -> int:
        """The node the edge adds into."""
        return self.i if self.backward else self.j

    @property
    def name(self) -> str:
        """``fwd0-1`` or ``bwd2-0``: direction, source node, target node."""
        return f"{'bwd' if self.backward else 'fwd'}{self.source}-{self.target}"


@dataclass(frozen=True)
class Architecture:
    """One candidate network (values, not gene indices).

    Parameters
    ----------
    edges : tuple of 6 (op, backward) pairs, in the order of :data:`EDGE_PAIRS`.
    channels : C, the channels of the first cell (the second has 2C).
    timesteps : T, simulation timesteps.
    weight_bits : bits of every weight (symmetric per-tensor quantisation).
    final_pool : side s of the average pool before the classifier.
    hidden : width of the classifier's hidden layer (0: a single linear layer).
    crossbar_size, cell_bits, adc_bits : hardware co-design settings; None where the
        problem's ``[hardware]`` table fixes them.
    """

    edges: tuple[tuple[str, bool], ...]
    channels: int
    timesteps: int
    weight_bits: int
    final_pool: int
    hidden: int
    crossbar_size: int | None = None
    cell_bits: int | None = None
    adc_bits: int | None = None

    def __post_init__(self) -> None:
        if len(self.edges) != len(EDGE_PAIRS):
            raise ArchitectureError(f"an architecture has 6 edges, found {len(self.edges)}")
        edges = []
        for op, backward in self.edges:
            if op not in OPS:
                raise ArchitectureError(f"unknown operation {op!r}; valid: {', '.join(OPS)}")
            edges.append((op, bool(backward) and op != "zero"))
        object.__setattr__(self, "edges", tuple(edges))
        for key, name in _INT_FIELDS + HARDWARE_FIELDS:
            value = getattr(self, name)
            if value is None and name in dict(HARDWARE_FIELDS).values():
                continue
            low, high = FIELD_BOUNDS[name]
            if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
                continue
            raise ArchitectureError(_out_of_bounds(key, name, value if isinstance(value, int) else repr(value)))

    # --- string form -------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> Architecture:
        """Read the canonical string form (see the module docstring).

        Parameters
        ----------
        text : str
            E.g. ``'0303-0030-2002-0200_c16_t4_w4_p2_h0'``: the cell's 4 x 4 op matrix, then
            channels, timesteps, weight bits, final pool, hidden units (and optional hardware fields).

        Returns
        -------
        Architecture

        Raises
        ------
        ArchitectureError
            The text is empty or malformed (the message says which part and shows a valid example).
        """
        if not isinstance(text, str) or not text.strip():
            raise ArchitectureError("empty architecture string; expected e.g. '0303-0030-2002-0200_c16_t4_w4_p2_h0'")
        fields = text.strip().split("_")
        matrix = fields[0]
        if not _MATRIX.match(matrix):
            raise ArchitectureError(
                f"architecture {text!r}: the cell must be 4 rows of 4 op codes (0-4) separated by '-', "
                f"e.g. '0303-0030-2002-0200', found {matrix!r}"
            )
        rows = [[int(ch) for ch in row] for row in matrix.split("-")]
        for i in range(N_NODES):
            for j in range(N_NODES):
                if rows[i][j] >= len(OPS):
                    raise ArchitectureError(
                        f"architecture {text!r}: op code {rows[i][j]} at row {i}, column {j}; "
                        f"valid codes: {', '.join(f'{c} {o}' for c, o in enumerate(OPS))}"
                    )
            if rows[i][i]:
                raise ArchitectureError(f"architecture {text!r}: the diagonal entry [{i}][{i}] must be 0")
        edges = []
        for i, j in EDGE_PAIRS:
            fwd, bwd = rows[i][j], rows[j][i]
            if fwd and bwd:
                raise ArchitectureError(
                    f"architecture {text!r}: pair {i}-{j} has both a forward ([{i}][{j}]) and a "
                    f"backward ([{j}][{i}]) edge; a pair carries at most one"
                )
            edges.append((OPS[bwd], True) if bwd else (OPS[fwd], False))
        values: dict[str, int] = {}
        for field in fields[1:]:
            m = re.fullmatch(r"([a-z])(\d+)", field)
            if not m or m.group(1) not in _KEYS:
                raise ArchitectureError(
                    f"architecture {text!r}: cannot read field {field!r}; expected a letter and a number, "
                    f"letters: " + ", ".join(f"{k} ({n})" for k, n in _KEYS.items())
                )
            name = _KEYS[m.group(1)]
            if name in values:
                raise ArchitectureError(f"architecture {text!r}: field {m.group(1)} ({name}) given twice")
            digits = m.group(2).lstrip("0") or "0"
            if len(digits) > 9:  # past every bound; int() of 4300+ digits would raise ValueError itself
                raise ArchitectureError(f"architecture {text!r}: " + _out_of_bounds(m.group(1), name, f"{digits[:6]}... ({len(digits)} digits)"))
            values[name] = int(digits)
        missing = [f"{k} ({n})" for k, n in _INT_FIELDS if n not in values]
        if missing:
            raise ArchitectureError(f"architecture {text!r}: missing field(s) {', '.join(missing)}")
        return cls(edges=tuple(edges), **values)

    def __str__(self) -> str:
        rows = [[0] * N_NODES for _ in range(N_NODES)]
        for (i, j), (op, backward) in zip(EDGE_PAIRS, self.edges):
            if backward:
                rows[j][i] = OPS.index(op)
            else:
                rows[i][j] = OPS.index(op)
        text = "-".join("".join(str(c) for c in row) for row in rows)
        text += "".join(f"_{key}{getattr(self, name)}" for key, name in _INT_FIELDS)
        for key, name in HARDWARE_FIELDS:
            if getattr(self, name) is not None:
                text += f"_{key}{getattr(self, name)}"
        return text

    # --- structure ---------------------------------------------------------------------------
    def edge_list(self) -> list[Edge]:
        """All 6 edges as :class:`Edge` objects (zero edges included)."""
        return [Edge(i, j, op, backward) for (i, j), (op, backward) in zip(EDGE_PAIRS, self.edges)]

    def nodes_on_path(self) -> tuple[bool, ...]:
        """Whether each node lies on a forward path from node 0 to node 3."""
        fwd = {(e.i, e.j) for e in self.edge_list() if e.op != "zero" and not e.backward}
        from_input = [True, False, False, False]
        for j in range(1, N_NODES):
            from_input[j] = any(from_input[i] and (i, j) in fwd for i in range(j))
        to_output = [False, False, False, True]
        for i in range(N_NODES - 2, -1, -1):
            to_output[i] = any(to_output[j] and (i, j) in fwd for j in range(i + 1, N_NODES))
        return tuple(a and b for a, b in zip(from_input, to_output))

    @property
    def is_valid(self) -> bool:
        """True when the cell has a forward path from node 0 to node 3."""
        return self.nodes_on_path()[3]

    def active_edges(self) -> list[Edge]:
        """Non-zero edges whose both nodes lie on a forward 0 → 3 path, in genome order."""
        on_path = self.nodes_on_path()
        return [e for e in self.edge_list() if e.op != "zero" and on_path[e.i] and on_path[e.j]]

    def pruned(self) -> Architecture:
        """The same network with every inactive edge set to ``zero`` (the network is built from it;
        :meth:`canonical` is the one string of every equivalent cell)."""
        active = {(e.i, e.j) for e in self.active_edges()}
        edges = tuple(e if pair in active else ("zero", False) for pair, e in zip(EDGE_PAIRS, self.edges))
        return replace(self, edges=edges)

    def canonical(self) -> Architecture:
        """The representative of every cell that computes the same network as this one.

        :meth:`pruned`, then the rewrites of :func:`canonical_edges` (skip chains contracted, nodes 1
        and 2 in a fixed order, backward edges dropped at one timestep); the other fields unchanged.
        Two architectures with the same canonical form build the same network (same layers, same
        function, same costs), so the search trains one of them only.
        """
        edges = canonical_edges(self.pruned().edges, single_step=self.timesteps == 1)
        return replace(self, edges=edges)

    @property
    def has_backward_edges(self) -> bool:
        """Whether an active edge is a backward (temporal feedback, t − 1 → t) one."""
        return any(e.backward for e in self.active_edges())


def _matrix(edges) -> list[list[int]]:
    """The 4 x 4 matrix of a cell, ``M[source][target]`` (see the module docstring); each entry is
    ``op code * 8 + pair`` with ``pair`` (1-6) the edge's place in ``edges`` (0: no edge), so that an
    edge can be followed through rewrites."""
    m = [[0] * N_NODES for _ in range(N_NODES)]
    for k, ((i, j), (op, backward)) in enumerate(zip(EDGE_PAIRS, edges)):
        if op != "zero":
            if backward:
                m[j][i] = OPS.index(op) * 8 + k + 1
            else:
                m[i][j] = OPS.index(op) * 8 + k + 1
    return m


def _op(entry: int) -> int:
    return entry >> 3


def _edges(m) -> tuple[tuple[str, bool], ...]:
    return tuple((OPS[_op(m[j][i])], True) if m[j][i] else (OPS[_op(m[i][j])], False) for i, j in EDGE_PAIRS)


def _origins(m) -> tuple[int | None, ...]:
    """For each pair of :data:`EDGE_PAIRS`, the place (0-5) its edge had in the cell rewritten, or None."""
    return tuple(((m[j][i] or m[i][j]) & 7) - 1 if (m[j][i] or m[i][j]) else None for i, j in EDGE_PAIRS)


def _rewrites(m) -> list[list[list[int]]]:
    """Cells one sound rewrite away from ``m`` (each computes the same network). A node is a plain
    sum of its input edges and every op edge has its own neurons and weights
    (:mod:`moo_snn.training.network`), so:

    * nodes 1 and 2 may swap labels when no edge joins them;
    * a node k (1 or 2) whose only input is a forward skip from node i holds node i's value: for any
      node d, the edges i → d and k → d may swap (either may be empty);
    * a node k whose only output is a forward skip into node j is summed into j and used nowhere
      else: for any node s, the edges s → k and s → j may swap;
    * a chain i → k → j (k's only input and output, both forward) of an op and a skip computes the
      same with the op on either side.

    A moved edge keeps its direction in time; a swap that a cell cannot write (a pair that would
    hold both directions, a forward edge going down in node number or a backward one going up) is
    not made; :func:`canonical_cell` drops those after which pruning would cut more than dead ends
    (:func:`_pruned`).
    """
    skip = OPS.index("skip")
    out = []
    if not m[1][2] and not m[2][1]:
        p = (0, 2, 1, 3)
        out.append([[m[p[s]][p[d]] for d in range(N_NODES)] for s in range(N_NODES)])
    for k in (1, 2):
        ins = [s for s in range(N_NODES) if s != k and m[s][k]]
        outs = [d for d in range(N_NODES) if d != k and m[k][d]]
        if len(ins) == 1 and ins[0] < k and _op(m[ins[0]][k]) == skip:  # node k holds node i's value
            i = ins[0]
            out += [n for d in range(N_NODES) if d not in (i, k) for n in [_swap(m, (i, d), (k, d))] if n is not None]
        if len(outs) == 1 and outs[0] > k and _op(m[k][outs[0]]) == skip:  # node k is summed into node j only
            j = outs[0]
            out += [n for s in range(N_NODES) if s not in (j, k) for n in [_swap(m, (s, j), (s, k))] if n is not None]
        if len(ins) == len(outs) == 1 and ins[0] < k < outs[0] and skip in (_op(m[ins[0]][k]), _op(m[k][outs[0]])):
            new = [row[:] for row in m]  # the op on the other side of the skip
            new[ins[0]][k], new[k][outs[0]] = m[k][outs[0]], m[ins[0]][k]
            out.append(new)
    return out


def _swap(m, a, b):
    """``m`` with the edges ``a = (s, d)`` and ``b = (s2, d2)`` exchanged (a new matrix), or None where
    nothing changes or a cell cannot hold them so (see :func:`_rewrites`)."""
    (s, d), (s2, d2) = a, b
    if _op(m[s][d]) == _op(m[s2][d2]) or (m[s][d] and (s2 < d2) != (s < d)) or (m[s2][d2] and (s < d) != (s2 < d2)):
        return None
    new = [row[:] for row in m]
    new[s][d], new[s2][d2] = m[s2][d2], m[s][d]
    if (new[s][d] and new[d][s]) or (new[s2][d2] and new[d2][s2]):
        return None
    return new


def _pruned(m, dead_ends_only: bool = False) -> list[list[int]] | None:
    """``m`` pruned as the network is built (:meth:`Architecture.pruned`: edges off every forward 0 → 3
    path removed). ``dead_ends_only``: None where that would remove more than forward edges into nodes
    that reach no output; a rewrite may leave such dead ends (their values are used nowhere), but a
    node cut off from the input still carries what its backward edges bring, and pruning it would
    change the network."""
    on_path = Architecture(_edges(m), 1, 1, 1, 1, 0).nodes_on_path()
    cut = [(s, d) for s in range(N_NODES) for d in range(N_NODES) if m[s][d] and not (on_path[s] and on_path[d])]
    if dead_ends_only and cut:
        to_output = [False, False, False, True]
        for i in range(N_NODES - 2, -1, -1):
            to_output[i] = any(to_output[j] and i < j and m[i][j] for j in range(i + 1, N_NODES))
        if any(s > d or to_output[d] for s, d in cut):
            return None
    return [[e if on_path[s] and on_path[d] else 0 for d, e in enumerate(row)] for s, row in enumerate(m)]


@lru_cache(maxsize=None)
def canonical_cell(edges: tuple[tuple[str, bool], ...], single_step: bool = False):
    """The canonical cell of a pruned cell, and where each of its edges came from.

    The canonical cell is the smallest (fewest edges, then first in string order) of every cell that
    the sound rewrites of :func:`_rewrites` reach from ``edges``.

    Parameters
    ----------
    edges : tuple of 6 (op, backward) pairs
        A pruned cell (:meth:`Architecture.pruned`), in :data:`EDGE_PAIRS` order.
    single_step : bool
        The network runs one timestep: a backward edge reads t - 1 and so adds nothing (the network's
        docstring: at t = 0 backward edges contribute nothing); they are dropped first.

    Returns
    -------
    edges : tuple of 6 (op, backward) pairs
    origins : tuple of 6 int or None
        For each pair, the place (0-5) in ``edges`` of the edge that now sits there (None: no edge),
        so that what was measured per layer (spike rates) follows its layer.

    Notes
    -----
    The rewrites are sound: on every one of the 11,658 pruned cells of the digits space, a second
    implementation that evaluates each cell as numbers finds no canonical form shared by two functions
    (``tests/test_canonical.py``, the exhaustive check marked slow). They are complete at one timestep
    and without backward edges (one form per function) and leave a few equivalent cells with backward
    edges apart (342 of 8,294 functions at T = 2). Of the 711 digits trainings of
    ``benchmarks/multifidelity_cache.nc`` (written before these forms), 202 trained a network already
    trained at that fidelity under another string (192 of them with bit-identical results; the rest
    differ by the order of a sum).
    """
    m = _matrix(edges)
    if single_step:
        m = [[m[s][d] if s < d else 0 for d in range(N_NODES)] for s in range(N_NODES)]

    def key(c):
        ops = [_op(e) for row in c for e in row]
        return sum(map(bool, ops)), "".join(map(str, ops))

    start = _pruned(m)
    seen, todo, best = {key(start)[1]}, [start], start
    while todo:
        c = todo.pop()
        if key(c) < key(best):
            best = c
        for n in _rewrites(c):
            n = _pruned(n, dead_ends_only=True)
            if n is not None and key(n)[1] not in seen:
                seen.add(key(n)[1])
                todo.append(n)
    return _edges(best), _origins(best)


def canonical_edges(edges: tuple[tuple[str, bool], ...], single_step: bool = False) -> tuple[tuple[str, bool], ...]:
    """The canonical cell of a pruned cell (:func:`canonical_cell` without the origins)."""
    return canonical_cell(edges, single_step)[0]
