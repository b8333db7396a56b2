"""Canonical forms of cells: equivalent cells get one string, never two different networks one.

The reference is a second implementation that evaluates a cell as numbers: every op edge a scalar
function tanh(a v + c) with its own (a, c), skip the identity, a node the sum of its inputs, a
backward edge its source at t - 1 (nothing at t = 0), as :mod:`moo_snn.training.network` builds them.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from moo_snn.architecture import OPS, Architecture, canonical_cell
from moo_snn.config.problem import load_problem
from moo_snn.space import SLOT_NAMES, SearchSpace, canonical_measurement
ROOT = Path(__file__).resolve().parents[1]

RNG = np.random.default_rng(7)
PARAMS = {op: RNG.uniform(0.3, 1.7, size=(6, 2)) for op in OPS}
XS = RNG.normal(size=(3, 4))  # 3 timesteps of 4 input values


def outputs(arch: Architecture, params: dict) -> np.ndarray:
    """Node 3's values over min(T, 3) timesteps; ``params[place]`` is the (a, c) of the edge at that
    place of ``arch.edges``."""
    active = [e for e in arch.pruned().active_edges() if arch.timesteps > 1 or not e.backward]
    place = {(e.i, e.j): k for k, e in enumerate(arch.edge_list())}
    out, prev = [], None
    for t in range(min(arch.timesteps, 3)):
        val = [None] * 4
        for n in range(4):
            v = XS[t].copy() if n == 0 else np.zeros(4)
            for e in active:
                if e.target != n:
                    continue
                if e.backward and prev is None:
                    continue
                src = prev[e.source] if e.backward else val[e.source]
                if e.op == "skip":
                    v = v + src
                else:
                    a, c = params[place[(e.i, e.j)]]
                    v = v + np.tanh(a * src + c)
            val[n] = v
        out.append(val[3])
        prev = val
    return np.concatenate(out)


def own_params(arch: Architecture) -> dict:
    return {k: PARAMS[op][k] for k, (op, _) in enumerate(arch.edges) if op not in ("zero", "skip")}


def random_cells(n: int, seed: int):
    space = SearchSpace(load_problem(ROOT / "problems" / "digits-long.toml").space)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        genes = rng.integers(0, len(space.edge_choices), size=6)
        arch = Architecture(tuple(space.edge_choices[g] for g in genes), 8, int(rng.choice([1, 2, 3])), 4, 1, 0)
        if arch.is_valid:
            yield arch.pruned()


def test_canonical_form_computes_the_same_function_with_each_edge_followed():
    """Sound: on 1,500 random cells (backward edges and T = 1-3 included) the canonical cell, its edges
    given the parameters of the edges they came from, computes what the cell computes."""
    changed = 0
    for arch in random_cells(1500, seed=0):
        edges, origins = canonical_cell(arch.edges, single_step=arch.timesteps == 1)
        canon = Architecture(edges, arch.channels, arch.timesteps, 4, 1, 0)
        moved = {p: PARAMS[edges[p][0]][origins[p]] for p in range(6) if edges[p][0] not in ("zero", "skip")}
        np.testing.assert_allclose(outputs(canon, moved), outputs(arch, own_params(arch)), rtol=0, atol=1e-12,
                                   err_msg=f"{arch} -> {canon}")
        changed += str(canon) != str(arch)
    assert changed > 300  # the rewrites did act on a good share of them


def numeric_key(arch: Architecture):
    """The function of a cell, whatever its edges' labels: the smallest output over every way of giving
    the edges of each op their parameter sets."""
    places = {}
    for k, (op, backward) in enumerate(arch.edges):
        if op not in ("zero", "skip") and (arch.timesteps > 1 or not backward):  # what outputs() reads
            places.setdefault(op, []).append(k)
    best = None
    for perms in itertools.product(*(itertools.permutations(range(len(v))) for v in places.values())):
        params = {k: PARAMS[op][r] for (op, ks), perm in zip(places.items(), perms) for k, r in zip(ks, perm)}
        key = tuple(np.round(outputs(arch, params), 9))
        best = key if best is None or key < best else best
    return best


def test_cells_without_backward_edges_have_exactly_one_form_per_function():
    """Complete without backward edges: over every valid cell of zero / skip / conv1x1 / conv3x3 edges forward,
    two cells share a canonical form exactly when they compute the same function."""
    functions, forms = {}, {}
    ops = [(op, False) for op in ("zero", "skip", "conv1x1", "conv3x3")]
    for edges in itertools.product(ops, repeat=6):
        arch = Architecture(edges, 8, 1, 4, 1, 0)  # forward edges only: one timestep shows the function
        if not arch.is_valid:
            continue
        form = canonical_cell(arch.pruned().edges)[0]
        key = numeric_key(arch.pruned())
        functions.setdefault(key, set()).add(form)
        forms.setdefault(form, set()).add(key)
    assert all(len(v) == 1 for v in functions.values())
    assert all(len(v) == 1 for v in forms.values())
    assert 200 < len(functions) < 3000


@pytest.mark.parametrize("text, canonical", [
    # a skip chain through node 2 is the skip 0 -> 3
    ("0010-0000-0001-0000_c8_t1_w4_p1_h32", "0001-0000-0000-0000_c8_t1_w4_p1_h32"),
    # node 1 or node 2: the same network
    ("0100-0001-0000-0000_c8_t2_w4_p1_h0", "0001-0000-0000-0000_c8_t2_w4_p1_h0"),
    # at one timestep a backward edge reads nothing: dropped
    ("0010-0000-0001-1000_c8_t1_w4_p1_h0", "0001-0000-0000-0000_c8_t1_w4_p1_h0"),
    # at two it feeds node 3 back into node 0: kept
    ("0010-0000-0001-1000_c8_t2_w4_p1_h0", "0010-0000-0001-1000_c8_t2_w4_p1_h0"),
    # node 1 cut off from the input by a rewrite would still carry node 3's feedback: not contracted to 0 -> 3
    ("0100-0010-0001-0100_c8_t2_w4_p1_h0", None),
])
def test_hand_checked_forms(text, canonical):
    arch = Architecture.parse(text)
    form = str(arch.canonical())
    if canonical is None:
        assert form.split("_")[0] not in ("0001-0000-0000-0000", "0010-0000-0001-0000")
        assert Architecture.parse(form).has_backward_edges
    else:
        assert form == canonical
    assert str(Architecture.parse(form).canonical()) == form  # idempotent


def test_one_function_written_three_ways_gets_one_form():
    """x + conv3x3(x): the conv before node 2, after it, or straight to node 3 beside a skip chain."""
    forms = {str(Architecture.parse(f"{cell}_c8_t2_w4_p1_h0").canonical())
             for cell in ("0031-0000-0001-0000", "0011-0000-0003-0000", "0013-0000-0001-0000")}
    assert len(forms) == 1


def test_repair_gives_equivalent_genomes_one_genome():
    spec = load_problem(ROOT / "problems" / "digits-long.toml")
    space = SearchSpace(spec.space)
    forms = ["0010-0000-0001-0000_c8_t1_w4_p1_h32", "0100-0001-0000-0000_c8_t1_w4_p1_h32",
             "0001-0000-0000-0000_c8_t1_w4_p1_h32", "0100-0010-0001-1000_c8_t1_w4_p1_h32"]
    X = space.repair(np.array([space.parse(f) for f in forms]))
    assert len({tuple(x) for x in X}) == 1
    assert str(space.decode(X[0])) == "0001-0000-0000-0000_c8_t1_w4_p1_h32"
    # idempotent on a random population
    Y = space.sample(300, np.random.default_rng(3))
    np.testing.assert_array_equal(space.repair(Y), Y)


def test_spike_rates_follow_their_layers_and_costs_agree():
    """An archive record trained under another form: its rates move with the edges, so the measured
    energy of the canonical form equals the original's."""
    from moo_snn.evaluation import population_costs

    spec = load_problem(ROOT / "problems" / "digits-long.toml")
    space = SearchSpace(spec.space)
    arch = Architecture.parse("0030-0000-0001-0000_c8_t2_w4_p1_h0")  # conv3x3 0 -> 2, skip 2 -> 3
    rates = np.full(len(SLOT_NAMES), np.nan)
    for name, r in [("stem", 0.5), ("cell1.0-2", 0.21), ("reduction", 0.3), ("cell2.0-2", 0.13), ("fc1", 0.2), ("fc2", 0.1)]:
        rates[SLOT_NAMES.index(name)] = r
    canon, moved = canonical_measurement(arch, rates)
    assert str(canon) != str(arch)
    conv_pair = next(f"{i}-{j}" for (i, j), (op, _) in zip([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)], canon.edges)
                     if op == "conv3x3")
    assert moved[SLOT_NAMES.index(f"cell1.{conv_pair}")] == 0.21 and moved[SLOT_NAMES.index(f"cell2.{conv_pair}")] == 0.13
    assert np.isnan(moved[SLOT_NAMES.index("cell1.0-2")]) or conv_pair == "0-2"
    before = population_costs(spec, space, space.encode(arch)[None], spike_rate=np.nan_to_num(rates)[None])
    after = population_costs(spec, space, space.encode(canon)[None], spike_rate=np.nan_to_num(moved)[None])
    for name in ("energy_uJ", "latency_ms", "area_mm2", "memory_kB"):
        assert math.isclose(float(np.asarray(getattr(before, name))[0]), float(np.asarray(getattr(after, name))[0]), rel_tol=1e-12)


