"""Small results files for the command-line tests, made in seconds with made-up trainings.

The search is real (predictor, NSGA-II, selection, front); only the training is replaced by
:func:`fake_train`, whose accuracy grows with width, timesteps and bits. Also a custom objective,
:func:`edp` (energy-delay product), named ``cli_runs:edp`` as a user would on the command line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from moo_snn.config.problem import load_problem, parse_problem
from moo_snn.objectives import objective
from moo_snn.space import SLOT_NAMES

BASE = load_problem("digits").source
SMALL = {"accuracy = { min = 0.9 }": "accuracy = { min = 0.5 }", "generations = 40": "generations = 3",
         "pop_size = 64": "pop_size = 12", "rounds = 4": "rounds = 1", "survivors = 6": "survivors = 3",
         "bootstrap = 16": "bootstrap = 6"}


def small_text(**extra: str) -> str:
    """The digits problem with a small search (and ``extra`` replacements: old text → new text)."""
    text = BASE
    for old, new in {**SMALL, **extra}.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@objective(units="uJ*ms", direction="minimize")
def edp(batch):
    "Energy-delay product of one inference."
    return np.asarray(batch.costs.energy_uJ, float) * np.asarray(batch.costs.latency_ms, float)


class FakeResult:
    """What train_architecture returns, made up from the architecture (wider, longer, more bits: better)."""

    def __init__(self, arch, epochs=1):
        from moo_snn.architecture import Architecture

        a = Architecture.parse(str(arch))
        self.val_accuracy = min(0.99, 0.45 + 0.3 * np.log2(a.channels) / 5 + 0.15 * np.log2(a.timesteps + 1) / 3
                                + 0.04 * (a.weight_bits > 2))
        self.test_accuracy = self.val_accuracy - 0.01
        self.arch, self.status, self.epochs, self.seed, self.device = str(arch), "trained", epochs, 0, "cpu"
        self.train_seconds, self.samples_per_second, self.params, self.spike_rates = 0.01, 0.66, 1, {}

    def to_dict(self):
        rates = [1.0] + [0.12] * (len(SLOT_NAMES) - 1)
        return dict(arch=self.arch, status="trained", val_accuracy=self.val_accuracy, test_accuracy=self.test_accuracy,
                    spike_rate=rates, train_seconds=0.01, epochs=self.epochs, seed=0, device="cpu", samples_per_second=0.66,
                    params=1, epoch_losses=[])


def fake_train(problem, arch, data=None, *, epochs=None, **kwargs):
    """Stands in for :func:`moo_snn.training.trainer.train_architecture` (a full training at the
    epochs asked for, or the problem's)."""
    return FakeResult(arch, epochs or problem.training.epochs)


def make_run(path: Path, text: str | None = None, *, seed: int = 0, strategy: str = "moo", objectives=None,
             samples: int = 12) -> Path:
    """Run a small search (made-up trainings) into ``path``; returns ``path``."""
    import pytest

    from moo_snn.data import load_problem_data
    from moo_snn.objectives import with_objectives
    from moo_snn.search.hasnas import HasnasRun
    from moo_snn.search.loop import SearchRun, with_overrides
    from moo_snn.training import trainer

    spec = with_overrides(parse_problem(text or small_text(), "small-digits.toml"), seed=seed, hasnas_samples=samples)
    spec = with_objectives(spec, objectives or ())
    mp = pytest.MonkeyPatch()
    mp.setattr(trainer, "train_architecture", fake_train)
    try:
        run_class = HasnasRun if strategy == "hasnas" else SearchRun
        run_class(spec, path, archive_path=path.parent / "no-archive.nc", data=load_problem_data(spec)).run()
    finally:
        mp.undo()
    return path
