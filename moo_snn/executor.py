"""Where the full trainings run (DESIGN §9): in this process, or on Dask distributed workers.

One interface for the search's survivors and for ``surrogate build``: an executor's
``run(tasks, data=None)`` yields ``(index, result)`` for each :class:`TrainingTask` *as it
finishes* (in any order), so the caller records every result the moment it exists. ``result`` is
:meth:`TrainResult.to_dict() <moo_snn.training.trainer.TrainResult.to_dict>`, plus ``sahd_score``
when the task asked for SNASNet's training-free score, and ``attempts`` (1 unless retried).

A task is plain text and numbers: the problem's TOML text and folder (a worker parses the text
itself and reads the data from the problem's ``[data] path``, relative to that folder), the
architecture string, epochs, seed and device. Data are never sent: each worker process loads a
problem's data once and keeps it for the following tasks.

Faults: a training that raises, or whose worker process dies, is attempted again up to ``retries``
times, then recorded as ``failed`` (NaN accuracies, ``error`` says why); the run goes on. A
:class:`~moo_snn.errors.MooSnnError` (the user's mistake: data missing on the worker, no CUDA
there) is not retried: it stops the run with its message, every finished result already recorded.

Determinism: a training's numbers depend on its seed and, on CPU, on torch's thread count (the
summation order of parallel reductions). Executors pass ``torch_threads`` to every training; where
it is None each training chooses its count (:func:`moo_snn.training.runtime.choose_threads`) and
records it in its result (``torch_threads``); the same seed and the same thread count give the
same measured result in this process and on any worker.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import tempfile
from contextlib import closing
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from uuid import uuid4

from moo_snn.interrupts import deferred, requested as interrupt_requested, start_resource_tracker
from moo_snn.errors import MooSnnError


class ExecutorError(MooSnnError):
    """The executor could not be set up: conflicting options, an unreachable scheduler."""


LOCAL_WORKER_WAIT_S = 120.0
"""How long trainings wait on a local cluster (``--workers N``) that has lost every worker before the run stops."""
SCHEDULER_WORKER_WAIT_S = 900.0
"""How long trainings wait on a scheduler's cluster (``--scheduler``) without any worker (none joined yet, or all
left) before the run stops, every finished training recorded: 15 min, for workers that start after the scheduler."""


@dataclass(frozen=True)
class TrainingTask:
    """One full training, as plain values a worker on another machine can act on.

    ``weights_path``, if set, is where the trained weights end up on the *submitting* machine (a
    worker sends them back with the result).
    """

    problem_text: str
    base_dir: str
    arch: str
    epochs: int
    seed: int
    device: str = "cpu"
    score: bool = False
    weights_path: str | None = None
    train_fraction: float = 1.0
    """Stratified fraction of the training split to train on (< 1: a low-fidelity proxy, DESIGN §6b)."""
    nonideal: bool = False
    """Measure the accuracy on non-ideal crossbars (the run's objectives or limits use ``accuracy_nonideal``;
    ``--objective`` names are not in the problem's text, which the worker reads)."""


def training_tasks(problem, archs: Sequence[str], *, seed: int, epochs: int | None = None, device: str = "cpu",
                   score: bool = False, weights_paths: Sequence[str | Path | None] | None = None,
                   train_fraction: float = 1.0) -> list[TrainingTask]:
    """Tasks that train ``archs`` with ``problem``'s data and recipe (``epochs`` defaults to its own).

    Workers re-read the problem from its TOML text: the ``[data]`` and ``[training]`` tables of
    ``problem`` must be those of its text (``ValueError`` otherwise).
    """
    from moo_snn.training.runtime import check_device

    check_device(device, here=False)  # another device type fails every task alike: refused here, once
    parsed = _parse(problem.source, str(problem.base_dir))
    epochs = problem.training.epochs if epochs is None else int(epochs)
    if parsed.data != problem.data or dataclasses.replace(parsed.training, epochs=epochs) != \
            dataclasses.replace(problem.training, epochs=epochs):
        raise ValueError(f"problem {problem.name!r}: its [data] or [training] differ from its TOML text, which workers read; "
                         f"build the problem from the text (parse_problem) instead of changing it in memory")
    from moo_snn.training.nonideal import needs_nonideal

    paths = list(weights_paths) if weights_paths is not None else [None] * len(archs)
    nonideal = needs_nonideal(problem) and train_fraction >= 1.0  # a proxy measures the ideal accuracy only
    return [TrainingTask(problem.source, str(problem.base_dir), str(arch), epochs, int(seed), device, bool(score),
                         None if path is None else str(path), float(train_fraction), nonideal)
            for arch, path in zip(archs, paths, strict=True)]


def failed_result(task: TrainingTask, error: str, attempts: int) -> dict:
    """The result of a training that never finished: status ``failed``, NaN measurements."""
    nan = math.nan
    return dict(arch=task.arch, status="failed", val_accuracy=nan, test_accuracy=nan, spike_rates={}, train_seconds=nan,
                epochs=task.epochs, seed=task.seed, device=task.device, samples_per_second=nan, params=0, epoch_losses=[],
                sahd_score=nan, error=error, attempts=attempts, train_fraction=task.train_fraction, samples_seen=0, torch_threads=0)


class Executor(Protocol):
    """Runs trainings; yields ``(index into tasks, result dict)`` as each one finishes."""

    def run(self, tasks: Sequence[TrainingTask], data=None) -> Iterator[tuple[int, dict]]:
        """Train ``tasks`` (on ``data``, or each task's problem data); yield ``(index, result)`` as each finishes."""


# --- what runs in a worker (or here) -------------------------------------------------------------

@lru_cache(maxsize=8)
def _parse(text: str, base_dir: str):
    from moo_snn.config.problem import parse_problem

    # objective plug-ins are the submitting side's business: a worker only trains
    return parse_problem(text, source=f"{base_dir}/<problem of a training task>", base_dir=base_dir, check_plugins=False)


class DataCache:
    """The loaded data of the last ``size`` problems, by their ``[data]`` table and path."""

    def __init__(self, size: int = 2):
        self.size = size
        self.loads = 0  # how many times data were read (tests check that a worker reads once)
        self._items: OrderedDict = OrderedDict()

    def get(self, problem):
        """The problem's data splits, loaded once per distinct ``[data]`` table (the cache holds ``size`` of them)."""
        from moo_snn.data import load_problem_data

        key = (json.dumps(dataclasses.asdict(problem.data), sort_keys=True, default=str), str(problem.data_path))
        if key in self._items:
            self._items.move_to_end(key)
        else:
            self._items[key] = load_problem_data(problem)
            self.loads += 1
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return self._items[key]


_WORKER_DATA = DataCache()  # one per worker process: a problem's data are read once per worker


def run_training_task(task: TrainingTask, data=None, *, threads: int | None = None, device: str | None = None,
                      weights_path: str | None = None, trainings_per_node: int = 1) -> dict:
    """Carry out one task here: parse its problem, train, optionally score; the result dict.

    ``data`` are the problem's loaded data (read through the worker's cache when None);
    ``device`` and ``weights_path`` override the task's. ``threads`` None: the training's thread
    policy chooses (:func:`moo_snn.training.runtime.choose_threads`, sharing the node's cores among
    ``trainings_per_node`` trainings); the count used is the result's ``torch_threads``.
    """
    from moo_snn.training import trainer
    from moo_snn.training.runtime import torch_threads

    problem = _parse(task.problem_text, task.base_dir)
    data = _WORKER_DATA.get(problem) if data is None else data
    device = task.device if device is None else device
    if task.nonideal:  # asked by the run's objectives (its --objective names are not in the text)
        from moo_snn.objectives import with_objectives
        from moo_snn.training.nonideal import NONIDEAL_METRIC, needs_nonideal

        problem = problem if needs_nonideal(problem) else with_objectives(problem, [f"+{NONIDEAL_METRIC}"])
    if task.train_fraction < 1.0:  # a low-fidelity proxy: a stratified part of the training split
        from moo_snn.data.splits import training_subset

        data = training_subset(data, task.train_fraction, problem.data.split_seed)
    with torch_threads(threads):
        result = trainer.train_architecture(problem, task.arch, data, epochs=task.epochs, seed=task.seed, device=device,
                                            weights_path=weights_path, torch_threads=threads,
                                            trainings_per_node=trainings_per_node).to_dict()
        if task.score:
            from moo_snn.training.sahd import training_free_score

            result["sahd_score"] = training_free_score(problem, task.arch, data, seed=task.seed, device=device)
    result["train_fraction"] = task.train_fraction
    result["samples_seen"] = task.epochs * len(data.y_train)  # the training's cost in samples (epochs x samples)
    return result


def _worker_device(device: str) -> str:
    """``cuda`` on a worker of a local cluster (named 0, 1, …) → ``cuda:<name mod GPUs>``: one GPU each."""
    if device != "cuda":
        return device
    from distributed import get_worker

    from moo_snn.training.runtime import cuda_device_count

    try:
        name = get_worker().name
    except ValueError:  # not in a Dask worker
        return device
    count = cuda_device_count()
    return f"cuda:{name % count}" if isinstance(name, int) and count > 1 else device


def run_on_worker(task: TrainingTask, threads: int | None = None, trainings_per_node: int = 1) -> dict:
    """The function a Dask worker runs: the task, with the trained weights returned as bytes."""
    tmp = None
    if task.weights_path:
        fd, tmp = tempfile.mkstemp(suffix=".pt")
        os.close(fd)
    try:
        result = run_training_task(task, threads=threads, device=_worker_device(task.device), weights_path=tmp,
                                   trainings_per_node=trainings_per_node)
        result["worker"] = worker_name()
        if tmp and os.path.getsize(tmp) > 0:
            result["weights"] = Path(tmp).read_bytes()
    finally:
        if tmp:
            os.unlink(tmp)
    return result


def worker_name() -> str:
    """The name of the Dask worker this runs on (its address if unnamed), ``local`` outside a worker."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # not in a Dask worker
        return "local"
    return str(worker.name if worker.name is not None else worker.address)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# --- executors ----------------------------------------------------------------------------------

class InProcessExecutor:
    """Trainings one after the other in this process (the default), on data already loaded.

    Parameters
    ----------
    retries : further attempts of a training that raised (not a :class:`MooSnnError`).
    torch_threads : torch threads per training (None: each training's thread policy,
        :func:`moo_snn.training.runtime.choose_threads`: 1 for small networks, never more than the
        free cores).
    """

    def __init__(self, *, retries: int = 0, torch_threads: int | None = None):
        self.retries = retries
        self.torch_threads = torch_threads
        self._data = DataCache(size=1)

    def run(self, tasks: Sequence[TrainingTask], data=None) -> Iterator[tuple[int, dict]]:
        """Yield ``(index, result)`` in task order; ``data``: the tasks' problem's data if loaded."""
        for i, task in enumerate(tasks):
            yield i, self.train(task, data)

    def train(self, task: TrainingTask, data=None) -> dict:
        """One task here, attempted up to ``retries + 1`` times; its result (``worker`` = ``local``)."""
        for attempt in range(1, self.retries + 2):
            try:
                task_data = data if data is not None else self._data.get(_parse(task.problem_text, task.base_dir))
                result = dict(run_training_task(task, task_data, threads=self.torch_threads, weights_path=task.weights_path),
                              attempts=attempt, worker="local")
                break
            except MooSnnError:
                raise
            except Exception as exc:  # noqa: BLE001 - any other failure of one training is recorded, not fatal
                result = failed_result(task, _describe(exc), attempt)
        return result

    def stream(self, data=None) -> InProcessStream:
        """Trainings submitted one by one (:class:`TaskStream`); one slot: each runs when its result is asked for."""
        return InProcessStream(self, data)

    def close(self) -> None:
        """Drop the cached data (nothing else to release in this process)."""
        self._data = DataCache(size=1)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DaskExecutor:
    """Trainings on Dask distributed workers, one per worker thread, results as they finish.

    Give exactly one of ``workers`` (start a local cluster of that many single-threaded worker
    processes on loopback), ``scheduler`` (the address of a running scheduler) or ``client`` (a
    ``distributed.Client`` of yours, left open on :meth:`close`).

    Parameters
    ----------
    retries : further attempts of a training whose worker died or that raised; then ``failed``.
        On a local cluster every worker death counts as one attempt; an existing scheduler also
        applies its own ``distributed.scheduler.allowed-failures`` to worker deaths.
    torch_threads : torch threads per training; default (None): each training's thread policy
        (:func:`moo_snn.training.runtime.choose_threads`), which shares a machine's free cores among
        the trainings running on it (the local cluster's workers, or the worker threads per host).
    connect_timeout_s : how long to wait for ``scheduler``.
    no_worker_timeout_s : how long trainings may wait on a cluster without any worker (none joined yet,
        or all died and none came back: out of memory, say) before :class:`ExecutorError` stops the run,
        every finished training recorded (default: :data:`LOCAL_WORKER_WAIT_S`, 120 s, on a local cluster;
        :data:`SCHEDULER_WORKER_WAIT_S`, 900 s, on a scheduler, whose workers may come and go).
    on_wait : called with one line (the cluster's address, the trainings waiting, the time limit) when
        trainings start waiting on a cluster without any worker; once per such wait. Library code
        never prints: ``moo-snn`` shows the line.
    trainings_per_gpu : trainings that share one GPU at a time (small networks leave a GPU mostly
        idle): tasks ask for ``GPU: 1 / trainings_per_gpu`` of a worker's resource.

    With ``device="cuda"``, tasks ask for the worker resource ``GPU`` where workers declare it
    (``dask worker ADDR --nthreads K --resources GPU=1``: up to K trainings, at most
    ``trainings_per_gpu`` on the GPU at a time); workers of a local cluster each take one GPU
    (``cuda:<worker number mod GPUs>``): ``--workers N`` on a machine with G GPUs puts about N / G
    trainings on each.
    """

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None, client=None, retries: int = 2,
                 torch_threads: int | None = None, connect_timeout_s: float = 20.0, trainings_per_gpu: int = 1,
                 no_worker_timeout_s: float | None = None, on_wait=None):
        given = sum(x is not None for x in (workers, scheduler, client))
        if given > 1:
            raise ExecutorError("--workers (start a local Dask cluster) and --scheduler (join an existing one) exclude "
                                "each other; give one of them")
        if given == 0:
            raise ExecutorError("a Dask executor needs workers=N, scheduler=ADDR or client=Client")
        if trainings_per_gpu < 1:
            raise ExecutorError(f"trainings per GPU must be at least 1, found {trainings_per_gpu}")
        if workers is not None and workers < 1:
            raise ExecutorError(f"--workers must be at least 1, found {workers}")
        self.workers, self.scheduler, self.retries = workers, scheduler, retries
        self.connect_timeout_s = connect_timeout_s
        self.no_worker_timeout_s = (no_worker_timeout_s if no_worker_timeout_s is not None
                                    else LOCAL_WORKER_WAIT_S if workers else SCHEDULER_WORKER_WAIT_S)
        self.on_wait = on_wait
        self.torch_threads = torch_threads  # None: each training's thread policy, sharing its node's cores
        self.trainings_per_gpu = trainings_per_gpu
        self.worker_close_timeout_s = 1.0  # a local worker still busy when the executor closes is killed after 0.8 s
        self._client, self._cluster, self._own_client = client, None, client is None

    @property
    def remote(self) -> bool:
        """The trainings run on a cluster this process did not start (a scheduler, a client of yours):
        their GPUs are not this machine's (:func:`moo_snn.training.runtime.check_device` ``here``)."""
        return self.workers is None

    @property
    def client(self):
        """The ``distributed.Client`` (the local cluster is started, or the scheduler joined, on first use)."""
        if self._client is None:
            self._start()
        return self._client

    def _start(self) -> None:
        import dask
        from distributed import Client, LocalCluster

        if self.workers is not None:
            # Our own cluster's logs are noise: failures come back as results. (Its scheduler logs
            # here, and norse's import gives the root logger a handler that would print them.)
            logger = logging.getLogger("distributed")
            self._log_level = logger.level
            logger.setLevel(logging.CRITICAL)
            start_resource_tracker()  # before the nannies' spawns start it: a terminal's hangup must not kill it
            # allowed-failures 0: a worker death fails the attempt at once and ``retries`` decides
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                # preload: each worker process leaves the terminal's session, so that Ctrl-C (SIGINT to the
                # whole process group) stops the run here instead of killing the workers (moo_snn.interrupts)
                self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                             dashboard_address=":0", silence_logs=logging.CRITICAL,
                                             preload=["moo_snn.interrupts"])
            self._client = Client(self._cluster)
            return
        try:
            self._client = Client(self.scheduler, timeout=self.connect_timeout_s)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecutorError(f"cannot reach the Dask scheduler at {self.scheduler!r} ({_describe(exc)}); start one "
                                f"with `dask scheduler` and give the address it prints (tcp://HOST:8786)") from None

    def _resources(self, tasks: Sequence[TrainingTask]) -> dict | None:
        if not any(t.device.startswith("cuda") for t in tasks):
            return None
        workers = self.client.scheduler_info()["workers"].values()
        return {"GPU": 1 / self.trainings_per_gpu} if any("GPU" in (w.get("resources") or {}) for w in workers) else None

    def run(self, tasks: Sequence[TrainingTask], data=None) -> Iterator[tuple[int, dict]]:
        """Yield ``(index, result)`` as trainings finish; ``data`` is ignored (workers read their own).

        No more tasks are in flight than the cluster has worker threads: the others wait here, not
        queued on a worker, so a worker's death fails (and charges an attempt to) only the trainings
        that were running on it.
        """
        stream = self.stream()
        with closing(stream):
            waiting = deque(enumerate(tasks))
            while waiting or stream.pending:
                while waiting and stream.pending < stream.slots:
                    i, task = waiting.popleft()
                    stream.submit(task, i)
                yield stream.next_result()

    def stream(self, data=None) -> DaskStream:
        """Trainings submitted one by one, results as they finish (:class:`TaskStream`); ``data`` is ignored."""
        return DaskStream(self)

    def call(self, task: TrainingTask) -> tuple:
        """The function and arguments a worker runs for ``task`` (a replaying subclass changes them)."""
        return run_on_worker, task, self.torch_threads, self._trainings_per_node()

    def _trainings_per_node(self) -> int:
        """Trainings that run at once on one machine: the local cluster's workers, else the most worker threads of one host."""
        if self.workers is not None:
            return self.workers
        per_host: dict[str, int] = {}
        for w in self.client.scheduler_info()["workers"].values():
            per_host[w.get("host", "")] = per_host.get(w.get("host", ""), 0) + int(w.get("nthreads", 1))
        return max(per_host.values(), default=1)

    def close(self) -> None:
        """Close the client and the local cluster this executor started.

        The local workers are stopped within about a second, trainings in flight included (what is
        still running when the run ends, by Ctrl-C say, is not waited for: Dask's nanny would give a
        busy worker 4 s before killing it).
        """
        with deferred():  # a Ctrl-C in the middle of closing left the process hung (moo_snn.interrupts)
            if self._own_client and self._client is not None:
                self._client.close()
            if self._cluster is not None:
                nannies = list(self._cluster.workers.values())
                try:
                    self._cluster.sync(_close_nannies, nannies, self.worker_close_timeout_s)
                except Exception:  # noqa: BLE001 - best effort: the cluster's own close below stops what is left
                    pass
                self._cluster.close()
                logging.getLogger("distributed").setLevel(self._log_level)
            self._client = None if self._own_client else self._client
            self._cluster = None

    def __enter__(self):
        self.client  # noqa: B018 - start (or join) the cluster now, not in the middle of a run
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TaskStream(Protocol):
    """An executor seen one task at a time (the asynchronous search, :mod:`moo_snn.search.async_loop`).

    ``submit`` hands over a task with a tag of the caller's; ``next_result`` waits for the next
    training to finish (in any order) and returns ``(tag, result)``, the result with ``attempts`` and
    ``worker`` (the name of the worker that ran its last attempt); ``slots`` is how many trainings
    can run at once now; ``pending`` how many were submitted and not returned; ``close`` cancels them.
    """

    slots: int
    pending: int

    def submit(self, task: TrainingTask, tag) -> None:
        """Hand over ``task``; its result comes back from :meth:`next_result` with ``tag``."""

    def next_result(self) -> tuple[object, dict]:
        """Wait for the next training to finish (any order); ``(tag, result)``."""

    def close(self) -> None:
        """Cancel what was submitted and not returned."""


class InProcessStream:
    """:class:`TaskStream` of an :class:`InProcessExecutor`: one slot, trainings run in submission
    order when a result is asked for (so the caller's requests come first, as on a cluster)."""

    slots = 1

    def __init__(self, executor: InProcessExecutor, data=None):
        self.executor, self.data = executor, data
        self._queue: deque = deque()

    @property
    def pending(self) -> int:
        """Tasks submitted and not returned yet."""
        return len(self._queue)

    def submit(self, task: TrainingTask, tag) -> None:
        """Queue ``task`` (it runs when a result is asked for)."""
        self._queue.append((tag, task))

    def next_result(self) -> tuple[object, dict]:
        """Train the oldest queued task here and now; ``(tag, result)``."""
        tag, task = self._queue.popleft()
        return tag, self.executor.train(task, self.data)

    def close(self) -> None:
        """Forget the queued tasks."""
        self._queue.clear()


class DaskStream:
    """:class:`TaskStream` of a :class:`DaskExecutor` (Dask's ``as_completed``).

    Faults: a task whose worker died or that raised is submitted again (a new key) up to the
    executor's ``retries`` times, then returned ``failed``; a :class:`MooSnnError` raised on a worker
    is raised here, as :meth:`DaskExecutor.run` does.
    """

    def __init__(self, executor: DaskExecutor):
        from distributed import as_completed

        self.executor = executor
        self.client = executor.client
        self._finished = as_completed()
        self._pending: dict = {}  # future key → (tag, task, attempt, future)
        self._resources: dict = {}
        self._seen_workers = False  # any worker seen while waiting: the timeout's message says what happened

    @property
    def slots(self) -> int:
        """Worker threads of the cluster now (workers may come and go on a shared scheduler)."""
        workers = self.client.scheduler_info()["workers"].values()
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers))

    @property
    def pending(self) -> int:
        """Tasks submitted to the cluster and not returned yet."""
        return len(self._pending)

    def submit(self, task: TrainingTask, tag, attempt: int = 1) -> None:
        """Submit ``task`` to the cluster (``attempt``: which try this is, for the retry rule)."""
        if task.device not in self._resources:
            self._resources[task.device] = self.executor._resources([task])
        function, *args = self.executor.call(task)
        # the key names the architecture (dashboards, logs); the suffix makes every attempt a new task
        future = self.client.submit(function, *args, key=f"train-{task.arch}-{uuid4().hex[:16]}",
                                    resources=self._resources[task.device])
        self._pending[future.key] = (tag, task, attempt, future)
        self._finished.add(future)

    def _next_finished(self):
        """The next finished (or failed) future; :class:`ExecutorError` after ``no_worker_timeout_s`` without
        any worker (Dask would wait for one forever)."""
        import time

        without_workers_since = None
        while not self._finished.has_ready():
            if interrupt_requested():  # a Ctrl-C whose KeyboardInterrupt was lost on the way: still an interrupt
                raise KeyboardInterrupt
            if not self.client.scheduler_info()["workers"]:
                if without_workers_since is None:
                    without_workers_since = time.monotonic()
                    self._say_waiting()
                waited = time.monotonic() - without_workers_since
                if waited > self.executor.no_worker_timeout_s:
                    cause = ("its workers died and none came back (out of memory?)" if self._seen_workers
                             else f"no worker joined it (start some: dask worker {self._address()})")
                    raise ExecutorError(f"the Dask cluster at {self._address()} has had no worker for {waited:.0f} s "
                                        f"({_trainings(len(self._pending))} waiting): {cause}; every finished training is "
                                        f"recorded: resume the run once workers are there")
            else:
                without_workers_since = None
                self._seen_workers = True
            time.sleep(0.2)
        return next(self._finished)

    def _address(self) -> str:
        """The scheduler's address, as the user would give it to ``dask worker``."""
        scheduler = getattr(self.client, "scheduler", None)
        return str(getattr(scheduler, "address", None) or self.executor.scheduler or "(unknown address)")

    def _say_waiting(self) -> None:
        """Tell the executor's ``on_wait`` (once per wait) that trainings wait for a worker."""
        if self.executor.on_wait is None:
            return
        self.executor.on_wait(f"waiting for a Dask worker: the cluster at {self._address()} has none "
                              f"({_trainings(len(self._pending))} waiting); the run stops after "
                              f"{self.executor.no_worker_timeout_s:.0f} s without one (Ctrl-C stops it now; every "
                              f"finished training is kept)")

    def next_result(self) -> tuple[object, dict]:
        """The next finished training, ``(tag, result)``; a lost or failed one is retried, then returned as failed."""
        while True:
            future = self._next_finished()
            tag, task, attempt, _ = self._pending.pop(future.key)
            if future.status == "finished":
                result = dict(future.result(), attempts=attempt)
                future.release()
                _write_weights(task, result.pop("weights", None))
                return tag, result
            exc = future.exception() if future.status == "error" else RuntimeError(f"task {future.status}")
            future.release()
            if isinstance(exc, MooSnnError):
                raise exc
            if attempt <= self.executor.retries:
                self.submit(task, tag, attempt + 1)
            else:
                return tag, failed_result(task, _describe(exc), attempt)

    def close(self) -> None:
        """Cancel every training still pending on the cluster (a Ctrl-C waits for it: :func:`moo_snn.interrupts.deferred`)."""
        with deferred():
            for _, _, _, future in self._pending.values():
                future.cancel()
            self._pending.clear()


