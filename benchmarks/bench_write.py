"""Seconds to encode a results file as NetCDF-4 bytes: netCDF-C (``netCDF4``) against h5netcdf/h5py.

A search rewrites its results file after every training (``moo_snn.netcdf.write_atomic``), so this is
paid once per training. Medians of ``--repeat`` encodings of the same file, both engines in one run.

    python benchmarks/bench_write.py [FILE] [--repeat N]

FILE: a results file (default ``tests/data/reference-run.nc``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import dask

import moo_snn

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=ROOT / "tests" / "data" / "reference-run.nc")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    ds = moo_snn.open_results(args.file)
    out = {"file": str(args.file), "variables": len(ds.data_vars) + len(ds.coords), "sizes": dict(ds.sizes)}
    with dask.config.set(scheduler="synchronous"):
        for engine in ("netcdf4", "h5netcdf"):
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                ds.to_netcdf(engine=engine)
                times.append(time.perf_counter() - t0)
            out[f"median_s_{engine}"] = statistics.median(times)
    out["ratio_h5netcdf_over_netcdf4"] = out["median_s_h5netcdf"] / out["median_s_netcdf4"]
    for k, v in out.items():
        print(f"{k}: {v}")
    return out


if __name__ == "__main__":
    main()
