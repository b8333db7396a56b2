"""Constants of the RRAM compute-in-memory accelerator (a problem's ``[hardware]`` table).

Defaults are SpikeSim's (Moitra et al., "SpikeSim: An end-to-end Compute-in-Memory Hardware
Evaluation Tool for Benchmarking Spiking Neural Networks", IEEE TCAD 2023, arXiv 2210.12899, and its
public code): RRAM, 65 nm, 64×64 crossbars, 8 PEs per tile, 250 MHz, 26 clock cycles per PE cycle,
4-bit ADCs. Energies are per PE cycle and per component, in pJ; areas per component, in µm².
See DESIGN §4 for the equations that use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from moo_snn.architecture import FIELD_BOUNDS
from moo_snn.errors import ProblemError

MODES = ("extended", "spikesim")
MAX_KERNEL = 31
"""The largest kernel side the cost model takes (``kernel_size``, a layer file's ``kernel``): the largest
convolution kernels published are 31x31 (RepLKNet, Ding et al., CVPR 2022); SNNs use 1 to 7."""
KERNEL_SOURCE = "RepLKNet's 31x31 (Ding et al., CVPR 2022), the largest published convolution kernels"
FIELD_SOURCE = "as an architecture's hardware fields: architecture.FIELD_BOUNDS, RRAM compute-in-memory practice"
MAX_PES_PER_TILE = 64
"""The most PEs per tile: 8x SpikeSim's 8 (ISAAC's tile holds 12 IMAs, Shafiee et al. ISCA 2016; NeuroSim's 4)."""
MAX_CLOCK_MHZ = 10_000.0
"""The fastest clock [MHz]: 10 GHz, above any CMOS accelerator's (SpikeSim: 250 MHz)."""
MAX_PE_CYCLE_CLOCKS = 10_000
"""The most clock cycles per PE cycle: about 400x SpikeSim's 26."""
LATENCY_MODELS = ("work", "spikesim")


def _const(default: float, doc: str, *, minimum: float = 0.0, maximum: float | None = None, max_source: str | None = None):
    """A hardware constant with its unit and source in ``doc`` (shown by ``moo-snn problems --keys``); ``max_source``:
    where its maximum comes from (said by the error of a value above it)."""
    bounds = {"min": minimum} if maximum is None else {"min": minimum, "max": maximum}
    if max_source is not None:
        bounds["max_source"] = max_source
    return field(default=default, metadata={"doc": doc, **bounds})


@dataclass(frozen=True)
class HardwareConfig:
    """The accelerator and the cost-model settings. Every field has a default (SpikeSim's)."""

    mode: str = field(default="extended", metadata={"doc": "cost model: 'extended' (default) or 'spikesim' (SpikeSim exactly)", "choices": MODES})
    kernel_size: int = _const(3, "spikesim mode: SpikeSim's kernel_size, the one kernel side used for every layer's PE energy and area (SpikeSim's script: a user setting, 3 in its VGG9 example); at most 31 (RepLKNet's 31x31, the largest published kernels)", minimum=1, maximum=MAX_KERNEL, max_source=KERNEL_SOURCE)
    latency_model: str = field(default="work", metadata={"doc": "extended mode: 'work' (each PE's output positions x reads x PE cycle, all PEs of a layer in parallel, pipelined layers) or 'spikesim' (SpikeSim's one PE cycle per output neuron)", "choices": LATENCY_MODELS})
    layers_share_tiles: bool = field(default=True, metadata={"doc": "extended mode: True packs the PEs of all layers into ceil(sum P / pes_per_tile) tiles (SpikeSim's code); False gives every layer its own tiles, sum ceil(P_l / pes_per_tile) (SpikeSim's paper; SpikeSim issue #5)"})
    adcs_per_pe: int = _const(8, "extended mode: ADCs per PE, shared by the X columns through ceil(X / adcs_per_pe):1 MUXes (SpikeSim: X/8 = 8 at X = 64); columns per ADC set the sequential conversions of a PE cycle; at most crossbar_size (one ADC per column)", minimum=1, maximum=FIELD_BOUNDS["crossbar_size"][1], max_source="the largest crossbar_size: one ADC per column")
    adc_ns_per_bit: float = _const(0.09765625, "extended mode: SAR ADC conversion time per bit [ns] (ISAAC, Shafiee et al. ISCA 2016: 8-bit ADC at 1.28 GS/s = 0.78125 ns / 8 bits); the PE cycle is pe_cycle_clocks at 8 conversions of 4 bits and changes by this per extra bit-conversion", minimum=0.0)
    stem_input_bits: int = _const(8, "extended mode: bits of the first layer's (non-spike) input, streamed bit-serially through 1-bit row drivers: that many reads per output position (ISAAC; 8-bit images); 1 treats it like spikes (SpikeSim)", minimum=1, maximum=32)
    static_power_mW_per_tile: float = _const(0.0, "extended mode: static (leakage) power of one tile [mW], charged for the whole latency; 0 = SpikeSim's dynamic-only energy (SpikeSim publishes no leakage figure: set it from your process)", minimum=0.0)
    spike_rate: float = _const(0.2, "assumed input spike rate of every non-stem layer before training (fraction of inputs spiking per timestep); extended mode only", maximum=1.0)
    crossbar_size: int = _const(64, "crossbar rows = columns X [cells] (SpikeSim); 8 to 1024, as an architecture's x field (architecture.FIELD_BOUNDS: RRAM CIM practice)", minimum=FIELD_BOUNDS["crossbar_size"][0], maximum=FIELD_BOUNDS["crossbar_size"][1], max_source=FIELD_SOURCE)
    pes_per_tile: int = _const(8, "PEs per tile (SpikeSim); at most 64, 8x SpikeSim's (ISAAC's tile holds 12 IMAs)", minimum=1, maximum=MAX_PES_PER_TILE, max_source="8x SpikeSim's 8; ISAAC's tile holds 12 IMAs")
    clock_MHz: float = _const(250.0, "clock frequency [MHz] (SpikeSim); at most 10 GHz, above any CMOS accelerator's", minimum=1e-9, maximum=MAX_CLOCK_MHZ, max_source="10 GHz, above any CMOS accelerator's clock (SpikeSim: 250 MHz)")
    pe_cycle_clocks: int = _const(26, "clock cycles per PE cycle (SpikeSim: 26 → 104 ns at 250 MHz); at most 10,000 (about 400x SpikeSim's)", minimum=1, maximum=MAX_PE_CYCLE_CLOCKS, max_source="about 400x SpikeSim's 26")
    pipeline_fraction: float = _const(0.75, "a layer starts when this fraction of the previous layer's outputs exist (SpikeSim)", maximum=1.0)
    cell_bits: int = _const(4, "bits stored per RRAM cell; a w-bit weight uses ceil(w / cell_bits) cells side by side (extended mode; our reading of SpikeSim's 4-bit default); 1 to 8, as an architecture's b field (architecture.FIELD_BOUNDS: multi-level cells up to ~6-8 bits)", minimum=FIELD_BOUNDS["cell_bits"][0], maximum=FIELD_BOUNDS["cell_bits"][1], max_source=FIELD_SOURCE)
    adc_bits: int = _const(4, "ADC precision [bits]; SpikeSim's ADC constants are for 4 bits; extended mode scales ADC energy and area by 2^(adc_bits-4), a first-order SAR/flash trend; 1 to 12, as an architecture's a field (architecture.FIELD_BOUNDS)", minimum=FIELD_BOUNDS["adc_bits"][0], maximum=FIELD_BOUNDS["adc_bits"][1], max_source=FIELD_SOURCE)
    mux_per_column_group: int = _const(8, "spikesim mode: G = X / mux_per_column_group ADCs per PE (SpikeSim: X/8); extended mode uses adcs_per_pe; at most crossbar_size (at least one ADC per PE)", minimum=1, maximum=FIELD_BOUNDS["crossbar_size"][1], max_source="the largest crossbar_size: at least one ADC per PE")
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

    def check(self, where: str) -> None:
        """What one field's bounds cannot say: ``adcs_per_pe`` and ``mux_per_column_group`` at most ``crossbar_size``
        (an ADC per column at most; at least one ADC per PE). ``where`` starts the one-line :class:`ProblemError`."""
        for name, meaning in (("adcs_per_pe", "more ADCs than columns"), ("mux_per_column_group", "less than one ADC per PE")):
            if getattr(self, name) > self.crossbar_size:
                raise ProblemError(f"{where}: [hardware] {name} = {getattr(self, name)} is above crossbar_size = "
                                   f"{self.crossbar_size} ({meaning}); allowed: 1 to crossbar_size")

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
