"""Results of a search run: the xarray Dataset (see :mod:`moo_snn.results.state`) and its ``ds.moo`` accessor."""

from __future__ import annotations

from pathlib import Path

from moo_snn.results.accessor import MooAccessor
from moo_snn.results.state import FORMAT


def open_results(path: str | Path):
    """Read a results file fully into memory (h5netcdf, no pickle); a foreign or corrupt file is a clear error."""
    from moo_snn.netcdf import read

    return read(path, "results file", FORMAT)


__all__ = ["MooAccessor", "open_results"]
