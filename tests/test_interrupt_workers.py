"""Ctrl-C during a run on local Dask workers: the run stops as interrupted, not as a worker failure.

A terminal's Ctrl-C is SIGINT to its whole foreground process group. The real test starts
``moo-snn optimize --workers 2`` in a session of its own (``start_new_session``: its own group, as a
terminal's job), sends SIGINT to that group with :func:`os.killpg` while trainings run on the workers,
and checks exit 130 within seconds, status ``interrupted``, no traceback, workers outside the group,
and that ``--resume`` completes the run. The fast tests check the pieces: the signal record of
:mod:`moo_snn.interrupts` and the executor's wait, which reports an interrupt, never a lost cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import moo_snn
from moo_snn import interrupts
from moo_snn.executor import DaskExecutor, DaskStream, ExecutorError
from test_reliability import TINY

MOO_SNN = [sys.executable, "-c", "import sys; from moo_snn.cli import main; sys.argv[0] = 'moo-snn'; main()"]


# --- the pieces (fast) ---------------------------------------------------------------------------

def test_sigint_sigterm_and_sighup_raise_keyboardinterrupt_and_are_recorded_inside_handling():
    assert {signal.SIGINT, signal.SIGTERM} <= set(interrupts.STOP_SIGNALS)
    before = [signal.getsignal(s) for s in interrupts.STOP_SIGNALS]
    for signum in interrupts.STOP_SIGNALS:
        # as from a terminal: under nohup or as a script's background job the suite inherits SIGHUP or
        # SIGINT ignored, which handling() rightly leaves alone (the next test)
        inherited = signal.signal(signum, signal.SIG_DFL)
        try:
            with interrupts.handling():
                assert not interrupts.requested()
                with pytest.raises(KeyboardInterrupt):
                    os.kill(os.getpid(), signum)
                    time.sleep(5)  # the handler runs at the next bytecode: never reached
                assert interrupts.requested()
            assert not interrupts.requested()  # cleared when the block ends
            assert signal.getsignal(signum) == signal.SIG_DFL  # what it was before the block
        finally:
            signal.signal(signum, inherited)
    assert [signal.getsignal(s) for s in interrupts.STOP_SIGNALS] == before


def test_a_stop_signal_during_a_held_import_is_raised_once_the_import_has_finished(tmp_path, monkeypatch):
    """torch's first import must not be interrupted half-way: a KeyboardInterrupt raised in Python code that
    torch's C++ calls while it initialises aborts the process (pybind11 terminate, SIGABRT; 1 in 12 Ctrl-C
    at random moments of ``moo-snn optimize``). Here a package that signals itself half-way through its
    own import: inside ``handling`` its import finishes, then the interrupt comes; other imports as before."""
    for name in ("heldpkg", "plainpkg"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(
            "import os, signal, pathlib\n"
            "pathlib.Path(__file__).with_name('started').touch()\n"
            "os.kill(os.getpid(), signal.SIGTERM)\n"  # (SIGINT may come ignored: the suite run as a background job)
            "for _ in range(1000):\n    pass\n"
            "pathlib.Path(__file__).with_name('finished').touch()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(interrupts, "HELD_IMPORTS", ("heldpkg",))
    with interrupts.handling():
        with pytest.raises(KeyboardInterrupt):
            import heldpkg  # noqa: F401
        assert (tmp_path / "heldpkg" / "finished").exists()  # the whole body ran before the interrupt
        with pytest.raises(KeyboardInterrupt):
            import plainpkg  # noqa: F401
        assert (tmp_path / "plainpkg" / "started").exists() and not (tmp_path / "plainpkg" / "finished").exists()
        assert interrupts.requested()
    sys.modules.pop("heldpkg", None), sys.modules.pop("plainpkg", None)
    assert not any(isinstance(f, interrupts._HeldImports) for f in sys.meta_path)  # removed with the block


def test_a_stop_signal_during_a_results_write_is_raised_once_the_file_is_whole(tmp_path, monkeypatch):
    """A KeyboardInterrupt raised in the middle of xarray's NetCDF encoding left its lock held, and the run's
    final write (with status ``interrupted``) then waited for it for ever; a second Ctrl-C cut that final
    write itself (status ``running``, no trainings, while the command said every training was kept). Here
    the encoding signals the process half-way: the write finishes, the file is whole, then the interrupt
    comes, and a later write does not hang."""
    import numpy as np
    import xarray as xr

    from moo_snn import netcdf

    encode = netcdf._encode
    def signalling_encode(ds):
        os.kill(os.getpid(), signal.SIGTERM)  # (SIGINT may come ignored: the suite run as a background job)
        for _ in range(1000):
            pass
        return encode(ds)

    monkeypatch.setattr(netcdf, "_encode", signalling_encode)
    ds = xr.Dataset({"a": ("x", np.arange(3.0))}, attrs={"format": "test-1"})
    with interrupts.handling():
        with pytest.raises(KeyboardInterrupt):
            netcdf.write_atomic(ds, tmp_path / "f.nc")
        assert netcdf.read(tmp_path / "f.nc", "results file", "test-1")["a"].values.tolist() == [0.0, 1.0, 2.0]
        reached = []
        with pytest.raises(KeyboardInterrupt):
            with interrupts.deferred():  # nested: raised at the outermost block's end only
                with interrupts.deferred():
                    os.kill(os.getpid(), signal.SIGTERM)
                    for _ in range(1000):
                        pass
                reached.append(True)
        assert reached
    monkeypatch.setattr(netcdf, "_encode", encode)
    netcdf.write_atomic(ds.assign(a=ds.a + 1), tmp_path / "f.nc")  # the lock is free: no hang
    assert netcdf.read(tmp_path / "f.nc", "results file", "test-1")["a"].values.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("name", ["SIGINT", "SIGHUP"])
def test_an_ignored_sigint_or_sighup_stays_ignored(name):
    """A background job of a script ignores SIGINT, ``nohup`` ignores SIGHUP: as the shell asked."""
    signum = getattr(signal, name, None)
    if signum is None:
        pytest.skip(f"no {name} here")
    previous = signal.signal(signum, signal.SIG_IGN)
    try:
        with interrupts.handling():
            assert signal.getsignal(signum) == signal.SIG_IGN
            os.kill(os.getpid(), signum)
            time.sleep(0.05)
            assert not interrupts.requested()
    finally:
        signal.signal(signum, previous)


@pytest.mark.skipif(not hasattr(signal, "SIGHUP") or not Path("/proc").is_dir(), reason="POSIX signals and /proc")
def test_the_resource_tracker_is_started_with_sighup_ignored_and_the_caller_keeps_its_handler():
    """A closing terminal's SIGHUP reaches the whole group, multiprocessing's resource tracker included; it
    must survive it (it ignores SIGINT and SIGTERM itself). Checked in a fresh process (this one may
    already run a tracker) from the tracker's ignored-signal mask in /proc."""
    code = (
        "import os, signal; from pathlib import Path; from moo_snn import interrupts;"
        "from multiprocessing import resource_tracker as rt;"
        "signal.signal(signal.SIGHUP, signal.SIG_DFL);"
        "interrupts.start_resource_tracker();"
        "mask = [l for l in Path(f'/proc/{rt._resource_tracker._pid}/status').read_text().splitlines() if l.startswith('SigIgn')];"
        "print(int(mask[0].split()[1], 16) >> (signal.SIGHUP - 1) & 1, signal.getsignal(signal.SIGHUP) == signal.SIG_DFL)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "True"]


class _EmptyCluster:
    """A client whose cluster has no worker and whose trainings never finish."""

    def scheduler_info(self):
        return {"workers": {}}


class _NothingFinishes:
    def has_ready(self):
        return False


def _stream_without_workers(timeout_s: float) -> DaskStream:
    executor = DaskExecutor(client=object(), no_worker_timeout_s=timeout_s)
    stream = object.__new__(DaskStream)  # no cluster: only the waiting loop is under test
    stream.executor, stream.client, stream._finished, stream._pending = executor, _EmptyCluster(), _NothingFinishes(), {}
    stream._seen_workers = False
    return stream


def test_waiting_on_a_cluster_without_workers_is_a_failure_unless_an_interrupt_came():
    with pytest.raises(ExecutorError, match="no worker"):
        _stream_without_workers(0.0)._next_finished()
    with interrupts.handling():
        interrupts._REQUESTED.set()  # a SIGINT whose KeyboardInterrupt was lost (raised in a __del__, say)
        with pytest.raises(KeyboardInterrupt):
            _stream_without_workers(0.0)._next_finished()


# --- the real thing: a process group's SIGINT (slow) --------------------------------------------

def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _workers(pid: int) -> list[int]:
    """The Dask worker processes the run started (multiprocessing spawns, not its resource tracker)."""
    out = []
    for child in _children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.append(child)
        except OSError:
            pass
    return out


@pytest.mark.slow  # about 40-60 s on 2 shared cores: a cluster start, trainings, a resume
@pytest.mark.skipif(not hasattr(os, "killpg") or not Path("/proc").is_dir(), reason="POSIX process groups and /proc")
@pytest.mark.parametrize(("mode", "signame"), [("--sync", "SIGINT"), ("--async", "SIGINT"), ("--sync", "SIGHUP")])
def test_ctrl_c_to_the_process_group_stops_a_dask_run_as_interrupted_and_resume_completes(tmp_path, mode, signame):
    """SIGINT: Ctrl-C; SIGHUP: the terminal closed (it also reaches multiprocessing's resource tracker, which
    printed a KeyError traceback per semaphore when the hangup killed it)."""
    (tmp_path / "tiny.toml").write_text(TINY)
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")
    command = [*MOO_SNN, "optimize", "tiny.toml", "--out", "run.nc", "--torch-threads", "1",
               "--workers", "2", mode]
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,  # its own process group, as a terminal's foreground job
                            preexec_fn=lambda: signal.signal(getattr(signal, signame), signal.SIG_DFL))  # not nohup's
    deadline = time.monotonic() + 180
    while not (tmp_path / "run.nc").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # the first checkpoint: the cluster is up and the bootstrap trainings are submitted
    assert proc.poll() is None, proc.communicate()
    time.sleep(1.0)  # trainings under way on the workers
    workers = _workers(proc.pid)
    assert len(workers) == 2
    assert all(os.getpgid(w) != proc.pid for w in workers), "a worker is still in the terminal's process group"
    os.killpg(proc.pid, getattr(signal, signame))  # what Ctrl-C in a terminal (or closing it) does
    sent = time.monotonic()
    out, err = proc.communicate(timeout=120)
    stopped_s = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert stopped_s < 30, f"took {stopped_s:.0f} s to stop"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err  # workers did not die printing tracebacks
    assert [ln for ln in err.splitlines() if ln.startswith("interrupted")] == [
        f"interrupted: every finished training is in run.nc; continue with moo-snn optimize --resume run.nc"]
    ds = moo_snn.open_results(tmp_path / "run.nc")
    assert ds.attrs["status"] == "interrupted" and not ds.attrs.get("failure")
    assert not any(ds.status.values == "failed")
    time.sleep(2.0)
    assert not [w for w in workers if Path(f"/proc/{w}").exists()], "worker processes outlived the run"
    done = subprocess.run([*MOO_SNN, "optimize", "--resume", "run.nc", "--workers", "2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    final = moo_snn.open_results(tmp_path / "run.nc")
    assert final.attrs["status"] == "complete"
    assert int(final.trained.sum()) >= int(ds.trained.sum())
    assert not any(final.status.values == "failed")


@pytest.mark.slow  # about 30-60 s on 2 shared cores: three cluster starts
@pytest.mark.skipif(not hasattr(os, "killpg") or not Path("/proc").is_dir(), reason="POSIX process groups and /proc")
@pytest.mark.parametrize("gap_s", [0.02, 0.1, 0.3])
def test_two_ctrl_c_in_a_row_stop_a_dask_run_with_its_file_whole(tmp_path, gap_s):
    """Users press Ctrl-C again when a stop takes a second. Two SIGINTs 0.05-0.3 s apart, right after a
    training, hung ``moo-snn optimize --workers 2`` or left its file ``running`` with no training while the
    command said every finished training was in it (moo_snn.interrupts: the clean-up is deferred)."""
    (tmp_path / "tiny.toml").write_text(TINY)
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")
    command = [*MOO_SNN, "optimize", "tiny.toml", "--out", "run.nc", "--torch-threads", "1", "--workers", "2"]
    with open(tmp_path / "err", "w") as err_file:
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=err_file, text=True,
                                start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 240
        while "trained " not in (tmp_path / "err").read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, (tmp_path / "err").read_text()
        for _ in range(2):
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(gap_s)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("the run hung after two Ctrl-C")
    err = (tmp_path / "err").read_text()
    assert proc.returncode == 130, err
    ds = moo_snn.open_results(tmp_path / "run.nc")
    assert ds.attrs["status"] == "interrupted", err
    assert int(ds.trained.sum()) >= 1  # the training whose line was seen
    assert "every finished training is in run.nc" in err
