"""``moo-snn cost``: energy, latency and area of one network on the IMC accelerator (DESIGN §4, §8).

The network is an architecture of a problem (``--arch``, default its ``reference_arch``) or a
hand-written layer list (``--layers FILE.toml``, format in :mod:`moo_snn.cost.layer_file`); the
numbers are :func:`moo_snn.costing.network_costs`'s, this command parses and prints. Hardware: the problem's ``[hardware]`` (SpikeSim's defaults without a problem), then the layer
file's ``[hardware]``, then ``--mode`` / ``--spike-rate``. Each total is checked against the
problem's limits; a limit that is not met is reported, not an error (exit code 0).
"""

from __future__ import annotations

import enum
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from moo_snn.cli.common import JsonOpt, print_json, stderr, stdout, user_errors
from moo_snn.cli.render import Column, fit_tables, plain, print_tables

_LAYER_COLUMNS = (
    # (record key, table header, format)
    ("name", "layer", "{}"),
    ("c_in", "c_in", "{}"),
    ("c_out", "c_out", "{}"),
    ("kernel", "k", "{}"),
    ("d_in", "d_in", "{}"),
    ("d_out", "d_out", "{}"),
    ("params", "params", "{:,}"),
    ("pes", "PEs", "{}"),
    ("energy_uJ", "energy\nµJ", "{:.4g}"),
    ("latency_ms", "latency\nms", "{:.4g}"),
    ("area_mm2", "area\nmm²", "{:.4g}"),
)
_TOTAL_UNITS = {"params": "", "memory_kB": "KiB", "area_mm2": "mm²", "latency_ms": "ms", "energy_uJ": "µJ", "tiles": "", "pes": ""}


class Mode(str, enum.Enum):
    extended = "extended"
    spikesim = "spikesim"


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:.5g}"


def _limit_cells(check: dict | None) -> tuple[str, str]:
    """The ``limit`` and ``status`` cells of one total."""
    if check is None:
        return "", ""
    limit = f"{'≤' if check['kind'] == 'max' else '≥'} {_number(check['limit'])}"
    if check["met"] is None:
        return limit, f"[dim]n/a: {escape(check.get('reason', 'not evaluated'))}[/]"
    if check["met"]:
        return limit, "[green]✓ meets[/]"
    word = "exceeds" if check["kind"] == "max" else "falls short"
    if check["limit"] == 0:
        return limit, f"[red]✗ {word}[/]"
    return limit, f"[red]✗ {word} by {abs(check['value'] - check['limit']) / check['limit']:.0%}[/]"


