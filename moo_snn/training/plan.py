"""``moo-snn plan``: what a search will cost, priced before any data is read (DESIGN §6b).

Method
------
1. **Networks timed.** A pool of the networks the search trains (:func:`trainable_pool`: the distinct
   networks of ``pool_size`` draws of the space that meet the problem's cost limits; the whole sample
   where none does) is ranked by its work per sample,
   ``W = T · Σ_layers c_in · c_out · k² · d_out²`` multiply-accumulates (the crossbar layers of
   :func:`moo_snn.layers.crossbar_layers`); the networks at the 10th, 50th and 90th percentile of
   ``W``, and the one whose training should need the most memory
   (:func:`~moo_snn.training.plan_memory.largest_network`), are built and trained for a few steps on
   random tensors of the problem's input shape (``(B, C, H, W)``, labels uniform over the
   classes), with the problem's optimiser, after one warm-up step, with the torch threads its training
   would use (:func:`training_threads`: the trainer's thread policy, or ``--torch-threads``). No data
   are read.
2. **Seconds per sample.** ``s(W) = a + b·W`` is fitted through the timed networks (least
   squares) and averaged over the whole pool: the expected time of one training sample of a network
   the search picks. Steps are timed at the problem's batch size (so per-step overheads are shared
   as in training), except on CPU for networks whose step exceeds :data:`CHEAP_STEP_MAC`: those at
   batch 8 (per-sample time on CPU hardly depends on the batch once the work per step is large).
3. **Per training.** ``epochs · N_train · s̄`` for the training, plus the validation and test
   passes at a third of a training sample's cost each (a forward pass without the backward one,
   measured by the usual rule of thumb that backward costs twice the forward). ``N_train`` comes from
   the data set's published size and the problem's ``[data]`` fractions (:data:`DATASET_SIZES`),
   so no data are needed.
4. **Per phase.** Bootstrap ``B`` trainings (those its archive does not cover:
   :mod:`moo_snn.search.bootstrap_plan`), ``R`` rounds of ``k`` survivors; with a ``[fidelity]``
   ladder they run at the cheapest level and each round adds its rungs and ``promote`` full
   trainings (:mod:`moo_snn.search.fidelity`), all priced in full-training equivalents (FTE) and
   hours; without the ladder every training is full.
5. **Peak memory per training**, of the worst network (a GPU must hold the largest network the search
   may train, not a typical one): the largest of the timed networks' memories, which is the
   largest-memory network's unless a timed one needed more; the median-work network's beside it.
   On CUDA: ``torch.cuda.max_memory_allocated`` over the timed steps of the problem's batch (a
   network that runs out of the device's memory is reported as such, with the device's memory as a
   lower bound). On CPU: each network's steps run in a child process (forked from a fork server), whose peak
   resident set (``getrusage(RUSAGE_SELF).ru_maxrss``) minus its resident set at the start is the
   training step's memory; measured at two batch sizes and extrapolated linearly to the problem's
   batch (activations grow with the batch; weights and optimiser state do not), plus the data a
   training holds (the images as float32, twice: as read and normalised). Reference: one CPU epoch
   of the SNASNet-size CIFAR-10 network (C = 256, T = 5, batch 64) peaked at about 18 GB RSS
   (REFERENCE.md).
"""

from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import asdict, dataclass

import numpy as np

from moo_snn.errors import DataError, MooSnnError
from moo_snn.training.plan_memory import largest_network, saved_bytes

CHEAP_STEP_MAC = 2e9
"""A CPU training step of at most this many multiply-accumulates (work per sample x batch) is timed at
the problem's batch size (a fraction of a second); larger ones at batch 8, per sample."""

DATASET_SIZES = {
    # name: (samples read as training data, own test samples or 0): published sizes
    "digits": (1797, 0),  # scikit-learn load_digits
    "cifar10": (50000, 10000),  # Krizhevsky 2009
    "cifar100": (50000, 10000),
    "tinyimagenet": (100000, 10000),  # 200 classes x 500 training images; its 10,000 validation images serve as test
}


class DeviceMemoryExceeded(MooSnnError):
    """A training step ran out of the CUDA device's memory (``device_bytes``: the device's total)."""

    def __init__(self, message: str, device_bytes: float):
        super().__init__(message)
        self.device_bytes = device_bytes


