"""Results of a search run: the xarray Dataset (see :mod:`moo_snn.results.state`) and its ``ds.moo`` accessor."""

from __future__ import annotations

from pathlib import Path

from moo_snn.results.accessor import MooAccessor
from moo_snn.results.state import FORMAT


def open_results(path: str | Path):
    """Read a results file fully into memory (h5netcdf, no pickle); a foreign or corrupt file is a clear error.

    Attributes that another NetCDF tool rewrote (bytes, one-element arrays, numbers for text) are read
    back as moo-snn wrote them; one that cannot be read, or a required one that is missing, is a
    :class:`~moo_snn.errors.ResultsError` naming it (:mod:`moo_snn.results.attributes`).
    """
    from moo_snn.netcdf import read
    from moo_snn.results.attributes import normalise

    return normalise(read(path, "results file", FORMAT), f"{path}")


__all__ = ["MooAccessor", "open_results"]
