"""Run the ``moo-snn`` command line with a fault: a real signal sent to this process at a chosen point.

::

    python tests/fault_driver.py POINT SIGNAL LOG -- optimize PROBLEM --out FILE ...

POINT is ``none`` or ``WHERE:N``:

* ``nsga2:N``   at the N-th evaluation of an NSGA-II population (predicted accuracy and costs);
* ``training:N`` inside the N-th training, at its 2nd forward pass (optimiser steps under way);
* ``encode:N``   inside the N-th write of a NetCDF file, while it is encoded (after its 3rd
  variable is created);
* ``write:N``    inside the N-th write of a NetCDF file, once its temporary file is written and
  flushed to disk, before the rename that replaces the previous file.

SIGNAL is ``SIGINT`` or ``SIGTERM``; it goes through the operating system (``os.kill`` of this
process), so Python's own signal handling and the command's handlers deal with it as they would
with Ctrl-C or a cluster's scheduler. LOG receives one JSON line per training that finished
(architecture, status, validation accuracy), so that a test can check that none was lost.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def main() -> None:
    point, signame, log = sys.argv[1:4]
    if sys.argv[4] != "--":
        raise SystemExit("usage: fault_driver.py POINT SIGNAL LOG -- moo-snn arguments")
    where, n = (point.split(":") + ["0"])[:2] if point != "none" else ("none", "0")
    n, signum = int(n), getattr(signal, signame)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if started in the background
    count = {"nsga2": 0, "training": 0, "write": 0, "forward": 0, "variables": 0}
    fired = []

    def maybe_fire(kind: str) -> None:
        index = count["write"] if kind == "encode" else count[kind]
        if kind == where and index == n and not fired:
            fired.append(kind)
            os.kill(os.getpid(), signum)

    from moo_snn.search.pymoo_problem import SnnSearchProblem
    from moo_snn.training import trainer
    from moo_snn.training.network import SpikingNetwork

    real_train, real_evaluate, real_forward = trainer.train_architecture, SnnSearchProblem._evaluate, SpikingNetwork.forward

    def train(*args, **kwargs):
        count["training"] += 1
        count["forward"] = 0
        result = real_train(*args, **kwargs)
        with open(log, "a") as f:
            f.write(json.dumps({"arch": result.arch, "status": result.status, "val_accuracy": result.val_accuracy}) + "\n")
        return result

    def forward(self, *args, **kwargs):
        if self.training:
            count["forward"] += 1
            if count["forward"] == 2:
                maybe_fire("training")
        return real_forward(self, *args, **kwargs)

    def evaluate(self, *args, **kwargs):
        count["nsga2"] += 1
        maybe_fire("nsga2")
        return real_evaluate(self, *args, **kwargs)

    import xarray as xr
    from xarray.backends.h5netcdf_ import H5NetCDFStore
    from xarray.backends.netCDF4_ import NetCDF4DataStore

    real_to_netcdf = xr.Dataset.to_netcdf
    stores = {store: store.prepare_variable for store in (NetCDF4DataStore, H5NetCDFStore)}

    def to_netcdf(self, *args, **kwargs):
        count["write"] += 1
        count["variables"] = 0
        return real_to_netcdf(self, *args, **kwargs)

    def prepare(real):  # a variable created in the file being encoded (either engine moo-snn writes with)
        def prepare_variable(self, *args, **kwargs):
            variable = real(self, *args, **kwargs)
            count["variables"] += 1
            if count["variables"] == 3:
                maybe_fire("encode")
            return variable
        return prepare_variable

    real_fsync = os.fsync

    def fsync(fd):
        real_fsync(fd)
        maybe_fire("write")

    trainer.train_architecture = train
    SpikingNetwork.forward = forward
    SnnSearchProblem._evaluate = evaluate
    xr.Dataset.to_netcdf = to_netcdf
    for store, real in stores.items():
        store.prepare_variable = prepare(real)
    os.fsync = fsync

    from moo_snn.cli import main as cli

    sys.argv = ["moo-snn", *sys.argv[5:]]
    cli()


if __name__ == "__main__":
    main()
