"""Costs of one network on the IMC accelerator, per layer and in total, against a problem's limits (``moo-snn cost``).

The network is an architecture of a problem (default: its ``reference_arch``) or a hand-written
layer list (a TOML file of ``[[layer]]`` tables, :mod:`moo_snn.cost.layer_file`). Hardware: the
problem's ``[hardware]`` (SpikeSim's defaults without a problem), then the layer file's
``[hardware]``, then the ``mode`` and ``spike_rate`` given here. The numbers are
:func:`moo_snn.cost.evaluate_costs`'s (equations and sources in :mod:`moo_snn.cost.model`); where
SpikeSim itself would refuse the layer list, the numbers are still given, with the reason in
:attr:`NetworkCosts.warnings`. A limit that is not met is reported (:attr:`NetworkCosts.limits`),
not raised. For the costs of many genomes at once, use :func:`moo_snn.population_costs`.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass

from moo_snn.errors import ArchitectureError, ProblemError
from moo_snn.evaluation import COST_METRICS
from moo_snn.objectives import ACCURACIES

__all__ = ["NetworkCosts", "limit_checks", "network_costs"]


@dataclass(frozen=True)
class NetworkCosts:
    """What :func:`network_costs` measured.

    Parameters
    ----------
    network : str
        The architecture string, or the layer file's path.
    problem : str or None
        The problem's name (None: a layer file costed without a problem).
    mode : {"extended", "spikesim"}
        The cost model used.
    hardware : HardwareConfig
        The accelerator's constants after every override.
    timesteps : int
        Timesteps of one inference.
    weight_bits : int
        Bits per weight.
    layers : list of dict
        One per crossbar layer, in order: its geometry (``name``, ``c_in``, ``c_out``, ``kernel``,
        ``d_in``, ``d_out``, ...: :class:`moo_snn.layers.CrossbarLayer`'s fields) and its costs
        (``params``, ``pes``, ``energy_uJ`` [µJ], ``latency_ms`` [ms], ``area_mm2`` [mm²]).
    totals : dict
        ``params``, ``memory_kB`` [KiB, 1024 bytes], ``area_mm2`` [mm²], ``latency_ms`` [ms], ``energy_uJ`` [µJ],
        ``tiles``, ``pes`` of the whole network (:meth:`moo_snn.cost.CostReport.totals`).
    shared_area_mm2 : float
        Area of the tile overheads and of the unused PE slots of the last tile [mm²] (the part of
        ``totals["area_mm2"]`` that belongs to no layer).
    limits : dict
        ``{name: {"limit", "kind", "value", "met"}}`` for each of the problem's constraints
        (:func:`limit_checks`; empty without a problem).
    warnings : list of str
        Why SpikeSim itself would refuse this layer list (the numbers are this model's).
    """

    network: str
    problem: str | None
    mode: str
    hardware: object
    timesteps: int
    weight_bits: int
    layers: list
    totals: dict
    shared_area_mm2: float
    limits: dict
    warnings: list

    @property
    def spike_rate(self) -> float:
        """Assumed input spike rate of every non-stem layer (1 in ``spikesim`` mode, which reads every input)."""
        return float(self.hardware.spike_rate) if self.mode == "extended" else 1.0


NEEDS_TRAINING = "needs a trained network's accuracy (moo-snn train)"
"""Why a limit on accuracy (or on an objective computed from it) has no value before training."""


def limit_checks(totals: dict, constraints, others: dict | None = None) -> dict[str, dict]:
    """Each constraint of a problem against the network's ``totals``.

    Parameters
    ----------
    totals : dict
        Totals of one network (:attr:`NetworkCosts.totals`).
    constraints : sequence of Constraint
        A problem's ``constraints`` (``name``, ``limit``, ``kind`` ``"max"`` or ``"min"``).
    others : dict, optional
        ``{name: value}`` of constraints that are not cost-model totals (a plug-in objective evaluated
        on the network), or ``{name: reason}`` (a str) where one could not be evaluated.

    Returns
    -------
    dict
        ``{name: {"limit", "kind", "value", "met"}}``; where ``value`` and ``met`` are None (accuracy
        before training, a plug-in that could not be evaluated) a ``"reason"`` says why in a few words.
    """
    others = others or {}
    checks = {}
    for c in constraints:
        value = totals.get(c.name) if c.name in COST_METRICS else others.get(c.name)
        reason = None
        if isinstance(value, str):
            value, reason = None, value
        elif value is None:
            reason = NEEDS_TRAINING if c.name in ACCURACIES else "not evaluated"
        met = None if value is None else bool(value <= c.limit if c.kind == "max" else value >= c.limit)
        checks[c.name] = dict(limit=c.limit, kind=c.kind, value=value, met=met)
        if reason is not None:
            checks[c.name]["reason"] = reason
    return checks


def _other_limits(spec, constraints, architecture, report, hardware, allow_code: bool) -> dict:
    """``limit_checks``'s ``others``: each constraint that is neither a cost-model total nor an accuracy, evaluated
    on the one network (its accuracy unknown: NaN), or the reason it was not (a str)."""
    import numpy as np

    from moo_snn.objectives import REGISTRY, Batch

    names = [c.name for c in constraints if c.name not in COST_METRICS and c.name not in ACCURACIES]
    if not names:
        return {}
    problem = dataclasses.replace(spec, hardware=hardware)  # the batch's assumed spike rate is the one priced
    batch = Batch(None if architecture is None else [architecture], [np.nan], report, problem=problem)
    others = {}
    for name in names:
        if ":" in name and not allow_code and name not in REGISTRY.code:
            others[name] = "Python code named in the problem file: --allow-code runs it"
            continue
        try:
            value = float(REGISTRY.get(name, allow_code=allow_code)(batch)[0])
        except ProblemError as exc:
            if architecture is None and batch._archs is None and "needs the architectures" in str(exc):
                others[name] = "needs an architecture (a --layers network has none)"
            else:  # the objective's own error (its cause, where it raised one), or why it cannot be loaded
                cause = exc.__cause__
                others[name] = f"failed: {type(cause).__name__}: {cause}" if cause is not None else str(exc)
            continue
        others[name] = value if np.isfinite(value) else NEEDS_TRAINING  # NaN: computed from the unknown accuracy
    return others


def network_costs(problem=None, arch=None, *, layers: str | os.PathLike | None = None, mode: str | None = None,
                  spike_rate: float | None = None, allow_code: bool = False) -> NetworkCosts:
    """Energy, latency and area of one network on the RRAM compute-in-memory accelerator.

    Parameters
    ----------
    problem : str, path-like or ProblemSpec, optional
        A shipped problem's name, a problem file or a loaded problem: its data set fixes the input
        shape and classes, its ``[hardware]`` the accelerator, its constraints the limits. Optional
        with ``layers``.
    arch : str or Architecture, optional
        An architecture of the problem's space (default: the problem's ``reference_arch``); its cell
        must have a forward path from node 0 to node 3 (:meth:`moo_snn.space.SearchSpace.repair`
        makes one as the search does).
    layers : path-like, optional
        A hand-written network instead (a TOML file of ``[[layer]]`` tables, :mod:`moo_snn.cost.layer_file`).
    mode : {"extended", "spikesim"}, optional
        Cost model (default: the ``[hardware]`` mode).
    spike_rate : float, optional
        Assumed input spike rate in [0, 1] of every non-stem layer (extended mode; default: the
        ``[hardware]`` spike_rate). No effect in spikesim mode.
    allow_code : bool, optional
        Run the ``module:function`` objectives that the problem's ``[constraints]`` name, to check
        their limits (problem files are shared: read that code first). Installed plug-ins run without it.

    Returns
    -------
    NetworkCosts
        Per layer and in total, with the problem's limits checked.

    Raises
    ------
    ProblemError
        Neither a problem nor ``layers``, ``arch`` without a problem, both ``arch`` and ``layers``, an
        unknown ``mode``, a bad layer file or problem.
    ArchitectureError
        ``arch`` cannot be parsed, does not fit the problem's images, or its cell has no forward path.

    Warns
    -----
    OutsideSpaceWarning
        The architecture is outside the problem's ``[space]`` (:class:`moo_snn.space.OutsideSpaceWarning`:
        it is costed anyway, as ``moo-snn cost`` does, naming each value outside it).

    Notes
    -----
    A limit on a plug-in or ``module:function`` objective is checked where the objective can be computed
    from the cost model (the network's accuracy is unknown, NaN, before training): a value computed from
    the accuracy, or an objective that fails, leaves the limit unchecked with its ``"reason"``.
    """
    import numpy as np

    from moo_snn.config.problem import ProblemSpec, load_problem
    from moo_snn.cost import HardwareConfig, SpikeSimCompatibilityWarning, evaluate_costs
    from moo_snn.cost.layer_file import load_layer_file
    from moo_snn.layers import LayerTable, crossbar_layers

    if arch is not None and layers is not None:
        raise ProblemError("give either --arch or --layers, not both: each names the network to cost")
    if problem is None and arch is not None:
        raise ProblemError("--arch needs a PROBLEM: its data set fixes the input channels, image side and classes")
    if problem is None and layers is None:
        raise ProblemError("give a PROBLEM (its reference_arch, or --arch, is costed) or --layers FILE.toml")
    if mode is not None and mode not in ("extended", "spikesim"):
        raise ProblemError(f"mode: expected 'extended' or 'spikesim', found {mode!r}")
    spec = None if problem is None else problem if isinstance(problem, ProblemSpec) else load_problem(problem)
    hardware = spec.hardware if spec is not None else HardwareConfig()
    per_candidate: dict[str, np.ndarray | None] = {}
    architecture = None
    if layers is not None:
        network = load_layer_file(layers)
        hardware = network.hardware(hardware)
        layer_list, timesteps, weight_bits, label = list(network.layers), network.timesteps, network.weight_bits, os.fspath(layers)
    else:
        architecture = _architecture(spec, arch)
        layer_list = crossbar_layers(architecture, spec.network_input)
        timesteps, weight_bits, label = architecture.timesteps, architecture.weight_bits, str(architecture)
        for name in ("crossbar_size", "cell_bits", "adc_bits"):  # co-design fields the arch carries
            value = getattr(architecture, name)
            per_candidate[name] = None if value is None else np.array([value])
    if mode is not None:
        hardware = dataclasses.replace(hardware, mode=mode)
    if spike_rate is not None:
        hardware = dataclasses.replace(hardware, spike_rate=spike_rate)

    with warnings.catch_warnings(record=True) as caught:  # SpikeSim would refuse the list: the numbers are still given
        warnings.simplefilter("always", SpikeSimCompatibilityWarning)
        report = evaluate_costs(LayerTable.from_layers(layer_list), timesteps, weight_bits, hardware, per_layer=True,
                                **per_candidate)
    notes = [str(w.message) for w in caught if issubclass(w.category, SpikeSimCompatibilityWarning)]
    totals = report.totals(0)
    records = [{**dataclasses.asdict(layer), **record} for layer, record in zip(layer_list, report.to_records(0))]
    return NetworkCosts(network=label, problem=None if spec is None else spec.name, mode=report.mode, hardware=hardware,
                        timesteps=timesteps, weight_bits=weight_bits, layers=records, totals=totals,
                        shared_area_mm2=float(report.shared_area_mm2[0]),
                        limits=limit_checks(totals, spec.constraints,
                                            _other_limits(spec, spec.constraints, architecture, report, hardware, allow_code))
                        if spec is not None else {}, warnings=notes)


def _architecture(spec, arch):
    """``arch`` (text, an Architecture, or None for the problem's reference) checked against the problem."""
    from moo_snn.architecture import Architecture

    from moo_snn.space import OutsideSpaceWarning, SearchSpace

    if arch is None:
        architecture = spec.reference_arch
    else:
        architecture = spec.check_architecture(Architecture.parse(arch) if isinstance(arch, str) else arch)
    if not architecture.is_valid:
        raise ArchitectureError(f"architecture {architecture}: its cell has no forward path from node 0 to node 3; "
                                f"repair it as the search does (moo-snn cost --arch ... --repair, or SearchSpace.repair)")
    note = SearchSpace(spec.space).outside_note(architecture, spec.name, "costing")
    if note:
        warnings.warn(note, OutsideSpaceWarning, stacklevel=3)  # network_costs's caller
    return architecture
