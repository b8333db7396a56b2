"""Everything the command line shows goes through here: consoles, help texts, numbers, tables.

* **Markup.** rich reads ``[word]`` as a style tag and drops it, so ``[search]`` or ``[pJ]`` in a
  help text or a table cell would vanish. :func:`plain` escapes every text that is not ours to
  style; :func:`cli_help` does the same for help texts (and unwraps their lines, so that help is
  rewrapped to the terminal instead of being broken where the source line ended);
  :class:`PlainHelpCommand` applies it to every command's help and every option's help.
* **Consoles.** :func:`refresh_consoles` sets the width of the two consoles at the start of each
  command: ``COLUMNS`` where set, the terminal's width on a terminal, else :data:`PIPE_WIDTH`.
* **Tables** (:func:`fit_tables`): complete at any width: every cell is shown whole. A table wider
  than the console is *folded* into parts that repeat the key column (the candidate id), as pandas
  folds a wide frame; only a single column wider than the console on its own wraps its cells
  (character by character, never ``…``). ``--wide`` prints one table, whatever the width.
* **What a user copies** (architecture strings, suggested commands) is never split: a table column
  of them is ``Column(whole=True)`` (a table that cannot hold it at the console's width is printed
  wider: the terminal shows its long lines across two, and copying gives them whole), and a command
  or architecture outside a table gets a line of its own (:func:`print_copyable`), never wrapped.
* **Numbers** (:func:`number`): ``–`` for a missing value, no float noise (``0.3``, not
  ``0.30000000000000004``), throughputs that keep their digits (``0.66``, not ``1``).

rich does not do the folding itself (it shrinks columns and cuts cells with ``…``), hence the
small layout code below.
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand, TyperGroup
from typer.models import DefaultPlaceholder

PIPE_WIDTH = 120
"""Console width when the output is a file or a pipe and ``COLUMNS`` is not set."""
_SEPARATOR = 3  # cells between two columns of a :func:`fit_tables` table: padding, rule, padding


def plain(text) -> str:
    """``text`` with rich markup escaped: shown as written (``[search]``, ``[pJ]`` stay)."""
    return escape(str(text))


def cli_help(text: str | None) -> str | None:
    """A help text as typer should show it: dedented, the lines of each paragraph joined (the
    terminal rewraps them), markup escaped. Paragraphs starting with ``\\b`` keep their lines."""
    if text is None:
        return None
    text = text.replace("\\[", "[")  # a text escaped by hand is escaped once, below
    paragraphs = inspect.cleandoc(text).split("\n\n")
    joined = [p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines()) for p in paragraphs]
    return plain("\n\n".join(joined))


def short_help(text: str | None) -> str | None:
    """The first paragraph of :func:`cli_help` (what a command list shows)."""
    full = cli_help(text)
    return None if full is None else full.split("\n\n")[0]


def refresh_consoles(*consoles: Console) -> None:
    """Set each console's width for this command: ``COLUMNS`` if set (also when piped), the
    terminal's own width on a terminal, :data:`PIPE_WIDTH` otherwise."""
    columns = os.environ.get("COLUMNS", "")
    for console in consoles:
        if columns.isdigit() and int(columns) > 0:
            console.width = int(columns)
        elif console.file.isatty():
            console._width = None  # rich then asks the terminal
        else:
            console.width = PIPE_WIDTH


def number(value, digits: int = 4) -> str:
    """A number as a cell: ``–`` when missing (None, NaN), ``digits`` significant digits, integers
    with thousands separators, no float noise."""
    if value is None:
        return "–"
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(value):
        return "–"
    if value.is_integer() and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def clean_float(value: float, digits: int = 12) -> float:
    """``value`` rounded to ``digits`` significant digits: 0.30000000000000004 → 0.3 (for printing
    and JSON; the stored value keeps every bit)."""
    value = float(value)
    return float(f"{value:.{digits}g}") if math.isfinite(value) else value


def rate(value) -> str:
    """A throughput (samples/s): three significant digits below 100 (0.66 stays 0.66), whole above."""
    if value is None or not math.isfinite(float(value)):
        return "–"
    value = float(value)
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def limit_text(kind: str, limit: float) -> str:
    """``≥0.9`` / ``≤4e6``: a limit in one unbreakable word, for a column header."""
    text = f"{clean_float(limit):g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")
    return f"{'≥' if kind == 'min' else '≤'}{text}"


