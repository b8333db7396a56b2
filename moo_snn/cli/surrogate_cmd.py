"""``moo-snn surrogate build|report``: archives of trained architectures and the predictor's quality."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from moo_snn.cli.progress import Lines, use_lines
from moo_snn.cli.render import Column, fit_tables, plain, print_tables
from moo_snn.cli.common import (DeviceOpt, JsonOpt, ProblemArg, SchedulerOpt, SeedOpt, TorchThreadsOpt, WorkersOpt, print_json,
                                stderr, stdout, user_errors)

surrogate_app = typer.Typer(help="Accuracy archives (really trained architectures) and the accuracy predictor.",
                            no_args_is_help=True)


@surrogate_app.command("build")
@user_errors
def build(
    problem: ProblemArg,
    n: Annotated[int, typer.Option("--n", min=1, help="architectures to train (a space-filling sample of those that meet the cost limits)")] = 200,
    out: Annotated[Optional[Path], typer.Option(help="archive file (default: surrogates/<dataset>.nc in the current folder; missing folders are created); an existing one is continued")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="epochs (default: the problem's)")] = None,
    score: Annotated[bool, typer.Option(help="also compute SNASNet's training-free score of each architecture")] = True,
    seed: SeedOpt = 0,
    train_seed: Annotated[Optional[int], typer.Option(min=0, max=2**32 - 1, help="seed of the trainings, 0 to 2**32 - 1 (default: --seed); another value retrains the same sample")] = None,
    device: DeviceOpt = "cpu",
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    torch_threads: TorchThreadsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Train a space-filling sample of feasible architectures into an archive (resumable)."""
    from moo_snn.config.problem import load_problem
    from moo_snn.executor import make_executor
    from moo_snn.resources import user_archive_path
    from moo_snn.surrogate.build import build_archive
    from moo_snn.training.runtime import check_device

    check_device(device, here=scheduler is None)  # before a cluster starts (a scheduler's workers have their own GPUs)
    from moo_snn.outputs import check_output_file

    spec = load_problem(problem)
    path = out or user_archive_path(spec.data.dataset)  # never the shipped archive inside the installed package
    check_output_file(path, "--out", folder_hint="give an archive file name (.nc)")  # before a cluster starts
    lines = Lines(stderr) if use_lines(stderr) else None  # a log: one line per finished training
    with Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[last]}"),
                  TimeElapsedColumn(), console=stderr, transient=True, disable=lines is not None) as progress:
        task = progress.add_task("build", total=n, last="")
        if lines is not None:
            lines.say(f"surrogate build: training up to {n} architectures into {path}")
        # a cluster without workers: said once, above the live bar (the executor starts on first use)
        executor = make_executor(workers, scheduler, torch_threads=torch_threads,
                                 on_wait=lines.say if lines is not None else lambda text: progress.console.print(plain(text)))

        def on_result(done, total, result):
            last = f"{result['arch']}: {result['status']} {result['val_accuracy']:.3f}"
            if lines is not None:
                lines.say(f"trained {done}/{total}: {last}")
            progress.update(task, completed=done, total=total, last=plain(last))

        try:
            with executor:
                archive, n_new = build_archive(spec, path, n, seed=seed, train_seed=train_seed, epochs=epochs, score=score,
                                               device=device, on_result=on_result, executor=executor)
        except KeyboardInterrupt:
            stderr.print(f"[yellow]interrupted[/]: every finished training is in {path}; run the same command to continue")
            raise typer.Exit(130) from None
    summary = {"archive": str(path), "records": int(archive.sizes["record"]), "new": n_new}
    if json_out:
        print_json(summary)
    else:
        stdout.print(plain(f"{n_new} architectures trained; {summary['records']} records in {path}"))
    if n_new == 0:
        stderr.print(plain(f"nothing to train: {path} already holds every architecture of this sample (--n {n}, seed {seed}); "
                           f"ask for more with --n {n + 50}, or retrain the sample with another --train-seed"))


