"""``accuracy_nonideal`` asked for on the command line (``--objective +accuracy_nonideal``) is measured,
and a network whose non-ideal accuracy nobody measured never stands on the front for it.

Found by a new user: workers re-read the problem from its TOML text, which does not hold the
``--objective`` names, so the trainings never measured it and the front showed the ideal accuracy under
the non-ideal name; and archive networks (never measured on non-ideal crossbars) met a non-ideal limit on
the front, the knee among them (its measured non-ideal accuracy was 0.096 against a limit of 0.5).
"""

from __future__ import annotations

import types

import numpy as np

from moo_snn.architecture import Architecture
from moo_snn.config.problem import load_problem, parse_problem
from moo_snn.executor import run_on_worker, training_tasks
from moo_snn.objectives import with_objectives
from moo_snn.search.loop import SearchRun

DIGITS = load_problem("digits").source
ONE_EPOCH = parse_problem(DIGITS.replace("epochs = 10", "epochs = 1"), "digits.toml")
ARCH = "0001-0000-0000-0000_c4_t1_w4_p2_h0"


def test_an_objective_given_on_the_command_line_is_measured_by_the_worker():
    asked = with_objectives(ONE_EPOCH, ["+accuracy_nonideal"])
    task, = training_tasks(asked, [ARCH], seed=0)
    assert task.nonideal and not training_tasks(ONE_EPOCH, [ARCH], seed=0)[0].nonideal
    assert not training_tasks(asked, [ARCH], seed=0, epochs=1, train_fraction=0.25)[0].nonideal  # a proxy: ideal only
    result = run_on_worker(task, threads=1)
    assert result["status"] == "trained"
    assert 0.0 <= result["accuracy_nonideal"] <= 1.0 and np.isfinite(result["accuracy_nonideal_std"])


TINY = (DIGITS.replace("channels = [4, 8, 16, 32]", "channels = [4, 8]").replace("epochs = 10", "epochs = 1")
        .replace("accuracy = { min = 0.9 }", "accuracy = { min = 0.2 }\naccuracy_nonideal = { min = 0.5 }")
        .replace("generations = 40", "generations = 3").replace("pop_size = 64", "pop_size = 12")
        .replace("rounds = 4", "rounds = 1").replace("survivors = 6", "survivors = 3").replace("bootstrap = 16", "bootstrap = 4")
        .replace("memory_kB = 8", "memory_kB = 100").replace("area_mm2 = 1.0", "area_mm2 = 100.0")
        .replace("latency_ms = 0.25", "latency_ms = 100.0").replace("energy_uJ = 2.5", "energy_uJ = 100.0"))


def test_a_network_without_a_measured_nonideal_accuracy_is_never_on_the_front(tmp_path, monkeypatch):
    """Trainings of 8-channel networks measure a non-ideal accuracy (0.6, meets the limit); the 4-channel
    ones come back without one (as archive records do). Only measured ones may stand on the front."""
    from moo_snn.space import SLOT_NAMES
    from moo_snn.training import trainer

    def fake(problem, arch, data=None, **kwargs):
        wide = Architecture.parse(str(arch)).channels == 8
        out = dict(arch=str(arch), status="trained", val_accuracy=0.95 if not wide else 0.9, test_accuracy=0.9, epochs=1,
                   seed=0, spike_rate=[1.0] + [0.1] * (len(SLOT_NAMES) - 1), train_seconds=0.01, device="cpu",
                   samples_per_second=1.0, params=1, epoch_losses=[])
        if wide:
            out.update(accuracy_nonideal=0.6, accuracy_nonideal_std=0.01)
        return types.SimpleNamespace(to_dict=lambda: out)

    monkeypatch.setattr(trainer, "train_architecture", fake)
    ds = SearchRun(parse_problem(TINY, "tiny.toml"), tmp_path / "run.nc", archive_path=tmp_path / "none.nc",
                   data=types.SimpleNamespace(y_train=np.zeros(10))).run()
    trained = ds.status.values == "trained"
    widths = np.array([Architecture.parse(str(a)).channels for a in ds.arch.values])
    assert (trained & (widths == 4)).any() and (trained & (widths == 8)).any()  # both kinds were trained
    front = ds.on_front.values
    assert front.any() and np.isfinite(ds.accuracy_nonideal.values[front]).all()
    assert (widths[front] == 8).all()  # the more accurate 4-channel networks had no measured non-ideal accuracy
    from moo_snn.cli.optimize_report import _without_nonideal  # and the command's report says how many stay off

    assert _without_nonideal(ds) == int((trained & (widths == 4)).sum()) > 0
    assert _without_nonideal(ds.drop_vars("accuracy_nonideal")) == 0