@user_errors
def cost(
    problem: Annotated[Optional[str], typer.Argument(help="problem file or shipped problem name: its [hardware], limits and data set (optional with --layers)")] = None,
    arch: Annotated[Optional[str], typer.Option(help="architecture string (default: the problem's reference_arch)")] = None,
    mode: Annotated[Optional[Mode], typer.Option(help="cost model (default: the [hardware] mode)")] = None,
    spike_rate: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="assumed input spike rate of every non-stem layer (extended mode; default: the [hardware] spike_rate)")] = None,
    layers: Annotated[Optional[Path], typer.Option(help="a hand-written network: a TOML file of [[layer]] tables (see moo_snn.cost.layer_file)")] = None,
    repair: Annotated[bool, typer.Option("--repair", help="cost an invalid cell (no forward path 0 → 3) as the search repairs it, and say what it became")] = False,
    allow_code: Annotated[bool, typer.Option("--allow-code", help="run module:function objectives named in the problem's [constraints] to check their limits (problem files are shared: read that code first)")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Energy, latency and area of ARCH (or the problem's reference architecture, or a --layers file)
    on the RRAM compute-in-memory accelerator, per layer and in total, against the problem's limits."""
    from moo_snn.cli.arch_option import resolve_arch
    from moo_snn.config.problem import load_problem
    from moo_snn.costing import network_costs
    from moo_snn.errors import ProblemError
    from moo_snn.space import OutsideSpaceWarning

    if arch is not None and layers is not None:
        raise ProblemError("give either --arch or --layers, not both: each names the network to cost")
    spec = load_problem(problem) if problem is not None else None
    architecture = arch  # without a problem, network_costs says what is missing
    if spec is not None and layers is None:
        # network_costs warns of a network outside the space (OutsideSpaceWarning): printed below, once
        architecture = resolve_arch(spec, arch, repair=repair, say=lambda text: stderr.print(plain(f"note: {text}")), doing="costing")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OutsideSpaceWarning)
        result = network_costs(spec, architecture, layers=layers, mode=None if mode is None else mode.value,
                               spike_rate=spike_rate, allow_code=allow_code)
    for warning in caught:
        if issubclass(warning.category, OutsideSpaceWarning):
            stderr.print(plain(f"warning: {warning.message}"))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if spike_rate is not None and result.mode == "spikesim":
        stderr.print("[yellow]note:[/] --spike-rate has no effect in spikesim mode (SpikeSim reads every input)")
    for note in result.warnings:
        stderr.print(f"[yellow]warning:[/] {escape(note)}")

    if json_out:
        out = {**result.totals, "mode": result.mode}
        if layers is not None:
            out["layers_file"] = result.network
        else:
            out["arch"] = result.network  # the canonical form (resolve_arch)
            if arch is not None and arch != result.network:
                out["arch_given"] = arch
        if spec is not None:
            out["problem"] = spec.name
        out.update(shared_area_mm2=result.shared_area_mm2, timesteps=result.timesteps, weight_bits=result.weight_bits,
                   spike_rate=result.spike_rate, layers=result.layers, limits=result.limits, warnings=result.warnings)
        print_json(out)
        return

    # the architecture (or layer file) whole on its own line, however narrow the terminal: a user copies it
    stdout.print(plain(f"{spec.name}: {result.network}" if layers is None else result.network), soft_wrap=True)
    rate = f", input spike rate {result.hardware.spike_rate:g} (stem 1)" if result.mode == "extended" else ""
    _print_tables(f"{result.mode} cost model, T = {result.timesteps}, {result.weight_bits}-bit weights{rate}",
                  result.layers, result.shared_area_mm2, result.totals, result.limits, spec.name if spec is not None else None)


def _print_tables(title: str, records: list[dict], shared_area_mm2: float, totals: dict, limits: dict,
                  problem_name: str | None) -> None:
    """The per-layer table and the totals, with the limits of ``problem_name`` (if any)."""
    from moo_snn.objectives import known_objective

    columns = [Column(header, "left" if key == "name" else "right", repeat=key == "name") for key, header, _ in _LAYER_COLUMNS]
    rows = [[fmt.format(record[key]) for key, _, fmt in _LAYER_COLUMNS] for record in records]
    rows.append(["(shared)", *[""] * (len(_LAYER_COLUMNS) - 2), f"{shared_area_mm2:.4g}"])
    print_tables(stdout, fit_tables(columns, rows, stdout.width, title=title,
                                    caption="(shared): area of the tile overheads and of the unused PE slots of the last tile"))

    summary = Table(title="totals" + (f" against the limits of {problem_name}" if problem_name else ""))
    for col in ("metric", "value", "unit") + (("limit", "status") if problem_name else ()):
        summary.add_column(col, justify="right" if col == "value" else "left")
    for name, value in totals.items():
        shown = f"{value:,}" if isinstance(value, int) else f"{value:.5g}"
        summary.add_row(name, shown, _TOTAL_UNITS[name], *(_limit_cells(limits.get(name)) if problem_name else ()))
    for name, check in limits.items():
        if name not in totals:  # accuracy, a plug-in objective: its value where it could be computed
            known = known_objective(name)
            unit = "" if known is None or known.units == "1" else known.units
            shown = "-" if check["value"] is None else f"{check['value']:.5g}"
            summary.add_row(name, shown, unit, *_limit_cells(check))
    stdout.print(summary)