@surrogate_app.command("report")
@user_errors
def report(
    source: Annotated[str, typer.Argument(help="an archive (.nc), or a problem (its surrogates/<dataset>.nc)")],
    regressor: Annotated[Optional[str], typer.Option(help="regressor of the predictor (default: the built-in default)")] = None,
    score: Annotated[bool, typer.Option(help="use the training-free score as a predictor feature")] = False,
    compare: Annotated[bool, typer.Option("--compare", help="cross-validate every built-in regressor")] = False,
    folds: Annotated[int, typer.Option(min=2, help="cross-validation folds (grouped by architecture)")] = 5,
    plot: Annotated[Optional[Path], typer.Option(help="save a predicted-vs-measured plot (PNG; missing folders are created)")] = None,
    fidelity: Annotated[bool, typer.Option("--fidelity", help="rank agreement (Kendall τ) of each low-fidelity proxy in the archive with full training, and the seed-noise ceiling (seconds); with --predictor-level, also the predictor with the proxy as a feature or the fidelity as an input")] = False,
    predictor_level: Annotated[Optional[list[str]], typer.Option("--predictor-level", help="with --fidelity: also cross-validate the predictor for this proxy (EPOCHSxFRACTION, e.g. 8x0.25; repeat for several; 'all' for every proxy): about 1.5 minutes per proxy on digits-fidelity.nc (2 cores); default none")] = None,
    heldout: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False, help="an archive of networks outside this one (e.g. benchmarks/digits_heldout.nc): also report the predictor fitted on the whole archive on them")] = None,
    seed: SeedOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """Cross-validated quality of the accuracy predictor on an archive: Kendall τ, Spearman ρ, MAE, top-10 % recall."""
    from moo_snn.config.problem import load_problem, parse_problem
    from moo_snn.surrogate import archive as arc
    from moo_snn.surrogate.predictor import DEFAULT_REGRESSOR
    from moo_snn.surrogate.report import (accuracy_spread, compare_regressors, noise_ceiling,
                                          plot_predicted_vs_measured, predictor_report, training_free_score_tau)

    if plot is not None:  # before the cross-validation, not after it
        from moo_snn.outputs import check_figure_file

        check_figure_file(plot, "--plot")
    if predictor_level and not fidelity:
        raise typer.BadParameter(f"applies with --fidelity only: moo-snn surrogate report {source} --fidelity "
                                 f"--predictor-level {' '.join(predictor_level)}", param_hint="--predictor-level")
    if source.endswith(".nc"):
        archive = arc.load_archive(source)
        spec = parse_problem(archive.attrs["problem"], source=f"{source} (its problem)")
    else:
        spec = load_problem(source)
        archive = problem_archive(spec, say=lambda text: stderr.print(plain(f"note: {text}")))
    if fidelity:
        _fidelity_report(spec, archive, folds, seed, json_out, _levels(predictor_level))
        return
    regressor = regressor or DEFAULT_REGRESSOR
    stderr.print(plain(f"cross-validating the predictor ({folds} folds){' and comparing every built-in regressor' if compare else ''}"
                       f" on {archive.sizes['record']} records…"))
    quality, oof = predictor_report(spec, archive, regressor=regressor, use_score=score, n_splits=folds, seed=seed)
    done = arc.full_fidelity(archive, spec.training.epochs)
    result = dict(quality, regressor=regressor, training_free_score_feature=score,
                  accuracy_spread=accuracy_spread(done.val_accuracy.values), noise_ceiling=noise_ceiling(archive))
    if compare:
        result["regressors"] = compare_regressors(spec, archive, use_score=score, n_splits=folds, seed=seed,
                                                  on_progress=_say_regressor)
    if heldout is not None:
        from moo_snn.surrogate.report import heldout_report

        result["heldout"] = heldout_report(spec, archive, arc.load_archive(heldout), regressor=regressor, use_score=score, seed=seed)
    tau = training_free_score_tau(archive)
    if tau is not None:
        result["training_free_score_tau"] = tau
    if plot:
        try:
            plot_predicted_vs_measured(done.val_accuracy.values, oof, quality, plot, f"{spec.name}: {regressor}")
        except (OSError, ValueError) as exc:  # checked before; a write can still fail (a full disk)
            from moo_snn.outputs import OutputError

            raise OutputError(f"--plot {plot}: cannot write the figure ({exc})") from None
        result["plot"] = str(plot)
    if json_out:
        print_json(result)
        return
    table = Table(title=f"predictor ({regressor}{' + training-free score' if score else ''}), {folds}-fold grouped CV")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("n", "kendall_tau", "kendall_tau_predicted_best_half", "spearman_rho", "mae", "topk_recall"):
        table.add_row(key, f"{result[key]:.4g}")
    held = result.get("heldout")
    for name, q in ([("held out", held)] + list(held["by_origin"].items())
                    + ([("held out: seed-noise ceiling", held["noise_ceiling"])] if held["noise_ceiling"] else [])
                    if held else []):
        table.add_row(f"{name} (n = {q['n']}): τ / τ predicted-best half / MAE",
                      f"{q['kendall_tau']:.4g} / {q['kendall_tau_predicted_best_half']:.4g} / {q['mae']:.4g}")
    if "training_free_score_tau" in result:
        table.add_row("τ of the training-free score alone", f"{result['training_free_score_tau']:.4g}")
    if result["noise_ceiling"]:
        table.add_row(f"noise ceiling τ (2 seeds, n = {result['noise_ceiling']['n']})", f"{result['noise_ceiling']['kendall_tau']:.4g}")
    spread = result["accuracy_spread"]
    table.add_row("measured accuracy min / q1 / median / q3 / max", " / ".join(f"{spread[k]:.3f}" for k in spread))
    stdout.print(table)
    if compare:
        cmp = Table(title="regressors compared")
        for col in ("regressor", "kendall_tau", "spearman_rho", "mae", "topk_recall"):
            cmp.add_column(col, justify="left" if col == "regressor" else "right")
        for name, q in result["regressors"].items():
            cmp.add_row(name, *(f"{q[k]:.4f}" for k in ("kendall_tau", "spearman_rho", "mae", "topk_recall")))
        stdout.print(cmp)
    if plot:
        stdout.print(f"plot saved to {plot}")


