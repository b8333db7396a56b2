"""A training is a function of its task: the same architecture, seed, epochs, data fraction and torch
thread count give bit-identical results in this process after other trainings, in another process
and on a Dask worker (losses as exact floats, accuracies, spike rates). The measurements with more
epochs, and 1 vs 2 threads, are ``benchmarks/determinism.py`` (RESULTS.md, "Training determinism")."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from moo_snn.config.problem import load_problem
from moo_snn.executor import DaskExecutor, InProcessExecutor, training_tasks

A, B = "0303-0030-0003-0000_c4_t1_w4_p2_h0", "0102-0013-0002-0000_c4_t2_w2_p2_h32"


def _tasks(archs, epochs=1, fraction=0.1):
    return training_tasks(load_problem("digits-long"), archs, seed=5, epochs=epochs, train_fraction=fraction)


def _fingerprint(result: dict) -> dict:
    return dict(val=result["val_accuracy"], test=result["test_accuracy"], losses=[float(x).hex() for x in result["epoch_losses"]],
                rates=result["spike_rates"], threads=result["torch_threads"])


@pytest.mark.slow  # three tiny trainings, but the data set and torch's first use: 5-25 s in a fresh process on 2 shared cores
def test_a_training_repeats_exactly_after_other_trainings_in_the_same_process():
    executor = InProcessExecutor(torch_threads=1)
    first, other, again = (_fingerprint(r) for _, r in executor.run(_tasks([A, B, A])))
    assert first == again and first != other
    assert len(first["losses"]) == 1 and first["threads"] == 1


CHILD = """
import json, sys
from moo_snn.config.problem import load_problem
from moo_snn.executor import InProcessExecutor, training_tasks
tasks = training_tasks(load_problem("digits-long"), sys.argv[1:], seed=5, epochs=2, train_fraction=0.25)
for _, r in InProcessExecutor(torch_threads=1).run(tasks):
    print(json.dumps(dict(val=r["val_accuracy"], test=r["test_accuracy"], losses=[float(x).hex() for x in r["epoch_losses"]],
                          rates=r["spike_rates"], threads=r["torch_threads"])))
"""


def _in_a_new_process(archs) -> list[dict]:
    done = subprocess.run([sys.executable, "-c", CHILD, *archs], capture_output=True, text=True, timeout=600, check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.slow  # two fresh processes and a Dask worker, each training two small networks: 20-60 s on 2 shared cores
def test_the_same_task_gives_the_same_training_in_another_process_and_on_a_dask_worker():
    here = [_fingerprint(r) for _, r in InProcessExecutor(torch_threads=1).run(_tasks([A, B], epochs=2, fraction=0.25))]
    assert _in_a_new_process([A, B]) == here
    assert _in_a_new_process([B, A]) == here[::-1]  # another order in the other process
    with DaskExecutor(workers=1, torch_threads=1) as executor:
        on_worker = dict(executor.run(_tasks([A, B], epochs=2, fraction=0.25)))
    assert [_fingerprint(on_worker[i]) for i in range(2)] == here
