"""The commands that take ``--arch`` use the canonical form of a cell and say so.

Equivalent strings are written by hand from README's rules ("Architectures"): an op on either side
of a skip is the op on the whole path (``0 -skip-> 1 -conv3x3-> 3`` is ``0 -conv3x3-> 3``), a skip
chain ``0 -> 2 -> 3`` is the skip ``0 -> 3``, nodes 1 and 2 in a fixed order, a backward edge at one
timestep reads nothing.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from moo_snn.cli import app

# (typed, canonical by README's rules)
EQUIVALENT = (
    ("0100-0003-0000-0000_c16_t4_w4_p1_h0", "0003-0000-0000-0000_c16_t4_w4_p1_h0"),  # skip then conv3x3
    ("0300-0001-0000-0000_c16_t4_w4_p1_h0", "0003-0000-0000-0000_c16_t4_w4_p1_h0"),  # conv3x3 then skip
    ("0010-0000-0001-0000_c8_t1_w4_p1_h0", "0001-0000-0000-0000_c8_t1_w4_p1_h0"),    # skip chain 0 -> 2 -> 3
    # nodes 1 and 2 relabelled (0 -> 1 -> 3 is 0 -> 2 -> 3) and the backward edge 3 -> 0 dropped at T = 1
    ("0300-0003-0000-1000_c8_t1_w4_p1_h0", "0030-0000-0003-0000_c8_t1_w4_p1_h0"),
)


def invoke(args):
    return CliRunner().invoke(app, args)


@pytest.mark.parametrize("typed, canonical", EQUIVALENT)
def test_cost_of_an_equivalent_string_is_the_canonical_network_and_says_so(typed, canonical):
    given = invoke(["cost", "digits", "--arch", typed, "--json"])
    plain = invoke(["cost", "digits", "--arch", canonical, "--json"])
    assert given.exit_code == 0 == plain.exit_code, given.output
    a, b = json.loads(given.stdout), json.loads(plain.stdout)
    assert a["arch"] == canonical and a["arch_given"] == typed
    assert "arch_given" not in b  # typed canonically: nothing to say
    assert a["layers"] == b["layers"]  # same layer names (was: cell1.fwd1-3 beside cell1.fwd0-3), same numbers
    assert a["energy_uJ"] == b["energy_uJ"] and a["area_mm2"] == b["area_mm2"]
    note = " ".join(given.stderr.split())
    assert f"{typed} is written {canonical}" in note and "canonical form" in note
    assert "canonical" not in plain.stderr


def test_cost_table_title_is_the_canonical_form():
    typed, canonical = EQUIVALENT[0]
    out = invoke(["cost", "digits", "--arch", typed])
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines()[0] == f"digits: {canonical}"
    assert "cell1.fwd0-3" in out.stdout and "cell1.fwd1-3" not in out.stdout


def test_surrogate_predict_refuses_archive_none_in_one_line():
    out = invoke(["surrogate", "predict", "digits", "--arch", EQUIVALENT[0][1], "--archive", "none"])
    assert out.exit_code != 0
    lines = [line for line in out.output.splitlines() if line.strip()]
    message = " ".join(out.output.split())
    assert lines[0].startswith("error:") and "asks for none" in message and "leave --archive out" in message


@pytest.mark.slow  # a real training of one epoch and a predictor fit (~15 s on a loaded machine)
def test_train_save_writes_the_canonical_form_and_loads_back(tmp_path):
    import torch

    from moo_snn.config.problem import load_problem
    from moo_snn.training.network import SpikingNetwork
    from moo_snn.architecture import Architecture
    from moo_snn.training.trainer import load_weights

    typed, canonical = "0100-0003-0000-0000_c4_t1_w4_p1_h0", "0003-0000-0000-0000_c4_t1_w4_p1_h0"
    path = tmp_path / "x.pt"
    out = invoke(["train", "digits", "--arch", typed, "--epochs", "1", "--save", str(path), "--torch-threads", "1"])
    assert out.exit_code == 0, out.output
    assert f"digits: {canonical}" in out.stdout and "cell1.fwd0-3" in out.stdout
    saved = torch.load(path, weights_only=True)
    assert saved["arch"] == canonical
    spec = load_problem("digits")
    fresh = SpikingNetwork(Architecture.parse(canonical).pruned(), spec.network_input, spec.training)
    assert set(saved["state_dict"]) == set(fresh.state_dict())  # layer names of the canonical form
    load_weights(spec, path)  # reads back
    as_json = invoke(["train", "digits", "--arch", typed, "--epochs", "1", "--torch-threads", "1", "--json"])
    row = json.loads(as_json.stdout)
    assert row["arch"] == canonical and row["arch_given"] == typed
    rows = invoke(["surrogate", "predict", "digits", "--arch", typed, "--arch", canonical])
    assert rows.exit_code == 0, rows.output
    assert "canonical form" in rows.stdout and "(same)" in rows.stdout


def test_nir_export_refuses_a_model_of_another_form_of_the_cell():
    from moo_snn.architecture import Architecture
    from moo_snn.config.problem import load_problem
    from moo_snn.errors import TrainingError
    from moo_snn.training.network import SpikingNetwork
    from moo_snn.training.nir_export import network_to_nir

    spec = load_problem("digits")
    typed, canonical = EQUIVALENT[0]  # skip 0 -> 1 then conv3x3 1 -> 3; conv3x3 0 -> 3
    model = SpikingNetwork(Architecture.parse(typed).pruned(), spec.network_input, spec.training)
    graph = network_to_nir(model, typed, spec)  # its own form: the conv sits on edge 1-3
    assert graph.metadata["arch"] == typed and any(name.startswith("cell1.fwd1-3") for name in graph.nodes)
    with pytest.raises(TrainingError, match="not the network of 0003-0000-0000-0000"):
        network_to_nir(model, canonical, spec)  # same function, other layers: refused, not mislabelled


def _results_with_archs(tmp_path, rewrite):
    """tests/data/reference-run.nc with every architecture rewritten by ``rewrite(str) -> str``."""
    from pathlib import Path

    import xarray as xr

    source = Path(__file__).parent / "data" / "reference-run.nc"
    with xr.open_dataset(source) as ds:
        ds = ds.load()
    ds["arch"] = ds["arch"].copy(data=[rewrite(str(a)) for a in ds.arch.values])
    path = tmp_path / "run.nc"
    ds.to_netcdf(path)
    return path


def test_pareto_says_when_a_file_writes_cells_as_before_canonical_cells(tmp_path):
    import xarray as xr

    from moo_snn.architecture import Architecture

    def canonical(a):
        return str(Architecture.parse(a).canonical())

    quiet = invoke(["pareto", str(_results_with_archs(tmp_path, canonical))])
    assert quiet.exit_code == 0, quiet.output
    assert "canonical" not in quiet.stderr
    # a front member with one edge 0 -> 3, rewritten by hand into an equivalent form: a skip 0 -> 1 in front of it
    with xr.open_dataset(tmp_path / "run.nc") as ds:
        front = [str(a) for a in ds.arch.values[ds.on_front.values]]
    arch = next(a for a in front if a.split("_")[0][4:] == "-0000-0000-0000" and a[3] != "1")
    cell, rest = arch.split("_", 1)
    old_form = f"0100-000{cell[3]}-0000-0000_{rest}"
    (tmp_path / "old").mkdir()
    said = invoke(["pareto", str(_results_with_archs(tmp_path / "old", lambda a: old_form if canonical(a) == arch
                                                     else canonical(a)))])
    assert said.exit_code == 0, said.output
    note = " ".join(said.stderr.split())
    assert "1 of its 40 architectures" in note and f"e.g. {old_form}, written {arch}" in note