def problem_archive(spec, say=None):
    """The archive ``surrogate report PROBLEM`` reads: the one a run of the problem starts from
    (:func:`moo_snn.surrogate.archive_choice.choose_archive`: the first archive of the data set measured
    with the problem's recipe at its epochs on the whole training split, else the default one).

    ``say`` (a callable taking one line) is told when another archive than the data set's default one
    is read (``digits-long``, 30 epochs, reads ``surrogates/digits-fidelity.nc``, not the 10-epoch
    ``surrogates/digits.nc``), or when none holds the problem's epochs.
    """
    from moo_snn.surrogate.archive_choice import choose_archive
    from moo_snn.surrogate import archive as arc

    choice = choose_archive(spec)
    if say is not None and choice.state == "matches" and choice.path.resolve() != choice.default.resolve():
        say(f"reading {choice.path}: {choice.default} holds no training of {spec.name}'s recipe at its {choice.epochs} epochs")
    elif say is not None and choice.state != "matches":
        say(f"no archive of {spec.data.dataset} here holds trainings of {spec.name}'s recipe at its {choice.epochs} epochs; "
            f"reading {choice.path} (give an archive file to report another)")
    return choice.archive if choice.archive is not None else arc.load_archive(choice.path)  # missing: load_archive says so


def _levels(texts: list[str] | None) -> list[tuple[int, float]] | None:
    """``["8x0.25", ...]`` → ``[(8, 0.25), ...]``; ``["none"]`` or None → ``[]``; ``["all"]`` → None (every level)."""
    from moo_snn.errors import MooSnnError

    if not texts:
        return []
    if any(text.lower() == "all" for text in texts):
        return None
    levels = []
    for text in texts:
        if text.lower() == "none":
            continue
        try:
            epochs, fraction = text.lower().split("x")
            levels.append((int(epochs), float(fraction)))
        except ValueError:
            raise MooSnnError(f"--predictor-level takes EPOCHSxFRACTION (e.g. 8x0.25), 'all' or 'none', found {text!r}") from None
    return levels


def _say_regressor(k: int, n: int, name: str, seconds: float) -> None:
    """``surrogate report --compare``: one line on stderr per regressor cross-validated."""
    from moo_snn.cli.render import duration

    eta = f", about {duration(seconds / (k - 1) * (n - k + 1))} left" if k > 1 else ""
    stderr.print(plain(f"cross-validating regressor {name} ({k} of {n}{eta})…"))


def _say_progress(k: int, n: int, level: tuple[int, float], seconds: float) -> None:
    """The predictor cross-validations of ``surrogate report --fidelity``, one line each on stderr."""
    from moo_snn.cli.render import duration

    if k > n:
        stderr.print(plain(f"predictor cross-validations done in {duration(seconds)}"))
        return
    eta = f", about {duration(seconds / (k - 1) * (n - k + 1))} left" if k > 1 else ""
    stderr.print(plain(f"cross-validating the predictor with proxy {level[0]}x{level[1]:g} ({k} of {n}{eta})…"))