def test_archive_reads_old_strings_in_canonical_form(tmp_path):
    from moo_snn.surrogate import archive as arc

    spec = load_problem(ROOT / "problems" / "digits-long.toml")
    ds = arc.empty_archive(spec)
    result = dict(arch="0030-0000-0001-0000_c8_t2_w4_p1_h0", status="trained", val_accuracy=0.9, test_accuracy=0.9,
                  train_seconds=1.0, epochs=30, seed=0, spike_rates={"cell1.fwd0-2": 0.25}, params=10)
    ds = arc.append(ds, result)
    canon = str(Architecture.parse(result["arch"]).canonical())
    assert str(ds.arch.values[0]) == canon
    # an archive written with the old string reads canonically
    old = ds.assign(arch=("record", np.array([result["arch"]], dtype=object)),
                    spike_rate=(ds.spike_rate.dims, np.where(np.arange(len(SLOT_NAMES)) == SLOT_NAMES.index("cell1.0-2"), 0.25, np.nan)[None]))
    arc.save_archive(old, tmp_path / "old.nc")
    back = arc.load_archive(tmp_path / "old.nc")
    assert str(back.arch.values[0]) == canon
    np.testing.assert_allclose(np.nansum(back.spike_rate.values[0]), 0.25)


@pytest.mark.slow  # about 2 minutes: every pruned cell of the digits space, twice
@pytest.mark.parametrize("timesteps", [1, 2])
def test_every_cell_of_the_digits_space(timesteps):
    """Sound on every pruned cell of digits' space (no form shared by two functions); complete at one
    timestep; at two, equivalent cells with backward edges may keep separate forms (342 of 8,294)."""
    space = SearchSpace(load_problem(ROOT / "problems" / "digits-long.toml").space)
    functions, forms, cells = {}, {}, set()
    for genes in itertools.product(range(len(space.edge_choices)), repeat=6):
        arch = Architecture(tuple(space.edge_choices[g] for g in genes), 8, timesteps, 4, 1, 0)
        if not arch.is_valid or arch.pruned().edges in cells:
            continue
        cells.add(arch.pruned().edges)
        form = canonical_cell(arch.pruned().edges, single_step=timesteps == 1)[0]
        key = numeric_key(arch.pruned())
        functions.setdefault(key, set()).add(form)
        forms.setdefault(form, set()).add(key)
    assert len(cells) == 11658
    assert all(len(v) == 1 for v in forms.values())
    split = sum(len(v) > 1 for v in functions.values())
    assert split == 0 if timesteps == 1 else split <= 0.05 * len(functions)
