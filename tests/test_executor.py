"""Executors: in-process and Dask distributed trainings (DESIGN §9), on a real LocalCluster on loopback.

Worker deaths are real: a worker plugin calls ``os._exit`` in the worker process while a training
runs there (once, guarded by a marker file, or every time for one architecture).
"""

import logging
import os
import threading

import numpy as np
import pytest
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin
from typer.testing import CliRunner

from moo_snn.cli import app
from moo_snn.config.problem import parse_problem
from moo_snn.executor import DaskExecutor, ExecutorError, InProcessExecutor, make_executor, training_tasks
from moo_snn.search.loop import SearchRun
from moo_snn.surrogate import archive as arc
from moo_snn.surrogate.build import build_archive
from moo_snn.surrogate.sampling import space_filling_sample
from small_search import SPEC, SPACE, TEXT, write_synthetic_archive

ONE_EPOCH = parse_problem(TEXT.replace("epochs = 2", "epochs = 1"), "one-epoch-digits.toml")


@pytest.fixture(scope="module")
def archive_path(tmp_path_factory):
    return write_synthetic_archive(tmp_path_factory.mktemp("archive") / "digits.nc")


@pytest.fixture(scope="module")
def cluster():
    """A running two-worker cluster that tests join (as `--scheduler ADDR` does)."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as running:
        yield running


class KillWorker(WorkerPlugin):
    """Kills the worker process ``delay_s`` into a training: the first one only (``marker``), or
    every training of architecture ``arch``."""

    def __init__(self, marker=None, arch=None, delay_s=0.3):
        self.marker, self.arch, self.delay_s = marker, arch, delay_s

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or not str(key).startswith("train-"):
            return
        if self.arch is not None and self.arch not in str(key):
            return
        if self.marker is not None:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))  # only the first training anywhere
            except FileExistsError:
                return
        if self.delay_s:
            threading.Timer(self.delay_s, os._exit, args=(1,)).start()
        else:
            os._exit(1)


def front_of(ds):
    front = ds.moo.front()
    return list(front.arch.values), front.measured_objective.values


@pytest.mark.slow  # about 45 s on 2 cores; test_async's real-cluster test stays in the default suite
def test_two_dask_workers_measure_the_same_front_as_one_process(tmp_path, archive_path, cluster):
    local = SearchRun(SPEC, tmp_path / "local.nc", archive_path=archive_path,
                      executor=InProcessExecutor(torch_threads=1)).run()
    def data_loads():
        from moo_snn import executor

        return executor._WORKER_DATA.loads

    with Client(cluster) as client, DaskExecutor(client=client, torch_threads=1) as executor:
        dask = SearchRun(SPEC, tmp_path / "dask.nc", archive_path=archive_path, executor=executor).run()
        assert set(client.run(data_loads).values()) <= {0, 1}  # each worker read the data once, for all its trainings
    assert dask.attrs["status"] == "complete"
    assert front_of(dask)[0] == front_of(local)[0]
    np.testing.assert_array_equal(front_of(dask)[1], front_of(local)[1])
    # every training, not only the front: same candidates, same measurements
    assert list(dask.arch.values) == list(local.arch.values)
    for name in ("status", "val_accuracy", "test_accuracy", "spike_rate", "measured_objective"):
        np.testing.assert_array_equal(dask[name].values, local[name].values)
    assert int(((dask.source == "search") & dask.trained).sum()) == 4
    # weights trained on the workers came back next to the results file
    trained = dask.arch.values[(dask.source == "search").values & dask.trained.values]
    assert all((tmp_path / "dask.nc.weights" / f"{a}.pt").stat().st_size > 0 for a in trained)


@pytest.mark.slow  # about 30 s; the always-killed worker stays in the default suite
def test_a_worker_killed_during_a_training_is_retried_and_the_run_completes(tmp_path, archive_path):
    spec = parse_problem(TEXT.replace("rounds = 2", "rounds = 1"), "small-digits.toml")
    marker = tmp_path / "killed-once"
    arrived = []

    class Record:
        def trained(self, arch, result):
            arrived.append(result)

        def __getattr__(self, name):
            return lambda *args: None

    with DaskExecutor(workers=2, retries=1) as executor:
        executor.client.register_plugin(KillWorker(marker=str(marker)), name="kill-once")
        ds = SearchRun(spec, tmp_path / "r.nc", archive_path=archive_path, executor=executor, progress=Record()).run()
    assert marker.exists()  # a worker did die during a training
    assert ds.attrs["status"] == "complete"
    assert int(((ds.source == "search") & ds.trained).sum()) == 2
    assert sorted(r["attempts"] for r in arrived) == [1, 2]  # the killed training ran again


def test_a_training_that_always_kills_its_worker_is_recorded_failed_and_the_build_goes_on(tmp_path):
    sample = [str(SPACE.decode(x)) for x in space_filling_sample(ONE_EPOCH, SPACE, 3, seed=0)]
    doomed = sample[1]
    with DaskExecutor(workers=2, retries=1) as executor:
        executor.client.register_plugin(KillWorker(arch=doomed, delay_s=0), name="kill-always")
        archive, n_new = build_archive(ONE_EPOCH, tmp_path / "a.nc", 3, epochs=1, score=False, executor=executor)
    assert n_new == 3 and archive.sizes["record"] == 3
    assert list(archive.arch.values) == sample  # records in sample order, whatever order they finished in
    status = dict(zip(archive.arch.values, archive.status.values))
    assert status.pop(doomed) == "failed" and set(status.values()) == {"trained"}
    assert np.isnan(float(archive.val_accuracy.values[1]))
    assert arc.load_archive(tmp_path / "a.nc").sizes["record"] == 3


def test_in_process_a_failing_training_is_retried_then_recorded_failed(tmp_path, monkeypatch):
    from moo_snn.training import trainer

    real, calls = trainer.train_architecture, []
    sample = [str(SPACE.decode(x)) for x in space_filling_sample(ONE_EPOCH, SPACE, 2, seed=0)]

    def broken_for_the_first(*args, **kwargs):
        calls.append(args[1])
        if args[1] == sample[0]:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "train_architecture", broken_for_the_first)
    results = dict(InProcessExecutor(retries=1).run(training_tasks(ONE_EPOCH, sample, seed=0)))
    assert calls == [sample[0], sample[0], sample[1]]
    assert results[0]["status"] == "failed" and results[0]["attempts"] == 2 and "out of memory" in results[0]["error"]
    assert np.isnan(results[0]["val_accuracy"])
    assert results[1]["status"] == "trained" and results[1]["attempts"] == 1


def test_tasks_carry_the_problem_text_and_refuse_a_problem_changed_in_memory():
    from dataclasses import replace

    (task,) = training_tasks(SPEC, ["0001-0000-0000-0000_c8_t4_w4_p1_h0"], seed=3, device="cuda")
    assert (task.problem_text, task.epochs, task.seed, task.device) == (SPEC.source, 2, 3, "cuda")
    changed = replace(SPEC, training=replace(SPEC.training, lr=0.5))
    with pytest.raises(ValueError, match="differ from its TOML text"):
        training_tasks(changed, ["0001-0000-0000-0000_c8_t4_w4_p1_h0"], seed=0)
    assert training_tasks(SPEC, ["0001-0000-0000-0000_c8_t4_w4_p1_h0"], seed=0, epochs=7)[0].epochs == 7


def test_workers_and_scheduler_together_are_a_usage_error(tmp_path):
    with pytest.raises(ExecutorError, match="exclude each other"):
        make_executor(2, "tcp://127.0.0.1:8786")
    for command in (["optimize", "digits"], ["surrogate", "build", "digits"]):
        result = CliRunner().invoke(app, [*command, "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786",
                                          "--out", str(tmp_path / "x.nc")])
        assert result.exit_code == 2, result.output
        assert "exclude each other" in result.stderr and "Traceback" not in result.output


def test_an_unreachable_scheduler_is_one_line(tmp_path):
    executor = DaskExecutor(scheduler="tcp://127.0.0.1:9", connect_timeout_s=1)
    with pytest.raises(ExecutorError, match="cannot reach the Dask scheduler"):
        executor.client  # noqa: B018


@pytest.mark.slow  # 14 s on 2 cores; joining a running cluster stays in the default suite (test_worker_wait.py)
def test_surrogate_build_joins_a_running_cluster(tmp_path, cluster):
    problem = tmp_path / "one-epoch.toml"
    problem.write_text(ONE_EPOCH.source)
    out = tmp_path / "a.nc"
    result = CliRunner().invoke(app, ["surrogate", "build", str(problem), "--n", "2", "--no-score", "--out", str(out),
                                      "--scheduler", cluster.scheduler_address, "--json"])
    assert result.exit_code == 0, result.output
    archive = arc.load_archive(out)
    assert archive.sizes["record"] == 2 and set(archive.status.values) == {"trained"}
