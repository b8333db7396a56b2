"""``--arch`` of ``moo-snn train`` and ``moo-snn cost``: parse, check against the problem, repair on request.

A cell without a forward path from node 0 to node 3 cannot be trained or costed. The search never
meets one: pymoo's repair (:meth:`moo_snn.space.SearchSpace.repair`) gives such a cell the forward
edge 0 → 3 with the first non-zero operation of the problem's op set and zeroes the edges that lie
on no path. ``--repair`` applies the same rule to a typed architecture (and says what it became);
without it the error names the repaired architecture, so the user can run it as printed.
"""

from __future__ import annotations

from dataclasses import replace

from moo_snn.architecture import EDGE_PAIRS, Architecture
from moo_snn.errors import ArchitectureError, MooSnnError


def repaired(spec, arch: Architecture) -> Architecture:
    """``arch`` as the search repairs it (identical when it is valid).

    Inside the problem's space: :meth:`SearchSpace.repair` of its genome. Outside it (a width the
    space does not list, say): the same rule on the architecture itself.
    """
    from moo_snn.space import SearchSpace

    space = SearchSpace(spec.space)
    try:
        return space.decode(space.repair(space.encode(arch)[None])[0])
    except MooSnnError:
        pass
    if arch.is_valid:
        return arch.canonical()
    op = next(op for op in spec.space.ops if op != "zero")
    edges = list(arch.edges)
    edges[EDGE_PAIRS.index((0, 3))] = (op, False)
    return replace(arch, edges=tuple(edges)).pruned()


def resolve_arch(spec, text: str | None, *, repair: bool = False, say=None) -> Architecture:
    """The architecture of ``--arch`` (the problem's ``reference_arch`` when None), checked against
    the problem's images; an invalid cell is an :class:`ArchitectureError` naming its repair, or,
    with ``repair``, replaced by it (``say(message)`` is told)."""
    arch = spec.check_architecture(Architecture.parse(text)) if text is not None else spec.reference_arch
    if arch.is_valid:
        return arch
    fixed = repaired(spec, arch)
    if not repair:
        raise ArchitectureError(f"architecture {arch}: its cell has no forward path from node 0 to node 3; the search's "
                                f"repair makes it {fixed} (add --repair to use that, or give it as --arch)")
    if say is not None:
        say(f"repaired {arch} → {fixed} (a forward edge 0 → 3, as the search repairs a cell)")
    return fixed