def duration(seconds: float) -> str:
    """``1:02:03`` / ``2:03``: an elapsed time or an ETA."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass(frozen=True)
class Column:
    """A column of :func:`fit_tables`: ``header`` may hold line breaks (name, unit, limit), each
    line wrapping only at its spaces; ``repeat``: shown in every part of a folded table (the key);
    ``whole``: its cells are never split (architecture strings a user copies)."""

    header: str
    justify: str = "right"
    repeat: bool = False
    whole: bool = False  # cells a user copies (architecture strings): never wrapped, whatever the width


def _natural_width(column: Column, cells: list[str]) -> int:
    words = [w for line in column.header.splitlines() for w in line.split()] or [""]
    return max([cell_len(w) for w in words] + [cell_len(c) for c in cells] + [1])


def _groups(widths: list[int], repeat: list[bool], width: int | None) -> list[list[int]]:
    """Column indices of each part: the repeated columns, then as many others as fit in ``width``."""
    keys = [k for k, r in enumerate(repeat) if r]
    others = [k for k, r in enumerate(repeat) if not r]
    if width is None:
        return [list(range(len(widths)))]
    base = sum(widths[k] for k in keys) + _SEPARATOR * max(len(keys) - 1, 0)
    groups, current, used = [], [], base
    for k in others:
        extra = widths[k] + (_SEPARATOR if keys or current else 0)
        if current and used + extra > width:
            groups.append(current)
            current, used = [], base
            extra = widths[k] + (_SEPARATOR if keys else 0)
        current.append(k)
        used += extra
    if current or not groups:
        groups.append(current)
    return [sorted(keys + g) for g in groups]


def fit_tables(columns: list[Column], rows: list[list[str]], width: int | None, *, title: str | None = None,
               caption: str | None = None) -> list[Table]:
    """The rows as one or more rich Tables no wider than ``width`` (None: one table, any width).

    Every cell is shown whole: columns that do not fit beside each other go into a further part
    that repeats the ``repeat`` columns; a column too wide for the console on its own wraps its
    cells. Cells and titles are plain text (no markup).
    """
    widths = [_natural_width(c, [r[k] for r in rows]) for k, c in enumerate(columns)]
    console_width = width
    if width is not None:  # whole cells are never split: the narrowest part that holds one sets the least width
        keys = [k for k, c in enumerate(columns) if c.repeat]
        base = sum(widths[k] for k in keys) + _SEPARATOR * max(len(keys) - 1, 0)
        if any(c.whole for c in columns):  # each part: the keys and at least one column beside them, all whole
            width = max(width, base + max((widths[k] + (_SEPARATOR if keys else 0) for k, c in enumerate(columns)
                                           if not c.repeat), default=0))
    groups = _groups(widths, [c.repeat for c in columns], width)
    tables = []
    for g, group in enumerate(groups):
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), title_justify="left",
                      title=Text(title) if title is not None and g == 0 else None,
                      caption=Text(caption) if caption is not None and g == len(groups) - 1 else None, caption_justify="left")
        shown = list(widths[k] for k in group)
        if width is not None:
            room = width - _SEPARATOR * (len(group) - 1)
            splittable = [i for i, k in enumerate(group) if not columns[k].whole]
            while sum(shown) > room and splittable and max(shown[i] for i in splittable) > 1:  # a lone too-wide column: wrap it
                i = max(splittable, key=lambda j: shown[j])
                shown[i] = max(1, shown[i] - (sum(shown) - room))
            table.needs_width = sum(shown) + _SEPARATOR * (len(group) - 1) > console_width  # whole cells: wider than the console
        for k, w in zip(group, shown):
            table.add_column(Text(columns[k].header, justify=columns[k].justify), justify=columns[k].justify, width=w,
                             overflow="fold", no_wrap=columns[k].whole)
        for row in rows:
            table.add_row(*(Text(row[k]) for k in group))
        tables.append(table)
    return tables


def print_tables(console: Console, tables: list[Table], *, wide: bool = False) -> None:
    """Print ``tables`` (from :func:`fit_tables`), a blank line between the parts of a folded table;
    ``wide``: at the table's own width, however wide the console."""
    title, caption = tables[0].title, tables[-1].caption  # as lines of the console's width, not the table's
    tables[0].title = tables[-1].caption = None
    if title is not None:
        console.print(title)
    for k, table in enumerate(tables):
        if k:
            console.print()
        if wide or getattr(table, "needs_width", False):  # rich caps a print at the console's width: widen it for this table
            width = console.measure(table, options=console.options.update_width(10**6)).maximum
            before = console._width
            console.width = max(width, console.width)
            try:
                console.print(table)
            finally:
                console._width = before
        else:
            console.print(table)
    if caption is not None:
        console.print(caption)


def print_copyable(console: Console, *lines: str) -> None:
    """Each of ``lines`` (a command to run, an architecture string) on a line of its own, indented by two spaces and
    never wrapped (``soft_wrap``): a terminal narrower than the line shows it across two, and copying gives it whole.
    Text as written (no markup)."""
    for line in lines:
        console.print(f"  {plain(line)}", soft_wrap=True, highlight=False)


def _plain_help(command) -> None:
    command.help = cli_help(command.help)
    if command.short_help:
        command.short_help = cli_help(command.short_help)
    for param in getattr(command, "params", ()):
        if getattr(param, "help", None):
            param.help = cli_help(param.help)


class PlainHelpCommand(TyperCommand):
    """A typer command whose help and option help are shown as written (:func:`cli_help`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _plain_help(self)


class PlainHelpGroup(TyperGroup):
    """A typer command group whose help and option help are shown as written (:func:`cli_help`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _plain_help(self)


def plain_help_everywhere(app) -> None:
    """Give every command of ``app`` (and of its sub-apps) :class:`PlainHelpCommand` and every
    sub-app :class:`PlainHelpGroup` where no class was chosen; call it after the last registration."""
    def unset(cls) -> bool:  # typer's own classes count as "not chosen"
        if isinstance(cls, DefaultPlaceholder):
            cls = cls.value
        return cls in (None, TyperCommand, TyperGroup)

    for info in app.registered_commands:
        if unset(info.cls):
            info.cls = PlainHelpCommand
    for info in app.registered_groups:
        sub = info.typer_instance
        if sub is not None:
            if unset(info.cls) and unset(sub.info.cls):
                info.cls = PlainHelpGroup
            plain_help_everywhere(sub)