def _fidelity_report(spec, archive, folds: int, seed: int, json_out: bool, predictor_levels=None) -> None:
    from moo_snn.surrogate.fidelity_report import fidelities, fidelity_report

    result = fidelity_report(spec, archive, n_splits=folds, seed=seed, predictor_levels=predictor_levels,
                             on_progress=_say_progress)
    if not result["levels"]:  # an empty table says nothing: say why
        proxies = [f"{e}x{f:g}" for e, f in fidelities(archive) if (e, f) != (result["full_epochs"], 1.0)]
        stderr.print(plain(
            f"note: this archive holds no low-fidelity trainings (only full ones, {result['full_epochs']} epochs on the whole "
            f"training split): no proxy to compare with full training" if not proxies else
            f"note: no proxy of this archive ({', '.join(proxies)}) shares 3 or more architectures with its "
            f"{result['full_epochs']}-epoch full trainings: no rank agreement to report"))
    if json_out:
        print_json(result)
        return
    table = Table(title=f"proxies vs full training ({result['full_epochs']} epochs, {result['n_full']} architectures)")
    crossed = any("predictor" in lv for lv in result["levels"])
    for col in ("epochs", "data", "FTE", "median s", "n", "τ", "τ better half",
                *(("predictor τ: encoding / +proxy / fidelity input", "best half") if crossed else ())):
        table.add_column(col, justify="right")
    for lv in result["levels"]:
        p = lv.get("predictor")
        models = [m for m in ("encoding", "encoding+proxy", "fidelity_input") if p and m in p]
        predictor = (" / ".join(f"{p[m]['kendall_tau']:.3f}" for m in models) or "-",
                     " / ".join(f"{p[m]['kendall_tau_predicted_best_half']:.3f}" for m in models) or "-")
        table.add_row(str(lv["epochs"]), f"{lv['train_fraction']:g}", f"{lv['fte']:.3g}", f"{lv['median_train_seconds']:.2f}",
                      str(lv["n"]), f"{lv['kendall_tau']:.3f}", f"{lv['kendall_tau_better_half']:.3f}",
                      *(predictor if crossed else ()))
    if result["levels"]:
        stdout.print(table)
    if not crossed and result["levels"]:
        stderr.print(plain("the predictor with each proxy: add --predictor-level EPOCHSxFRACTION (or all); "
                           "about 1.5 minutes per proxy on a 2-core machine"))
    ceiling = result["noise_ceiling"]
    if ceiling:
        stdout.print(f"seed-noise ceiling: τ {ceiling['kendall_tau']:.3f} between two seeds of {ceiling['n']} full trainings "
                     f"(mean |Δ accuracy| {ceiling['mean_abs_difference']:.3f})", highlight=False)


@surrogate_app.command("predict")
@user_errors
def predict(
    problem: ProblemArg,
    arch: Annotated[list[str], typer.Option("--arch", help="architecture string; repeat for several")],
    archive: Annotated[Optional[Path], typer.Option(help="archive to fit the predictor on; it must exist (default: the one moo-snn optimize reads: the first archive of the data set, surrogates/<dataset>*.nc here or shipped, measured with the problem's recipe at its epochs)")] = None,
    seed: SeedOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """Predicted validation accuracy (full training) and its spread for each architecture, from the
    predictor fitted on an archive's full-fidelity trainings at the problem's epochs."""
    from moo_snn.config.problem import load_problem
    from moo_snn.surrogate.predictor import predict_archs

    spec = load_problem(problem)
    if archive is not None:
        from moo_snn.surrogate.archive_choice import ArchiveNotFoundError, check_archive_exists, is_no_archive

        if is_no_archive(archive):
            raise ArchiveNotFoundError(f"--archive {archive}: surrogate predict fits its predictor on an archive, and "
                                       f"'{archive}' asks for none; give an archive file, or leave --archive out to read "
                                       f"the problem's default one")
        check_archive_exists(archive)  # the words of optimize --archive
    rows = predict_archs(spec, arch, archive, seed=seed, problem_ref=str(problem))
    if json_out:
        print_json(rows)
        return
    rewritten = any(r["canonical"] != r["arch"] for r in rows)  # then say which network each string is
    # architecture strings are copied from here: never split (fit_tables' whole columns), the rest folds to the width
    columns = [Column("arch", "left", repeat=True, whole=True)] + ([Column("canonical form", "left", whole=True)] if rewritten else []) + \
        [Column("accuracy"), Column("accuracy_std")]
    table_rows = [[r["arch"], *(("(same)" if r["canonical"] == r["arch"] else r["canonical"],) if rewritten else ()),
                   f"{r['accuracy']:.4f}", f"{r['accuracy_std']:.4f}"] for r in rows]
    print_tables(stdout, fit_tables(columns, table_rows, stdout.width, title=f"predicted accuracy ({spec.name})"))
    if rewritten:
        stdout.print(plain("canonical form: the one string the search, archives and results write for that network; "
                           "equivalent strings get the same prediction"))
