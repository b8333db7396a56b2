r"""Analytical energy, latency and area of a population of SNNs on an RRAM compute-in-memory chip.

Source: SpikeSim (A. Moitra et al., "SpikeSim: An end-to-end Compute-in-Memory Hardware Evaluation
Tool for Benchmarking Spiking Neural Networks", IEEE TCAD 2023, arXiv 2210.12899), its public code
(``ela_spikesim.py``: ``pe_tile_count``, ``compute_energy``, ``compute_area``, ``latency_gen``) and
its constants, which are the defaults of :class:`~moo_snn.cost.hardware.HardwareConfig`. Notation:
layer l has c_in,l → c_out,l channels, kernel side k_l, input and output map sides d_in,l, d_out,l;
X is the crossbar side, G = X / ``mux_per_column_group`` (8 in SpikeSim) the ADCs of a crossbar,
M = ``pes_per_tile`` (8), T the timesteps, w the weight bits.

Mode ``spikesim`` (SpikeSim exactly)
------------------------------------
* PEs of a layer: P_l = ⌈c_in,l / X⌉ · ⌈c_out,l / X⌉ (weight bits ignored); tiles = ⌈Σ_l P_l / M⌉.
* energy of one PE cycle [pJ], with k = ``kernel_size`` (3) for *every* layer (SpikeSim passes one
  kernel size, a user setting of its script)::

      e = H + F + Nr + G·[k²·e_xbar + G·(e_ADC + e_MUX)] + G·16·e_SUB + G·e_tmp + e_tilebuf

  total energy = T · e · Σ_l P_l · d_out,l² (one PE cycle per output position per PE).
* area [µm²]: a_PE(k) = k²·a_xbar + G·(a_ADC + a_MUX) with k = ``kernel_size``;
  a_tile = G·a_SUB + a_tmp + a_tilebuf + M·a_PE + a_H;
  area = a_tile·tiles + a_nm·Σ_l c_in,l·d_in,l² + a_nm·Σ_{first 5 layers} c_out,l·d_out,l², where
  a_nm = 0.7391·22 µm² per stored value (input buffers, then neuron membranes: SpikeSim counts the
  neuron memory of its first five layers only).
* latency [ns], pipelined (a layer starts once a fraction f = 0.75 of the previous layer's outputs
  exist), with N_l = c_out,l · d_out,l² and L the last layer::

      latency = t_PE · T · (Σ_{l<L} ⌊f·N_l⌋ + N_L),   t_PE = 26 clocks at 250 MHz = 104 ns.

* SpikeSim's constants are used as given for every X, cell size and ADC precision.
* Layer lists SpikeSim's script refuses (unsorted PE counts, more than 12 layers, every layer smaller
  than one crossbar) are priced all the same, with a
  :class:`~moo_snn.cost.spikesim_checks.SpikeSimCompatibilityWarning` (:mod:`moo_snn.cost.spikesim_checks`).

Mode ``extended`` (default): departures from ``spikesim``, each switched by the conditions below
---------------------------------------------------------------------------------------------------
1. *real kernels*: the crossbar part of the PE energy and area uses the layer's own k_l
   (k_l²·e_xbar, k_l²·a_xbar): a 1×1 conv reads one crossbar per PE, not nine.
2. *weight bits*: a w-bit weight takes ⌈w / b⌉ cells of b = ``cell_bits`` bits side by side:
   P_l = ⌈c_in,l / X⌉ · ⌈c_out,l·⌈w/b⌉ / X⌉.
3. *ADC precision*: e_ADC and a_ADC scale by 2^(adc_bits − 4) from SpikeSim's 4-bit constants
   (a first-order SAR/flash trend, not a circuit model).
4. *PE read-out*: a PE has A = ``adcs_per_pe`` ADCs (SpikeSim: X/8 = 8 at X = 64); each converts
   m = ⌈X/A⌉ columns in turn, so a PE cycle holds m reads of its k_l² crossbars (their column
   currents summed on the same ADCs, as SpikeSim's PE has A ADCs for k² crossbars) and X conversions.
   At X = 64, A = 8 these are SpikeSim's G·k²·e_xbar and G·G conversions.
5. *spike activity*: with r_l the input spike rate of layer l, the crossbar read energy scales with
   r_l (rows without a spike draw no current); a conversion (ADC + MUX) is skipped only when none of
   the R_l = k_l²·min(c_in,l, X) rows summed on its column spikes, which, with inputs spiking
   independently (an assumption: real spike maps are correlated), happens with probability
   (1 − r_l)^R_l. The first layer reads the image (r = 1)::

       e_l = [H + F + Nr + A·16·e_SUB + A·e_tmp + e_tilebuf] + r_l·m·k_l²·e_xbar + [1 − (1 − r_l)^R_l]·X·(e_ADC + e_MUX)
       dynamic energy = T · Σ_l e_l · P_l · d_out,l² · n_l

   with n_l the reads per output position: ``stem_input_bits`` for the first layer (its multi-bit
   input streamed bit-serially through 1-bit drivers, as ISAAC, Shafiee et al. ISCA 2016), 1 for
   spikes. At r = 0.2 and R = 64 a conversion is skipped with probability 0.8^64 ≈ 6e-7: the ADC
   saving is essentially never there; only the crossbar read scales with activity.
6. *static energy*: ``static_power_mW_per_tile`` · tiles · latency (mW · ns = pJ), shared over the
   layers in proportion to their latency shares.
7. *latency from the work*: ``latency_model = "work"`` (default): all PEs of a layer work in parallel,
   each over d_out,l² · n_l read cycles per timestep, a PE cycle of t_PE = t_PE,ref + (m·b − 8·4)·t_bit
   (SAR conversions, ``adc_ns_per_bit``), layers pipelined but never finishing before their inputs
   (:mod:`moo_snn.cost.latency`). ``"spikesim"`` keeps SpikeSim's rule.
8. *tile mapping*: ``layers_share_tiles = false`` gives every layer its own ⌈P_l / M⌉ tiles (SpikeSim's
   paper; its code packs all layers together: SpikeSim issue #5).
9. *neuron memory* of every layer: a_nm · Σ_l c_out,l·d_out,l² over all layers.
10. *area with mixed kernels*: tiles·(A·a_SUB + a_tmp + a_tilebuf + a_H) + Σ_l P_l·a_PE(k_l)
    + (M·tiles − Σ_l P_l)·a_PE(3) + the input-buffer and neuron-memory terms, a_PE(k) = k²·a_xbar
    + A·(a_ADC + a_MUX); the unused PE slots of the last tile(s) are built as 3×3 PEs, so that k = 3
    everywhere gives SpikeSim's a_tile·tiles.
11. *crossbar size*: e_xbar and a_xbar are SpikeSim's numbers for 64×64 crossbars; for another X
    they scale by (X/64)², the cell count (first order: ignores wire and driver non-linearity).

With :data:`~moo_snn.cost.hardware.SPIKESIM_EQUIVALENT` (``latency_model = "spikesim"``,
``stem_input_bits = 1``, no static power, shared tiles, A = 8 at X = 64, r = 1, 4-bit ADCs), k = 3
everywhere, w ≤ cell_bits and at most five layers, both modes give the same numbers (a test;
:func:`~moo_snn.cost.hardware.spikesim_equivalent`). In both modes: params = Σ_l c_in,l·c_out,l·k_l²
(real kernels) and memory_kB = params · w / 8 / 1024, in KiB (1024 bytes: the "kB" of the key's name is
this unit, DESIGN §4).

Units: pJ → µJ, µm² → mm² and ns → ms are each a factor 1e-6.
"""

