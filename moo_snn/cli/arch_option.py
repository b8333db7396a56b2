"""``--arch`` of ``moo-snn train`` and ``moo-snn cost``: parse, check against the problem, repair on request.

A cell without a forward path from node 0 to node 3 cannot be trained or costed. The search never
meets one: pymoo's repair (:meth:`moo_snn.space.SearchSpace.repair`) gives such a cell the forward
edge 0 → 3 with the first non-zero operation of the problem's op set and zeroes the edges that lie
on no path. ``--repair`` applies the same rule to a typed architecture (and says what it became);
without it the error names the repaired architecture, so the user can run it as printed.

A valid cell is used in its canonical form (:meth:`~moo_snn.architecture.Architecture.canonical`:
the one string the search, the archives and the results write for its network), and the user is
told when that differs from what they typed: the layer names of ``cost``, the spike rates of
``train`` and the architecture saved with ``train --save`` are then those of the canonical form,
as every other command shows them.

A network outside the problem's ``[space]`` (a width or timestep count it does not list, an op it
does not allow, a hardware field its ``[hardware]`` table fixes) is still trained or costed: a
designer's what-if. ``warn`` is told so in one line naming each such value and the space's choices
(:meth:`~moo_snn.space.SearchSpace.outside`); ``moo-snn surrogate predict`` refuses the same values,
as the predictor cannot extrapolate. Values beyond :data:`~moo_snn.architecture.FIELD_BOUNDS` are
an error everywhere (:meth:`~moo_snn.architecture.Architecture.parse`).
"""

from __future__ import annotations

from dataclasses import replace

from moo_snn.architecture import EDGE_PAIRS, Architecture
from moo_snn.errors import ArchitectureError, MooSnnError
from moo_snn.space import SearchSpace


def repaired(spec, arch: Architecture) -> Architecture:
    """``arch`` as the search repairs it (identical when it is valid).

    Inside the problem's space: :meth:`SearchSpace.repair` of its genome. Outside it (a width the
    space does not list, say): the same rule on the architecture itself.
    """
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
    return replace(arch, edges=tuple(edges)).canonical()


def resolve_arch(spec, text: str | None, *, repair: bool = False, say=None, warn=None, doing: str = "evaluating") -> Architecture:
    """The architecture of ``--arch`` (the problem's ``reference_arch`` when None), checked against
    the problem's images, in its canonical form; an invalid cell is an :class:`ArchitectureError`
    naming its repair, or, with ``repair``, replaced by it. ``say(message)`` is told of a repair and
    of a canonical form that differs from the string given; ``warn(message)``, in one line, of the
    values outside the problem's space (``doing``: what the command does with it anyway)."""
    arch = _resolved(spec, text, repair, say)
    note = SearchSpace(spec.space).outside_note(arch, spec.name, doing)
    if note and warn is not None:
        warn(note)
    return arch


def _resolved(spec, text: str | None, repair: bool, say) -> Architecture:
    arch = spec.check_architecture(Architecture.parse(text)) if text is not None else spec.reference_arch
    if arch.is_valid:
        canonical = arch.canonical()
        if canonical != arch and say is not None:
            say(f"{arch} is written {canonical} (its canonical form: the same network, the one string the search, "
                f"archives and results use for it); using that")
        return canonical
    fixed = repaired(spec, arch)
    if not repair:
        raise ArchitectureError(f"architecture {arch}: its cell has no forward path from node 0 to node 3; the search's "
                                f"repair makes it {fixed} (add --repair to use that, or give it as --arch)")
    if say is not None:
        say(f"repaired {arch} → {fixed} (a forward edge 0 → 3, as the search repairs a cell)")
    return fixed
