"""The measured front as a table: one layout for ``moo-snn pareto`` and ``moo-snn optimize``.

Columns: candidate id (``★`` marks the knee, the best compromise), architecture, source, the
predicted, validation and test accuracy, the five built-in costs, then every other objective of
the run (custom ones such as ``edp``) with its units. A column whose metric the problem limits
shows the limit under its name (``≥0.9``, ``≤0.5``). Missing values are ``–``. The table folds
to the console's width (:func:`moo_snn.cli.render.fit_tables`), the id repeated in every part.
"""

from __future__ import annotations

from moo_snn.cli.render import Column, fit_tables, number, print_tables

COSTS = (("params", "params", ""), ("memory_kB", "memory", "KiB"), ("area_mm2", "area", "mm²"),
         ("latency_ms", "latency", "ms"), ("energy_uJ", "energy", "µJ"))
"""Built-in costs: record key, column name, unit."""
ACCURACIES = (("predicted_accuracy", "pred.\nacc"), ("val_accuracy", "val\nacc"), ("test_accuracy", "test\nacc"))
_UNITS = {"uJ": "µJ", "mm2": "mm²", "1": ""}


def _header(name: str, unit: str, limit) -> str:
    from moo_snn.cli.render import limit_text

    lines = [name] + ([unit] if unit else []) + ([limit_text(limit.kind, limit.limit)] if limit is not None else [])
    return "\n".join(lines)


def front_columns(ds) -> list[tuple[str, Column]]:
    """``(record key, Column)`` of the front table of the run ``ds``."""
    limits = ds.moo.limits()
    costs = {key for key, _, _ in COSTS}
    extra = [m for m in ds.moo.objectives() if m.name not in costs and m.name != "accuracy"]
    if "accuracy_nonideal" in limits and all(m.name != "accuracy_nonideal" for m in extra):  # a limit, not an objective
        from moo_snn.objectives import accuracy_nonideal
        extra.append(accuracy_nonideal)
    columns = [("candidate", Column("cand.", repeat=True)), ("arch", Column("architecture", "left", whole=True)),
               ("source", Column("source", "left"))]
    for key, header in ACCURACIES:
        columns.append((key, Column(_header(header, "", limits.get("accuracy") if key == "val_accuracy" else None))))
    for key, name, unit in COSTS:
        columns.append((key, Column(_header(name, unit, limits.get(key)))))
    for m in extra:
        units = _UNITS.get(str(m.units), str(m.units))
        columns.append((m.name, Column(_header(m.name.replace("_", " "), units, limits.get(m.name)))))
    return columns


def front_cells(record: dict, key: str) -> str:
    """One cell of the front table."""
    if key == "candidate":
        return f"{'★' if record.get('knee') else ' '}{record['candidate']}"
    if key in ("arch", "source"):
        return str(record.get(key, "–"))
    value = record.get(key)
    if key == "accuracy_nonideal":  # mean over the [nonideal] chips ± their spread
        spread = record.get("accuracy_nonideal_std")
        return "–" if value is None or value != value else f"{value:.4f}" + (f" ± {spread:.3f}" if spread == spread and spread is not None else "")
    if key.endswith("accuracy"):
        return "–" if value is None or value != value else f"{value:.4f}"
    return number(value)


def print_front(console, ds, records: list[dict], *, title: str, caption: str | None = None, wide: bool = False) -> None:
    """Print the front ``records`` (:meth:`MooAccessor.front_records`) of the run ``ds``."""
    columns = front_columns(ds)
    rows = [[front_cells(r, key) for key, _ in columns] for r in records]
    knee = "★ best compromise (knee)" if any(r.get("knee") for r in records) else ""  # an empty front has none
    legend = "; ".join(part for part in (knee, caption) if part) or None
    tables = fit_tables([c for _, c in columns], rows, None if wide else console.width, title=title, caption=legend)
    print_tables(console, tables, wide=wide)