from __future__ import annotations

import numpy as np

from moo_snn.cost.hardware import MODES, HardwareConfig
from moo_snn.cost.latency import pe_cycle_ns, spikesim_latency_ns, work_latency_ns
from moo_snn.cost.report import CostReport
from moo_snn.cost.spikesim_checks import spikesim_refusals, warn_if_refused
from moo_snn.errors import ProblemError, did_you_mean
from moo_snn.layers import LayerTable

SPIKESIM_KERNEL = 3
"""The one kernel side SpikeSim uses for PE energy and area (and for unused PE slots here)."""
SPIKESIM_NEURON_MEM_LAYERS = 5
"""SpikeSim counts the neuron memory of its first five layers only."""
REFERENCE_CROSSBAR = 64
"""Crossbar side SpikeSim's e_xbar and a_xbar describe."""
REFERENCE_ADC_BITS = 4
"""ADC precision SpikeSim's e_ADC and a_ADC describe."""
_MICRO = 1e-6  # pJ → µJ, µm² → mm², ns → ms

Scalar = int | float | np.ndarray


def _overflow_checked(function):
    """Run the cost model with numpy's overflow warnings off: a total that overflows is checked after, and is a
    one-line :class:`ProblemError` (not a RuntimeWarning, nor an inf reported as a cost)."""
    import functools

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore"):
            return function(*args, **kwargs)

    return wrapper


