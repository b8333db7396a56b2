"""``build_archive(archs=...)``: the same networks at another fidelity (benchmarks/fidelity_archive.py)."""

from moo_snn.config.problem import load_problem
from moo_snn.surrogate.build import build_archive

PROBLEM = load_problem("digits")


class RecordingExecutor:
    """Runs no training: answers each task with a fixed accuracy and records what it was asked."""

    def __init__(self):
        self.tasks = []

    def run(self, tasks, data=None):
        for k, task in enumerate(tasks):
            self.tasks.append(task)
            yield k, dict(arch=task.arch, status="trained", val_accuracy=0.5, test_accuracy=0.5, train_seconds=0.1,
                          epochs=task.epochs, seed=task.seed, params=10, spike_rates={}, train_fraction=task.train_fraction)


def test_given_networks_are_trained_in_their_order_at_the_asked_fidelity_once(tmp_path):
    archs = ["0303-0030-0003-0000_c8_t2_w4_p2_h0", "0003-1000-0000-0000_c4_t1_w2_p4_h0"]  # the second prunes to 0003-0000-...
    executor = RecordingExecutor()
    archive, n_new = build_archive(PROBLEM, tmp_path / "a.nc", 99, epochs=8, train_fraction=0.25, score=False,
                                   executor=executor, archs=archs)
    assert n_new == 2 and [t.arch for t in executor.tasks] == [archs[0], "0003-0000-0000-0000_c4_t1_w2_p4_h0"]
    assert {(t.epochs, t.train_fraction) for t in executor.tasks} == {(8, 0.25)}
    assert list(archive.arch.values) == [t.arch for t in executor.tasks]
    _, n_new = build_archive(PROBLEM, tmp_path / "a.nc", 99, epochs=8, train_fraction=0.25, score=False,
                             executor=RecordingExecutor(), archs=archs)
    assert n_new == 0  # resumable: already measured at this fidelity
