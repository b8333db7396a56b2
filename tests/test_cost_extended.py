"""The turn-2 corrections of the ``extended`` cost model and ``spikesim``'s kernel_size and warning,
each against hand-computed values (constants in tests/test_cost.py's docstring):

  fixed part of a PE cycle = 565.4561472 pJ, e (k = 3, r = 1) = 828.4861472 pJ, a_tile = 596 708.219839 µm²,
  tile overhead (no PEs) = 547 490.671039 µm², a_PE(3) = 6152.1936 µm², t_PE = 104 ns,
  t_bit = 0.09765625 ns (ISAAC's 8-bit ADC at 1.28 GS/s).
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from moo_snn.cost import HardwareConfig, SpikeSimCompatibilityWarning, evaluate_costs
from moo_snn.cost.hardware import spikesim_equivalent
from moo_snn.cost.layer_file import load_layer_file
from moo_snn.errors import ProblemError
from moo_snn.layers import CrossbarLayer, LayerTable

HW = HardwareConfig()
ONE_READ = HardwareConfig(stem_input_bits=1)
VGG9 = load_layer_file(Path(__file__).resolve().parents[1] / "examples" / "vgg9_spikesim.toml")


def table(*layers):
    return LayerTable.from_layers([CrossbarLayer(f"l{i}", *spec) for i, spec in enumerate(layers)])


def vgg9(hardware: HardwareConfig, **settings):
    return evaluate_costs(LayerTable.from_layers(list(VGG9.layers)), VGG9.timesteps, VGG9.weight_bits, hardware, **settings)


# --- latency from the work ---------------------------------------------------------------------
def test_one_layer_latency_and_energy_with_a_bit_serial_image_by_hand():
    """Stem 3 → 64, 3×3, 32×32, T = 2, 8-bit image (stem_input_bits = 8): 8 reads per position.

    latency = T·d²·n·t_PE = 2·1024·8·104 = 1 703 936 ns; energy = T·e·P·d²·n = 2·828.4861472·8192
    = 13 573 917.0357248 pJ (8× the single read)."""
    report = evaluate_costs(table((3, 64, 3, 32, 32)), 2, 4, HW)
    assert_allclose(report.latency_ms, [1.703936], rtol=1e-12)
    assert_allclose(report.energy_uJ, [13.5739170357248], rtol=1e-12)
    once = evaluate_costs(table((3, 64, 3, 32, 32)), 2, 4, ONE_READ)
    assert_allclose(once.latency_ms, [0.212992], rtol=1e-12)
    assert_allclose(once.energy_uJ, [1.6967396294656], rtol=1e-12)


def test_pipeline_never_finishes_before_the_work_by_hand():
    """T = 1, read once, t_PE = 104 ns, f = 0.75.

    (a) l0 3→64 on 8×8 (D0 = 64·104 = 6656 ns), l1 64→64 to 4×4 (D1 = 16·104 = 1664 ns):
        start1 = 0.75·6656 = 4992, finish1 = max(4992 + 1664, 6656 + 104) = 6760 ns: shares 6656, 104.
    (b) both on 4×4 (D = 1664 ns each): start1 = 1248, finish1 = max(2912, 1768) = 2912: shares 1664, 1248.
    (c) f = 1: sequential, 1664 + 1664 = 3328 ns.
    """
    a = evaluate_costs(table((3, 64, 3, 8, 8), (64, 64, 3, 8, 4)), 1, 4, ONE_READ, per_layer=True)
    assert_allclose(a.layer_latency_ms, [[6656e-6, 104e-6]], rtol=1e-12)
    b = evaluate_costs(table((3, 64, 3, 8, 4), (64, 64, 3, 4, 4)), 1, 4, ONE_READ, per_layer=True)
    assert_allclose(b.layer_latency_ms, [[1664e-6, 1248e-6]], rtol=1e-12)
    assert_allclose(b.latency_ms, [2912e-6], rtol=1e-12)
    c = evaluate_costs(table((3, 64, 3, 8, 4), (64, 64, 3, 4, 4)), 1, 4, dataclasses.replace(ONE_READ, pipeline_fraction=1.0))
    assert_allclose(c.latency_ms, [3328e-6], rtol=1e-12)


@pytest.mark.parametrize("xbar, adc, t_pe", [(64, 4, 104.0), (32, 4, 104 - 16 * 0.09765625), (128, 4, 104 + 32 * 0.09765625),
                                             (64, 8, 104 + 32 * 0.09765625), (256, 6, 104 + (32 * 6 - 32) * 0.09765625)])
def test_pe_cycle_from_adc_conversions_by_hand(xbar, adc, t_pe):
    """t_PE = 104 + (m·b − 8·4)·t_bit with m = X / 8 columns per ADC: one output position, T = 1."""
    report = evaluate_costs(table((8, 8, 1, 1, 1)), 1, 4, ONE_READ, crossbar_size=xbar, adc_bits=adc)
    assert_allclose(report.latency_ms, [t_pe * 1e-6], rtol=1e-12)


def test_vgg9_latency_depends_on_the_crossbar_size():
    """Every duration and read cycle scales with t_PE, so the latency ratio is the PE-cycle ratio
    107.125 / 102.4375 (X = 128: 16 columns per ADC; X = 32: 4)."""
    small, large = vgg9(HW, crossbar_size=32), vgg9(HW, crossbar_size=128)
    assert small.pes[0] > large.pes[0]
    assert large.latency_ms[0] != small.latency_ms[0]
    assert_allclose(large.latency_ms / small.latency_ms, [107.125 / 102.4375], rtol=1e-12)


def test_vgg9_energy_at_rate_0p2_is_at_least_the_crossbar_only_scaling():
    """Only the crossbar term scaled by r = 0.2 (stem r = 1), SpikeSim's constants, by hand:
    ΣP·d² = 3840 PE cycles per timestep, 2816 of them outside the stem; crossbar term 8·9·1.76423 = 127.02456 pJ:
    5·(3840·828.4861472 − 0.8·127.02456·2816) pJ = 14.476 142 µJ. The model also skips conversions with no
    active row (0.8^576 ≈ 0 here), so with the image read once it gives that number, and more with 8 reads."""
    by_hand_uJ = 5 * (3840 * 828.4861472 - 0.8 * 127.02456 * 2816) * 1e-6
    assert_allclose(by_hand_uJ, 14.476, atol=5e-4)
    once = vgg9(dataclasses.replace(ONE_READ, spike_rate=0.2))
    assert once.energy_uJ[0] >= by_hand_uJ * (1 - 1e-12)
    assert_allclose(once.energy_uJ, [by_hand_uJ], rtol=1e-12)
    assert vgg9(dataclasses.replace(HW, spike_rate=0.2)).energy_uJ[0] > by_hand_uJ


def test_latency_bounds_and_appending_a_layer_never_speeds_up():
    """Random layer lists: max_l D_l ≤ latency ≤ Σ_l P_l·D_l (all work serial on one PE); one more layer
    never lowers it."""
    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(1, 8))
        spec = [(int(rng.integers(1, 300)), int(rng.integers(1, 300)), int(rng.choice([1, 3])), int(d), int(d))
                for d in rng.integers(1, 17, size=n)]
        steps = int(rng.integers(1, 6))
        report = evaluate_costs(table(*spec), steps, 4, HW, per_layer=True)
        reads = np.array([HW.stem_input_bits] + [1] * (n - 1))
        work_ns = steps * np.array([s[4] ** 2 for s in spec]) * reads * 104.0
        latency_ns = report.latency_ms[0] * 1e6
        assert latency_ns >= work_ns.max() * (1 - 1e-12)
        assert latency_ns <= (report.layer_pes[0] * work_ns).sum() * (1 + 1e-12)
        longer = evaluate_costs(table(*spec, (5, 7, 1, 1, 1)), steps, 4, HW)
        assert longer.latency_ms[0] > report.latency_ms[0]


# --- static power, tile mapping --------------------------------------------------------------------
def test_static_energy_is_power_times_latency_by_hand():
    """1.5 mW per tile, one tile, latency 1 703 936 ns: 2 555 904 pJ more; at half the clock the latency
    doubles (t_PE = 208 ns) and so does the static energy; the dynamic energy does not change."""
    leaky = dataclasses.replace(HW, static_power_mW_per_tile=1.5)
    t = table((3, 64, 3, 32, 32))
    assert_allclose(evaluate_costs(t, 2, 4, leaky).energy_uJ - evaluate_costs(t, 2, 4, HW).energy_uJ, [2.555904], rtol=1e-12)
    slow = dataclasses.replace(leaky, clock_MHz=125.0)
    assert_allclose(evaluate_costs(t, 2, 4, slow).energy_uJ - evaluate_costs(t, 2, 4, leaky).energy_uJ, [2.555904], rtol=1e-12)
    assert evaluate_costs(t, 2, 4, dataclasses.replace(HW, clock_MHz=125.0)).energy_uJ[0] == evaluate_costs(t, 2, 4, HW).energy_uJ[0]


def test_layers_on_their_own_tiles_by_hand():
    """P = 1, 2, 3 (64 → 64, 128, 192): shared, ⌈6/8⌉ = 1 tile; own tiles, 3. Extra area: 2 tile overheads
    + 16 more unused 3×3 PE slots = 2·547 490.671039 + 16·6152.1936 = 1 193 416.439678 µm² (= 2·a_tile)."""
    t = table((64, 64, 3, 4, 4), (64, 128, 3, 4, 4), (64, 192, 3, 4, 4))
    shared = evaluate_costs(t, 1, 4, HW)
    own = evaluate_costs(t, 1, 4, dataclasses.replace(HW, layers_share_tiles=False))
    assert shared.tiles.tolist() == [1] and own.tiles.tolist() == [3] and own.pes.tolist() == [6]
    assert_allclose(own.area_mm2 - shared.area_mm2, [1.193416439678], rtol=1e-9)
    assert own.latency_ms[0] == shared.latency_ms[0]


# --- the reduction and spikesim's kernel_size and warning -----------------------------------------
def test_spikesim_equivalent_is_documented_and_reduces_vgg9():
    """VGG9 has seven layers, so the five-layer neuron-memory quirk leaves only area apart."""
    ext, sim = vgg9(spikesim_equivalent(HW)), vgg9(HardwareConfig(mode="spikesim"))
    for name in ("energy_uJ", "latency_ms", "tiles", "pes", "params"):
        assert_allclose(getattr(ext, name), getattr(sim, name), rtol=1e-12, err_msg=name)
    assert_allclose(sim.energy_uJ, [15.90693], rtol=1e-6)  # SpikeSim's own code
    assert_allclose(sim.latency_ms, [62.83264], rtol=1e-6)


def test_spikesim_kernel_size_by_hand():
    """64 → 64 3×3 on 8×8, T = 1: kernel_size = 1 saves G·(9 − 1)·e_xbar = 8·8·1.76423 = 112.91072 pJ per PE
    cycle (64 cycles: 7226.28608 pJ) and 8 PE slots·8·a_xbar = 1677.7216 µm²; a real 1×1 layer costs the
    same as a 3×3 one in this mode."""
    t = table((64, 64, 3, 8, 8))
    three = evaluate_costs(t, 1, 4, HardwareConfig(mode="spikesim"))
    one = evaluate_costs(t, 1, 4, HardwareConfig(mode="spikesim", kernel_size=1))
    assert_allclose(three.energy_uJ - one.energy_uJ, [7226.28608e-6], rtol=1e-9)
    assert_allclose(three.area_mm2 - one.area_mm2, [1677.7216e-6], rtol=1e-9)
    five = evaluate_costs(table((64, 64, 1, 8, 8)), 1, 4, HardwareConfig(mode="spikesim", kernel_size=5))
    assert five.energy_uJ[0] > three.energy_uJ[0]


@pytest.mark.parametrize("layers, reason", [
    ([(64, 128, 3, 8, 8), (64, 64, 3, 8, 8)], "not sorted"),
    ([(64, 64, 3, 4, 4)] * 13, "13 layers"),
    ([(3, 16, 3, 8, 8), (16, 10, 1, 1, 1)], "smaller than one 64x64 crossbar"),
])
def test_spikesim_warns_where_its_script_refuses(layers, reason):
    with pytest.warns(SpikeSimCompatibilityWarning, match=reason):
        report = evaluate_costs(table(*layers), 1, 4, HardwareConfig(mode="spikesim"))
    assert report.energy_uJ[0] > 0  # still priced


def test_no_warning_where_spikesim_accepts_or_in_extended_mode():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vgg9(HardwareConfig(mode="spikesim"))
        evaluate_costs(table((3, 128, 3, 8, 8), (128, 64, 3, 8, 8)), 1, 4, HW)


def test_adc_time_longer_than_the_pe_cycle_is_a_clear_error():
    with pytest.raises(ProblemError, match="adc_ns_per_bit"):
        evaluate_costs(table((3, 64, 3, 4, 4)), 1, 4, dataclasses.replace(HW, adc_ns_per_bit=4.0))
