"""Entry-point groups through which other packages extend moo-snn (read without importing them).

``moo_snn.objectives``: custom objectives (see :mod:`moo_snn.objectives`). The built-in
objectives are registered in the same group by moo-snn's own ``pyproject.toml``. Listing the names
only reads package metadata; nothing is imported until an objective is used.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

OBJECTIVES_GROUP = "moo_snn.objectives"


def objective_entry_points() -> list[EntryPoint]:
    """Entry points of the ``moo_snn.objectives`` group, one per name (the first one found wins)."""
    seen: dict[str, EntryPoint] = {}
    for ep in entry_points(group=OBJECTIVES_GROUP):
        seen.setdefault(ep.name, ep)
    return list(seen.values())


def objective_plugin_names() -> set[str]:
    """Names registered in the ``moo_snn.objectives`` group (package metadata only, no import)."""
    return {ep.name for ep in objective_entry_points()}
