"""Architectures, canonical strings, genomes, repair and layer tables."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moo_snn.architecture import EDGE_PAIRS, Architecture
from moo_snn.config.problem import SpaceSpec
from moo_snn.errors import ArchitectureError
from moo_snn.layers import LayerTable, NetworkInput, crossbar_layers
from moo_snn.space import SLOT_NAMES, SearchSpace, slot_for

FULL = SpaceSpec(
    ops=("zero", "skip", "conv1x1", "conv3x3", "avgpool3x3"), channels=(4, 8, 16, 128, 256), timesteps=(1, 2, 5),
    weight_bits=(2, 4, 8), final_pool=(1, 2, 4), hidden=(0, 32, 1024),
    crossbar_size=(32, 64, 128), cell_bits=(1, 2, 4), adc_bits=(3, 4, 6),
)
SPACE = SearchSpace(FULL)
genomes = st.lists(st.integers(0, 10**6), min_size=SPACE.n_var, max_size=SPACE.n_var).map(
    lambda v: np.array(v) % (SPACE.xu + 1))


def test_snasnet_cifar10_cell_reads_as_published():
    """DESIGN §3: rows 0303 0030 2002 0200 = forward 0→1 conv3x3, 0→3 conv3x3, 1→2 conv3x3,
    2→3 conv1x1; backward 2→0 conv1x1, 3→1 conv1x1."""
    arch = Architecture.parse("0303-0030-2002-0200_c256_t5_w4_p4_h1024")
    edges = {(e.source, e.target, e.backward): e.op for e in arch.active_edges()}
    assert edges == {
        (0, 1, False): "conv3x3", (0, 3, False): "conv3x3", (1, 2, False): "conv3x3", (2, 3, False): "conv1x1",
        (2, 0, True): "conv1x1", (3, 1, True): "conv1x1",
    }
    assert (arch.channels, arch.final_pool, arch.hidden, arch.timesteps) == (256, 4, 1024, 5)
    assert str(arch) == "0303-0030-2002-0200_c256_t5_w4_p4_h1024"


def test_fields_in_any_order_and_hardware_fields():
    arch = Architecture.parse("0003-0000-0000-0000_h0_p1_w8_t2_c16_x128_a6")
    assert str(arch) == "0003-0000-0000-0000_c16_t2_w8_p1_h0_x128_a6"
    assert arch.crossbar_size == 128 and arch.adc_bits == 6 and arch.cell_bits is None


@given(genomes)
@settings(max_examples=300, deadline=None)
def test_canonical_string_round_trip(genome):
    arch = SPACE.decode(genome)
    text = str(arch)
    assert Architecture.parse(text) == arch
    np.testing.assert_array_equal(SPACE.parse(text), genome)


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"),
    ("0303-0030-2002_c8_t2_w4_p1_h0", "4 rows of 4"),
    ("0303-0030-2002-0200", "missing field"),
    ("0303-0030-2002-0200_c8_t2_w4_p1", "h (hidden)"),
    ("0303-0030-2002-0200_c8_t2_w4_p1_h0_z3", "cannot read field 'z3'"),
    ("0303-0030-2002-0200_c8_t2_w4_p1_h0_c8", "given twice"),
    ("0703-0030-2002-0200_c8_t2_w4_p1_h0", "op code 7"),
    ("1303-0030-2002-0200_c8_t2_w4_p1_h0", "diagonal"),
    ("0303-3030-2002-0200_c8_t2_w4_p1_h0", "both a forward"),
    ("0303-0030-2002-0200_c0_t2_w4_p1_h0", "channels (c) must be an integer from 1 to 4096"),
    ("0303-0030-2002-0200_cx_t2_w4_p1_h0", "cannot read field 'cx'"),
])
def test_malformed_strings_are_clear_errors(text, fragment):
    with pytest.raises(ArchitectureError, match=None) as info:
        Architecture.parse(text)
    assert fragment in str(info.value)


def test_encode_rejects_values_outside_the_space():
    space = SearchSpace(SpaceSpec(channels=(8, 16)))
    with pytest.raises(ArchitectureError, match="channels 32 is not in this space; valid: 8, 16"):
        space.parse("0003-0000-0000-0000_c32_t2_w4_p1_h0")
    with pytest.raises(ArchitectureError, match="avgpool3x3"):
        space.parse("0004-0000-0000-0000_c8_t2_w4_p1_h0")
    with pytest.raises(ArchitectureError, match="fixed by the problem"):
        space.parse("0003-0000-0000-0000_c8_t2_w4_p1_h0_x64")


def test_pruning_removes_nodes_off_the_forward_path():
    # 0→1 conv3x3 but node 1 reaches nothing; 0→3 conv1x1; 2→3 skip but node 2 is unreachable
    arch = Architecture.parse("0302-0000-0001-0000_c8_t2_w4_p1_h0")
    assert arch.nodes_on_path() == (True, False, False, True)
    assert [e.name for e in arch.active_edges()] == ["fwd0-3"]
    assert str(arch.pruned()).startswith("0002-0000-0000-0000")


def test_repair_is_deterministic_and_gives_a_path():
    no_path = SPACE.parse("0000-0000-0000-0000_c8_t2_w4_p1_h0_x64_b4_a4")
    repaired = SPACE.repair(no_path[None])[0]
    # edge 0→3 becomes the first non-zero op of the op set, forward: skip
    assert str(SPACE.decode(repaired)).startswith("0001-0000-0000-0000")
    backward_only = SPACE.parse("0000-1000-0300-0000_c8_t2_w4_p1_h0_x64_b4_a4")
    assert str(SPACE.decode(SPACE.repair(backward_only[None])[0])).startswith("0001-0000-0000-0000")


@given(st.lists(genomes, min_size=1, max_size=8))
@settings(max_examples=100, deadline=None)
def test_repair_matches_the_scalar_canonical_form_and_is_idempotent(rows):
    X = np.array(rows)
    R = SPACE.repair(X + 0.3)  # floats from SBX are rounded
    np.testing.assert_array_equal(SPACE.repair(R), R)
    for x, r in zip(X, R):
        arch = SPACE.decode(x)
        fixed = SPACE.decode(r)
        assert fixed.is_valid
        if arch.is_valid:
            assert fixed == arch.canonical()  # pruned, then written canonically (tests/test_canonical.py)
        active = SPACE.edge_active(r[None])[0]
        assert [p for p, a in zip(EDGE_PAIRS, active) if a] == [(e.i, e.j) for e in fixed.active_edges()]


@given(genomes, st.sampled_from([NetworkInput(1, 8, 10), NetworkInput(3, 32, 100), NetworkInput(3, 64, 200, 2)]))
@settings(max_examples=150, deadline=None)
def test_vectorised_layer_table_equals_the_per_architecture_list(genome, net):
    x = SPACE.repair(genome[None])
    arch = SPACE.decode(x[0])
    if (net.cell_side // 2) % arch.final_pool:
        return
    table = SPACE.layer_table(x, net)
    expected = crossbar_layers(arch, net)
    got = table.layers(0)
    assert [(l.c_in, l.c_out, l.kernel, l.d_in, l.d_out) for l in got] == [
        (l.c_in, l.c_out, l.kernel, l.d_in, l.d_out) for l in expected]
    assert [l.name for l in got] == [SLOT_NAMES[slot_for(l.name)] for l in expected]
    assert table.params[0] == sum(l.params for l in expected)


def test_layer_list_of_the_cifar100_reference_by_hand():
    """SNASNet CIFAR-100 cell, C=128, 32×32 input: stem 3→128; cell1 convs at 128 (32×32):
    fwd0-1 3×3, bwd2-0 3×3, fwd0-3 1×1, fwd1-2 3×3, fwd2-3 3×3; reduction 128→256; the same 5
    convs at 256 (16×16); pool 2 on 16×16 → 8×8, so fc1 is 256·64 = 16384 → 1024; fc2 1024→100."""
    arch = Architecture.parse("0302-0030-3003-0000_c128_t5_w4_p2_h1024")
    layers = crossbar_layers(arch, NetworkInput(3, 32, 100))
    assert [l.name for l in layers] == [
        "stem", "cell1.fwd0-1", "cell1.bwd2-0", "cell1.fwd0-3", "cell1.fwd1-2", "cell1.fwd2-3", "reduction",
        "cell2.fwd0-1", "cell2.bwd2-0", "cell2.fwd0-3", "cell2.fwd1-2", "cell2.fwd2-3", "fc1", "fc2"]
    assert layers[7] == layers[7].__class__("cell2.fwd0-1", 256, 256, 3, 16, 16)
    assert (layers[-2].c_in, layers[-2].c_out, layers[-1].c_out) == (16384, 1024, 100)
    # params: 3·128·9 + 128²·(9+9+1+9+9) + 128·256·9 + 256²·37 + 16384·1024 + 1024·100
    assert LayerTable.from_layers(layers).params[0] == 3456 + 606208 + 294912 + 2424832 + 16777216 + 102400
