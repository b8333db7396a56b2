"""The small digits search shared by the search and executor tests: 2 epochs, 2 rounds of 2
survivors, and an archive of made-up but plausible accuracies for the predictor to learn from."""

from pathlib import Path

import numpy as np

from moo_snn.config.problem import load_problem, parse_problem
from moo_snn.space import SearchSpace
from moo_snn.surrogate import archive as arc
from moo_snn.surrogate.sampling import space_filling_sample

TEXT = (load_problem("digits").source.replace("epochs = 10", "epochs = 2").replace("accuracy = { min = 0.9 }", "accuracy = { min = 0.5 }")
        .replace("generations = 40", "generations = 6").replace("pop_size = 64", "pop_size = 16")
        .replace("rounds = 4", "rounds = 2").replace("survivors = 6", "survivors = 2"))
SPEC = parse_problem(TEXT, "small-digits.toml")
assert (SPEC.training.epochs, SPEC.search.rounds, SPEC.search.survivors, SPEC.search.pop_size) == (2, 2, 2, 16)
SPACE = SearchSpace(SPEC.space)


def write_synthetic_archive(path: Path) -> Path:
    """30 architectures whose accuracy grows with width, timesteps and bits, at SPEC's recipe."""
    archive = arc.empty_archive(SPEC)
    for x in space_filling_sample(SPEC, SPACE, 30, seed=5):
        a = SPACE.decode(x)
        acc = 0.3 + 0.4 * np.log2(a.channels) / 5 + 0.2 * np.log2(a.timesteps + 1) / 3 + 0.05 * (a.weight_bits > 2)
        archive = arc.append(archive, dict(arch=str(a), status="trained", val_accuracy=acc, test_accuracy=acc, train_seconds=1.0,
                                           epochs=2, seed=0, params=1, spike_rates={"stem": 1.0}))
    arc.save_archive(archive, path)
    return path


class PhaseLines:
    """Search events that keep the run's phase lines (``lines``) and ignore the rest."""

    def __init__(self):
        self.lines = []

    def phase(self, text):
        self.lines.append(text)

    def generation(self, *a): ...
    def training(self, *a): ...
    def trained(self, *a): ...


class StopAfter:
    """Search events that press Ctrl-C once ``n`` trainings have finished (resume tests)."""

    def __init__(self, n):
        self.n = n

    def phase(self, text): ...
    def generation(self, *a): ...
    def training(self, *a): ...

    def trained(self, arch, result):
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt
