"""``moo-snn surrogate build``: train a space-filling sample of feasible architectures into an archive.

Resumable by construction: the sample is deterministic for a seed, the archive is written atomically
after every finished training, and architectures already in the archive (same seed, same epochs)
are skipped. An interrupted build therefore keeps every finished architecture; running the same
command again continues it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from moo_snn.errors import ResultsError
from moo_snn.space import SearchSpace
from moo_snn.surrogate import archive as arc
from moo_snn.surrogate.sampling import space_filling_sample


def default_archive_path(problem) -> Path:
    """``surrogates/<dataset>.nc`` next to the shipped problems."""
    from moo_snn.config.problem import problems_dir

    return problems_dir().parent / "surrogates" / f"{problem.data.dataset}.nc"


def open_or_create(problem, path: Path):
    """The archive at ``path`` if it exists (it must match the problem's recipe), else an empty one."""
    if not path.exists():
        return arc.empty_archive(problem)
    archive = arc.load_archive(path)
    if not arc.matches(archive, problem):
        raise ResultsError(f"{path}: this archive was measured with another data set or training recipe than "
                           f"problem {problem.name!r}; give another --out")
    return archive


def build_archive(problem, out: Path, n: int, *, seed: int = 0, train_seed: int | None = None,
                  epochs: int | None = None, score: bool = True, device: str = "cpu", data=None,
                  on_result: Callable | None = None) -> tuple:
    """Train up to ``n`` feasible space-filling architectures into the archive ``out``.

    ``seed`` draws the sample; ``train_seed`` (default: ``seed``) seeds each training, so the same
    architectures can be trained again with another seed (the noise ceiling of the predictor).
    Returns ``(archive, n_new)``. ``on_result(done, total, result)`` is called after each training.
    """
    train_seed = seed if train_seed is None else train_seed
    from moo_snn.data import load_problem_data
    from moo_snn.training.sahd import training_free_score
    from moo_snn.training.trainer import train_architecture

    space = SearchSpace(problem.space)
    epochs = problem.training.epochs if epochs is None else epochs
    archive = open_or_create(problem, out)
    genomes = space_filling_sample(problem, space, n, seed=seed)
    todo = [str(space.decode(x)) for x in genomes]
    done_before = {a for a, s, e in zip(archive.arch.values, archive.seed.values, archive.epochs.values)
                   if s == train_seed and e == epochs}
    todo = [a for a in todo if a not in done_before]
    data = load_problem_data(problem) if data is None else data
    for k, arch in enumerate(todo):
        result = train_architecture(problem, arch, data, epochs=epochs, seed=train_seed, device=device)
        value = training_free_score(problem, arch, data, seed=train_seed, device=device) if score else math.nan
        archive = arc.append(archive, result.to_dict(), sahd_score=value)
        arc.save_archive(archive, out)
        if on_result is not None:
            on_result(len(genomes) - len(todo) + k + 1, len(genomes), result)
    return archive, len(todo)
