"""Replay of an archive that holds the same networks at several fidelities (issue 16, [fidelity] on a
simulated cluster). Reference: the archive file read directly."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import moo_snn
from moo_snn.config.problem import load_problem
from moo_snn.replay import ReplayTable

ARCHIVE = Path(moo_snn.__file__).resolve().parents[1] / "surrogates" / "digits-fidelity.nc"


@pytest.fixture(scope="module")
def archive():
    return xr.open_dataset(ARCHIVE, engine="h5netcdf").load()


@pytest.fixture(scope="module")
def table():
    return ReplayTable(load_problem("digits-long"), ARCHIVE, time_factor=2.0)


def _record(archive, epochs, fraction, seed=0, arch=None):
    keep = ((archive.epochs.values == epochs) & np.isclose(archive.train_fraction.values, fraction)
            & (archive.seed.values == seed) & (archive.status.values == "trained"))
    if arch is not None:
        keep &= archive.arch.values == arch
    return archive.isel(record=int(np.flatnonzero(keep)[0]))


def test_each_archived_fidelity_replays_its_own_record(table, archive):
    assert (table.epochs, table.train_fraction) == (30, 1.0)  # the reference: the full training
    full = _record(archive, 30, 1.0)
    arch = str(full.arch.values)
    for epochs, fraction in ((2, 0.5), (3, 1.0), (30, 1.0)):
        rec = _record(archive, epochs, fraction, arch=arch)
        r = table.result(arch, seed=0, epochs=epochs, train_fraction=fraction)
        assert r["val_accuracy"] == float(rec.val_accuracy) and r["replayed_from"] == arch
        assert r["train_seconds"] == pytest.approx(2.0 * float(rec.train_seconds))
        assert (r["epochs"], r["train_fraction"]) == (epochs, fraction)


def test_another_fidelity_replays_the_full_training_in_proportional_time(table, archive):
    full = _record(archive, 30, 1.0)
    r = table.result(str(full.arch.values), seed=0, epochs=5, train_fraction=0.5)
    assert r["val_accuracy"] == float(full.val_accuracy)
    assert r["train_seconds"] == pytest.approx(2.0 * float(full.train_seconds) * 5 * 0.5 / 30)


def test_a_network_outside_the_archive_replays_one_measured_at_the_task_s_fidelity(table, archive):
    other = "0303-0000-0000-0000_c8_t2_w4_p1_h0"
    assert other not in set(archive.arch.values.astype(str))
    r = table.result(other, seed=0, epochs=2, train_fraction=0.5)
    rec = _record(archive, 2, 0.5, arch=r["replayed_from"])
    assert r["val_accuracy"] == float(rec.val_accuracy) and r["arch"] == other
