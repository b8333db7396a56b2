"""Safe NetCDF files: atomic writes, and reads that never run code.

Writes encode the file in memory, write it to a temporary file in the destination folder, flush it
to disk, then replace the destination with one rename, so an interrupted write or a full disk
leaves the previous file intact. They encode with the netCDF-C library (the ``netCDF4`` package):
a search rewrites its results file after every training, and a 60-variable results file encodes in
0.09-0.10 s against 0.61-0.63 s through h5netcdf/h5py (``benchmarks/bench_write.py``, RESULTS.md);
h5netcdf stays the fallback (no ``netCDF4``, an older xarray, a dataset netCDF-C refuses). Reads use the
h5netcdf engine only (no pickle), fully into memory (no open handle stays behind), and give the
attributes back as plain Python values (:func:`clean_attributes`: other NetCDF tools store text as
bytes and numbers as one-element arrays).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dask
import numpy as np
import xarray as xr

from moo_snn.errors import ResultsError
from moo_snn.interrupts import deferred


def _umask() -> int:
    """The process's umask (os.umask can only be read by setting it; set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(ds: xr.Dataset, path: str | Path) -> None:
    """Write ``ds`` to ``path`` atomically: encoded in memory, written to a temporary file beside
    ``path``, flushed to disk, then renamed over ``path``.

    The HDF5 library never touches the disk here (it encodes into memory), so a full disk or a
    file-size limit is a plain ``OSError`` of Python's own write: one :class:`ResultsError`, the
    temporary file removed and the previous ``path`` left as it was.

    A stop signal (Ctrl-C) arriving during the write is raised when it has finished
    (:func:`moo_snn.interrupts.deferred`): xarray's NetCDF lock, taken in the middle of the encoding, was
    left held by a :class:`KeyboardInterrupt` raised there, and the run's final write then waited for it
    for ever (found by signalling ``moo-snn optimize --workers 2`` after a training).
    """
    with deferred():
        _write_atomic(ds, Path(path))


def _write_atomic(ds: xr.Dataset, path: Path) -> None:
    # the data are numpy arrays: no scheduler is needed, and with a Dask client active in this
    # process xarray would otherwise ask the cluster for a write lock named after the memory target
    with dask.config.set(scheduler="synchronous"):
        blob = _encode(ds)  # the bytes of a NetCDF-4 file
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())  # as open() would create it (mkstemp makes 0600: unreadable by the group)
    except OSError as exc:
        raise ResultsError(f"{path.parent}: cannot write there ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        kept = "the previous file is kept" if path.exists() else "nothing was written"
        raise ResultsError(f"{path}: cannot write ({exc.strerror or exc}); {kept}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _encode(ds: xr.Dataset) -> bytes:
    """The bytes of ``ds`` as a NetCDF-4 file: netCDF-C (about 6x faster), else h5netcdf (see the module docstring)."""
    try:
        return bytes(ds.to_netcdf(engine="netcdf4"))
    except Exception:  # no netCDF4, an xarray that writes it only to files, or a dataset netCDF-C refuses
        return ds.to_netcdf(engine="h5netcdf")  # as before: its error, if any, is the one raised


def _article(noun: str) -> str:
    """The indefinite article of ``noun`` ("an archive", "a results file"), by its first letter."""
    return "an" if noun[:1].lower() in "aeiou" else "a"


def read(path: str | Path, kind: str, format_tag: str) -> xr.Dataset:
    """Read a moo-snn file of ``kind`` ("archive", "results file") whose ``format`` attribute is ``format_tag``."""
    path = Path(path)
    if path.is_dir():
        raise ResultsError(f"{path}: is a folder, not {_article(kind)} {kind}")
    if not path.is_file():
        raise ResultsError(f"{path}: no such {kind}")
    try:
        with deferred(), xr.open_dataset(path, engine="h5netcdf") as ds:  # the lock, as in write_atomic
            data = ds.load()
    except Exception as exc:  # h5py/h5netcdf raise many kinds for a truncated or foreign file
        classic = _netcdf3_format(path)
        if classic is not False:  # a readable NetCDF file all the same: say what it is, as for a foreign NetCDF-4 file
            said = (f"; its attribute format = {classic!r} says it was one, converted to NetCDF-3 by another tool: convert it "
                    f"back with nccopy -k nc4" if isinstance(classic, str) and classic.startswith("moo-snn-") else
                    f" (attribute format = {classic!r}, expected {format_tag!r})")
            raise ResultsError(f"{path}: not a moo-snn {kind}: a NetCDF-3 (classic format) file, and moo-snn writes and "
                               f"reads NetCDF-4 files only{said}") from None
        raise ResultsError(f"{path}: not a readable NetCDF file ({type(exc).__name__}: {exc})") from None
    data.attrs = clean_attributes(data.attrs)
    found = data.attrs.get("format")
    if found != format_tag:
        family = format_tag.rsplit("-", 1)[0]
        if isinstance(found, str) and found.rsplit("-", 1)[0] == family:
            raise ResultsError(f"{path}: a moo-snn {kind} of another format version ({found!r}; this moo-snn reads "
                               f"{format_tag!r}): open it with the moo-snn version that wrote it, or make the run again")
        raise ResultsError(f"{path}: not a moo-snn {kind} (attribute format = {found!r}, expected {format_tag!r})")
    for name, var in data.data_vars.items():
        if var.dtype.kind in "OSU":
            data[name] = var.astype(object)
    return data


_NETCDF3_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05")  # classic, 64-bit offset, 64-bit data (CDF-5)


def _netcdf3_format(path: Path):
    """For a NetCDF-3 file, its ``format`` attribute (None where it has none or it cannot be read: scipy reads
    classic and 64-bit offset files, not CDF-5); False for any other file. No code is run (scipy's reader)."""
    try:
        with open(path, "rb") as f:
            if f.read(4) not in _NETCDF3_MAGIC:
                return False
        from scipy.io import netcdf_file

        with netcdf_file(path, "r", mmap=False) as nc:
            found = getattr(nc, "format", None)
        return clean_value(found)
    except Exception:  # unreadable, or a header scipy refuses: a NetCDF-3 file all the same
        return None


def clean_value(value):
    """One attribute value in plain Python: bytes → str, numpy scalar → number, one-element array → its
    element, a longer array → a list."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)
        value = value[0] if value.size == 1 else value.tolist()
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    return value


def clean_attributes(attrs: dict) -> dict:
    """Every attribute through :func:`clean_value`."""
    return {str(k): clean_value(v) for k, v in attrs.items()}
