"""The library's ``optimize``: everything ``moo-snn optimize`` does, for a Python user.

:func:`optimize` takes a problem (shipped name, path or :class:`~moo_snn.config.problem.ProblemSpec`),
``[search]`` overrides, objectives, the executor (this process, ``workers=N`` local Dask workers or
``scheduler=ADDR`` of a cluster), a budget and the search mode, or a results file to resume, and
returns the results Dataset. It is two steps, which the command line takes one by one so that it can
show them:

1. :func:`prepare_optimize` resolves and checks every input before anything is written (the problem,
   a resumed run's stored options and the refusals of a resume, the objectives and plug-ins, the
   destination and the data: :mod:`moo_snn.run_checks`) and returns a :class:`PreparedRun`; a
   complete run that was asked for no more rounds says so in :attr:`PreparedRun.nothing_to_do`.
2. :meth:`PreparedRun.execute` starts the executor and runs :class:`~moo_snn.search.loop.SearchRun`
   (or :class:`~moo_snn.search.hasnas.HasnasRun`, :class:`~moo_snn.search.async_loop.AsyncSearchRun`).

The search, pymoo, scikit-learn and torch are imported when a run is prepared, not when this module
is (``import moo_snn`` stays light).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from moo_snn.errors import MooSnnError, ProblemError, ResultsError
from moo_snn.run_checks import check_before_writing, nothing_to_do, results_path

STRATEGIES = ("moo", "hasnas")
"""``moo``: this tool's search (DESIGN §6); ``hasnas``: the papers' search as reconstructed (:mod:`moo_snn.search.hasnas`)."""

__all__ = ["STRATEGIES", "PreparedRun", "SearchModeChoiceError", "optimize", "prepare_optimize"]


class SearchModeChoiceError(MooSnnError):
    """``asynchronous=True`` was asked for a strategy that has no asynchronous search (only ``moo`` has one)."""


@dataclass
class PreparedRun:
    """A run of :func:`optimize` with every input resolved and checked, nothing written yet.

    Parameters
    ----------
    spec : ProblemSpec
        The problem with the ``[search]`` overrides and the objectives applied.
    path : Path
        The results file the run writes (the resumed file itself when resuming).
    strategy : {"moo", "hasnas"}
        The search strategy (a resumed run keeps its own).
    asynchronous : bool
        Whether the asynchronous search (:class:`~moo_snn.search.async_loop.AsyncSearchRun`) runs.
    resume : Path or None
        The results file being continued (None: a new run).
    stored : xarray.Dataset or None
        The resumed file's contents as read before the run (None: a new run).
    nothing_to_do : str
        Why continuing ``stored`` would do nothing (it is complete and has every round asked for);
        ``""`` when there is work to do.
    data : DataSplits or None
        The problem's data, loaded to check them; given to an in-process run (None: the workers read
        their own).
    archive : Path or None
        The accuracy archive to start from (None: the problem's default one,
        :func:`moo_snn.surrogate.archive_choice.choose_archive`; a resume: the one the run recorded).
    device : str
        torch device of the trainings.
    workers : int or None
        Local Dask workers (None: no local cluster).
    scheduler : str or None
        Address of a Dask scheduler to join (None: none).
    torch_threads : int or None
        torch threads per training (None: each training chooses, :mod:`moo_snn.training.runtime`).
    budget : Budget or None
        What the run may spend (:class:`moo_snn.search.fidelity.Budget`; None: no cap).
    command : str
        What started the run, stored in the results file's ``command`` attribute.
    unused : list of (str, object, object)
        ``(name, stored value, given value)`` of each ``[search]`` option given to a resume that has
        nothing left to do (:attr:`nothing_to_do`), which therefore uses none of them.
    notes : list of str
        One line each about the inputs, for the caller to show before running: a resumed run's
        recorded archive that is gone, or replaced by the ``archive`` given.
    """

    spec: object
    path: Path
    strategy: str
    asynchronous: bool
    resume: Path | None
    stored: object
    nothing_to_do: str
    data: object
    archive: Path | None
    device: str
    workers: int | None
    scheduler: str | None
    torch_threads: int | None
    budget: object
    command: str
    unused: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def execute(self, events=None, *, on_option_change: Callable[[str, object, object], None] | None = None):
        """Start the executor and run the search; returns the results Dataset (also written to :attr:`path`).

        Parameters
        ----------
        events : SearchEvents, optional
            Receives the run's phases, generations and trainings (:class:`moo_snn.search.loop.SearchEvents`;
            default: silent); first, which archive the run reads and how many of its records it reuses
            (its ``note(text)`` where it has one, else ``phase(text)``).
        on_option_change : callable, optional
            ``on_option_change(name, stored_value, new_value)`` for each option of a resumed run that
            differs from the one stored in its file (:attr:`SearchRun.option_changes
            <moo_snn.search.loop.SearchRun>`), called before the search starts.

        Returns
        -------
        xarray.Dataset
            The results (format: :mod:`moo_snn.results.state`).

        Raises
        ------
        MooSnnError
            As :meth:`SearchRun.run <moo_snn.search.loop.SearchRun.run>`: limits out of reach
            (:class:`~moo_snn.errors.InfeasibleError`), a scheduler that cannot be reached, a training
            error that is the user's. ``KeyboardInterrupt`` propagates after the file is written with
            status ``interrupted``.
        """
        from moo_snn.executor import make_executor
        from moo_snn.search.loop import SearchEvents, SearchRun

        events = events or SearchEvents()
        run_class = SearchRun
        if self.strategy == "hasnas":
            from moo_snn.search.hasnas import HasnasRun

            run_class = HasnasRun
        if self.asynchronous:
            from moo_snn.search.async_loop import AsyncSearchRun

            run_class = AsyncSearchRun
        say = getattr(events, "note", events.phase)  # a lasting line where the progress has one (the CLI's)
        executor = make_executor(self.workers, self.scheduler, torch_threads=self.torch_threads, on_wait=say)
        if self.workers or self.scheduler:
            events.phase(f"starting {self.workers} Dask workers" if self.workers
                         else f"joining the Dask cluster at {self.scheduler}")
        with executor:
            caps = {"budget": self.budget} if self.budget is not None else {}
            run = run_class(self.spec, self.path, archive_path=self.archive, resume=self.resume, device=self.device,
                            data=self.data, command=self.command, progress=events, executor=executor, **caps)
            for name, before, now in run.option_changes:
                if on_option_change is not None:
                    on_option_change(name, before, now)
            if self.strategy != "hasnas":  # that strategy reads no archive (moo_snn.search.hasnas)
                choice = run.archive_choice
                say(f"{choice.note()}; the run reuses {len(run.archive_records)} of them" if run.archive_records
                    else choice.note())
                # a resume reads the same archive (prepare_optimize), even where the lookup would now find another
                run.state.attrs.update(archive=choice.recorded, archive_records=len(run.archive_records))
            # where it trains: a resume starts the same local workers (prepare_optimize); an asynchronous run's
            # arrivals, and so its choices, depend on how many trainings run at once
            run.state.attrs.update(workers=int(self.workers or 0), scheduler=str(self.scheduler or ""))
            return run.run()


def prepare_optimize(problem=None, out: str | os.PathLike | None = None, *, resume: str | os.PathLike | None = None,
                     search: Mapping[str, object] | None = None, objectives: Sequence[str] = (), allow_code: bool = False,
                     strategy: str | None = None, asynchronous: bool | None = None, archive: str | os.PathLike | None = None,
                     device: str = "cpu", workers: int | None = None, scheduler: str | None = None,
                     torch_threads: int | None = None, budget_fte: float | None = None, budget_hours: float | None = None,
                     command: str = "") -> PreparedRun:
    """Resolve and check every input of :func:`optimize`; nothing is written, no executor started.

    Parameters
    ----------
    problem, out, resume, search, objectives, allow_code, strategy, asynchronous, archive, device, workers, scheduler, torch_threads, budget_fte, budget_hours : see :func:`optimize`
        The same parameters, with the same defaults.
    command : str, optional
        Stored in the results file's ``command`` attribute (the command line that started the run).

    Returns
    -------
    PreparedRun
        Run it with :meth:`PreparedRun.execute`, unless its ``nothing_to_do`` says why not.

    Raises
    ------
    MooSnnError
        As :func:`optimize`.
    """
    from moo_snn.objectives import with_objectives
    from moo_snn.search.loop import with_overrides
    from moo_snn.surrogate.archive_choice import check_archive_exists, is_no_archive
    from moo_snn.training.runtime import check_device

    check_device(device, here=scheduler is None)  # a cluster's GPUs are its workers'; local workers share this machine's
    if archive is not None:
        archive = check_archive_exists(archive)  # a typo would cost a whole bootstrap: the CLI refuses it the same way
    notes, unused, archive_change = [], [], None
    overrides = _checked_search(search)
    seed = overrides.pop("seed", None)
    stored = None
    if resume is not None:
        from moo_snn.results import open_results
        from moo_snn.search.loop import resume_spec

        resume = Path(resume)
        stored = open_results(resume)
        spec, stored_options = resume_spec(stored, source=str(resume))  # the run's own options, unless given
        given = dict(overrides, **({} if seed is None else {"seed": seed}))
        unused = [(k, stored_options.get(k), v) for k, v in given.items()  # used only if there is work left (below)
                  if k != "rounds" and v != stored_options.get(k)]  # rounds: the nothing-to-do line names it
        if archive is not None and stored.attrs.get("archive") and not _same_archive(archive, str(stored.attrs["archive"])):
            archive_change = ("archive", str(stored.attrs["archive"]), str(archive))  # a note, or unused (below)
            _check_archive_holds_the_run(stored, spec, archive, resume)
        if archive is None and stored.attrs.get("archive"):
            archive = Path(str(stored.attrs["archive"]))  # the archive the run started from (missing then: none)
            if not archive.exists() and not is_no_archive(archive) and int(stored.attrs.get("archive_records", 0)):
                notes.append(f"the archive this run started from, {archive}, is gone: the resume reads the problem's "
                             f"default archive (give --archive to read another)")
                archive = None
        if torch_threads is None:
            torch_threads = stored_options.get("torch_threads")
        if problem is not None and _problem(problem).source != spec.source:
            raise ResultsError(f"{resume} was made with another problem than {_name(problem)}; run --resume without a problem")
        seed = int(stored.attrs["seed"]) if seed is None else seed
        strategy = str(stored.attrs.get("strategy", strategy or "moo"))  # a run continues with the strategy it began with
        if workers is None and scheduler is None:  # where it trained, unless told otherwise (execute records it)
            began_with, address = int(stored.attrs.get("workers", 0) or 0), str(stored.attrs.get("scheduler", "") or "")
            if began_with:
                workers = began_with
                notes.append(f"resumed with --workers {began_with}, as the run began (give --workers to change it)")
            elif address:
                notes.append(f"the run began on the Dask cluster at {address}; this resume trains in this process "
                             f"(give --scheduler {address} to go on there)")
        own = stored.attrs.get("search_mode") == "async"  # a run continues in the mode it began with: the two keep
        if asynchronous is not None and bool(asynchronous) != own:  # different records (rounds, refusals, request log)
            notes.append(f"--{'async' if asynchronous else 'sync'} not used: a resumed run keeps its own mode "
                         f"({'asynchronous' if own else 'rounds of survivors, --sync'})")
        asynchronous = own
        path = resume
    else:
        spec = _problem(problem)
        seed = spec.search.seed if seed is None else seed
        path = results_path(spec.name, seed, out)
    strategy = strategy or "moo"
    if strategy not in STRATEGIES:
        raise ProblemError(f"strategy: expected one of {', '.join(STRATEGIES)}, found {strategy!r}")
    spec = with_overrides(spec, seed=seed, **overrides)
    spec = with_objectives(spec, [_objective_name(o) for o in objectives], allow_code=allow_code,
                           stored=[str(n) for n in stored.objective.values] if stored is not None else None)
    if asynchronous is None:  # measured: async keeps 2+ workers busy, one worker gains nothing from it
        asynchronous = (strategy == "moo" and not spec.fidelity.enabled
                        and ((workers or 0) >= 2 or scheduler is not None))
    budget = _budget(stored, budget_fte, budget_hours)
    reason = nothing_to_do(stored, spec, resume, budget) if stored is not None else ""
    if archive_change is not None and reason:
        unused.append(archive_change)  # like every other option given to a resume with nothing to do
    elif archive_change is not None:
        notes.append(f"resumed with archive {archive_change[2]} (the run had {archive_change[1]})")
    if asynchronous and strategy != "moo" and not reason:
        raise SearchModeChoiceError(f"the asynchronous search applies to strategy 'moo' only, found {strategy!r}; "
                                    f"run it synchronously")
    data = None
    if not reason:
        data = check_before_writing(spec, path, in_process=workers is None and scheduler is None,
                                    remote=scheduler is not None)
    return PreparedRun(spec=spec, path=Path(path), strategy=strategy, asynchronous=bool(asynchronous), resume=resume,
                       stored=stored, nothing_to_do=reason, data=data, archive=None if archive is None else Path(archive),
                       device=device, workers=workers, scheduler=scheduler, torch_threads=torch_threads, budget=budget,
                       command=command, unused=unused if reason else [], notes=notes)


def optimize(problem=None, out: str | os.PathLike | None = None, *, resume: str | os.PathLike | None = None,
             search: Mapping[str, object] | None = None, objectives: Sequence[str] = (), allow_code: bool = False,
             strategy: str | None = None, asynchronous: bool | None = None, archive: str | os.PathLike | None = None,
             device: str = "cpu", workers: int | None = None, scheduler: str | None = None,
             torch_threads: int | None = None, budget_fte: float | None = None, budget_hours: float | None = None,
             events=None, on_option_change: Callable[[str, object, object], None] | None = None,
             command: str | None = None):
    """Search a problem's space for accurate spiking networks that meet its hardware limits (``moo-snn optimize``).

    Parameters
    ----------
    problem : str, path-like or ProblemSpec, optional
        A shipped problem's name, a problem file, or a loaded problem (default: ``digits``). With
        ``resume``: omit it (the stored problem is used) or give the same problem.
    out : path-like, optional
        The results file (ending in ``.nc``), or a folder for ``<problem>-seed<N>-<time>.nc`` (default:
        ``./results/``, created if needed). Ignored with ``resume`` (the resumed file is written).
    resume : path-like, optional
        A results file to continue (an interrupted run, or a complete one with more ``rounds``): its
        stored ``[search]`` options, objectives, torch threads, strategy and mode are used unless given
        here; nothing it holds is trained again.
    search : mapping, optional
        ``[search]`` values that replace the problem's: ``seed``, ``rounds``, ``generations``,
        ``pop_size``, ``survivors``, ``bootstrap``, ``uncertainty_weight``, ``hasnas_samples``
        (checked against the bounds of :class:`~moo_snn.config.problem.SearchSpec`).
    objectives : sequence of str or Objective, optional
        Objective names (built-in, installed plug-in, or ``module:function``); plain names replace the
        problem's ``[objectives]``, ``"+NAME"`` adds one (:func:`moo_snn.objectives.with_objectives`).
        An :class:`~moo_snn.objectives.Objective` made with :func:`moo_snn.objective` counts as its name.
    allow_code : bool, optional
        Run ``module:function`` objectives named in the problem file (problem files are shared: read
        that code first).
    strategy : {"moo", "hasnas"}, optional
        This tool's search (default) or the papers' (:mod:`moo_snn.search.hasnas`).
    asynchronous : bool, optional
        True: a free worker gets the next candidate from the current predictor (no round barrier);
        False: rounds of survivors. Default: asynchronous with 2 or more ``workers`` or a ``scheduler``
        (measured in benchmarks/RESULTS.md), else synchronous; a resumed run keeps its own mode
        (another one given is not used, and a note says so).
    archive : path-like, optional
        Accuracy archive to start from; it must exist (``"none"``: start from no archive). Default: the first archive of the problem's data
        set measured with its recipe at its epochs (``./surrogates/<dataset>.nc``, else the shipped one,
        then the other ``<dataset>*.nc`` of those folders: :func:`moo_snn.surrogate.archive_choice.choose_archive`);
        a resume reads the archive its run started from (results attribute ``archive``).
    device : str, optional
        torch device of the trainings: ``"cpu"`` (default), ``"cuda"`` or ``"cuda:N"``; any other device
        type, or a GPU torch does not see here (without ``scheduler``), is refused before anything is
        written (:func:`moo_snn.training.runtime.check_device`).
    workers : int, optional
        Start this many local Dask worker processes for the trainings (default: train in this process; a
        resumed run: as many as it began with, ``workers`` attribute of its file, and a note says so).
    scheduler : str, optional
        Address of a running Dask scheduler whose workers train (they read the data themselves).
    torch_threads : int, optional
        torch threads per training (default: each training chooses, or the resumed run's count).
    budget_fte : float, optional
        Stop training once this many full-training equivalents (epochs x data fraction / full epochs,
        summed) are spent (default: no cap; a resumed run keeps its own unless this is given).
    budget_hours : float, optional
        Stop starting trainings once this many hours of training time are spent (default as ``budget_fte``).
    events : SearchEvents, optional
        Receives phases, generations and trainings (:class:`moo_snn.search.loop.SearchEvents`; default: silent).
    on_option_change : callable, optional
        ``on_option_change(name, stored_value, new_value)`` for each stored option a resume changes.
    command : str, optional
        Stored in the results file's ``command`` attribute (default: this call, written out).

    Returns
    -------
    xarray.Dataset
        The results (format: :mod:`moo_snn.results.state`; ``ds.moo`` reads the front), also written
        to the results file (``ds.attrs``: ``status``, ``seed``, ``options``). A resumed run with
        nothing left to do returns the stored results unchanged.

    Raises
    ------
    ProblemError
        An unknown problem, ``[search]`` key or value, strategy or objective.
    ResultsError
        ``resume`` is not a results file, was made with another problem or seed, or the destination
        cannot be written.
    ArchiveNotFoundError
        ``archive`` names no file (a :class:`ResultsError`; the command line's ``--archive`` says the same).
    SearchModeChoiceError
        ``asynchronous=True`` with the ``hasnas`` strategy.
    DataError
        The problem's data cannot be read.
    InfeasibleError
        No architecture of the space can meet the cost limits (nothing is written).
    KeyboardInterrupt
        Propagated after the results file is written with status ``interrupted`` (resume it).

    Examples
    --------
    >>> ds = moo_snn.optimize("digits", "results/run.nc", search={"rounds": 1}, torch_threads=1)  # doctest: +SKIP
    >>> ds.moo.front_records()  # doctest: +SKIP
    """
    if command is None:
        command = _call_text(problem=problem, out=out, resume=resume, search=search, objectives=list(objectives) or None,
                             allow_code=allow_code or None, strategy=strategy, asynchronous=asynchronous, archive=archive,
                             device=None if device == "cpu" else device, workers=workers, scheduler=scheduler,
                             torch_threads=torch_threads, budget_fte=budget_fte, budget_hours=budget_hours)
    prepared = prepare_optimize(problem, out, resume=resume, search=search, objectives=objectives, allow_code=allow_code,
                                strategy=strategy, asynchronous=asynchronous, archive=archive, device=device,
                                workers=workers, scheduler=scheduler, torch_threads=torch_threads, budget_fte=budget_fte,
                                budget_hours=budget_hours, command=command)
    if prepared.nothing_to_do:
        return prepared.stored
    return prepared.execute(events, on_option_change=on_option_change)


def _budget(stored, budget_fte: float | None, budget_hours: float | None):
    """The run's :class:`~moo_snn.search.fidelity.Budget` (None: no cap); a resume keeps the stored run's
    budget unless a new one is given (attributes: -1 = no cap; ``inf``: no cap; not a number >= 0: ProblemError)."""
    if stored is not None:
        stored_fte, stored_hours = float(stored.attrs.get("budget_fte", -1)), float(stored.attrs.get("budget_hours", -1))
        budget_fte = stored_fte if budget_fte is None and stored_fte >= 0 else budget_fte
        budget_hours = stored_hours if budget_hours is None and stored_hours >= 0 else budget_hours
    if budget_fte is None and budget_hours is None:
        return None
    from moo_snn.search.fidelity import Budget

    import math
    import numbers

    caps = {}
    for name, value in (("budget_fte", budget_fte), ("budget_hours", budget_hours)):
        number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if value is not None and not (number and value >= 0):
            raise ProblemError(f"{name}: expected a number >= 0 (or None: no cap), found {value!r}")
        caps[name] = None if value is None or math.isinf(value) else float(value)  # inf: no cap
    if caps["budget_fte"] is None and caps["budget_hours"] is None:
        return None
    return Budget(caps["budget_fte"], caps["budget_hours"])


def _checked_search(search: Mapping[str, object] | None, where: str = "optimize(search=...)") -> dict:
    """The ``[search]`` overrides without None values, checked against :class:`SearchSpec`'s keys and
    bounds (``where`` names the caller in the error: ``moo-snn plan`` checks its overrides here too)."""
    from moo_snn.config.problem import SearchSpec
    from moo_snn.schema import parse_table

    overrides = {k: v for k, v in dict(search or {}).items() if v is not None}
    parse_table(SearchSpec, overrides, "search", where)  # unknown keys, types and bounds: ProblemError
    return overrides


def _check_archive_holds_the_run(stored, spec, archive: Path, path) -> None:
    """Raise :class:`ResultsError` (before the file is touched) if a resume's other ``archive`` lacks networks
    the run read from its own: the run's predictor and its rounds stand on them, and without them it
    failed ("the predictor needs at least 2 measured networks", the file left ``failed`` and naming the
    new archive, so that every later resume failed too)."""
    from moo_snn.surrogate import archive as arc
    from moo_snn.surrogate.archive_choice import is_no_archive

    read = {str(a) for a, source in zip(stored.arch.values, stored.source.values) if str(source) == "archive"}
    if not read:
        return
    held = set()
    if not is_no_archive(archive):
        full = arc.trained(arc.load_archive(archive), epochs=spec.training.epochs, train_fraction=1.0)
        held = {str(a) for a in full.arch.values}
    missing = read - held
    if missing:
        where = "--archive none would drop them" if is_no_archive(archive) else f"they are not in {archive}"
        raise ResultsError(f"{path}: the run read {len(missing)} of its networks from its archive ({stored.attrs['archive']}; "
                           f"e.g. {sorted(missing)[0]}) and {where}; a resume must read an archive that holds them: give "
                           f"no --archive (the run's own), or start a new run with this one")


def _same_archive(given: Path, recorded: str) -> bool:
    """Whether ``given`` is the archive a run recorded (an absolute path, or ``none``)."""
    from moo_snn.surrogate.archive_choice import is_no_archive

    if is_no_archive(given) or is_no_archive(recorded):
        return is_no_archive(given) and is_no_archive(recorded)
    return given.resolve() == Path(recorded).resolve()


def _problem(problem):
    """A :class:`ProblemSpec` as given, or loaded from a name or path."""
    from moo_snn.config.problem import ProblemSpec, load_problem

    return problem if isinstance(problem, ProblemSpec) else load_problem(problem)


def _name(problem) -> str:
    return getattr(problem, "name", None) or str(problem)


def _objective_name(objective) -> str:
    """An objective's name: a string as given, an :class:`~moo_snn.objectives.Metric` by its ``name``."""
    return objective if isinstance(objective, str) else str(getattr(objective, "name", objective))


def _call_text(**arguments) -> str:
    """``moo_snn.optimize(...)`` with the arguments that were given (the ``command`` attribute of a library run)."""
    shown = []
    for key, value in arguments.items():
        if value is None:
            continue
        if key == "problem" and not isinstance(value, (str, os.PathLike)):
            value = _name(value)  # a ProblemSpec: its name
        shown.append(f"{key}={(os.fspath(value) if isinstance(value, os.PathLike) else value)!r}")
    return f"moo_snn.optimize({', '.join(shown)})"
