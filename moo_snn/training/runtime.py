"""torch's process-wide settings for trainings: OpenMP environment, thread count, GPUs present.

The thread policy (measured: ``benchmarks/RESULTS.md``, section *Training throughput*)
---------------------------------------------------------------------------------------
torch runs its CPU kernels on an OpenMP team of ``torch.get_num_threads()`` threads, by default one
per core. When other processes hold cores, those threads wait for each other at every kernel's
barrier, and GNU OpenMP's default wait is a spin: measured here, ``moo-snn train digits`` ran more
than 20× slower next to two other torch processes than with one thread. So:

1. **Environment** (:func:`prepare_environment`, run when :mod:`moo_snn` is imported, before torch
   is): ``OMP_WAIT_POLICY=PASSIVE`` (a waiting OpenMP thread sleeps instead of spinning), unless the
   user set it. It only acts if torch is imported after it (OpenMP reads it once, at start-up);
   ``moo-snn`` commands and Dask workers import :mod:`moo_snn` first.
2. **Per training** (:func:`choose_threads`): ``--torch-threads N`` / ``torch_threads=N`` wins.
   Otherwise the count is the smallest of

   - what the network can use: 1 below :data:`PARALLEL_MIN_MACS` multiply-accumulates per
     timestep and batch (every digits-sized network), else all cores;
   - this node's share: cores allowed to this process (``os.sched_getaffinity``) ÷ trainings
     running on the node (Dask workers per host);
   - the cores that are free now: allowed cores minus those busy with other processes, measured
     over :data:`SAMPLE_S` from ``/proc/stat`` (the 1-minute load average where that is missing).

   and at least 1. The count used is recorded with every result (``TrainResult.torch_threads``): on
   CPU the thread count changes the order of floating-point sums, so the same seed gives the same
   numbers only with the same count: give ``--torch-threads`` to reproduce a result exactly.
3. **Inter-op threads**: 1 (:func:`torch_threads`); moo-snn runs no parallel graph branches, and a
   second pool would only add threads competing for the same cores.
"""

from __future__ import annotations

import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

OPENMP_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}
"""Environment moo-snn sets (where unset) before torch is imported."""

PARALLEL_MIN_MACS = 1.0e9
"""Multiply-accumulates per timestep and batch (all crossbar layers) below which a training runs on
one thread. It separates the two input scales: every network of the digits space is below it (at
most 5.4e8 with batch 64: C = 32, all edges conv3x3; the reference 9.5e7), every network of the
CIFAR-10 space above it (at least 1.3e9 with batch 64). Digits networks gain nothing from a second
thread that could make up for the risk of a busy core; on 32×32 inputs each convolution is large
enough to share. The 1-vs-2-thread timings of this session were taken at load 10-17 on 2 cores and
are inconclusive (``benchmarks/RESULTS.md``): re-measure on a quiet machine."""

SAMPLE_S = 0.05
"""How long the CPU use of other processes is sampled before a training [s]."""


def prepare_environment(environ=None) -> dict[str, str]:
    """Set :data:`OPENMP_ENVIRONMENT` in ``environ`` (``os.environ``) where unset; what was set.

    Effective only if torch has not been imported yet in this process (OpenMP reads the variables
    when it starts); child processes (Dask workers) inherit them.
    """
    environ = os.environ if environ is None else environ
    done = {}
    for key, value in OPENMP_ENVIRONMENT.items():
        if key not in environ:
            environ[key] = value
            done[key] = value
    return done


def environment_effective() -> bool:
    """Whether torch was imported after :func:`prepare_environment` could act (or not at all yet)."""
    return "torch" not in sys.modules or all(os.environ.get(k) == v for k, v in OPENMP_ENVIRONMENT.items())


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_times(cpus: set[int] | None) -> tuple[float, float] | None:
    """(busy, total) jiffies of ``cpus`` (all where None) from ``/proc/stat``; None where unreadable."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    busy = total = 0.0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or len(fields) < 5:
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        values = [float(v) for v in fields[:8]]
        idle = values[3] + values[4]  # idle + iowait
        total += sum(values)
        busy += sum(values) - idle
    return (busy, total) if total > 0 else None


def busy_cores_of_others(sample_s: float = SAMPLE_S) -> float:
    """Cores (of those allowed to this process) kept busy by *other* processes right now.

    Measured over ``sample_s`` seconds: busy time of the allowed CPUs in ``/proc/stat`` minus this
    process's own CPU time. Without ``/proc/stat``: the 1-minute load average (which counts this
    process too, so it errs towards fewer threads).
    """
    try:
        cpus = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = None
    before, own_before, wall_before = _cpu_times(cpus), time.process_time(), time.perf_counter()
    if before is None:
        try:
            return float(os.getloadavg()[0])
        except (AttributeError, OSError):
            return 0.0
    time.sleep(sample_s)
    after, own_after, wall_after = _cpu_times(cpus), time.process_time(), time.perf_counter()
    if after is None or after[1] <= before[1]:
        return 0.0
    n_cpus = len(cpus) if cpus else available_cores()
    busy_fraction = (after[0] - before[0]) / (after[1] - before[1])
    own_cores = (own_after - own_before) / max(wall_after - wall_before, 1e-9)
    return max(0.0, busy_fraction * n_cpus - own_cores)


@dataclass(frozen=True)
class ThreadChoice:
    """A training's intra-op thread count and why (``reason``: shown in logs and benchmarks)."""

    threads: int
    reason: str


