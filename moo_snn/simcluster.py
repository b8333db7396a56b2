"""A simulated cluster: N workers whose trainings replay an archive, on a simulated clock.

What this machine (2 cores) cannot run, a cluster of 64-256 GPUs, is simulated by discrete events:
each training occupies one worker for its replayed time (:class:`~moo_snn.replay.ReplayTable`,
``train_seconds`` × ``time_factor``) plus ``task_overhead_s`` (the scheduler's dispatch latency per
task, measured for real on a Dask LocalCluster by ``benchmarks/bench_async.py``). The search itself
is *not* simulated: it runs here, for real, and its own time (predictor fits, NSGA-II, checkpoints,
everything between two calls into the executor) advances the simulated clock by the real seconds it
took (``head_seconds="measured"``: wall time), or by the CPU seconds this process spent
(``"cpu"``: what it would take on a head node of its own, unaffected by other processes sharing
this machine; the search runs in one thread), or by a fixed number of seconds per result returned
(a number: deterministic, for tests). Workers that finish while the search computes wait idle until it
submits again, as they would on a real cluster driven by one process.

Events: ``submit`` at time t starts the task at t on the free worker with the lowest number, else
queues it (first in, first out); a worker that finishes at t' starts the next queued task at t';
``next_result`` returns the earliest finished training, advancing the clock to its end if none has
finished yet. Ties end in submission order. So the same submissions at the same simulated times
give the same results in the same order.

Faults: ``dies(arch, attempt) -> bool`` makes an attempt's worker die half-way through it; the task
is queued again, up to ``retries`` times, then returned ``failed`` (as
:class:`~moo_snn.executor.DaskStream` does with real worker deaths).

It is both an executor (``run(tasks)``, for the synchronous loop) and its own
:class:`~moo_snn.executor.TaskStream` (``stream()``, for the asynchronous one).
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from moo_snn.executor import ExecutorError, TrainingTask, failed_result


@dataclass(order=True)
class _Attempt:
    finish_s: float
    seq: int
    worker: int = field(compare=False)
    start_s: float = field(compare=False)
    tag: object = field(compare=False)
    task: TrainingTask = field(compare=False)
    attempt: int = field(compare=False)
    result: dict | None = field(compare=False)  # None: the worker died


class SimulatedCluster:
    """Discrete-event simulation of ``workers`` workers replaying ``table`` (module docstring).

    Parameters
    ----------
    table : a :class:`~moo_snn.replay.ReplayTable` (its ``time_factor`` scales training times).
    workers : number of workers (one training each at a time).
    task_overhead_s : simulated seconds each task holds its worker beyond its training (dispatch).
    head_seconds : ``"measured"`` (the search's wall time between calls advances the clock), ``"cpu"``
        (its CPU time) or a number of simulated seconds charged after each result returned.
    retries : further attempts of a task whose worker died.
    dies : ``dies(arch, attempt)``: whether that attempt's worker dies (default: never).

    Attributes
    ----------
    busy_s : simulated worker-seconds spent in attempts (dead ones included).
    head_s : seconds of the search's own time charged to the clock.
    trace : one dict per finished attempt: ``tag``, ``arch``, ``worker``, ``start_s``, ``finish_s``,
        ``returned_s`` (when the search received it: later than ``finish_s`` if it was busy), ``died``,
        ``epochs`` and ``train_fraction`` (the task's fidelity).
    """

    def __init__(self, table, workers: int, *, task_overhead_s: float = 0.0, head_seconds: float | str = "measured",
                 retries: int = 2, dies: Callable[[str, int], bool] | None = None):
        if workers < 1:
            raise ExecutorError(f"a simulated cluster needs at least 1 worker, found {workers}")
        if head_seconds not in ("measured", "cpu") and not isinstance(head_seconds, (int, float)):
            raise ExecutorError(f"head_seconds must be 'measured', 'cpu' or a number of seconds, found {head_seconds!r}")
        self._timer = time.process_time if head_seconds == "cpu" else time.perf_counter
        self.table, self.workers, self.slots = table, int(workers), int(workers)
        self.task_overhead_s, self.head_seconds, self.retries = float(task_overhead_s), head_seconds, retries
        self.dies = dies or (lambda arch, attempt: False)
        self.now_s = 0.0
        self.busy_s = 0.0
        self.head_s = 0.0
        self.trace: list[dict] = []
        self._free = list(range(self.workers))  # a heap: the lowest free worker number first
        self._running: list[_Attempt] = []  # heap by finish time
        self._done: list[_Attempt] = []  # finished before now_s, not yet returned
        self._queue: deque = deque()  # (tag, task, attempt) waiting for a worker
        self._seq = 0
        self._real_mark: float | None = None  # when control went back to the search (measured head time)
        self._charge = 0.0  # fixed head time owed since the last result

    # --- clock --------------------------------------------------------------------------------
    def clock(self) -> float:
        """Simulated seconds since the cluster started (the search's time so far included)."""
        self._head()
        return self.now_s

    def _head(self) -> None:
        """Advance the clock by the search's own time since control went back to it."""
        if self.head_seconds in ("measured", "cpu"):
            if self._real_mark is not None:
                spent = self._timer() - self._real_mark
                self.head_s += spent
                self._advance_to(self.now_s + spent)
            self._real_mark = self._timer()
        elif self._charge:
            self.head_s += self._charge
            self._advance_to(self.now_s + self._charge)
            self._charge = 0.0

    def _release(self) -> None:
        """Control goes back to the search now."""
        if self.head_seconds in ("measured", "cpu"):
            self._real_mark = self._timer()
        else:
            self._charge = float(self.head_seconds)

    def _advance_to(self, t: float) -> None:
        while self._running and self._running[0].finish_s <= t:
            attempt = heapq.heappop(self._running)
            heapq.heappush(self._done, attempt)
            heapq.heappush(self._free, attempt.worker)
            self._dispatch(attempt.finish_s)
        self.now_s = max(self.now_s, t)

    def _dispatch(self, at_s: float) -> None:
        """Start queued tasks on free workers at time ``at_s``."""
        while self._queue and self._free:
            tag, task, attempt = self._queue.popleft()
            worker = heapq.heappop(self._free)
            result = self.table.task_result(task)
            seconds = result["train_seconds"]
            died = bool(self.dies(task.arch, attempt))
            held = self.task_overhead_s + (seconds / 2 if died else seconds)
            self.busy_s += held
            self._seq += 1
            heapq.heappush(self._running, _Attempt(at_s + held, self._seq, worker, at_s, tag, task, attempt,
                                                   None if died else result))

    # --- TaskStream ---------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Tasks submitted and not returned: queued, running on a simulated worker, or finished and not yet read."""
        return len(self._queue) + len(self._running) + len(self._done)

    def submit(self, task: TrainingTask, tag) -> None:
        """Queue ``task``; it starts on the simulated clock as soon as a simulated worker is free."""
        self._head()
        self._queue.append((tag, task, 1))
        self._dispatch(self.now_s)
        if self.head_seconds in ("measured", "cpu"):  # the replay look-up is the simulator's time, not the search's
            self._real_mark = self._timer()

    def next_result(self) -> tuple[object, dict]:
        """Advance the simulated clock to the next finished training; ``(tag, result)``."""
        self._head()
        while True:
            if not self._done:
                if not self._running:
                    raise ExecutorError("next_result() with nothing submitted")
                self._advance_to(self._running[0].finish_s)
                continue
            a = heapq.heappop(self._done)
            self.trace.append(dict(tag=a.tag, arch=a.task.arch, worker=a.worker, start_s=a.start_s, finish_s=a.finish_s,
                                   returned_s=self.now_s, died=a.result is None, epochs=a.task.epochs,
                                   train_fraction=a.task.train_fraction))
            if a.result is None:
                if a.attempt <= self.retries:
                    self._queue.append((a.tag, a.task, a.attempt + 1))
                    self._dispatch(self.now_s)
                    continue
                result = dict(failed_result(a.task, f"simulated worker death ({a.attempt} attempts)", a.attempt),
                              worker=f"sim-{a.worker}")
            else:
                result = dict(a.result, attempts=a.attempt, worker=f"sim-{a.worker}")
            self._release()
            return a.tag, result

    def close(self) -> None:
        """Cancel what is queued or running (their worker time so far stays counted)."""
        self._queue.clear()
        for a in self._running:
            self.busy_s -= max(0.0, a.finish_s - max(self.now_s, a.start_s))
            heapq.heappush(self._free, a.worker)
        self._running.clear()
        self._done.clear()

    # --- Executor -----------------------------------------------------------------------------
    def stream(self, data=None) -> SimulatedCluster:
        """This cluster as a :class:`~moo_snn.executor.TaskStream` (one per cluster: the clock is shared)."""
        return self

    def run(self, tasks: Sequence[TrainingTask], data=None) -> Iterator[tuple[int, dict]]:
        """Yield ``(index, result)`` in simulated finishing order (``data`` is ignored)."""
        for i, task in enumerate(tasks):
            self.submit(task, i)
        for _ in range(len(tasks)):
            yield self.next_result()

    def utilisation(self) -> float:
        """Busy worker-seconds ÷ (workers × simulated seconds so far)."""
        return self.busy_s / (self.workers * self.now_s) if self.now_s > 0 else 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
