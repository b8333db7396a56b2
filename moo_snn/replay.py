"""Replayed trainings: an archive's measured accuracies and training times, instead of training.

A simulated cluster (:mod:`moo_snn.simcluster`) and the scheduler-overhead benchmark
(``benchmarks/bench_async.py``) need trainings that cost nothing here but behave like real ones:
the same accuracies, spike rates and, above all, the same spread of training times (on
``surrogates/digits.nc`` from 0.56 s to 83 s, median 1.7 s: a round's slowest network takes 50
times its median one). :class:`ReplayTable` turns a :class:`~moo_snn.executor.TrainingTask` into
the result dict a real training would have returned (:meth:`TrainResult.to_dict
<moo_snn.training.trainer.TrainResult.to_dict>`), with ``train_seconds`` multiplied by
``time_factor`` (e.g. 60 to stand for GPU trainings of CIFAR networks a minute or more each).

**Replay rule.** An architecture of the archive gets its own record (the record of the task's seed
if there is one, else the record of the lowest seed). Any other architecture gets the record of
its *nearest trained architecture* in the accuracy predictor's feature space
(:class:`~moo_snn.surrogate.features.ArchitectureFeaturizer`: edge kinds, log2 width, timesteps,
weight bits, pool, hidden width, log10 params, …), each feature standardised over the archive,
Euclidean distance, ties to the earlier record (scikit-learn ``NearestNeighbors``). Its measured
validation and test accuracy and its training time are taken as they are; its spike rates are
taken for the layers both networks have, and the problem's assumed ``[hardware] spike_rate`` for
the others (so that costs of the replayed network are those of its own layers). The rule is
deterministic (same task → same result), returns only values that a real network measured, and
does not smooth the archive the way a fitted model would (which would hand the search's own
predictor an easy target). Its weakness: a region of the space with no archived network inherits
the accuracy of the nearest region; a search can drift there, on the simulated cluster only.
A task with other epochs than the archive's replays the same accuracy in proportionally scaled
time (the archive holds one epoch count).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from moo_snn.architecture import Architecture
from moo_snn.errors import MooSnnError
from moo_snn.executor import DaskExecutor, worker_name
from moo_snn.layers import crossbar_layers
from moo_snn.space import slot_for


class ReplayError(MooSnnError):
    """An archive that cannot be replayed (no trained record, another problem's data)."""


class ReplayTable:
    """The archive's trained records and the nearest-neighbour rule (module docstring).

    Parameters
    ----------
    problem : the :class:`~moo_snn.config.problem.ProblemSpec` whose tasks are replayed (its
        network input for features and layers, its assumed spike rate).
    archive : an archive Dataset (:mod:`moo_snn.surrogate.archive`) or the path of one.
    time_factor : multiplies every replayed ``train_seconds``.

    Raises
    ------
    ReplayError : the archive has no trained record.
    """

    def __init__(self, problem, archive, *, time_factor: float = 1.0):
        from sklearn.neighbors import NearestNeighbors
        from sklearn.preprocessing import StandardScaler

        from moo_snn.surrogate import archive as arc
        from moo_snn.surrogate.features import ArchitectureFeaturizer

        if isinstance(archive, (str, Path)):
            archive = arc.load_archive(archive)
        done = arc.trained(archive)
        if done.sizes.get("record", 0) == 0:
            raise ReplayError("the archive holds no trained record to replay; build one with `moo-snn surrogate build`")
        self.problem = problem
        self.time_factor = float(time_factor)
        self.epochs = int(done.epochs.values[0])
        order = np.lexsort((done.seed.values, np.arange(done.sizes["record"])))  # per architecture: lowest seed first
        self.records: dict[tuple[str, int], dict] = {}
        self.archs: list[str] = []
        for k in order:
            arch, seed = str(done.arch.values[k]), int(done.seed.values[k])
            record = dict(val_accuracy=float(done.val_accuracy.values[k]), test_accuracy=float(done.test_accuracy.values[k]),
                          train_seconds=float(done.train_seconds.values[k]),
                          spike_rate=done.spike_rate.values[k].astype(float), seed=seed)
            self.records.setdefault((arch, seed), record)
            if arch not in self.archs:
                self.archs.append(arch)
                self.records[(arch, -1)] = record  # the architecture's default record (lowest seed)
        featurizer = ArchitectureFeaturizer.for_problem(problem).fit(np.array(self.archs, dtype=object)[:, None])
        self._featurize = featurizer.transform
        self._scaler = StandardScaler().fit(self._featurize(np.array(self.archs, dtype=object)[:, None]))
        self._neighbours = NearestNeighbors(n_neighbors=1).fit(
            self._scaler.transform(self._featurize(np.array(self.archs, dtype=object)[:, None])))

    def nearest(self, archs) -> list[str]:
        """The archived architecture each of ``archs`` replays (itself where archived)."""
        archs = [str(a) for a in archs]
        out = list(archs)
        todo = [k for k, a in enumerate(archs) if (a, -1) not in self.records]
        if todo:
            Z = self._scaler.transform(self._featurize(np.array([archs[k] for k in todo], dtype=object)[:, None]))
            index = self._neighbours.kneighbors(Z, return_distance=False)[:, 0]
            for k, i in zip(todo, index):
                out[k] = self.archs[int(i)]
        return out

    def result(self, arch: str, *, seed: int, epochs: int | None = None, device: str = "cpu", nearest: str | None = None) -> dict:
        """The result dict a training of ``arch`` replays (``train_seconds`` scaled by ``time_factor``)."""
        source = nearest if nearest is not None else self.nearest([arch])[0]
        record = self.records.get((source, int(seed))) or self.records[(source, -1)]
        epochs = self.epochs if epochs is None else int(epochs)
        layers = crossbar_layers(Architecture.parse(arch).pruned(), self.problem.network_input)
        rates = {}
        for layer in layers:
            rate = record["spike_rate"][slot_for(layer.name)]
            rates[layer.name] = float(rate) if np.isfinite(rate) else float(self.problem.hardware.spike_rate)
        seconds = record["train_seconds"] * self.time_factor * epochs / self.epochs
        return dict(arch=str(arch), status="trained", val_accuracy=record["val_accuracy"], test_accuracy=record["test_accuracy"],
                    spike_rates=rates, train_seconds=seconds, epochs=epochs, seed=int(seed), device=device,
                    samples_per_second=math.nan, params=int(sum(layer.params for layer in layers)), epoch_losses=[],
                    replayed_from=source)

    def task_result(self, task) -> dict:
        """:meth:`result` of a :class:`~moo_snn.executor.TrainingTask`."""
        return self.result(task.arch, seed=task.seed, epochs=task.epochs, device=task.device)


def sleep_and_return(result: dict, seconds: float) -> dict:
    """What a Dask worker runs for a replayed training: wait ``seconds`` (the replayed training
    time), then hand back ``result`` with the worker's name, as a real training would."""
    time.sleep(max(0.0, float(seconds)))
    return dict(result, worker=worker_name())



class ReplayDaskExecutor(DaskExecutor):
    """A :class:`~moo_snn.executor.DaskExecutor` whose workers replay trainings: each task sleeps for
    its replayed ``train_seconds`` (scaled by the table's ``time_factor``) and returns the replayed
    result. The look-up happens here; a worker receives only the result and the time to wait.
    Used to measure the scheduler's and the search's own overhead per task on a real cluster.

    Parameters
    ----------
    table : the :class:`ReplayTable`.
    **kwargs : as :class:`~moo_snn.executor.DaskExecutor` (``workers=N``, ``scheduler=``, ``client=``, ``retries=``).
    """

    def __init__(self, table: ReplayTable, **kwargs):
        super().__init__(**kwargs)
        self.table = table

    def call(self, task) -> tuple:
        """What a worker runs for ``task``: sleep the archive's training time, then return its recorded result."""
        result = self.table.task_result(task)
        return sleep_and_return, result, result["train_seconds"]
