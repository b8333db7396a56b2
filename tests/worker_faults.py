"""What a Dask worker runs in the worker-death tests: a made-up training, or the death of the worker.

Importable by worker processes (they start with the test process's ``sys.path``). A task whose
architecture string contains ``DIE`` kills its own worker process with SIGKILL while it "trains";
any other sleeps a little (so that tasks queue up behind it) and returns a made-up result.
"""

from __future__ import annotations

import os
import signal
import time


def fake_training(task, threads=None) -> dict:
    time.sleep(0.3)
    if "DIE" in task.arch:
        os.kill(os.getpid(), signal.SIGKILL)
    return dict(arch=task.arch, status="trained", val_accuracy=0.5, test_accuracy=0.5, spike_rates={}, train_seconds=0.3,
                epochs=task.epochs, seed=task.seed, device=task.device, pid=os.getpid())
