"""Progress on stderr: a live bar on a terminal, plain time-stamped lines in a log.

On a terminal, rich draws a bar that updates in place. When stderr is a file or a pipe (a cluster
job, ``nohup``, CI, ``2>log``), a bar would print nothing readable, so :class:`Lines` writes one
plain line per event that matters (a phase starts, a training starts or ends) and, for the steady
ones (NSGA-II generations, batches of a training), at most one line every :data:`LOG_INTERVAL_S`
seconds, with the elapsed time, throughput and an ETA::

    20:41:07 round 1/4: NSGA-II on the predicted accuracy and the cost model, generation 12/40, ETA 0:03
    20:41:22 training 0001-0000-0000-0000_c8_t4_w4_p1_h0: epoch 3/10, batch 20/22, 1,790 samples/s, ETA 0:41

The interval is ``MOO_SNN_LOG_INTERVAL`` seconds where set (0: every event), else 15 s.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from moo_snn.cli.render import duration, plain, rate


def log_interval_s() -> float:
    """Seconds between two lines of a steady event in a log (``MOO_SNN_LOG_INTERVAL``, default 15)."""
    try:
        return max(0.0, float(os.environ.get("MOO_SNN_LOG_INTERVAL", "15")))
    except ValueError:
        return 15.0


LOG_INTERVAL_S = log_interval_s()


class Lines:
    """Plain progress lines on ``console``; steady events throttled to one per ``interval_s``."""

    def __init__(self, console: Console, interval_s: float | None = None):
        self.console = console
        self.interval_s = log_interval_s() if interval_s is None else interval_s
        self._last: dict[str, float] = {}

    def say(self, text: str) -> None:
        """One line now (an event that matters)."""
        self.console.print(f"{datetime.now():%H:%M:%S} {plain(text)}", highlight=False, soft_wrap=True)

    def every(self, kind: str, text: str, *, last: bool = False) -> None:
        """A line for a steady event of ``kind``, unless one was printed less than the interval ago
        (``last``: the final one of a series, always printed)."""
        now = time.monotonic()
        if last or now - self._last.get(kind, -1e18) >= self.interval_s:
            self._last[kind] = now
            self.say(text)

    def reset(self, kind: str) -> None:
        self._last.pop(kind, None)


def use_lines(console: Console) -> bool:
    """Plain lines rather than a live bar: stderr is not a terminal (a file, a pipe, a test)."""
    return not console.is_terminal


class SearchProgress:
    """The callbacks of :class:`moo_snn.search.loop.SearchEvents`, shown on ``console``: a bar on a
    terminal, lines in a log. Use as a context manager."""

    def __init__(self, console: Console, interval_s: float | None = None):
        self.console = console
        self.lines = Lines(console, interval_s) if use_lines(console) else None
        self.bar = None if self.lines else Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                                   TimeElapsedColumn(), console=console, transient=True)
        self._phase = ""
        self._started = time.monotonic()
        self._done = self._total = 0  # trainings finished of the batch (training()), counted on each trained line

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
            self.task = self.bar.add_task("starting", total=None)
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def phase(self, text: str) -> None:
        self._phase = text
        self._started = time.monotonic()
        if self.lines:
            self.lines.reset("generation")
            self.lines.say(text)
        else:
            self.bar.update(self.task, description=plain(text), completed=0, total=None)

    def note(self, text: str) -> None:
        """A line that stays (which archive the run reads): a log line, or a line above the bar."""
        if self.lines:
            self.lines.say(text)
        else:
            self.bar.console.print(text, highlight=False, markup=False)

    def generation(self, round_: int, gen: int, n_gen: int) -> None:
        """An NSGA-II generation of the current phase (which names the round, or the asynchronous
        search's predictor refit, and what NSGA-II optimises) finished."""
        if self.lines:
            eta = (time.monotonic() - self._started) * (n_gen - gen) / max(gen, 1)
            self.lines.every("generation", f"{self._phase}, generation {gen}/{n_gen}, ETA {duration(eta)}", last=gen == n_gen)
        else:
            self.bar.update(self.task, description=plain(f"{self._phase}, generation"), completed=gen, total=n_gen)

    def training(self, done: int, total: int, arch: str) -> None:
        """``done`` of ``total`` trainings finished (of a round's batch; of the whole asynchronous run): the
        bar's count; in a log each ``trained`` line carries it (how many *started* is not known here: on
        a cluster several start at once, and the log used to say "training 2/6 started" when 3 had)."""
        self._done, self._total = done, total
        if not self.lines:
            self.bar.update(self.task, completed=done, total=total)

    def trained(self, arch: str, result: dict) -> None:
        if result["status"] == "trained":
            text = f"val acc {result['val_accuracy']:.3f} in {result['train_seconds']:.1f} s"
        else:
            text = result["status"] + (f" ({result['error']})" if result.get("error") else "")
        count = ""
        if self._total:
            self._done += 1  # this one; the next training() event says the same or corrects it
            count = f" ({self._done}/{max(self._total, self._done)})"
        at = f" at {result['level']}" if result.get("level") else ""  # a proxy: its accuracy is not a full training's
        line = f"trained {arch}{count}{at}: {text}"
        if self.lines:
            self.lines.say(line)
        else:
            self.bar.console.print(f"  {line}", highlight=False, markup=False)


class TrainingProgress:
    """Progress of one training (``moo-snn train``): ``on_epoch`` and ``on_batch`` callbacks of
    :func:`moo_snn.training.trainer.train_architecture`, as a bar with batches, samples/s and ETA
    on a terminal, or lines in a log. Use as a context manager."""

    def __init__(self, console: Console, arch: str, n_epochs: int, interval_s: float | None = None):
        self.console = console
        self.arch = arch
        self.n_epochs = n_epochs
        self.lines = Lines(console, interval_s) if use_lines(console) else None
        self.loss = "–"
        self._started = time.monotonic()
        self.bar = None if self.lines else Progress(
            TextColumn("training {task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(), console=console, transient=True)

    def __enter__(self):
        self._started = time.monotonic()
        if self.bar is not None:
            self.bar.__enter__()
            self.task = self.bar.add_task(plain(self.arch), total=self.n_epochs, status="starting")
        else:
            self.lines.say(f"training {self.arch}: {self.n_epochs} epochs")
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        elif exc[0] is None:
            self.lines.say(f"training {self.arch}: done in {duration(time.monotonic() - self._started)}")

    def on_epoch(self, epoch: int, n_epochs: int, loss: float) -> None:
        self.loss = f"{loss:.3f}"
        text = f"epoch {epoch}/{n_epochs}, loss {self.loss}"
        if self.lines:
            self.lines.every("train", f"training {self.arch}: {text}", last=epoch == n_epochs)
        else:
            self.bar.update(self.task, completed=epoch, status=text)

    def on_batch(self, epoch: int, n_epochs: int, batch: int, n_batches: int, samples_per_second: float) -> None:
        done = ((epoch - 1) * n_batches + batch) / max(n_epochs * n_batches, 1)
        eta = (time.monotonic() - self._started) * (1 - done) / max(done, 1e-9)
        text = (f"epoch {epoch}/{n_epochs}, batch {batch}/{n_batches}, {rate(samples_per_second)} samples/s, "
                f"loss {self.loss}, ETA {duration(eta)}")
        if self.lines:
            self.lines.every("train", f"training {self.arch}: {text}")
        else:
            self.bar.update(self.task, completed=(epoch - 1) + batch / max(n_batches, 1), status=text)