@dataclass
class Plan:
    """The priced run; ``to_dict()`` is what ``moo-snn plan --json`` prints.

    ``peak_memory_GB``: one training of the network of the pool that needs the most memory
    (``peak_memory_arch``; ``peak_memory_out_of_memory``: it did not fit on the device, and the figure
    is the device's memory, a lower bound), plus the data; ``typical_peak_memory_GB``: the same for
    the median-work network; ``memory_of`` says which networks the worst was taken from.
    ``bootstrap``: how much of the bootstrap the run's archive covers
    (:class:`moo_snn.search.bootstrap_plan.BootstrapCoverage`), ``bootstrap_from_archive`` its
    networks taken from the archive (not trained, not priced).
    """

    problem: str
    device: str
    n_train: int
    n_eval: int
    timed: list[dict]
    seconds_per_sample: float
    full_training_hours: float
    phases: dict
    estimated_hours: float
    full_training_equivalents: float
    estimated_hours_without_ladder: float
    full_training_equivalents_without_ladder: float
    peak_memory_GB: float
    peak_memory_arch: str
    peak_memory_out_of_memory: bool
    typical_peak_memory_GB: float
    data_memory_GB: float
    memory_of: str
    bootstrap: dict
    bootstrap_from_archive: int
    timing_seconds: float

    def to_dict(self) -> dict:
        """The plan as a plain dict (``moo-snn plan --json``)."""
        return asdict(self)


def split_sizes(problem) -> tuple[int, int]:
    """(training samples, validation + test samples) of the problem, from published data-set sizes."""
    d = problem.data
    if d.dataset == "npz":
        path = problem.data_path
        if path is None or not path.exists():
            raise MooSnnError(f"{problem.name}: an npz problem's size is read from its file, and {path} does not exist; "
                              f"give [data] path, or price it as a data set of the same size")
        from moo_snn.data.npz import EXPECTED, read_arrays

        arrays = read_arrays(path, keys=("y", "y_test"))  # a DataError naming the file if it is no .npz of arrays
        if "y" not in arrays:
            raise DataError(f"npz: {path} has no array 'y'; expected {EXPECTED}")
        total, own_test = len(arrays["y"]), len(arrays.get("y_test", ()))
    else:
        total, own_test = DATASET_SIZES[d.dataset]
    if own_test:
        n_val = math.ceil(d.val_fraction * total)
        n_train, n_eval = total - n_val, n_val + own_test
    else:
        n_test = math.ceil(d.test_fraction * total)
        n_val = math.ceil(d.val_fraction * total)
        n_train, n_eval = total - n_test - n_val, n_test + n_val
    if 0 < d.max_train < n_train:
        n_train = d.max_train
    return n_train, n_eval


def work_per_sample(arch, net_input) -> float:
    """``T · Σ c_in · c_out · k² · d_out²``: multiply-accumulates of one sample over all timesteps."""
    from moo_snn.layers import crossbar_layers

    return float(arch.timesteps * sum(l.c_in * l.c_out * l.kernel ** 2 * l.d_out ** 2 for l in crossbar_layers(arch, net_input)))


