"""Tests of the IMC cost model (moo_snn.cost): hand calculations, the extended == spikesim identity,
the extended-mode departures one by one, and the population (vectorised) path.

Constants used in the hand calculations (SpikeSim's, HardwareConfig's defaults), X = 64, G = X/8 = 8:

  per PE cycle [pJ]:  H = 19.64·8 = 157.12, F = 4.64, Nr = 1.274·4 = 5.096,
                      G·16·e_SUB = 8·16·1.15e-6 = 0.0001472, G·e_tmp = 8·0.2 = 1.6, e_tilebuf = 397
      fixed part      = 157.12 + 4.64 + 5.096 + 0.0001472 + 1.6 + 397        = 565.4561472
      read-out (k=3)  = G·[9·1.76423 + G·(2.03084 + 0.094245)]
                      = 8·[15.87807 + 8·2.125085] = 8·[15.87807 + 17.00068]   = 263.03
      e (k=3, r=1)    = 565.4561472 + 263.03                                  = 828.4861472
  area [µm²]:         a_PE(3) = 9·26.2144 + 8·(693.633 + 45.9) = 235.9296 + 5916.264 = 6152.1936
                      a_tile  = 8·13411.41498 + 484.643999 + 0.7391·64·128 + 8·6152.1936 + 216830·2
                              = 107291.31984 + 484.643999 + 6054.7072 + 49217.5488 + 433660
                              = 596708.219839
                      a_nm    = 0.7391·22 = 16.2602 per stored value
  PE cycle = 26 clocks / 250 MHz = 104 ns.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from moo_snn.architecture import Architecture
from moo_snn.cost import CostReport, HardwareConfig, SpikeSimCompatibilityWarning, evaluate_costs
from moo_snn.cost.hardware import spikesim_equivalent
from moo_snn.errors import MooSnnError, ProblemError
from moo_snn.layers import CrossbarLayer, LayerTable, NetworkInput, crossbar_layers

HW = HardwareConfig()
SIM_EQ = spikesim_equivalent(HW)  # extended with the settings that reduce it to SpikeSim
ONE_READ = HardwareConfig(stem_input_bits=1)  # extended, the image read once (hand calculations stay short)
# spikesim-mode lists that SpikeSim's script would refuse are priced with a warning, tested on its own below
pytestmark = pytest.mark.filterwarnings("ignore::moo_snn.cost.SpikeSimCompatibilityWarning")
TOTALS = ("params", "memory_kB", "area_mm2", "latency_ms", "energy_uJ", "tiles", "pes")
LAYER_ARRAYS = ("layer_params", "layer_pes", "layer_area_mm2", "layer_latency_ms", "layer_energy_uJ")


def table(*layers: tuple[int, int, int, int, int]) -> LayerTable:
    """A one-candidate table from (c_in, c_out, kernel, d_in, d_out) tuples."""
    return LayerTable.from_layers([CrossbarLayer(f"l{i}", *spec) for i, spec in enumerate(layers)])


def arch_table(text: str, net_input: NetworkInput = NetworkInput(channels=3, side=32, n_classes=10)) -> LayerTable:
    return LayerTable.from_layers(crossbar_layers(Architecture.parse(text), net_input))


def assert_same_costs(a: CostReport, b: CostReport, rtol: float = 1e-12) -> None:
    for name in TOTALS:
        assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=0, err_msg=name)


# --- spikesim mode, by hand -----------------------------------------------------------------------
def test_one_layer_spikesim_by_hand():
    """conv3x3 3 → 64 on a 32×32 map, T = 2, w = 4.

    P = ⌈3/64⌉·⌈64/64⌉ = 1, tiles = ⌈1/8⌉ = 1.
    params = 3·64·9 = 1728; memory = 1728·4/8 = 864 bytes = 864/1024 = 0.84375 KiB.
    energy = T·e·P·d_out² = 2·828.4861472·1·1024 = 1 696 739.6294656 pJ = 1.6967396294656 µJ.
    area = a_tile·1 + a_nm·c_in·d_in² + a_nm·c_out·d_out²
         = 596708.219839 + 16.2602·3072 + 16.2602·65536
         = 596708.219839 + 49951.3344 + 1065628.4672 = 1 712 288.021439 µm².
    latency (one layer: it is the last one) = 104 ns·T·N = 104·2·(64·1024) = 13 631 488 ns.
    """
    report = evaluate_costs(table((3, 64, 3, 32, 32)), 2, 4, HW, mode="spikesim", per_layer=True)
    assert report.params.tolist() == [1728]
    assert report.pes.tolist() == [1]
    assert report.tiles.tolist() == [1]
    assert_allclose(report.memory_kB, [0.84375], rtol=1e-12)
    assert_allclose(report.energy_uJ, [1.6967396294656], rtol=1e-12)
    assert_allclose(report.area_mm2, [1.712288021439], rtol=1e-12)
    assert_allclose(report.latency_ms, [13.631488], rtol=1e-12)
    # the layer owns P·a_PE + its buffers; the tile overhead + 7 unused PEs are shared:
    # 6152.1936 + 49951.3344 + 1065628.4672 = 1 121 731.9952 µm²
    assert_allclose(report.layer_area_mm2, [[1.1217319952]], rtol=1e-12)
    assert_allclose(report.shared_area_mm2, [1.712288021439 - 1.1217319952], rtol=1e-12)


def test_three_layer_spikesim_by_hand():
    """Three layers, unsorted PE counts (SpikeSim's code refuses these), T = 3, w = 8.

    layer  c_in c_out k d_in d_out   P = ⌈c_in/64⌉·⌈c_out/64⌉   N = c_out·d_out²   ⌊0.75·N⌋
    l0       3    90  3   5    5     1·2 = 2                      2250               1687
    l1      90   130  1   5    3     2·3 = 6                      1170                877
    l2     130    10  1   1    1     3·1 = 3                        10              (last)
    ΣP = 11 → tiles = ⌈11/8⌉ = 2 (weight bits ignored in this mode).
    params = 3·90·9 + 90·130 + 130·10 = 2430 + 11700 + 1300 = 15430; memory = 15430·8/8/1024 kB.
    energy (k = 3 for every layer) = T·e·ΣP·d_out² = 3·828.4861472·(2·25 + 6·9 + 3·1 = 107)
           = 265 944.0532512 pJ; per layer 3·e·50 = 124 272.92208, 3·e·54 = 134 214.7558464,
           3·e·3 = 7 456.3753248 pJ.
    area = 2·596708.219839 + 16.2602·(3·25 + 90·25 + 130·1 = 2455) + 16.2602·(2250 + 1170 + 10 = 3430)
         = 1 193 416.439678 + 39 918.791 + 55 772.486 = 1 289 107.716678 µm².
    latency = 104·3·(1687 + 877 + 10) = 312·2574 = 803 088 ns; per layer 312·1687 = 526 344,
              312·877 = 273 624, 312·10 = 3120 ns.
    """
    report = evaluate_costs(table((3, 90, 3, 5, 5), (90, 130, 1, 5, 3), (130, 10, 1, 1, 1)), 3, 8, HW, mode="spikesim", per_layer=True)
    assert report.params.tolist() == [15430]
    assert report.layer_pes.tolist() == [[2, 6, 3]]
    assert report.pes.tolist() == [11]
    assert report.tiles.tolist() == [2]
    assert_allclose(report.memory_kB, [15.068359375], rtol=1e-12)
    assert_allclose(report.energy_uJ, [0.2659440532512], rtol=1e-12)
    assert_allclose(report.layer_energy_uJ, [[0.12427292208, 0.1342147558464, 0.0074563753248]], rtol=1e-12)
    assert_allclose(report.area_mm2, [1.289107716678], rtol=1e-12)
    assert_allclose(report.latency_ms, [0.803088], rtol=1e-12)
    assert_allclose(report.layer_latency_ms, [[0.526344, 0.273624, 0.00312]], rtol=1e-12)
    records = report.to_records(0)
    assert [r["name"] for r in records] == ["l0", "l1", "l2"]
    assert [r["params"] for r in records] == [2430, 11700, 1300]
    assert records[1]["pes"] == 6


def test_spikesim_quirks_kept():
    """k = 3 energy and area for a 1×1 conv, neuron memory of the first five layers only."""
    three = evaluate_costs(table((64, 64, 3, 8, 8)), 1, 4, HW, mode="spikesim")
    one = evaluate_costs(table((64, 64, 1, 8, 8)), 1, 4, HW, mode="spikesim")
    assert_allclose(one.energy_uJ, three.energy_uJ, rtol=1e-12)
    assert_allclose(one.area_mm2, three.area_mm2, rtol=1e-12)
    assert one.params[0] * 9 == three.params[0]

    # six 3×3 layers: extended counts the sixth layer's neuron memory, spikesim does not:
    # a_nm·c_out·d_out² = 16.2602·64·2² = 4162.6112 µm²; energy and latency are the same.
    six = table(*[(64, 64, 3, 2, 2)] * 6)
    spikesim = evaluate_costs(six, 2, 4, HW, mode="spikesim", spike_rate=1.0)
    extended = evaluate_costs(six, 2, 4, SIM_EQ)
    assert_allclose(extended.area_mm2 - spikesim.area_mm2, [0.0041626112], rtol=1e-9)
    assert_allclose(extended.energy_uJ, spikesim.energy_uJ, rtol=1e-12)
    assert_allclose(extended.latency_ms, spikesim.latency_ms, rtol=1e-12)


def test_spikesim_ignores_extended_settings():
    t = table((3, 64, 3, 16, 16), (64, 128, 1, 16, 8))
    base = evaluate_costs(t, 2, 4, HW, mode="spikesim")
    other = evaluate_costs(t, 2, 16, HW, mode="spikesim", spike_rate=0.01, cell_bits=1, adc_bits=8)
    for name in ("area_mm2", "latency_ms", "energy_uJ", "tiles", "pes"):
        assert_array_equal(getattr(other, name), getattr(base, name), err_msg=name)


# --- the identity: extended == spikesim under SpikeSim's assumptions ------------------------------
@pytest.mark.parametrize("seed", range(8))
def test_extended_equals_spikesim_under_its_assumptions(seed):
    """k = 3 everywhere, w ≤ cell_bits, r = 1, 4-bit ADCs, at most five layers (X = 64)."""
    rng = np.random.default_rng(seed)
    n_layers = int(rng.integers(1, 6))
    channels = rng.integers(1, 300, size=n_layers + 1)
    sides = np.sort(rng.integers(1, 33, size=n_layers + 1))[::-1]
    t = table(*[(int(channels[i]), int(channels[i + 1]), 3, int(sides[i]), int(sides[i + 1])) for i in range(n_layers)])
    cell_bits = int(rng.choice([1, 2, 4, 8]))
    weight_bits = int(rng.integers(1, cell_bits + 1))
    timesteps = int(rng.integers(1, 9))
    spikesim = evaluate_costs(t, timesteps, weight_bits, HW, mode="spikesim", per_layer=True)
    extended = evaluate_costs(t, timesteps, weight_bits, SIM_EQ, cell_bits=cell_bits, per_layer=True)
    assert extended.mode == "extended"
    assert_same_costs(extended, spikesim)
    for name in LAYER_ARRAYS:
        assert_allclose(getattr(extended, name), getattr(spikesim, name), rtol=1e-12, atol=0, err_msg=name)


def test_extended_equals_spikesim_over_a_population():
    rng = np.random.default_rng(42)
    n, slots = 9, 5
    active = rng.random((n, slots)) < 0.7
    active[:, 0] = True
    fields = {k: rng.integers(1, 200, size=(n, slots)) for k in ("c_in", "c_out")}
    fields |= {k: rng.integers(1, 17, size=(n, slots)) for k in ("d_in", "d_out")}
    t = LayerTable(names=tuple(f"s{i}" for i in range(slots)), kernel=np.full((n, slots), 3), active=active, **fields)
    timesteps, weight_bits = rng.integers(1, 9, size=n), rng.integers(1, 5, size=n)
    assert_same_costs(
        evaluate_costs(t, timesteps, weight_bits, SIM_EQ, spike_rate=np.ones((n, slots))),
        evaluate_costs(t, timesteps, weight_bits, HW, mode="spikesim"),
    )


# --- extended-mode departures ------------------------------------------------------------------------
CIFAR100 = "0302-0030-3003-0000_c128_t5_w4_p2_h1024"
C100_INPUT = NetworkInput(channels=3, side=32, n_classes=100)


def test_more_weight_bits_cost_more_once_past_cell_bits():
    t = arch_table(CIFAR100, C100_INPUT)
    reports = [evaluate_costs(t, 5, w, HW) for w in range(1, 17)]
    area = np.array([r.area_mm2[0] for r in reports])
    energy = np.array([r.energy_uJ[0] for r in reports])
    memory = np.array([r.memory_kB[0] for r in reports])
    assert np.all(np.diff(area) >= 0) and np.all(np.diff(energy) >= 0) and np.all(np.diff(memory) > 0)
    assert np.all(area[:4] == area[0]) and np.all(energy[:4] == energy[0])  # w ≤ cell_bits = 4: one cell
    assert area[7] > area[3] and energy[7] > energy[3]  # 8 bits: two cells per weight
    assert reports[7].pes[0] > reports[3].pes[0]
    assert_array_equal(reports[7].latency_ms, reports[3].latency_ms)


def test_weight_bits_slice_over_cells_by_hand():
    """c_out = 64, w = 8, cell_bits = 4: ⌈64·⌈8/4⌉/64⌉ = 2 PEs; w = 9: ⌈64·3/64⌉ = 3; cell_bits = 8: 1."""
    t = table((3, 64, 3, 4, 4))
    assert evaluate_costs(t, 1, 8, HW).pes.tolist() == [2]
    assert evaluate_costs(t, 1, 9, HW).pes.tolist() == [3]
    assert evaluate_costs(t, 1, 8, HW, cell_bits=8).pes.tolist() == [1]


def test_more_timesteps_cost_more_latency_and_energy():
    t = arch_table("0303-0030-2002-0200_c16_t4_w4_p2_h0")
    short, long = evaluate_costs(t, 2, 4, HW), evaluate_costs(t, 6, 4, HW)
    assert long.latency_ms[0] > short.latency_ms[0] and long.energy_uJ[0] > short.energy_uJ[0]
    # the work grows with T; the last read cycles of the pipeline do not: a little under 3x
    assert 2.9 * short.latency_ms[0] < long.latency_ms[0] <= 3 * short.latency_ms[0]
    assert_allclose(long.energy_uJ, 3 * short.energy_uJ, rtol=1e-12)
    assert_array_equal(long.area_mm2, short.area_mm2)


def test_lower_spike_rate_costs_less_energy_same_area():
    t = arch_table("0303-0030-2002-0200_c16_t4_w4_p2_h0")
    busy, quiet = evaluate_costs(t, 4, 4, HW, spike_rate=0.5), evaluate_costs(t, 4, 4, HW, spike_rate=0.1)
    assert quiet.energy_uJ[0] < busy.energy_uJ[0]
    assert_array_equal(quiet.area_mm2, busy.area_mm2)
    assert_array_equal(quiet.latency_ms, busy.latency_ms)
    default = evaluate_costs(t, 4, 4, HW)  # hardware.spike_rate = 0.2
    assert quiet.energy_uJ[0] < default.energy_uJ[0] < busy.energy_uJ[0]


def test_spike_rate_scales_only_the_readout_by_hand():
    """Stem 3 → 64, 3×3, 32×32, T = 2, read once (stem_input_bits = 1), its rate given as 0 (an array
    is used as given): the crossbar reads cost nothing and no conversion has an active row
    (1 − (1 − 0)^27 = 0): only the fixed part remains: 2·565.4561472·1·1024 = 1 158 054.1894656 pJ."""
    t = table((3, 64, 3, 32, 32))
    report = evaluate_costs(t, 2, 4, ONE_READ, spike_rate=np.zeros((1, 1)))
    assert_allclose(report.energy_uJ, [1.1580541894656], rtol=1e-12)
    # a float rate spares the stem (it reads the image): same energy as r = 1 for a one-layer net
    assert_allclose(evaluate_costs(t, 2, 4, ONE_READ, spike_rate=0.0).energy_uJ, [1.6967396294656], rtol=1e-12)
    two = table((3, 64, 3, 32, 32), (64, 64, 3, 32, 32))
    split = evaluate_costs(two, 2, 4, ONE_READ, spike_rate=0.0, per_layer=True)
    assert_allclose(split.layer_energy_uJ, [[1.6967396294656, 1.1580541894656]], rtol=1e-12)


def test_adc_energy_scales_with_the_probability_of_an_active_row_by_hand():
    """Second layer 2 → 64, 1×1, 4×4 map, input rate 0.5, T = 1, one PE, one read per position:
    crossbar: r·m·k²·e_xbar = 0.5·8·1·1.76423 = 7.05692 pJ; rows on a column R = k²·min(c_in, X) = 2,
    P(any active) = 1 − 0.5² = 0.75; conversions 0.75·X·(e_ADC + e_MUX) = 0.75·64·2.125085 = 102.00408 pJ;
    e = 565.4561472 + 7.05692 + 102.00408 = 674.5171472 pJ; 16 positions: 10 792.2743552 pJ."""
    t = table((3, 64, 3, 4, 4), (2, 64, 1, 4, 4))
    report = evaluate_costs(t, 1, 4, ONE_READ, spike_rate=np.array([[1.0, 0.5]]), per_layer=True)
    assert_allclose(report.layer_energy_uJ[0, 1], 10792.2743552e-6, rtol=1e-12)
    # 64 rows at r = 0.2: a conversion is skipped with probability 0.8^64 ≈ 6.3e-7, nothing more
    wide = table((3, 64, 3, 4, 4), (64, 64, 1, 4, 4))
    busy = evaluate_costs(wide, 1, 4, ONE_READ, spike_rate=np.array([[1.0, 1.0]]), per_layer=True)
    quiet = evaluate_costs(wide, 1, 4, ONE_READ, spike_rate=np.array([[1.0, 0.2]]), per_layer=True)
    saved_pJ = 16 * (0.8 * 8 * 1.76423 + 0.8**64 * 64 * 2.125085)
    assert_allclose((busy.layer_energy_uJ - quiet.layer_energy_uJ)[0, 1], saved_pJ * 1e-6, rtol=1e-9)


def test_zero_edge_adds_no_layer_and_costs_nothing():
    """Zeroing the backward edge 2→0 (conv1x1) drops one layer per cell: 16·16 + 32·32 = 1280 weights."""
    with_edge = arch_table("0303-0030-2002-0200_c16_t4_w4_p2_h0")
    without = arch_table("0303-0030-0002-0200_c16_t4_w4_p2_h0")
    assert len(with_edge.names) == len(without.names) + 2
    for mode in ("extended", "spikesim"):
        more, less = evaluate_costs(with_edge, 4, 4, HW, mode=mode), evaluate_costs(without, 4, 4, HW, mode=mode)
        assert more.params[0] - less.params[0] == 1280
        for name in ("area_mm2", "latency_ms", "energy_uJ"):
            assert getattr(more, name)[0] > getattr(less, name)[0], (mode, name)


@pytest.mark.parametrize("dead", ["0303-0000-0000-0000", "0003-0000-0000-0300", "0203-0000-0000-0000"])
def test_edge_in_a_pruned_position_costs_nothing(dead):
    """Node 1 has no path to node 3: an edge touching it is pruned and costs exactly nothing."""
    alive = arch_table("0003-0000-0000-0000_c16_t4_w4_p2_h0")
    pruned = arch_table(f"{dead}_c16_t4_w4_p2_h0")
    assert pruned.names == alive.names
    for mode in ("extended", "spikesim"):
        a, b = evaluate_costs(alive, 4, 4, HW, mode=mode), evaluate_costs(pruned, 4, 4, HW, mode=mode)
        for name in TOTALS:
            assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_inactive_slot_costs_nothing():
    """A population table keeps a pruned layer's slot, inactive (with stale sizes in it)."""
    layers = [(3, 16, 3, 8, 8), (16, 16, 3, 8, 8), (16, 32, 3, 8, 8), (32, 10, 1, 1, 1)]
    cols = np.array([layers, layers]).transpose(2, 0, 1)
    active = np.array([[True, True, True, True], [True, False, True, True]])
    t = LayerTable(("a", "b", "c", "d"), *cols, active=active)
    both = evaluate_costs(t, 3, 4, HW, per_layer=True)
    alone = evaluate_costs(table(layers[0], layers[2], layers[3]), 3, 4, HW)
    for name in TOTALS:
        assert_allclose(getattr(both, name)[1], getattr(alone, name)[0], rtol=1e-12, err_msg=name)
    assert both.energy_uJ[0] > both.energy_uJ[1]
    assert both.layer_energy_uJ[1, 1] == 0 and both.layer_area_mm2[1, 1] == 0
    assert [r["name"] for r in both.to_records(1)] == ["a", "c", "d"]


def test_1x1_conv_is_cheaper_than_3x3_in_extended_mode():
    one = evaluate_costs(table((64, 64, 1, 8, 8)), 1, 4, ONE_READ, spike_rate=np.ones((1, 1)))
    three = evaluate_costs(table((64, 64, 3, 8, 8)), 1, 4, ONE_READ, spike_rate=np.ones((1, 1)))
    assert one.energy_uJ[0] < three.energy_uJ[0]
    assert one.area_mm2[0] < three.area_mm2[0]
    # one PE: G·(9 − 1)·e_xbar = 8·8·1.76423 = 112.91072 pJ per PE cycle, 64 PE cycles
    assert_allclose(three.energy_uJ - one.energy_uJ, [112.91072 * 64e-6], rtol=1e-12)
    # area: (9 − 1)·a_xbar = 8·26.2144 = 209.7152 µm² for the one used PE (unused ones stay 3×3)
    assert_allclose(three.area_mm2 - one.area_mm2, [209.7152e-6], rtol=1e-9)


def test_adc_bits_scaling_by_hand():
    """One 3×3 stem layer 3 → 64 on 32×32, T = 2 (r = 1), one PE in one tile (8 PE slots).

    5-bit ADCs double e_ADC and a_ADC: Δenergy = T·d²·P·X·e_ADC = 2·1024·64·2.03084
    = 131072·2.03084 = 266 186.26048 pJ; Δarea = 8 PEs·A·a_ADC = 8·8·693.633 = 44 392.512 µm².
    """
    t = table((3, 64, 3, 32, 32))
    four, five = evaluate_costs(t, 2, 4, ONE_READ, adc_bits=4), evaluate_costs(t, 2, 4, ONE_READ, adc_bits=5)
    assert_allclose(five.energy_uJ - four.energy_uJ, [0.26618626048], rtol=1e-9)
    assert_allclose(five.area_mm2 - four.area_mm2, [0.044392512], rtol=1e-9)
    reports = [evaluate_costs(t, 2, 4, ONE_READ, adc_bits=b) for b in range(1, 9)]
    assert np.all(np.diff([r.energy_uJ[0] for r in reports]) > 0)
    assert np.all(np.diff([r.area_mm2[0] for r in reports]) > 0)


def test_crossbar_size_by_hand():
    """128 → 128 3×3 on a 1×1 map, T = 1, X = 128, one PE, read once.

    extended: A = 8 ADCs of m = 16 columns; e_xbar, a_xbar scale by (128/64)² = 4:
      e = 565.4561472 + m·9·4·e_xbar + X·(e_ADC + e_MUX) = 565.4561472 + 16·9·4·1.76423 + 128·2.125085
        = 565.4561472 + 1016.19648 + 272.01088 = 1853.6635072 pJ;
      area = tile overhead 547 490.671039 + 8 PE slots·(9·4·26.2144 + 8·739.533 = 6859.9824)
             + a_nm·(128 + 128) = 547 490.671039 + 54 879.8592 + 4162.6112 = 606 533.141439 µm²;
      latency: t_PE = 104 + (16·4 − 8·4)·0.09765625 = 107.125 ns (one position).
    spikesim: G = X/8 = 16 for ADCs and reads, SpikeSim's constants as given:
      e = 157.12 + 4.64 + 5.096 + 16·16·1.15e-6 + 16·0.2 + 397 + 16·(9·1.76423 + 16·2.125085)
        = 567.0562944 + 798.07088 = 1365.1271744 pJ.
    """
    t = table((128, 128, 3, 1, 1))
    ext = evaluate_costs(t, 1, 4, ONE_READ, crossbar_size=128)
    sim = evaluate_costs(t, 1, 4, HW, crossbar_size=128, mode="spikesim")
    assert ext.pes.tolist() == sim.pes.tolist() == [1]
    assert_allclose(ext.energy_uJ, [1853.6635072e-6], rtol=1e-12)
    assert_allclose(ext.area_mm2, [0.606533141439], rtol=1e-12)
    assert_allclose(ext.latency_ms, [107.125e-6], rtol=1e-12)
    assert_allclose(sim.energy_uJ, [1365.1271744e-6], rtol=1e-12)


# --- population ---------------------------------------------------------------------------------
def test_population_equals_per_candidate():
    rng = np.random.default_rng(7)
    n, slots = 12, 16
    active = rng.random((n, slots)) < 0.6
    active[:, 3] = True
    active[0] = False
    active[0, 5] = True  # a one-layer candidate
    sizes = {k: rng.integers(1, 400, size=(n, slots)) for k in ("c_in", "c_out")}
    sizes |= {k: rng.integers(1, 33, size=(n, slots)) for k in ("d_in", "d_out")}
    sizes["kernel"] = rng.choice([1, 3, 5], size=(n, slots))
    t = LayerTable(names=tuple(f"s{i}" for i in range(slots)), active=active, **sizes)
    settings = dict(
        timesteps=rng.integers(1, 9, size=n), weight_bits=rng.integers(1, 9, size=n),
        crossbar_size=rng.choice([32, 64, 128], size=n), cell_bits=rng.choice([1, 2, 4], size=n),
        adc_bits=rng.integers(3, 7, size=n),
    )
    rate = rng.random((n, slots))
    for mode in ("extended", "spikesim"):
        population = evaluate_costs(t, settings["timesteps"], settings["weight_bits"], HW, mode=mode, spike_rate=rate,
                                    crossbar_size=settings["crossbar_size"], cell_bits=settings["cell_bits"],
                                    adc_bits=settings["adc_bits"], per_layer=True)
        for row in range(n):
            one = evaluate_costs(
                LayerTable.from_layers(t.layers(row)), settings["timesteps"][row], settings["weight_bits"][row], HW,
                mode=mode, spike_rate=rate[row, active[row]][None], crossbar_size=settings["crossbar_size"][row],
                cell_bits=settings["cell_bits"][row], adc_bits=settings["adc_bits"][row], per_layer=True,
            )
            for name in TOTALS:
                assert_allclose(getattr(population, name)[row], getattr(one, name)[0], rtol=1e-12, err_msg=name)
            for name in LAYER_ARRAYS:
                assert_allclose(getattr(population, name)[row, active[row]], getattr(one, name)[0], rtol=1e-12, err_msg=name)
                assert np.all(getattr(population, name)[row, ~active[row]] == 0), name


def test_float_spike_rate_spares_the_first_active_slot_of_each_row():
    layers = [(3, 64, 3, 8, 8), (64, 64, 3, 8, 8)]
    cols = np.array([layers + [(64, 64, 3, 8, 8)]] * 2).transpose(2, 0, 1)
    active = np.array([[True, True, True], [False, True, True]])
    t = LayerTable(("a", "b", "c"), *cols, active=active)
    report = evaluate_costs(t, 1, 4, HW, spike_rate=0.0, per_layer=True)
    full = evaluate_costs(t, 1, 4, HW, spike_rate=1.0, per_layer=True)
    assert report.layer_energy_uJ[0, 0] == full.layer_energy_uJ[0, 0]  # row 0 starts at slot 0
    assert report.layer_energy_uJ[1, 1] == full.layer_energy_uJ[1, 1]  # row 1 starts at slot 1
    assert report.layer_energy_uJ[0, 1] < full.layer_energy_uJ[0, 1]


# --- the published network and the papers' limits ------------------------------------------------
def test_snasnet_cifar100_violates_the_hasnas_limits():
    """SNASNet's CIFAR-100 network (C = 128, T = 5, 4-bit, hidden 1024) in spikesim mode.

    params: stem 3·128·9 = 3456; cell 1: four 3×3 at 128 = 4·147456 = 589824, one 1×1 = 16384;
    reduction 128·256·9 = 294912; cell 2: 4·589824 = 2359296, 65536; fc1 16384·1024 = 16777216;
    fc2 1024·100 = 102400; total 20 209 024.
    latency: ⌊0.75·N⌋ = 98304 (stem) + 5·98304 (cell 1) + 196608 (reduction) + 5·49152 (cell 2)
    + 768 (fc1) + 100 (fc2, last) = 1 033 060 PE cycles per timestep; 104 ns·5·1033060 = 537.1912 ms.
    Limits (HASNAS): 4e6 params, 100 mm², 400 ms, 120 µJ: every one is broken.
    """
    report = evaluate_costs(arch_table(CIFAR100, C100_INPUT), 5, 4, HW, mode="spikesim")
    assert report.params.tolist() == [20_209_024]
    assert_allclose(report.latency_ms, [537.1912], rtol=1e-12)
    assert report.params[0] > 4e6
    assert report.area_mm2[0] > 100
    assert report.latency_ms[0] > 400
    assert report.energy_uJ[0] > 120


# --- errors and the report ------------------------------------------------------------------------
def test_bad_inputs_are_clear_errors():
    t = table((3, 16, 3, 8, 8), (16, 10, 1, 1, 1))
    with pytest.raises(ProblemError, match="did you mean 'spikesim'"):
        evaluate_costs(t, 1, 4, HW, mode="spikesym")
    with pytest.raises(ProblemError, match="shape"):
        evaluate_costs(t, 1, 4, HW, spike_rate=np.ones((1, 3)))
    with pytest.raises(ProblemError, match=r"\[0, 1\]"):
        evaluate_costs(t, 1, 4, HW, spike_rate=1.5)
    with pytest.raises(ProblemError, match="timesteps"):
        evaluate_costs(t, 0, 4, HW)
    with pytest.raises(ProblemError, match="weight_bits"):
        evaluate_costs(t, 1, np.array([4, 8]), HW)
    with pytest.raises(ProblemError, match="whole numbers"):
        evaluate_costs(t, 1, 4.5, HW)
    with pytest.raises(ProblemError, match="c_out"):
        evaluate_costs(table((3, 0, 3, 8, 8)), 1, 4, HW)
    with pytest.raises(MooSnnError, match="per_layer=True"):
        evaluate_costs(t, 1, 4, HW).to_records(0)


def test_report_records_sum_to_totals():
    report = evaluate_costs(arch_table("0303-0030-2002-0200_c16_t4_w4_p2_h0"), 4, 4, HW, per_layer=True)
    records = report.to_records(0)
    assert records[0]["name"] == "stem" and records[-1]["name"] == "fc2"
    assert sum(r["params"] for r in records) == report.params[0]
    assert sum(r["pes"] for r in records) == report.pes[0]
    assert_allclose(sum(r["energy_uJ"] for r in records), report.energy_uJ[0], rtol=1e-12)
    assert_allclose(sum(r["latency_ms"] for r in records), report.latency_ms[0], rtol=1e-12)
    assert 0 < report.shared_area_mm2[0] < report.area_mm2[0]
    assert set(report.totals(0)) == set(TOTALS)


def test_hardware_defaults_mode_and_empty_table():
    t = table((3, 16, 3, 8, 8))
    assert evaluate_costs(t, 1, 4, HW).mode == "extended"
    assert evaluate_costs(t, 1, 4, HardwareConfig(mode="spikesim")).mode == "spikesim"
    empty = evaluate_costs(LayerTable.from_layers([]), 1, 4, HW, per_layer=True)
    for name in TOTALS:
        assert getattr(empty, name).tolist() == [0], name


def test_memory_is_in_kibibytes_and_says_so():
    """``memory_kB`` is params · w / 8 / 1024 (DESIGN §4): KiB, 1024 bytes. Its unit everywhere it is written (the
    cost report, the metrics table behind the results file's units, the tables of moo-snn cost) is KiB, not kB
    (1000 bytes), which would misstate the value by 2.4 %. The key keeps its name (shipped limits are in it)."""
    from moo_snn.cli.cost_cmd import _TOTAL_UNITS
    from moo_snn.cli.front_table import COSTS
    from moo_snn.config.problem import METRICS
    from moo_snn.cost.report import UNITS
    from moo_snn.results.state import _units_of

    report = evaluate_costs(table((3, 64, 3, 32, 32)), 2, 4, HW, mode="spikesim")
    assert report.memory_kB[0] * 1024 == 1728 * 4 / 8  # 864 bytes, by hand
    assert UNITS["memory_kB"] == METRICS["memory_kB"][0] == _units_of(["memory_kB"])[0] == _TOTAL_UNITS["memory_kB"] == "KiB"
    assert dict((key, unit) for key, _, unit in COSTS)["memory_kB"] == "KiB"
