"""How Ctrl-C and SIGTERM reach a run: the main process stops cleanly, its local workers do not see them.

A terminal's Ctrl-C sends SIGINT to its whole foreground *process group*; ``kill -- -PGID``,
``timeout`` and some batch systems signal a group too. Worker processes of a local Dask cluster
(``--workers N``: ``distributed.LocalCluster``, whose nannies start each worker with
``multiprocessing`` in the caller's group) would die of that signal in the middle of their
trainings, while the main process is still deciding what to do with it; it would then see a cluster
without workers and report a worker failure. So:

* **Workers leave the terminal's session.** :func:`dask_setup` is a Dask *preload* hook
  (``distributed.preloading``): :class:`~moo_snn.executor.DaskExecutor` starts its local workers with
  ``preload=["moo_snn.interrupts"]``, and each worker process calls :func:`os.setsid` once it has
  started (restarted workers too). A group's signal then reaches only the main process, which stops
  the run, writes the results file and closes the cluster itself. A worker still ends when the main
  process ends, however it ends (the nanny's pipe to its parent, ``distributed.process``). dask's
  own ``LocalCluster`` has no option for this (its worker processes are ``multiprocessing`` spawns,
  which take no ``start_new_session``), hence the preload. Before the hook runs (about a second
  after a worker process starts) a group signal still reaches it; the main process gets it too and
  stops the run.
* **The resource tracker outlives a hangup.** ``multiprocessing`` (the nannies' spawns) runs a
  *resource tracker* process in the caller's group that unlinks the semaphores left behind. It
  ignores SIGINT and SIGTERM but not SIGHUP: a terminal closing killed it, the main process's
  clean-up then started a new one that had never seen the semaphores, and it printed a
  ``KeyError`` traceback for each (a dozen) and left them in ``/dev/shm``.
  :func:`start_resource_tracker` starts it with SIGHUP ignored before a local cluster starts.
* **torch's first import is not interrupted.** torch imports lazily, at a run's first training; a
  :class:`KeyboardInterrupt` raised while its extension initialises (Python code that torch's C++
  calls through pybind11) aborts the process with ``terminate called after throwing an instance of
  'pybind11::error_already_set'`` (SIGABRT: no clean-up, the results file left ``running``). Found by
  sending SIGINT to ``moo-snn optimize`` at random moments: 1 abort in 12 tries. Inside
  :func:`handling` the first import of a package of :data:`HELD_IMPORTS` holds the stop signals back
  and raises them when the import has finished (:class:`_HeldImports`).
* **The stop is not itself stopped.** A second Ctrl-C (users press it again when a stop takes a
  second) used to land in the middle of the clean-up the first one started: the final write of the
  results file was cut off (the file kept status ``running`` and none of the trainings, while the
  command said every finished training was in it) or the local cluster's close was, and the process
  hung. Found by sending two SIGINTs 0.05-0.3 s apart to ``moo-snn optimize --workers 2``. The
  clean-up (the final write, cancelling the trainings in flight, closing the cluster) runs inside
  :func:`deferred`: a stop signal there is raised when it has finished, so the file is whole and the
  process then ends at once.
* **The main process remembers the signal.** :func:`handling` (what ``moo-snn`` commands run in)
  turns SIGINT, SIGTERM and SIGHUP (the terminal closed) into :class:`KeyboardInterrupt` and also
  records them: where a
  :class:`KeyboardInterrupt` is lost (Python drops exceptions raised in ``__del__`` methods and
  weakref callbacks, which run at arbitrary points), code that waits on workers checks
  :func:`requested` and stops as interrupted, never as a failure.

A SIGINT that the process inherited as ignored (a job started with ``&`` from a script runs so)
stays ignored: that is what the shell asked for; so does a SIGHUP under ``nohup``; SIGTERM always
stops the run.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["HELD_IMPORTS", "STOP_SIGNALS", "dask_setup", "deferred", "handling", "requested", "start_resource_tracker"]

_REQUESTED = threading.Event()
_HELD = {"depth": 0, "pending": False}  # inside a held import: a stop signal waits for its end

HELD_IMPORTS = ("torch",)
"""Top-level packages whose first import, inside :func:`handling`, runs with the stop signals held back
(module docstring)."""

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
"""What stops a run cleanly: Ctrl-C, ``kill`` / Slurm / Kubernetes, and the terminal closing (SIGHUP; ``nohup``
sets it ignored, and then it stays so)."""


def requested() -> bool:
    """Whether SIGINT or SIGTERM arrived inside :func:`handling` (and the block has not ended)."""
    return _REQUESTED.is_set()


def _interrupt(signum, frame):
    _REQUESTED.set()
    if _HELD["depth"]:  # a held import is under way: raise when it has finished (_HeldImports)
        _HELD["pending"] = True
        return
    raise KeyboardInterrupt


@contextmanager
def _held() -> Iterator[None]:
    _HELD["depth"] += 1
    try:
        yield
    finally:
        _HELD["depth"] -= 1
        if not _HELD["depth"] and _HELD["pending"]:
            _HELD["pending"] = False
            raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """Run a clean-up with the stop signals held back: one arriving inside the block raises
    :class:`KeyboardInterrupt` when the block has finished (outermost block; module docstring).

    For what must not be cut off half-way: the final write of a results file, the cancelling of
    trainings in flight, the close of a local cluster. Only :func:`handling`'s handlers hold signals
    back; outside it (a Python caller's own handlers) the block changes nothing.
    """
    with _held():
        yield


class _HeldLoader:
    """A package's loader whose ``exec_module`` runs with the stop signals held back (other attributes: the
    loader's own)."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self._loader  # the package sees its own loader
        with _held():
            self._loader.exec_module(module)


class _HeldImports(importlib.abc.MetaPathFinder):
    """Finds the packages of :data:`HELD_IMPORTS` as the path finder does and wraps their loader (:class:`_HeldLoader`)."""

    def find_spec(self, name, path=None, target=None):
        if name not in HELD_IMPORTS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _HeldLoader(spec.loader)
        return spec


@contextmanager
def handling() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP (:data:`STOP_SIGNALS`) raise :class:`KeyboardInterrupt` inside the block
    and are recorded (:func:`requested`); during the first import of a package of :data:`HELD_IMPORTS`
    they are raised when that import has finished.

    Only in the main thread (elsewhere Python cannot set handlers: the block changes nothing); a
    SIGINT or SIGHUP that is ignored when the block starts (a background job of a script, ``nohup``)
    stays ignored. The previous handlers come back, and the record is cleared, when the block ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in STOP_SIGNALS:
        if signum != signal.SIGTERM and signal.getsignal(signum) == signal.SIG_IGN:
            continue
        previous[signum] = signal.signal(signum, _interrupt)
    _REQUESTED.clear()
    finder = _HeldImports()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _REQUESTED.clear()
        _HELD.update(depth=0, pending=False)


def start_resource_tracker() -> None:
    """Start ``multiprocessing``'s resource tracker (if it is not running) with SIGHUP ignored.

    The tracker ignores SIGINT and SIGTERM itself (CPython's ``multiprocessing.resource_tracker.main``)
    but not SIGHUP, which a closing terminal sends to the whole process group (see the module
    docstring). A signal set to ``SIG_IGN`` stays ignored across the ``exec`` that starts it, so the
    caller's SIGHUP handler is set to ignore for the moment of the start and restored after. No-op
    where there is no SIGHUP or no resource tracker (Windows), and outside the main thread.
    """
    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        return
    try:
        from multiprocessing import resource_tracker
    except ImportError:  # pragma: no cover - platforms without it
        return
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        resource_tracker.ensure_running()
    finally:
        signal.signal(signal.SIGHUP, previous)


def dask_setup(worker) -> None:
    """Dask preload hook (``preload=["moo_snn.interrupts"]``): this worker process leaves the caller's
    session and process group (:func:`os.setsid`), so that the caller's Ctrl-C does not kill it.

    Parameters
    ----------
    worker : distributed.Worker
        The worker being started (unused: the call acts on its process).
    """
    setsid = getattr(os, "setsid", None)  # POSIX only
    if setsid is None:
        return
    try:
        setsid()
    except OSError:  # already the leader of its own group (then not in the terminal's either)
        pass
