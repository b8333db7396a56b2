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
**Fidelities.** An archive may hold the same networks at several fidelities (epochs × fraction of
the training split, ``surrogates/digits-fidelity.nc``: 64 networks at 1 ep × 0.25, 2 ep × 0.5,
3 ep × 1 and the full 30 epochs). A task at a fidelity the archive holds replays that fidelity's
records (nearest neighbour among the networks measured at it); a task at any other fidelity
replays the *reference* fidelity (the most epochs on the whole training split, the full training)
with its accuracy as measured and its time scaled by the samples it would see,
``epochs · fraction / (epochs_ref · fraction_ref)`` (a one-fidelity archive: the same accuracy in
proportionally scaled time).
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
        fractions = done.train_fraction.values.astype(float)
        kinds = sorted({(int(e), float(f)) for e, f in zip(done.epochs.values, fractions)}, key=lambda k: (k[1] >= 1.0, k[0] * k[1]))
        self.epochs, self.train_fraction = kinds[-1]  # the reference: most epochs on the largest fraction
        every = np.array(list(dict.fromkeys(map(str, done.arch.values))), dtype=object)[:, None]  # archive order
        self._featurize = ArchitectureFeaturizer.for_problem(problem).fit(every).transform
        self._scaler = StandardScaler().fit(self._featurize(every))
        self.fidelities: dict[tuple[int, float], tuple[dict, list, object]] = {}
        """Per (epochs, train_fraction) the archive holds: (records by (arch, seed), archs, nearest-neighbour index)."""
        for epochs, fraction in kinds:
            mask = (done.epochs.values == epochs) & np.isclose(fractions, fraction)
            records, archs = self._records(done.isel(record=np.flatnonzero(mask)))
            index = NearestNeighbors(n_neighbors=1).fit(self._scaler.transform(self._featurize(np.array(archs, dtype=object)[:, None])))
            self.fidelities[(epochs, fraction)] = (records, archs, index)
        self.records, self.archs, self._neighbours = self.fidelities[(self.epochs, self.train_fraction)]

    @staticmethod
    def _records(done) -> tuple[dict, list]:
        """Records by (arch, seed) and (arch, -1) (its lowest seed's), and the architectures in archive order."""
        order = np.lexsort((done.seed.values, np.arange(done.sizes["record"])))  # per architecture: lowest seed first
        records: dict[tuple[str, int], dict] = {}
        archs: list[str] = []
        for k in order:
            arch, seed = str(done.arch.values[k]), int(done.seed.values[k])
            record = dict(val_accuracy=float(done.val_accuracy.values[k]), test_accuracy=float(done.test_accuracy.values[k]),
                          train_seconds=float(done.train_seconds.values[k]),
                          spike_rate=done.spike_rate.values[k].astype(float), seed=seed)
            records.setdefault((arch, seed), record)
            if arch not in archs:
                archs.append(arch)
                records[(arch, -1)] = record  # the architecture's default record (lowest seed)
        return records, archs

    def nearest(self, archs, fidelity: tuple[int, float] | None = None) -> list[str]:
        """The archived architecture each of ``archs`` replays (itself where archived) among the networks
        measured at ``fidelity`` (``(epochs, train_fraction)``; default: the reference fidelity)."""
        records, known, neighbours = self.fidelities[fidelity or (self.epochs, self.train_fraction)]
        archs = [str(Architecture.parse(str(a)).canonical()) for a in archs]  # as the archive reads them
        out = list(archs)
        todo = [k for k, a in enumerate(archs) if (a, -1) not in records]
        if todo:
            Z = self._scaler.transform(self._featurize(np.array([archs[k] for k in todo], dtype=object)[:, None]))
            index = neighbours.kneighbors(Z, return_distance=False)[:, 0]
            for k, i in zip(todo, index):
                out[k] = known[int(i)]
        return out

    def fidelity_of(self, epochs: int | None, train_fraction: float = 1.0) -> tuple[int, float]:
        """The archived fidelity a training of ``epochs`` on ``train_fraction`` replays (module docstring)."""
        epochs = self.epochs if epochs is None else int(epochs)
        for kind in self.fidelities:
            if kind[0] == epochs and math.isclose(kind[1], float(train_fraction)):
                return kind
        return (self.epochs, self.train_fraction)

    def result(self, arch: str, *, seed: int, epochs: int | None = None, device: str = "cpu", nearest: str | None = None,
               train_fraction: float = 1.0) -> dict:
        """The result dict a training of ``arch`` replays (``train_seconds`` scaled by ``time_factor``)."""
        epochs = self.epochs if epochs is None else int(epochs)
        kind = self.fidelity_of(epochs, train_fraction)
        records = self.fidelities[kind][0]
        source = nearest if nearest is not None else self.nearest([arch], kind)[0]
        record = records.get((source, int(seed))) or records[(source, -1)]
        layers = crossbar_layers(Architecture.parse(arch).pruned(), self.problem.network_input)
        rates = {}
        for layer in layers:
            rate = record["spike_rate"][slot_for(layer.name)]
            rates[layer.name] = float(rate) if np.isfinite(rate) else float(self.problem.hardware.spike_rate)
        samples = epochs * float(train_fraction) / (kind[0] * kind[1])  # 1 at an archived fidelity
        seconds = record["train_seconds"] * self.time_factor * samples
        return dict(arch=str(arch), status="trained", val_accuracy=record["val_accuracy"], test_accuracy=record["test_accuracy"],
                    spike_rates=rates, train_seconds=seconds, epochs=epochs, seed=int(seed), device=device,
                    samples_per_second=math.nan, params=int(sum(layer.params for layer in layers)), epoch_losses=[],
                    replayed_from=source, train_fraction=float(train_fraction))

    def task_result(self, task) -> dict:
        """:meth:`result` of a :class:`~moo_snn.executor.TrainingTask`."""
        return self.result(task.arch, seed=task.seed, epochs=task.epochs, device=task.device, train_fraction=task.train_fraction)


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