def _trainings(n: int) -> str:
    return f"{n} training" if n == 1 else f"{n} trainings"


async def _close_nannies(nannies, timeout_s: float) -> None:
    """Close the nannies of a local cluster (and their worker processes: killed after 0.8 ``timeout_s``)."""
    import asyncio

    await asyncio.gather(*(n.close(timeout=timeout_s, reason="moo-snn: run ended") for n in nannies), return_exceptions=True)


def _write_weights(task: TrainingTask, weights: bytes | None) -> None:
    """Write weights sent back by a worker to the task's path (atomically: temporary file, rename)."""
    if not weights or not task.weights_path:
        return
    path = Path(task.weights_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid4().hex}.tmp")
    tmp.write_bytes(weights)
    os.replace(tmp, path)


def make_executor(workers: int | None = None, scheduler: str | None = None, *, retries: int = 2,
                  torch_threads: int | None = None, trainings_per_gpu: int = 1, on_wait=None):
    """The executor of the command-line options: in-process, or Dask (``--workers N`` / ``--scheduler ADDR``;
    ``on_wait``: :class:`DaskExecutor`'s)."""
    if workers is None and scheduler is None:
        return InProcessExecutor(torch_threads=torch_threads)
    return DaskExecutor(workers=workers, scheduler=scheduler, retries=retries, torch_threads=torch_threads,
                        trainings_per_gpu=trainings_per_gpu, on_wait=on_wait)
