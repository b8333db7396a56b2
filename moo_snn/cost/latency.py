r"""Pipelined inference latency of a layer list: SpikeSim's rule and the work-based model of ``extended``.

Both take padded per-slot arrays of shape (n, n_slots) (slots in execution order, inactive slots
ignored) and return each layer's share of the latency, in ns, whose row sums are the latencies.

SpikeSim (``latency_gen`` of ``ela_spikesim.py``; Moitra et al., IEEE TCAD 2023)
----------------------------------------------------------------------------------
One PE cycle t_PE per output neuron, N_l = c_out,l · d_out,l², and the next layer starts once a
fraction f (0.75) of them exist::

    latency = t_PE · T · (Σ_{l<L} ⌊f·N_l⌋ + N_L)

Work-based (``extended`` mode, ``latency_model = "work"``)
----------------------------------------------------------
Weights are stationary: each of the P_l PEs of a layer holds its own block of weights, so all of
them work at once, within a tile and across tiles (the partial sums of the ⌈c_in/X⌉ row blocks are
added by the tiles' digital adders, pipelined, as in SpikeSim's PE and tile). One PE cycle computes
one output position of one timestep for the PE's X columns. So the *duration* of layer l is the work
of each of its PEs::

    D_l = T · d_out,l² · n_l · t_PE            [ns]

with n_l the sequential reads per output position (``stem_input_bits`` for the first layer, whose
input is a multi-bit image streamed bit-serially through 1-bit drivers as in ISAAC, Shafiee et al.
ISCA 2016; 1 for spikes) and the PE cycle built from its ADC conversions (SAR: time ∝ bits)::

    t_PE = t_PE,ref + (m · b − m_ref · b_ref) · t_bit,   m = ⌈X / A⌉ columns per ADC

where t_PE,ref = 26 clocks at 250 MHz = 104 ns is SpikeSim's PE cycle, which it states for
m_ref = 8 columns per ADC and b_ref = 4-bit ADCs, A = ``adcs_per_pe`` and t_bit = ``adc_ns_per_bit``.
Weight bit slices sit in more columns, hence more PEs working in parallel: they add no time.

Layers overlap as in SpikeSim (layer l starts when a fraction f of layer l−1's work is done), but a
layer can never finish before the work it depends on: its last output needs the last output of
layer l−1 and then one read cycle c_l = n_l · t_PE of its own::

    start_1 = 0,                 start_l = start_{l−1} + f · D_{l−1}
    finish_1 = D_1,              finish_l = max(start_l + D_l, finish_{l−1} + c_l)
    latency = finish_L;          layer l's share = finish_l − finish_{l−1} (≥ c_l > 0)

Consequences (tested): the latency is at least the longest D_l and at most the serial time of all
the work on one PE (Σ_l P_l · D_l); appending a layer never makes inference faster; f = 1 gives the
sequential Σ_l D_l.
"""

from __future__ import annotations

import numpy as np

from moo_snn.errors import ProblemError

REFERENCE_COLUMNS_PER_ADC = 8
"""Columns one ADC converts in SpikeSim's 104-ns PE cycle (64 columns, 8 ADCs)."""
REFERENCE_ADC_BITS = 4
"""ADC precision of SpikeSim's PE cycle and of its ADC energy and area."""


def spikesim_latency_ns(outputs: np.ndarray, active: np.ndarray, steps: np.ndarray, pe_cycle_ns: float,
                        fraction: float) -> np.ndarray:
    """SpikeSim's per-layer latency shares [ns], shape (n, n_slots) (module docstring).

    ``outputs``: N_l = c_out,l · d_out,l², shape (n, n_slots); ``steps``: T, shape (n, 1).
    """
    slot = np.arange(active.shape[1])
    last = (active.shape[1] - 1 - np.argmax(active[:, ::-1], axis=1)) if active.shape[1] else np.zeros(len(active), np.int64)
    cycles = np.where(slot == last[:, None], outputs, np.floor(fraction * outputs))
    return pe_cycle_ns * steps * np.where(active, cycles, 0)


def pe_cycle_ns(reference_ns: float, columns_per_adc: np.ndarray, adc_bits: np.ndarray, ns_per_bit: float) -> np.ndarray:
    """t_PE [ns] = t_PE,ref + (m · b − 8 · 4) · t_bit (module docstring); any shape.

    Raises
    ------
    ProblemError
        The PE cycle is too short to hold SpikeSim's eight 4-bit conversions at ``ns_per_bit``.
    """
    rest_ns = reference_ns - REFERENCE_COLUMNS_PER_ADC * REFERENCE_ADC_BITS * ns_per_bit
    if rest_ns < 0:
        raise ProblemError(f"[hardware] adc_ns_per_bit = {ns_per_bit} makes eight 4-bit conversions "
                           f"({REFERENCE_COLUMNS_PER_ADC * REFERENCE_ADC_BITS * ns_per_bit:g} ns) longer than the PE cycle "
                           f"({reference_ns:g} ns = pe_cycle_clocks / clock_MHz): lower adc_ns_per_bit or raise pe_cycle_clocks")
    return rest_ns + columns_per_adc * adc_bits * ns_per_bit


def work_latency_ns(duration_ns: np.ndarray, read_cycle_ns: np.ndarray, active: np.ndarray, fraction: float) -> np.ndarray:
    """Per-layer shares [ns] of the work-based pipelined latency, shape (n, n_slots) (module docstring).

    Parameters
    ----------
    duration_ns : ndarray, shape (n, n_slots)
        D_l, the work of each PE of layer l over all timesteps [ns].
    read_cycle_ns : ndarray, shape (n, n_slots)
        c_l = n_l · t_PE, the time of one output position of layer l [ns].
    active : ndarray of bool, shape (n, n_slots)
    fraction : float
        f, the share of a layer's work done before the next layer starts.
    """
    n, slots = active.shape
    shares = np.zeros((n, slots))
    start, finish, previous = np.zeros(n), np.zeros(n), np.zeros(n)
    started = np.zeros(n, dtype=bool)
    for j in range(slots):
        on, d, c = active[:, j], duration_ns[:, j], read_cycle_ns[:, j]
        begin = np.where(started, start + fraction * previous, 0.0)
        end = np.where(started, np.maximum(begin + d, finish + c), d)
        shares[:, j] = np.where(on, end - finish, 0.0)
        start, finish, previous = np.where(on, begin, start), np.where(on, end, finish), np.where(on, d, previous)
        started |= on
    return shares
