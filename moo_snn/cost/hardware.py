"""Constants of the RRAM compute-in-memory accelerator (a problem's ``[hardware]`` table).

Defaults are SpikeSim's (Moitra et al., "SpikeSim: An end-to-end Compute-in-Memory Hardware
Evaluation Tool for Benchmarking Spiking Neural Networks", IEEE TCAD 2023, arXiv 2210.12899, and its
public code): RRAM, 65 nm, 64×64 crossbars, 8 PEs per tile, 250 MHz, 26 clock cycles per PE cycle,
4-bit ADCs. Energies are per PE cycle and per component, in pJ; areas per component, in µm².
See DESIGN §4 for the equations that use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("extended", "spikesim")
LATENCY_MODELS = ("work", "spikesim")


def _const(default: float, doc: str, *, minimum: float = 0.0, maximum: float | None = None):
    """A hardware constant with its unit and source in ``doc`` (shown by ``moo-snn problems --keys``)."""
    bounds = {"min": minimum} if maximum is None else {"min": minimum, "max": maximum}
    return field(default=default, metadata={"doc": doc, **bounds})


@dataclass(frozen=True)
class HardwareConfig:
    """The accelerator and the cost-model settings. Every field has a default (SpikeSim's)."""

    mode: str = field(default="extended", metadata={"doc": "cost model: 'extended' (default) or 'spikesim' (SpikeSim exactly)", "choices": MODES})
    kernel_size: int = _const(3, "spikesim mode: SpikeSim's kernel_size, the one kernel side used for every layer's PE energy and area (SpikeSim's script: a user setting, 3 in its VGG9 example)", minimum=1)
    latency_model: str = field(default="work", metadata={"doc": "extended mode: 'work' (each PE's output positions x reads x PE cycle, all PEs of a layer in parallel, pipelined layers) or 'spikesim' (SpikeSim's one PE cycle per output neuron)", "choices": LATENCY_MODELS})
    layers_share_tiles: bool = field(default=True, metadata={"doc": "extended mode: True packs the PEs of all layers into ceil(sum P / pes_per_tile) tiles (SpikeSim's code); False gives every layer its own tiles, sum ceil(P_l / pes_per_tile) (SpikeSim's paper; SpikeSim issue #5)"})
    adcs_per_pe: int = _const(8, "extended mode: ADCs per PE, shared by the X columns through ceil(X / adcs_per_pe):1 MUXes (SpikeSim: X/8 = 8 at X = 64); columns per ADC set the sequential conversions of a PE cycle", minimum=1)
    adc_ns_per_bit: float = _const(0.09765625, "extended mode: SAR ADC conversion time per bit [ns] (ISAAC, Shafiee et al. ISCA 2016: 8-bit ADC at 1.28 GS/s = 0.78125 ns / 8 bits); the PE cycle is pe_cycle_clocks at 8 conversions of 4 bits and changes by this per extra bit-conversion", minimum=0.0)
    stem_input_bits: int = _const(8, "extended mode: bits of the first layer's (non-spike) input, streamed bit-serially through 1-bit row drivers: that many reads per output position (ISAAC; 8-bit images); 1 treats it like spikes (SpikeSim)", minimum=1, maximum=32)
    static_power_mW_per_tile: float = _const(0.0, "extended mode: static (leakage) power of one tile [mW], charged for the whole latency; 0 = SpikeSim's dynamic-only energy (SpikeSim publishes no leakage figure: set it from your process)", minimum=0.0)
    spike_rate: float = _const(0.2, "assumed input spike rate of every non-stem layer before training (fraction of inputs spiking per timestep); extended mode only", maximum=1.0)
    crossbar_size: int = _const(64, "crossbar rows = columns X [cells] (SpikeSim)", minimum=8)
    pes_per_tile: int = _const(8, "PEs per tile (SpikeSim)", minimum=1)
    clock_MHz: float = _const(250.0, "clock frequency [MHz] (SpikeSim)", minimum=1e-9)
    pe_cycle_clocks: int = _const(26, "clock cycles per PE cycle (SpikeSim: 26 → 104 ns at 250 MHz)", minimum=1)
    pipeline_fraction: float = _const(0.75, "a layer starts when this fraction of the previous layer's outputs exist (SpikeSim)", maximum=1.0)
    cell_bits: int = _const(4, "bits stored per RRAM cell; a w-bit weight uses ceil(w / cell_bits) cells side by side (extended mode; our reading of SpikeSim's 4-bit default)", minimum=1)
    adc_bits: int = _const(4, "ADC precision [bits]; SpikeSim's ADC constants are for 4 bits; extended mode scales ADC energy and area by 2^(adc_bits-4), a first-order SAR/flash trend", minimum=1)
    mux_per_column_group: int = _const(8, "spikesim mode: G = X / mux_per_column_group ADCs per PE (SpikeSim: X/8); extended mode uses adcs_per_pe", minimum=1)
    e_xbar_pJ: float = _const(1.76423, "crossbar read energy per PE cycle per crossbar [pJ] (SpikeSim, 64x64 RRAM)")
    e_adc_pJ: float = _const(2.03084, "4-bit ADC energy per conversion group [pJ] (SpikeSim)")
    e_mux_pJ: float = _const(0.094245, "MUX energy [pJ] (SpikeSim)")
    e_sub_pJ: float = _const(1.15e-6, "subtractor energy per operation [pJ] (SpikeSim); 16 operations per column group")
    e_tmp_pJ: float = _const(0.2, "temporary buffer energy [pJ] (SpikeSim)")
    e_tilebuf_pJ: float = _const(397.0, "tile buffer energy per PE cycle [pJ] (SpikeSim)")
    e_htree_pJ: float = _const(19.64 * 8, "H-tree interconnect energy per PE cycle [pJ] (SpikeSim: 19.64 x 8)")
    e_fetch_pJ: float = _const(4.64, "global memory fetch energy per PE cycle [pJ] (SpikeSim)")
    e_neuron_pJ: float = _const(1.274 * 4, "LIF neuron module energy per PE cycle [pJ] (SpikeSim: 1.274 x 4)")
    a_xbar_um2: float = _const(26.2144, "crossbar area [um^2] (SpikeSim, 64x64 RRAM)")
    a_adc_um2: float = _const(693.633, "4-bit ADC area [um^2] (SpikeSim)")
    a_mux_um2: float = _const(45.9, "MUX area [um^2] (SpikeSim)")
    a_sub_um2: float = _const(13411.41498, "subtractor area [um^2] (SpikeSim)")
    a_tmp_um2: float = _const(484.643999, "temporary buffer area [um^2] (SpikeSim)")
    a_tilebuf_um2: float = _const(0.7391 * 64 * 128, "tile buffer area [um^2] (SpikeSim: 0.7391 x 64 x 128)")
    a_htree_um2: float = _const(216830.0 * 2, "H-tree area per tile [um^2] (SpikeSim: 216830 x 2)")
    a_neuron_mem_um2: float = _const(0.7391 * 22, "neuron membrane memory area per neuron [um^2] (SpikeSim: 0.7391 x 22)")

    @property
    def pe_cycle_ns(self) -> float:
        """Duration of one PE cycle [ns] (104 ns with SpikeSim's defaults)."""
        return self.pe_cycle_clocks * 1e3 / self.clock_MHz


SPIKESIM_EQUIVALENT = dict(latency_model="spikesim", stem_input_bits=1, static_power_mW_per_tile=0.0,
                           layers_share_tiles=True, adcs_per_pe=8, crossbar_size=64, spike_rate=1.0, adc_bits=4)
"""The ``extended`` settings under which it gives SpikeSim's numbers exactly, for layer lists of at most five
3x3 layers with weight_bits <= cell_bits (DESIGN §4): SpikeSim's latency rule, image read once, no static
power, layers packed into shared tiles, SpikeSim's 8 ADCs of 8 columns per 64x64 PE, every input spiking
(r = 1: the crossbar and every conversion always work), 4-bit ADCs."""


def spikesim_equivalent(hardware: HardwareConfig | None = None) -> HardwareConfig:
    """``hardware`` (default: SpikeSim's constants) in ``extended`` mode with :data:`SPIKESIM_EQUIVALENT` applied."""
    from dataclasses import replace

    return replace(hardware or HardwareConfig(), mode="extended", **SPIKESIM_EQUIVALENT)