def choose_threads(macs_per_step: float, *, requested: int | None = None, trainings_per_node: int = 1,
                   busy_cores: float | None = None) -> ThreadChoice:
    """The torch thread count for a training (module docstring, point 2).

    Parameters
    ----------
    macs_per_step : multiply-accumulates of one timestep of one batch, all crossbar layers.
    requested : the user's count (``--torch-threads``); used as given.
    trainings_per_node : trainings running at the same time on this node (Dask workers per host).
    busy_cores : cores busy with other processes (measured with :func:`busy_cores_of_others` when None).
    """
    if requested:
        return ThreadChoice(int(requested), "requested")
    cores = available_cores()
    if macs_per_step < PARALLEL_MIN_MACS:
        return ThreadChoice(1, f"small network ({macs_per_step:.2g} MAC per step < {PARALLEL_MIN_MACS:.2g})")
    share = max(1, cores // max(1, trainings_per_node))
    busy = busy_cores_of_others() if busy_cores is None else busy_cores
    free = max(1, math.floor(cores - busy + 0.25))  # a core 3/4 idle counts as free
    threads = max(1, min(share, free))
    return ThreadChoice(threads, f"{cores} cores, {busy:.1f} busy elsewhere, {trainings_per_node} training(s) per node")


@contextmanager
def torch_threads(n: int | None):
    """torch's intra-op thread count set to ``n`` inside the block (left as it is where None).

    Also asks for one inter-op thread (possible only before torch's first parallel work; ignored
    after). On CPU the thread count changes the order of floating-point sums, so equal seeds give
    equal results only with equal thread counts.
    """
    import torch

    try:
        if torch.get_num_interop_threads() != 1:
            torch.set_num_interop_threads(1)
    except RuntimeError:  # the inter-op pool already started: it stays as it is
        pass
    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cuda_device_count() -> int:
    """GPUs torch sees (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


DEVICES = "cpu, cuda, cuda:N"
"""The torch devices moo-snn trains on, as its error messages list them."""


def check_device(device: str, *, here: bool = True) -> str:
    """``device`` if moo-snn can train on it: ``cpu``, ``cuda`` or ``cuda:N`` (N a GPU index).

    Every command and function that takes a device string checks it with this before it reads data,
    trains or writes a file. torch itself accepts more (``meta``, ``mps``, ``xla``, ``cpu:0``, …), but
    the trainer runs bf16 autocast, CUDA determinism and the GPU-per-worker mapping on the CPU and CUDA
    back-ends only: ``meta`` failed inside autocast after the data were read, and a search recorded
    every training as failed yet ended ``complete``.

    Parameters
    ----------
    device : str
        The device string given (``--device``, ``device=``).
    here : bool
        Also check that torch sees that GPU in this process (False for a remote cluster's workers,
        whose GPUs are not this machine's). Imports torch only for a CUDA device.

    Raises
    ------
    TrainingError
        Another device type, or a CUDA device torch does not see here.
    """
    import re

    from moo_snn.errors import TrainingError

    text = str(device)
    match = re.fullmatch(r"cpu|cuda(?::(\d+))?", text)
    if match is None:
        raise TrainingError(f"unknown device {text!r}; valid: {DEVICES}")
    if not here or text == "cpu":
        return text
    import torch

    count = cuda_device_count()
    if count == 0:
        raise TrainingError(f"device {text!r} requested but torch sees no CUDA GPU (torch {torch.__version__}); use --device cpu")
    if match.group(1) is not None and int(match.group(1)) >= count:
        raise TrainingError(f"device {text!r} requested but torch sees {count} CUDA GPU{'s' if count > 1 else ''} "
                            f"(cuda:0 to cuda:{count - 1})")
    return text
