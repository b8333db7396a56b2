"""Merge the trainings caches of parallel ``benchmarks/multifidelity.py`` runs into one.

Two benchmark processes must not share one cache file (each rewrites it whole after every training),
so parallel runs each get a copy (``--cache COPY``); this adds every record of the copies that the
target does not hold yet, by (architecture, training seed, epochs, data fraction), the key of
:func:`moo_snn.surrogate.archive.append`. Records already in the target are kept as they are (a
training replayed, never measured twice).

    python benchmarks/merge_cache.py TARGET COPY [COPY ...]

Prints how many records each copy added.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def record_keys(ds) -> list[tuple]:
    """(arch, seed, epochs, train_fraction rounded to 1e-6) of every record of an archive dataset."""
    return [(str(a), int(s), int(e), round(float(f), 6))
            for a, s, e, f in zip(ds.arch.values, ds.seed.values, ds.epochs.values, ds.train_fraction.values)]


def merge(target, copies) -> tuple:
    """``target`` (an archive dataset) with the records of ``copies`` it lacks, and how many each added."""
    import xarray as xr

    from moo_snn.surrogate import archive as arc

    merged, added = arc.with_fraction(target), []
    have = set(record_keys(merged))
    for ds in copies:
        ds = arc.with_fraction(ds)
        new = []
        for k, key in enumerate(record_keys(ds)):
            if key not in have:  # a key twice in one copy (two strings of one cell before canonical reading) counts once
                have.add(key)
                new.append(k)
        added.append(len(new))
        if new:
            attrs = dict(merged.attrs)
            merged = xr.concat([merged, ds.isel(record=np.asarray(new))], dim="record", data_vars="all",
                               coords="minimal", combine_attrs="override")
            merged.attrs = attrs
    return merged, added


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path)
    parser.add_argument("copies", type=Path, nargs="+")
    args = parser.parse_args(argv)

    from moo_snn.surrogate import archive as arc

    merged, added = merge(arc.load_archive(args.target), [arc.load_archive(p) for p in args.copies])
    if sum(added):
        arc.save_archive(merged, args.target)
    for path, n in zip(args.copies, added):
        print(f"{path}: {n} records added")
    print(f"{args.target}: {merged.sizes['record']} records")


if __name__ == "__main__":
    main()
