"""``moo-snn cost``: energy, latency and area of one network on the IMC accelerator (DESIGN §4, §8).

The network is an architecture of a problem (``--arch``, default its ``reference_arch``) or a
hand-written layer list (``--layers FILE.toml``, format in :mod:`moo_snn.cost.layer_file`).
Hardware: the problem's ``[hardware]`` (SpikeSim's defaults without a problem), then the layer
file's ``[hardware]``, then ``--mode`` / ``--spike-rate``. Each total is checked against the
problem's limits; a limit that is not met is reported, not an error (exit code 0).
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from moo_snn.cli.common import JsonOpt, print_json, stderr, stdout, user_errors
from moo_snn.cli.render import Column, fit_tables, plain, print_tables

LIMIT_METRICS = ("params", "memory_kB", "area_mm2", "latency_ms", "energy_uJ")
"""The totals that a problem's [constraints] can limit and this command can measure."""
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
_TOTAL_UNITS = {"params": "", "memory_kB": "kB", "area_mm2": "mm²", "latency_ms": "ms", "energy_uJ": "µJ", "tiles": "", "pes": ""}


class Mode(str, enum.Enum):
    extended = "extended"
    spikesim = "spikesim"


def limit_checks(totals: dict, constraints) -> dict[str, dict]:
    """Each constraint of the problem against ``totals``: ``{name: {limit, kind, value, met}}``.

    ``value`` and ``met`` are None where the cost model cannot measure the metric (accuracy, a
    ``module:function`` constraint).
    """
    checks = {}
    for c in constraints:
        value = totals.get(c.name) if c.name in LIMIT_METRICS else None
        met = None if value is None else bool(value <= c.limit if c.kind == "max" else value >= c.limit)
        checks[c.name] = dict(limit=c.limit, kind=c.kind, value=value, met=met)
    return checks


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:.5g}"


def _limit_cells(check: dict | None) -> tuple[str, str]:
    """The ``limit`` and ``status`` cells of one total."""
    if check is None:
        return "", ""
    limit = f"{'≤' if check['kind'] == 'max' else '≥'} {_number(check['limit'])}"
    if check["met"] is None:
        return limit, "[dim]n/a: not a cost[/]"
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
    json_out: JsonOpt = False,
) -> None:
    """Energy, latency and area of ARCH (or the problem's reference architecture, or a --layers file)
    on the RRAM compute-in-memory accelerator, per layer and in total, against the problem's limits."""
    import numpy as np

    from moo_snn.cli.arch_option import resolve_arch
    from moo_snn.config.problem import load_problem
    from moo_snn.cost import HardwareConfig, evaluate_costs
    from moo_snn.cost.layer_file import load_layer_file
    from moo_snn.errors import ProblemError
    from moo_snn.layers import LayerTable, crossbar_layers

    if arch is not None and layers is not None:
        raise ProblemError("give either --arch or --layers, not both: each names the network to cost")
    if problem is None and arch is not None:
        raise ProblemError("--arch needs a PROBLEM: its data set fixes the input channels, image side and classes")
    if problem is None and layers is None:
        raise ProblemError("give a PROBLEM (its reference_arch, or --arch, is costed) or --layers FILE.toml")
    spec = load_problem(problem) if problem is not None else None
    hardware = spec.hardware if spec is not None else HardwareConfig()
    per_candidate: dict[str, np.ndarray | None] = {}
    if layers is not None:
        network = load_layer_file(layers)
        hardware = network.hardware(hardware)
        layer_list, timesteps, weight_bits, label = list(network.layers), network.timesteps, network.weight_bits, None
    else:
        architecture = resolve_arch(spec, arch, repair=repair, say=lambda text: stderr.print(plain(f"note: {text}")))
        layer_list = crossbar_layers(architecture, spec.network_input)
        timesteps, weight_bits, label = architecture.timesteps, architecture.weight_bits, str(architecture)
        for name in ("crossbar_size", "cell_bits", "adc_bits"):  # co-design fields the arch carries
            value = getattr(architecture, name)
            per_candidate[name] = None if value is None else np.array([value])
    if mode is not None:
        hardware = dataclasses.replace(hardware, mode=mode.value)
    if spike_rate is not None:
        hardware = dataclasses.replace(hardware, spike_rate=spike_rate)
        if hardware.mode == "spikesim":
            stderr.print("[yellow]note:[/] --spike-rate has no effect in spikesim mode (SpikeSim reads every input)")

    import warnings

    from moo_snn.cost import SpikeSimCompatibilityWarning

    with warnings.catch_warnings(record=True) as caught:  # SpikeSim would refuse the list: one line, numbers still given
        warnings.simplefilter("always", SpikeSimCompatibilityWarning)
        report = evaluate_costs(LayerTable.from_layers(layer_list), timesteps, weight_bits, hardware, per_layer=True, **per_candidate)
    notes = [str(w.message) for w in caught if issubclass(w.category, SpikeSimCompatibilityWarning)]
    for note in notes:
        stderr.print(f"[yellow]warning:[/] {escape(note)}")
    totals = report.totals(0)
    records = [{**dataclasses.asdict(layer), **record} for layer, record in zip(layer_list, report.to_records(0))]
    limits = limit_checks(totals, spec.constraints) if spec is not None else {}

    if json_out:
        out = {**totals, "mode": report.mode}
        if label is not None:
            out["arch"] = label
        if layers is not None:
            out["layers_file"] = str(layers)
        if spec is not None:
            out["problem"] = spec.name
        out.update(shared_area_mm2=report.shared_area_mm2[0], timesteps=timesteps, weight_bits=weight_bits,
                   spike_rate=hardware.spike_rate if report.mode == "extended" else 1.0,
                   layers=records, limits=limits, warnings=notes)
        print_json(out)
        return

    title = f"{spec.name}: {label}" if label is not None else f"{layers}"
    rate = f", input spike rate {hardware.spike_rate:g} (stem 1)" if report.mode == "extended" else ""
    _print_tables(title + f"\n{report.mode} cost model, T = {timesteps}, {weight_bits}-bit weights{rate}",
                  records, report.shared_area_mm2[0], totals, limits, spec.name if spec is not None else None)


def _print_tables(title: str, records: list[dict], shared_area_mm2: float, totals: dict, limits: dict,
                  problem_name: str | None) -> None:
    """The per-layer table and the totals, with the limits of ``problem_name`` (if any)."""
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
        if name not in totals:
            summary.add_row(name, "-", "", *_limit_cells(check))
    stdout.print(summary)
