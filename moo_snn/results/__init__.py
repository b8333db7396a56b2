"""Results of a search run: the xarray Dataset (see :mod:`moo_snn.results.state`) and its ``ds.moo`` accessor."""

from __future__ import annotations

from pathlib import Path

from moo_snn.results.accessor import MooAccessor
from moo_snn.results.state import FORMAT


def open_results(path: str | Path):
    """Read a results file fully into memory (h5netcdf, no pickle); a foreign or corrupt file is a clear error.

    Attributes that another NetCDF tool rewrote (bytes, one-element arrays, numbers for text) are read
    back as moo-snn wrote them.

    Parameters
    ----------
    path : str or path-like
        A results file written by a search run (``results/<name>-seed<N>-<time>.nc``).

    Returns
    -------
    xarray.Dataset
        Dims ``candidate``, ``gene``, ``objective``, ``constraint``, ``round``; the ``ds.moo``
        accessor (:class:`~moo_snn.results.accessor.MooAccessor`) reads fronts, hypervolume, knee.

    Raises
    ------
    ResultsError
        Not a moo-snn results file, corrupt, or an attribute that cannot be read or is missing
        (named in the message; :mod:`moo_snn.results.attributes`).
    """
    from moo_snn.netcdf import read
    from moo_snn.results.attributes import normalise

    return normalise(read(path, "results file", FORMAT), f"{path}")


__all__ = ["MooAccessor", "open_results"]
