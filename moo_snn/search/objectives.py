"""The plug-in API's old address: :func:`moo_snn.objectives.objective` lived here before the results
refactor, and plug-ins written then (``from moo_snn.search.objectives import objective``) still import.
New code imports :mod:`moo_snn.objectives`."""

from moo_snn.objectives import objective

__all__ = ["objective"]