def _steps(problem, arch, batch: int, device, n_steps: int) -> float:
    """Seconds per training step of ``arch`` on random tensors (after one warm-up step)."""
    import torch
    import torch.nn.functional as F

    from moo_snn.training.network import SpikingNetwork
    from moo_snn.training.trainer import make_optimizer

    net = problem.network_input
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, net.channels, net.side, net.side, generator=gen).to(device)
    y = torch.randint(0, net.n_classes, (batch,), generator=gen).to(device)
    model = SpikingNetwork(arch.pruned(), net, problem.training).to(device)
    opt, sched = make_optimizer(model, problem.training, 100)
    model.train()
    times = []
    for step in range(n_steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step:
            times.append(time.perf_counter() - start)
    return float(np.median(times)) if times else float("nan")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _measure_cpu(problem, arch, batch: int, n_steps: int, threads: int | None, conn) -> None:
    """In a child process: (seconds per step, peak extra RSS bytes, torch threads used) sent through ``conn``."""
    import torch

    try:
        if threads:  # the parent's count does not reach a child of the fork server
            torch.set_num_threads(int(threads))
        base = _rss_bytes()
        seconds = _steps(problem, arch, batch, torch.device("cpu"), n_steps)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        conn.send((seconds, max(peak - base, 0), torch.get_num_threads()))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(exc)
    finally:
        conn.close()


def measure(problem, arch, batch: int, device: str = "cpu", n_steps: int = 2, threads: int | None = None) -> tuple[float, float, int]:
    """(seconds per step, peak memory in bytes, torch threads) of training ``arch`` at ``batch`` on ``device``;
    ``threads``: torch's intra-op threads for the steps (None: left as they are)."""
    import multiprocessing

    import torch

    if device.startswith("cuda"):
        from moo_snn.training.runtime import torch_threads

        dev = torch.device(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
        try:
            with torch_threads(threads):
                seconds, used = _steps(problem, arch, batch, dev, n_steps), torch.get_num_threads()
        except torch.cuda.OutOfMemoryError:
            total = float(torch.cuda.get_device_properties(dev).total_memory)
            torch.cuda.empty_cache()
            raise DeviceMemoryExceeded(f"{arch} at batch {batch} does not fit in the {total / 1e9:.3g} GB of {device}",
                                       total) from None
        return seconds, float(torch.cuda.max_memory_allocated(dev)), used
    # Each timing runs in a child process (its peak RSS is the training's alone). Children are forked from
    # a fork server that imported torch, norse and the trainer once and ran no torch work: forking this
    # process instead hung for good once torch's OpenMP pool had started here (GNU OpenMP is not
    # fork-safe: ``moo-snn plan`` never returned unless OMP_NUM_THREADS=1), and spawning re-imports
    # norse (seconds) per timing.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "moo_snn.training.network", "moo_snn.training.trainer", "moo_snn.training.plan"])
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_measure_cpu, args=(problem, arch, batch, n_steps, threads, child))
    proc.start()
    child.close()
    try:
        got = parent.recv()
    except EOFError:
        proc.join()
        raise MooSnnError(f"timing {arch} at batch {batch} ended without a result (exit code {proc.exitcode}: out of memory?)") from None
    proc.join()
    if isinstance(got, BaseException):
        raise got
    return float(got[0]), float(got[1]), int(got[2])


def trainable_pool(problem, pool_size: int, seed: int) -> tuple[list, bool]:
    """The networks a search trains, as a sample: the distinct repaired draws (of ``pool_size``) that meet
    the problem's cost limits, and True; the whole sample and False where none of them does."""
    from moo_snn.evaluation import meets_cost_limits
    from moo_snn.space import SearchSpace

    space = SearchSpace(problem.space)
    drawn = space.sample(pool_size, np.random.default_rng(seed))
    pool = drawn[meets_cost_limits(problem, space, drawn)]
    feasible = len(pool) > 0
    archs, seen = [], set()
    for x in (pool if feasible else drawn):
        arch = space.decode(x)
        if str(arch) not in seen:
            seen.add(str(arch))
            archs.append(arch)
    return archs, feasible


def training_threads(problem, arch, device: str, requested: int | None = None) -> int | None:
    """torch threads a training of ``arch`` would run with on ``device``: ``requested`` (``--torch-threads``),
    else on CPU the trainer's thread policy for it (:func:`moo_snn.training.runtime.choose_threads`, as
    :func:`moo_snn.training.trainer.train_architecture` calls it), on CUDA 1 (as the trainer: the GPU works)."""
    from moo_snn.training.runtime import choose_threads
    from moo_snn.training.trainer import macs_per_step

    if requested:
        return int(requested)
    if device.startswith("cuda"):
        return 1
    batch = min(problem.training.batch_size, split_sizes(problem)[0])
    return choose_threads(macs_per_step(arch.pruned(), problem.network_input, batch)).threads


def _timed(problem, arch, role: str, work: float, device: str, n_steps: int, threads: int | None = None) -> dict:
    """One network's seconds per sample and memory of a training step at the problem's batch (CPU: larger
    steps at batch 8 and the memory extrapolated from batches 8 and 4, module docstring), with ``threads``
    torch threads (None: as they are)."""
    full_batch = problem.training.batch_size
    cheap = device.startswith("cuda") or work * full_batch <= CHEAP_STEP_MAC
    batch = full_batch if cheap else min(full_batch, 8)
    per_sample, fixed, params = saved_bytes(problem, arch)
    record = dict(arch=str(arch), role=role, work_MMAC=work / 1e6, saved_MB_per_sample=per_sample / 1e6,
                  saved_MB_per_step=fixed / 1e6, params_MB=params / 1e6,
                  estimated_step_memory_GB=(full_batch * per_sample + fixed + 4 * params) / 1e9, batch=batch)
    try:
        seconds, mem, used = measure(problem, arch, batch, device, n_steps + 2 if cheap else n_steps, threads)
    except DeviceMemoryExceeded as exc:
        return dict(record, seconds_per_step=float("nan"), seconds_per_sample=float("nan"),
                    step_memory_GB=exc.device_bytes / 1e9, out_of_memory=True, torch_threads=threads)
    if batch < full_batch:  # CPU: extrapolate the activations' memory to the problem's batch
        low_batch = max(1, batch // 2)
        _, mem_low, _ = measure(problem, arch, low_batch, device, 1, threads)
        mem += max(mem - mem_low, 0.0) / max(batch - low_batch, 1) * (full_batch - batch)
    return dict(record, seconds_per_step=seconds, seconds_per_sample=seconds / batch, step_memory_GB=mem / 1e9,
                out_of_memory=False, torch_threads=used)


def plan_run(problem, phases: dict, device: str = "cpu", *, n_steps: int = 1, pool_size: int = 2000, seed: int = 0,
             bootstrap: dict | None = None, torch_threads: int | None = None) -> Plan:
    """Price a run of ``problem`` on ``device`` (see the module docstring).

    Parameters
    ----------
    problem : moo_snn.config.problem.ProblemSpec
        The problem, with the run's ``[search]`` overrides.
    phases : dict
        The run's trainings per phase, ``{name: dict(trainings, level, fte_each, fte)}`` with the FTE
        totals under ``"_total"`` and ``"_total_without_ladder"``
        (:func:`moo_snn.search.fidelity.phase_plan`), the bootstrap counted as the run will train it.
    device : str
        ``cpu``, ``cuda`` or ``cuda:N``.
    n_steps : int
        Training steps timed per network (after a warm-up step).
    pool_size, seed : int
        Draws of the space (and their seed) from which the networks that meet the cost limits are taken.
    bootstrap : dict, optional
        How much of the bootstrap the run's archive covers
        (:meth:`moo_snn.search.bootstrap_plan.BootstrapCoverage.to_dict`), reported as is.
    torch_threads : int, optional
        torch threads of every timing (``--torch-threads``); None: each network's training's own count
        (:func:`training_threads`), so the plan times what the run will do. Each timed record keeps
        the count its steps ran with (``torch_threads``).

    Returns
    -------
    Plan
        ``peak_memory_GB`` is the largest step memory measured (the network of the pool that should
        need the most, :func:`~moo_snn.training.plan_memory.largest_network`, or a timed one that
        needed more), plus the data; ``typical_peak_memory_GB`` the median-work network's.
    """
    from moo_snn.training.trainer import resolve_device

    started = time.perf_counter()
    resolve_device(device)
    archs, feasible = trainable_pool(problem, pool_size, seed)
    net = problem.network_input
    work = np.array([work_per_sample(a, net) for a in archs])
    order = np.argsort(work, kind="stable")
    roles = {}
    for q, role in ((0.1, "10th percentile of work"), (0.5, "median work"), (0.9, "90th percentile of work")):
        roles.setdefault(int(order[min(len(work) - 1, int(q * len(work)))]), role)
    largest, _ = largest_network(problem, archs)
    roles[largest] = roles[largest] + "; largest memory" if largest in roles else "largest memory"
    timed = [_timed(problem, archs[i], roles[i], work[i], device, n_steps, training_threads(problem, archs[i], device, torch_threads))
             for i in sorted(roles, key=lambda i: (work[i], i))]
    ok = [t for t in timed if not t["out_of_memory"]]
    if not ok:
        raise MooSnnError(f"{problem.name}: no network of the space could take one training step on {device} "
                          f"(out of memory, {timed[0]['step_memory_GB']:.3g} GB); try a smaller [training] batch_size")
    W = np.array([t["work_MMAC"] for t in ok]) * 1e6
    s = np.array([t["seconds_per_sample"] for t in ok])
    slope, intercept = np.polyfit(W, s, 1) if len(set(W)) > 1 else (0.0, float(s.mean()))
    per_sample = float(np.mean(np.maximum(intercept + slope * work, s.min())))
    n_train, n_eval = split_sizes(problem)
    eval_seconds = n_eval * per_sample / 3.0
    full_seconds = problem.training.epochs * n_train * per_sample + eval_seconds
    phases = dict(phases)
    fte, fte_plain = phases.pop("_total"), phases.pop("_total_without_ladder")
    hours = sum(p["trainings"] * (p["fte_each"] * (full_seconds - eval_seconds) + eval_seconds) for p in phases.values()) / 3600
    hours_plain = fte_plain * full_seconds / 3600
    data_bytes = 2 * 4 * (n_train + n_eval) * net.channels * net.side ** 2
    worst = max(timed, key=lambda t: t["step_memory_GB"])
    typical = next(t for t in timed if "median work" in t["role"])
    bootstrap = dict(bootstrap or {})
    return Plan(problem=problem.name, device=device, n_train=n_train, n_eval=n_eval, timed=timed, seconds_per_sample=per_sample,
                full_training_hours=full_seconds / 3600, phases=phases, estimated_hours=hours, full_training_equivalents=fte,
                estimated_hours_without_ladder=hours_plain, full_training_equivalents_without_ladder=fte_plain,
                peak_memory_GB=worst["step_memory_GB"] + data_bytes / 1e9, peak_memory_arch=worst["arch"],
                peak_memory_out_of_memory=bool(worst["out_of_memory"]),
                typical_peak_memory_GB=typical["step_memory_GB"] + data_bytes / 1e9, data_memory_GB=data_bytes / 1e9,
                memory_of=(f"the largest of {len(archs)} distinct sampled networks that meet the cost limits" if feasible
                           else f"the largest of {len(archs)} sampled networks (none of {pool_size} draws meets the cost "
                           f"limits)"),
                bootstrap=bootstrap, bootstrap_from_archive=int(bootstrap.get("from_archive", 0)),
                timing_seconds=time.perf_counter() - started)
