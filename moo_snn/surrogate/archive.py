"""Archives of really trained architectures: the predictor's training data, as NetCDF (xarray).

One record per (architecture, seed): dims ``record`` and ``layer`` (the crossbar-layer slots of
:data:`moo_snn.space.SLOT_NAMES`). Variables: ``arch`` (the canonical string, :meth:`~moo_snn.architecture.Architecture.canonical`; an archive written before it is read so), ``val_accuracy``,
``test_accuracy``, ``status`` (``trained`` / ``diverged`` / ``failed``), ``spike_rate``
(record, layer; NaN where the architecture has no such layer), ``train_seconds``, ``epochs``,
``train_fraction`` (the stratified fraction of the training split it was trained on: 1 for a full
training, less for a low-fidelity proxy; archives written before it existed read as 1),
``seed``, ``params``, ``sahd_score`` (SNASNet's training-free score, NaN if not computed),
``trained_at``. Attributes: the data set, the training recipe (JSON of ``[data]`` split settings and
``[training]``), the problem it was built with (TOML text) and the versions of moo-snn, torch, norse
and scikit-learn that produced it.

Files are opened with the h5netcdf engine only (no pickle: an archive from someone else cannot run
code) and written atomically (a temporary file, then a rename), so an interrupted write leaves the
previous file intact.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import xarray as xr

from moo_snn.architecture import Architecture
from moo_snn.errors import ArchitectureError, ResultsError
from moo_snn.netcdf import read, write_atomic
from moo_snn.space import SLOT_NAMES, canonical_measurement, slot_for

FORMAT = "moo-snn-archive-1"
_FLOATS = ("val_accuracy", "test_accuracy", "train_seconds", "sahd_score", "train_fraction")
_INTS = ("epochs", "seed", "params")


def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour a measured accuracy depends on."""
    versions = {}
    for name in ("moo-snn", "torch", "norse", "scikit-learn", "pymoo", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def recipe_of(problem) -> str:
    """The training recipe of a problem as canonical JSON: what makes two accuracies comparable.

    The epoch count is left out: every record carries its own (see :func:`trained`).
    """
    training = dataclasses.asdict(problem.training)
    training.pop("epochs")
    return json.dumps({"data": dataclasses.asdict(problem.data), "training": training}, sort_keys=True)


def empty_archive(problem) -> xr.Dataset:
    """An archive with no records, stamped with the problem's data set and recipe."""
    return xr.Dataset(
        coords={"layer": ("layer", list(SLOT_NAMES))},
        attrs={
            "format": FORMAT,
            "dataset": problem.data.dataset,
            "problem_name": problem.name,
            "recipe": recipe_of(problem),
            "problem": problem.source,
            "versions": json.dumps(package_versions()),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    ).assign(
        {name: ("record", np.array([], dtype=float)) for name in _FLOATS}
        | {name: ("record", np.array([], dtype=np.int64)) for name in _INTS}
        | {name: ("record", np.array([], dtype=object)) for name in ("arch", "status", "trained_at")}
        | {"spike_rate": (("record", "layer"), np.zeros((0, len(SLOT_NAMES))))}
    )


def _record_dataset(result: dict, sahd_score: float, template: xr.Dataset) -> xr.Dataset:
    """One record from a :class:`~moo_snn.training.trainer.TrainResult` dict."""
    rates = np.full((1, len(SLOT_NAMES)), np.nan)
    for name, rate in (result.get("spike_rates") or {}).items():
        rates[0, slot_for(name)] = rate
    canonical, rates[0] = canonical_measurement(Architecture.parse(result["arch"]), rates[0])  # one network, one record key
    arch = str(canonical)
    values = {
        "arch": ("record", np.array([arch], dtype=object)),
        "status": ("record", np.array([result["status"]], dtype=object)),
        "trained_at": ("record", np.array([datetime.now(timezone.utc).isoformat(timespec="seconds")], dtype=object)),
        "val_accuracy": ("record", [float(result["val_accuracy"])]),
        "test_accuracy": ("record", [float(result["test_accuracy"])]),
        "train_seconds": ("record", [float(result["train_seconds"])]),
        "sahd_score": ("record", [float(sahd_score)]),
        "epochs": ("record", np.array([result["epochs"]], dtype=np.int64)),
        "train_fraction": ("record", [float(result.get("train_fraction", 1.0))]),
        "seed": ("record", np.array([result["seed"]], dtype=np.int64)),
        "params": ("record", np.array([result.get("params", 0)], dtype=np.int64)),
        "spike_rate": (("record", "layer"), rates),
    }
    return xr.Dataset(values, coords={"layer": template.layer.values})


def append(archive: xr.Dataset, result: dict, sahd_score: float = float("nan")) -> xr.Dataset:
    """A new archive with ``result`` added; a record of the same (architecture, seed, epochs,
    train_fraction) is replaced (one architecture may be measured at several fidelities)."""
    record = _record_dataset(result, sahd_score, archive)
    archive = with_fraction(archive)
    keep = ~((archive.arch == record.arch.values[0]) & (archive.seed == record.seed.values[0])
             & (archive.epochs == record.epochs.values[0]) & (archive.train_fraction == record.train_fraction.values[0]))
    merged = xr.concat([archive.isel(record=keep.values), record], dim="record", data_vars="all",
                       coords="minimal", combine_attrs="override")
    merged.attrs = dict(archive.attrs)
    return merged


def has_record(archive: xr.Dataset, arch: str, seed: int) -> bool:
    """Whether the archive holds a record of ``arch`` trained with ``seed``."""
    return bool(((archive.arch == arch) & (archive.seed == seed)).any())


def save_archive(archive: xr.Dataset, path: str | Path) -> None:
    """Write atomically: a temporary file in the same folder, then a rename over ``path``."""
    write_atomic(archive, path)


def load_archive(path: str | Path) -> xr.Dataset:
    """Read an archive fully into memory; a missing, corrupt or foreign file is a clear error.

    Every record's architecture is read in its canonical form (:meth:`Architecture.canonical
    <moo_snn.architecture.Architecture.canonical>`, its spike rates moved with its layers), so that
    an archive written before canonical forms, or by hand, matches the search's strings.
    """
    archive = with_fraction(read(path, "archive", FORMAT))
    missing = [v for v in ("arch", "val_accuracy", "status", "seed", "epochs", "spike_rate") if v not in archive]
    if missing:
        raise ResultsError(f"{path}: archive lacks the variables {', '.join(missing)}")
    for name in ("val_accuracy", "test_accuracy"):  # what a search and the predictor read of a trained record
        if name not in archive:
            continue
        try:
            values = archive[name].values.astype(float)
        except (TypeError, ValueError):
            raise ResultsError(f"{path}: archive variable {name!r} holds {archive[name].dtype} values; expected numbers") from None
        bad = np.flatnonzero((archive.status.values.astype(str) == "trained") & ~np.isfinite(values))
        if len(bad):
            k = bad[0]
            raise ResultsError(f"{path}: archive variable {name!r} of record {k} ({archive.arch.values[k]}) is not a finite "
                               f"number ({values[k]}), but the record is marked trained, which has a measured value there "
                               f"(the file was edited by hand or by another tool)")
    archs, rates = [], archive.spike_rate.values.astype(float).copy()
    try:
        for k, arch in enumerate(archive.arch.values):
            canonical, rates[k] = canonical_measurement(Architecture.parse(str(arch)), rates[k])
            archs.append(str(canonical))
    except ArchitectureError as exc:
        raise ResultsError(f"{path}: archive holds a malformed architecture: {exc}") from None
    if archs != [str(a) for a in archive.arch.values]:
        archive = archive.assign(arch=("record", np.array(archs, dtype=object)), spike_rate=(archive.spike_rate.dims, rates))
    return archive


def matches(archive: xr.Dataset, problem) -> bool:
    """True when the archive's accuracies were measured with this problem's data and recipe.

    A key the stored recipe lacks (one added to ``[data]`` or ``[training]`` after the archive was
    written) counts as its default: the archive was measured with what that default does.
    """
    return not mismatch(archive, problem)


def mismatch(archive: xr.Dataset, problem) -> str:
    """How the archive's measurements differ from what ``problem`` measures, one clause naming both sides
    (``data set cifar10, not digits``; ``[data] val_fraction 0.3, not 0.15``); ``""`` where they match
    (:func:`matches`). The ``[data]`` table fixes the images' shape (an npz file's ``channels`` and ``side``)."""
    found = archive.attrs.get("dataset")
    if found != problem.data.dataset:
        return f"data set {found!r}, not {problem.data.dataset!r}"
    try:
        stored = json.loads(archive.attrs.get("recipe", ""))
    except (TypeError, json.JSONDecodeError):
        return "no readable training recipe (attribute recipe)"
    if not isinstance(stored, dict):
        return "no readable training recipe (attribute recipe)"
    current = json.loads(recipe_of(problem))
    for table, spec in (("data", type(problem.data)), ("training", type(problem.training))):
        defaults = json.loads(json.dumps({f.name: f.default for f in dataclasses.fields(spec)
                                          if f.default is not dataclasses.MISSING and f.name != "epochs"}))
        theirs = stored.get(table, {})
        theirs = {**defaults, **theirs} if isinstance(theirs, dict) else {}
        for key in sorted(set(theirs) | set(current[table])):
            if theirs.get(key) != current[table].get(key):
                return f"[{table}] {key} {theirs.get(key)!r}, not {current[table].get(key)!r}"
    return ""


def with_fraction(archive: xr.Dataset) -> xr.Dataset:
    """``archive`` with a ``train_fraction`` variable (1.0 for every record of an archive written before it)."""
    if "train_fraction" in archive:
        return archive
    return archive.assign(train_fraction=("record", np.ones(archive.sizes.get("record", 0))))


def trained(archive: xr.Dataset, epochs: int | None = None, train_fraction: float | None = None) -> xr.Dataset:
    """The records with a measured accuracy (status ``trained``), optionally of one epoch count and
    one training fraction (``train_fraction=1.0``: full-data trainings only)."""
    archive = with_fraction(archive)
    mask = archive.status == "trained"
    if epochs is not None:
        mask = mask & (archive.epochs == epochs)
    if train_fraction is not None:
        mask = mask & np.isclose(archive.train_fraction, train_fraction)
    return archive.isel(record=np.flatnonzero(mask.values))


def full_fidelity(archive: xr.Dataset, epochs: int | None = None) -> xr.Dataset:
    """The trained records on the whole training split at ``epochs`` if the archive holds any, else at
    the largest epoch count it holds (an archive of several fidelities: its full trainings only)."""
    whole = trained(archive, train_fraction=1.0)
    if epochs is not None and bool((whole.epochs == epochs).any()):
        return trained(whole, epochs=epochs)
    if whole.sizes["record"] == 0:
        return whole
    return trained(whole, epochs=int(whole.epochs.max()))