@_overflow_checked
def evaluate_costs(
    table: LayerTable,
    timesteps: Scalar,
    weight_bits: Scalar,
    hardware: HardwareConfig,
    *,
    spike_rate: Scalar | None = None,
    crossbar_size: Scalar | None = None,
    cell_bits: Scalar | None = None,
    adc_bits: Scalar | None = None,
    mode: str | None = None,
    per_layer: bool = False,
) -> CostReport:
    """Params, memory, area, latency and energy of every candidate of ``table`` (module docstring).

    Parameters
    ----------
    table : LayerTable
        Crossbar layers of n candidates, shape (n, n_slots), slots in execution order.
    timesteps, weight_bits : int or array of int, shape (n,)
        T and w of each candidate.
    hardware : HardwareConfig
        Accelerator constants and default settings.
    spike_rate : float or array of float, shape (n, n_slots), optional
        Input spike rate r of each layer (fraction of inputs spiking per timestep, in [0, 1]);
        extended mode only. None: ``hardware.spike_rate``. A float r: r for every layer but the first
        active one of each row (the stem, which reads the image: r = 1). An array: used as given.
    crossbar_size, cell_bits, adc_bits : int or array of int, shape (n,), optional
        Hardware co-design settings per candidate; None: ``hardware``'s. ``cell_bits`` and
        ``adc_bits`` matter in extended mode only.
    mode : {'extended', 'spikesim'}, optional
        Cost model; None: ``hardware.mode``.
    per_layer : bool
        Also return the per-layer breakdown (``layer_*`` arrays of shape (n, n_slots)).

    Returns
    -------
    CostReport
        Arrays of shape (n,): ``params``, ``memory_kB`` [KiB], ``area_mm2`` [mm²], ``latency_ms`` [ms],
        ``energy_uJ`` [µJ], ``tiles``, ``pes``.

    Raises
    ------
    ProblemError
        Unknown mode, a setting of the wrong shape or out of range, an active layer with a
        non-positive size, an ``adc_ns_per_bit`` too long for the PE cycle.

    Warns
    -----
    SpikeSimCompatibilityWarning
        ``spikesim`` mode only: SpikeSim's own script would refuse a candidate's layer list (unsorted
        PE counts, more than 12 layers, every layer smaller than one crossbar); one warning per call.
    """
    mode = hardware.mode if mode is None else mode
    if mode not in MODES:
        raise ProblemError(f"unknown cost model mode {mode!r}{did_you_mean(mode, MODES)}")
    extended = mode == "extended"
    hw, n = hardware, table.n_candidates
    active = _checked_active(table)

    # per-candidate settings as columns, shape (n, 1), so that they broadcast over the slots
    steps = _per_candidate(timesteps, n, "timesteps")[:, None]
    bits = _per_candidate(weight_bits, n, "weight_bits")
    xbar = _per_candidate(hw.crossbar_size if crossbar_size is None else crossbar_size, n, "crossbar_size")[:, None]
    cell = _per_candidate(hw.cell_bits if cell_bits is None else cell_bits, n, "cell_bits")[:, None]
    adc = _per_candidate(hw.adc_bits if adc_bits is None else adc_bits, n, "adc_bits")[:, None]

    c_in, c_out, d_in, d_out = (
        np.where(active, getattr(table, k), 0).astype(np.int64) for k in ("c_in", "c_out", "d_in", "d_out")
    )
    first = active & (np.cumsum(active, axis=1) == 1)  # the first layer reads the image, not spikes
    if extended:
        kernel = np.where(active, table.kernel, SPIKESIM_KERNEL).astype(np.int64)
        slices = -(-bits[:, None] // cell)  # ⌈w / b⌉ cells per weight
        rate = _spike_rates(hw.spike_rate if spike_rate is None else spike_rate, active)
        xbar_scale = (xbar / REFERENCE_CROSSBAR) ** 2
        adc_scale = 2.0 ** (adc - REFERENCE_ADC_BITS)
        neuron_layers = active
        adcs = np.full_like(xbar, hw.adcs_per_pe)  # A: ADCs per PE
        mux_steps = -(-xbar // adcs)  # m = ⌈X / A⌉ columns per ADC: sequential reads of a PE cycle
        conversions = xbar  # every column converted once per PE cycle
        reads = np.where(first, hw.stem_input_bits, 1)  # n_l: bit-serial image input, 1 read for spikes
        rows = kernel**2 * np.minimum(c_in, xbar)  # rows summed on one ADC input (k² crossbars, ≤ X rows each)
        readout_activity = 1.0 - (1.0 - rate) ** rows  # P(a read has an active row), independent inputs
    else:
        kernel = np.full(active.shape, hw.kernel_size, np.int64)
        slices = np.ones_like(xbar)
        rate = readout_activity = np.ones(active.shape)
        xbar_scale = adc_scale = np.ones(xbar.shape)
        neuron_layers = active & (np.cumsum(active, axis=1) <= SPIKESIM_NEURON_MEM_LAYERS)
        adcs = mux_steps = xbar / hw.mux_per_column_group  # SpikeSim's G = X/8 for both (a float, as its code)
        conversions = adcs * mux_steps
        reads = np.ones(active.shape, np.int64)
        warn_if_refused(spikesim_refusals(c_in, c_out, active, xbar))

    # --- PEs and tiles
    layer_pes = np.where(active, -(-c_in // xbar) * -(-(c_out * slices) // xbar), 0)
    pes = layer_pes.sum(axis=1)
    if extended and not hw.layers_share_tiles:  # every layer on its own tiles (SpikeSim's paper, issue #5)
        tiles = (-(-layer_pes // hw.pes_per_tile)).sum(axis=1)
    else:
        tiles = -(-pes // hw.pes_per_tile)

    # --- dynamic energy [pJ]: fixed part + crossbar reads (× r) + conversions (× P(any active row))
    e_fixed = (hw.e_htree_pJ + hw.e_fetch_pJ + hw.e_neuron_pJ
               + adcs * 16 * hw.e_sub_pJ + adcs * hw.e_tmp_pJ + hw.e_tilebuf_pJ)
    e_xbar = mux_steps * kernel**2 * (hw.e_xbar_pJ * xbar_scale)
    e_convert = conversions * (hw.e_adc_pJ * adc_scale + hw.e_mux_pJ)
    pe_cycles = layer_pes * d_out**2 * reads  # PE cycles per timestep
    layer_energy_pJ = steps * (e_fixed + rate * e_xbar + readout_activity * e_convert) * pe_cycles

    # --- area [µm²]
    def pe_area(k: np.ndarray | int) -> np.ndarray:
        return k**2 * (hw.a_xbar_um2 * xbar_scale) + adcs * (hw.a_adc_um2 * adc_scale + hw.a_mux_um2)

    tile_overhead = adcs * hw.a_sub_um2 + hw.a_tmp_um2 + hw.a_tilebuf_um2 + hw.a_htree_um2
    unused_pes = hw.pes_per_tile * tiles - pes
    unused_kernel = SPIKESIM_KERNEL if extended else hw.kernel_size
    shared_area = tiles * tile_overhead[:, 0] + unused_pes * pe_area(unused_kernel)[:, 0]
    layer_area_um2 = (
        layer_pes * pe_area(kernel)
        + hw.a_neuron_mem_um2 * c_in * d_in**2
        + hw.a_neuron_mem_um2 * np.where(neuron_layers, c_out * d_out**2, 0)
    )

    # --- latency [ns] (moo_snn.cost.latency)
    if extended and hw.latency_model == "work":
        cycle_ns = pe_cycle_ns(hw.pe_cycle_ns, mux_steps, adc, hw.adc_ns_per_bit) * reads
        layer_latency_ns = work_latency_ns(steps * d_out**2 * cycle_ns, cycle_ns, active, hw.pipeline_fraction)
    else:
        layer_latency_ns = spikesim_latency_ns(c_out * d_out**2, active, steps, hw.pe_cycle_ns, hw.pipeline_fraction)

    # --- static energy [pJ]: P_static · tiles · latency (mW · ns = pJ), spread over layers by latency share
    if extended:
        layer_energy_pJ = layer_energy_pJ + hw.static_power_mW_per_tile * tiles[:, None] * layer_latency_ns

    params = c_in * c_out * np.where(active, table.kernel, 0).astype(np.int64) ** 2  # real kernels
    totals = dict(
        mode=mode,
        params=params.sum(axis=1),
        memory_kB=params.sum(axis=1) * bits / 8 / 1024,
        area_mm2=(shared_area + layer_area_um2.sum(axis=1)) * _MICRO,
        latency_ms=layer_latency_ns.sum(axis=1) * _MICRO,
        energy_uJ=layer_energy_pJ.sum(axis=1) * _MICRO,
        tiles=tiles,
        pes=pes,
    )
    for name in ("area_mm2", "latency_ms", "energy_uJ"):  # constants without a natural maximum (pJ, um^2, mW) can overflow
        if not np.all(np.isfinite(totals[name])):
            raise ProblemError(f"the [hardware] constants make {name} overflow (not a finite number): an energy, area or "
                               f"power constant is too large (their defaults are SpikeSim's, in pJ, um^2 and mW)")
    if not per_layer:
        return CostReport(**totals)
    return CostReport(
        **totals,
        names=tuple(table.names),
        active=active,
        layer_params=params,
        layer_pes=layer_pes,
        layer_area_mm2=layer_area_um2 * _MICRO,
        layer_latency_ms=layer_latency_ns * _MICRO,
        layer_energy_uJ=layer_energy_pJ * _MICRO,
    )


def _checked_active(table: LayerTable) -> np.ndarray:
    """The ``active`` mask as bool, after checking shapes and that active layers have sizes ≥ 1."""
    active = np.asarray(table.active, dtype=bool)
    if active.ndim != 2:
        raise ProblemError(f"a layer table is 2-D (candidates, slots); its 'active' mask has shape {active.shape}")
    for name in ("c_in", "c_out", "kernel", "d_in", "d_out"):
        values = np.asarray(getattr(table, name))
        if values.shape != active.shape:
            raise ProblemError(f"layer table field {name!r} has shape {values.shape}, expected {active.shape}")
        if np.any(active & ~(values >= 1)):
            row, slot = np.argwhere(active & ~(values >= 1))[0]
            raise ProblemError(
                f"layer {table.names[slot]!r} of candidate {row} has {name} = {values[row, slot]}; "
                "every size of a crossbar layer must be a positive integer"
            )
    return active


def _per_candidate(value: Scalar, n: int, name: str) -> np.ndarray:
    """``value`` (a number or shape (n,)) as int64 of shape (n,), each ≥ 1."""
    array = np.asarray(value)
    if array.ndim == 0:
        array = np.full(n, array)
    if array.shape != (n,):
        raise ProblemError(f"{name} must be a number or an array of shape ({n},) (one per candidate), found {array.shape}")
    numeric = array.dtype != bool and np.issubdtype(array.dtype, np.number)
    if not numeric or np.any(~np.isfinite(array)) or np.any(array != np.round(array)):
        raise ProblemError(f"{name} must hold whole numbers, found {array[:5].tolist()}")
    if np.any(array < 1):
        raise ProblemError(f"{name} must be >= 1, found {array.min()}")
    return array.astype(np.int64)


def _spike_rates(spike_rate: Scalar, active: np.ndarray) -> np.ndarray:
    """Input spike rate of every slot, shape (n, n_slots): a float (stem at 1) or an array as given."""
    rate = np.asarray(spike_rate, dtype=float)
    if rate.ndim == 0:
        stem = active & (np.cumsum(active, axis=1) == 1)
        rate = np.where(stem, 1.0, rate)
    elif rate.shape != active.shape:
        raise ProblemError(
            f"spike_rate must be a number or an array of shape {active.shape} (candidates, layer slots), "
            f"found shape {rate.shape}"
        )
    used = rate[active]
    if np.any(~np.isfinite(used)) or np.any(used < 0) or np.any(used > 1):
        raise ProblemError(
            f"a spike rate is a fraction of inputs in [0, 1], found values from {used.min()} to {used.max()}"
        )
    return np.where(active, rate, 0.0)
