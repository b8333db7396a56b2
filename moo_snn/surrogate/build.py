"""``moo-snn surrogate build``: train a space-filling sample of feasible architectures into an archive.

Resumable by construction: the sample is deterministic for a seed, the archive is written atomically
after every finished training, and architectures already in the archive (same seed, same epochs)
are skipped. An interrupted build therefore keeps every finished architecture; running the same
command again continues it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from moo_snn.architecture import Architecture
from moo_snn.errors import ResultsError
from moo_snn.space import SearchSpace
from moo_snn.surrogate import archive as arc
from moo_snn.surrogate.sampling import space_filling_sample


def default_archive_path(problem) -> Path:
    """The archive a search, plan, report or prediction of ``problem`` reads by default.

    The first archive of the problem's data set measured with its recipe at its epochs on the whole
    training split (``./surrogates/<dataset>.nc``, else the shipped one, then the other
    ``<dataset>*.nc`` of those folders), else the default one of the data set, which may not exist:
    the rule of :func:`moo_snn.surrogate.archive_choice.choose_archive`.
    """
    from moo_snn.surrogate.archive_choice import choose_archive

    return choose_archive(problem).path


def open_or_create(problem, path: Path):
    """The archive at ``path`` if it exists (it must match the problem's recipe), else an empty one."""
    if not path.exists():
        return arc.empty_archive(problem)
    archive = arc.load_archive(path)
    differs = arc.mismatch(archive, problem)
    if differs:
        raise ResultsError(f"{path}: this archive was measured with another data set or training recipe than "
                           f"problem {problem.name!r} ({differs}); give another --out")
    return archive


def build_archive(problem, out: Path, n: int, *, seed: int = 0, train_seed: int | None = None,
                  epochs: int | None = None, score: bool = True, device: str = "cpu", data=None,
                  on_result: Callable | None = None, executor=None, train_fraction: float = 1.0,
                  archs: list[str] | None = None) -> tuple:
    """Train up to ``n`` feasible space-filling architectures into the archive ``out``.

    ``seed`` draws the sample; ``train_seed`` (default: ``seed``) seeds each training, so the same
    architectures can be trained again with another seed (the noise ceiling of the predictor).
    ``executor`` runs the trainings (:mod:`moo_snn.executor`; default in this process, on ``data``
    if given); each result is written to the archive as it arrives, and at the end this build's
    records are put in sample order, whatever order they finished in. A training that failed
    (status ``failed``) is recorded and tried again by the next build.
    Returns ``(archive, n_new)``. ``on_result(done, total, result)`` is called after each training
    (``result``: the :meth:`TrainResult.to_dict` of it, with ``sahd_score``).
    ``train_fraction < 1`` trains low-fidelity proxies on a stratified part of the training split
    (with ``epochs``, the fidelity of every record of this build); one archive holds any number of
    fidelities, each record tagged with its ``epochs`` and ``train_fraction``.
    ``archs`` (architecture strings) replaces the sample: these networks are trained, in this order
    (``n`` and ``seed`` are then unused): the same networks at another fidelity, say.
    """
    from moo_snn.executor import InProcessExecutor, training_tasks
    from moo_snn.outputs import check_output_file
    from moo_snn.training.runtime import check_device

    check_device(device, here=not getattr(executor, "remote", False))  # before the archive is created
    check_output_file(out, folder_hint="give an archive file name (.nc)")
    train_seed = seed if train_seed is None else train_seed
    space = SearchSpace(problem.space)
    epochs = problem.training.epochs if epochs is None else epochs
    archive = arc.with_fraction(open_or_create(problem, out))
    if archs is None:
        todo = [str(space.decode(x)) for x in space_filling_sample(problem, space, n, seed=seed)]
    else:
        todo = [str(Architecture.parse(str(a)).canonical()) for a in archs]
    genomes = list(todo)
    done_before = {a for a, s, e, f, status in zip(archive.arch.values, archive.seed.values, archive.epochs.values,
                                                   archive.train_fraction.values, archive.status.values)
                   if s == train_seed and e == epochs and math.isclose(f, train_fraction) and status != "failed"}
    todo = [a for a in todo if a not in done_before]
    executor = InProcessExecutor() if executor is None else executor
    tasks = training_tasks(problem, todo, epochs=epochs, seed=train_seed, device=device, score=score,
                           train_fraction=train_fraction)
    with closing(executor.run(tasks, data=data)) as results:
        for done, (_, result) in enumerate(results, start=1):
            archive = arc.append(archive, result, sahd_score=result.get("sahd_score", math.nan))
            arc.save_archive(archive, out)
            if on_result is not None:
                on_result(len(genomes) - len(todo) + done, len(genomes), result)
    order = _sample_order(archive, todo, train_seed, epochs, train_fraction)
    if order != list(range(archive.sizes["record"])):
        archive = archive.isel(record=order)
        arc.save_archive(archive, out)
    return archive, len(todo)


def _sample_order(archive, archs: list[str], seed: int, epochs: int, train_fraction: float) -> list[int]:
    """Record order with the records of ``archs`` (at ``seed`` and this fidelity) last and in the order of ``archs``."""
    rank = {str(Architecture.parse(a).canonical()): k for k, a in enumerate(archs)}
    keys = [rank.get(str(a), -1) if s == seed and e == epochs and math.isclose(f, train_fraction) else -1
            for a, s, e, f in zip(archive.arch.values, archive.seed.values, archive.epochs.values, archive.train_fraction.values)]
    return sorted(range(len(keys)), key=lambda r: (keys[r] >= 0, keys[r]))
