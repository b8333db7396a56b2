"""A cluster without workers (``--scheduler`` of a scheduler that no worker joined, or whose workers all left):
the wait is said once with the scheduler's address, is bounded, and a stop signal during it ends the run cleanly.

A real Dask scheduler on loopback (``LocalCluster(n_workers=0, processes=False)``: no worker process starts).
"""

from __future__ import annotations

import logging
import os
import signal

import pytest
import xarray as xr
from typer.testing import CliRunner

from moo_snn import executor as executor_module
from moo_snn.cli import app
from moo_snn.executor import DaskExecutor, DaskStream, ExecutorError, TrainingTask


@pytest.fixture(scope="module")
def empty_scheduler():
    """The address of a running Dask scheduler that has no worker."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as cluster:
        yield cluster.scheduler_address


def test_the_wait_for_a_worker_is_said_once_and_ends_in_one_error(empty_scheduler):
    said = []
    with DaskExecutor(scheduler=empty_scheduler, no_worker_timeout_s=1.0, on_wait=said.append) as executor:
        with pytest.raises(ExecutorError) as caught:
            list(executor.run([TrainingTask("", ".", "any", 1, 0), TrainingTask("", ".", "other", 1, 0)]))
    # one in flight (a cluster without workers has one slot: the other waits here, not on the cluster)
    assert said == [f"waiting for a Dask worker: the cluster at {empty_scheduler} has none (1 training waiting); the run "
                    f"stops after 1 s without one (Ctrl-C stops it now; every finished training is kept)"]
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"the Dask cluster at {empty_scheduler} has had no worker for ")
    assert f"no worker joined it (start some: dask worker {empty_scheduler})" in message  # none ever joined: not "died"


def test_a_scheduler_waits_fifteen_minutes_by_default_and_a_local_cluster_two():
    """The documented defaults (README, Running on a cluster; the --scheduler help)."""
    assert DaskExecutor(scheduler="tcp://127.0.0.1:1").no_worker_timeout_s == 900.0
    assert DaskExecutor(workers=1).no_worker_timeout_s == 120.0
    from moo_snn.cli.common import SchedulerOpt

    assert "15 min" in SchedulerOpt.__metadata__[0].help


OPTIONS = ("--archive", "none", "--bootstrap", "2", "--rounds", "1", "--torch-threads", "1")


def test_optimize_against_a_scheduler_without_workers_says_so_and_stops(empty_scheduler, tmp_path, monkeypatch):
    monkeypatch.setattr(executor_module, "SCHEDULER_WORKER_WAIT_S", 0.3)
    out = tmp_path / "run.nc"
    result = CliRunner().invoke(app, ["optimize", "digits", "--scheduler", empty_scheduler, "--out", str(out), *OPTIONS])
    assert result.exit_code == 2, result.output
    waiting = [line for line in result.stderr.splitlines() if "waiting for a Dask worker" in line]
    assert len(waiting) == 1 and f"the cluster at {empty_scheduler} has none" in waiting[0]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no worker joined it" in errors[0] and "Traceback" not in result.output
    with xr.open_dataset(out) as ds:
        assert ds.attrs["status"] == "failed" and "no worker joined it" in ds.attrs["failure"]


def test_sigterm_while_waiting_for_a_worker_stops_the_run_as_interrupted(empty_scheduler, tmp_path, monkeypatch):
    monkeypatch.setattr(executor_module, "SCHEDULER_WORKER_WAIT_S", 60.0)
    say = DaskStream._say_waiting

    def say_then_terminate(self):  # kill, Slurm or Kubernetes stopping the run in the middle of the wait
        say(self)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(DaskStream, "_say_waiting", say_then_terminate)
    out = tmp_path / "run.nc"
    result = CliRunner().invoke(app, ["optimize", "digits", "--scheduler", empty_scheduler, "--out", str(out), *OPTIONS])
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.output
    assert result.stderr.splitlines()[-1] == (f"interrupted: every finished training is in {out}; continue with moo-snn "
                                              f"optimize --resume {out}")
    with xr.open_dataset(out) as ds:
        assert ds.attrs["status"] == "interrupted"
