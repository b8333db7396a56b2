"""``ds.moo.to_dataframe()`` exports every per-candidate value of the results file, the fidelity ones
included: on a results file written from a hand-made run state (fast), and on a small ladder run with
made-up trainings (slow)."""

import numpy as np
import pytest

import moo_snn
from cli_runs import make_run, small_text
from moo_snn.config.problem import parse_problem
from moo_snn.results.state import Candidate, RunState
from moo_snn.space import SearchSpace

LADDER = "\n[fidelity]\nepochs = [1, 2]\ntrain_fraction = [0.25, 0.5]\neta = 2\npromote = 1\n"  # full: 10 epochs


def hand_made_run():
    """Four candidates of a ladder run, their fidelity written by hand: never trained; measured at level 0
    (1 ep x 1/4 of 10 epochs: 0.025 FTE); raised to level 1 (+ 2 ep x 1/2: 0.1 FTE); promoted in round 1
    to full training (+ 1 FTE)."""
    spec = parse_problem(small_text() + LADDER, "ladder.toml")
    space = SearchSpace(spec.space)
    X = space.sample(4, np.random.default_rng(0))
    state = RunState(problem_text=spec.source, objective_names=list(spec.objectives.names),
                     constraint_names=[c.name for c in spec.constraints], gene_names=list(space.gene_names), seed=0,
                     reference_point=[1.0] * len(spec.objectives.names))
    rows = [dict(), dict(status="proxy", fidelity_epochs=1, fidelity_fraction=0.25, proxy_level=0, proxy_accuracy=0.6,
                         cost_fte=0.025, samples_seen=292, round_trained=1),
            dict(status="proxy", fidelity_epochs=2, fidelity_fraction=0.5, proxy_level=1, proxy_accuracy=0.7,
                 cost_fte=0.125, samples_seen=292 + 2 * 584, round_trained=1),
            dict(status="trained", fidelity_epochs=10, fidelity_fraction=1.0, proxy_level=1, proxy_accuracy=0.75,
                 val_accuracy=0.9, test_accuracy=0.88, cost_fte=1.125, samples_seen=292 + 2 * 584 + 10 * 1167,
                 round_trained=1, round_promoted=1)]
    for x, row in zip(X, rows):
        arch = str(space.decode(x))
        state.candidates[arch] = Candidate(arch=arch, genome=x, round_found=1, **row)
    return state.to_dataset()


@pytest.fixture(scope="module", params=["hand-made", pytest.param("run", marks=pytest.mark.slow)])
def ladder_run(request, tmp_path_factory):
    if request.param == "hand-made":
        return hand_made_run()
    path = make_run(tmp_path_factory.mktemp("df") / "ladder.nc", small_text() + LADDER)  # about 15 s
    return moo_snn.open_results(path)


def test_every_candidate_variable_is_a_column_with_its_values(ladder_run):
    ds = ladder_run
    df = ds.moo.to_dataframe()
    assert list(df.columns[:3]) == ["arch", "status", "source"] and list(df.index) == list(ds.candidate.values)
    for name, var in ds.data_vars.items():  # the whole kind: any variable on candidate alone, now or added later
        if var.dims == ("candidate",):
            assert name in df, name
            assert np.array_equal(df[name].to_numpy(), var.values) or np.allclose(df[name].to_numpy(dtype=float),
                                                                                  var.values.astype(float), equal_nan=True), name
    for c in ds.constraint.values:
        assert np.allclose(df[f"limit_excess_{c}"], ds.limit_excess.sel(constraint=c).values, equal_nan=True)
    for c in ds.cost.values:
        assert np.allclose(df[f"measured_cost_{c}"], ds.measured_cost.sel(cost=c).values, equal_nan=True)
    assert "genome" not in df and "spike_rate" not in df
    assert {"fidelity_epochs", "fidelity_fraction", "proxy_level", "cost_fte", "samples_seen", "round_trained",
            "round_promoted"} <= set(df.columns)


def test_fidelity_level_and_cost_by_hand(ladder_run):
    df = ladder_run.moo.to_dataframe()
    proxies, full = df[df.status == "proxy"], df[df.status == "trained"]
    assert len(proxies) and len(full)
    promoted = full[full.round_promoted >= 0]
    assert len(promoted) and (promoted.proxy_level >= 0).all()
    # a proxy's highest training is one of the two low levels: (1 ep, 1/4) is level 0, (2 ep, 1/2) level 1
    expected = {(1, 0.25): 0, (2, 0.5): 1}
    for _, row in proxies.iterrows():
        level = expected[(int(row.fidelity_epochs), float(row.fidelity_fraction))]
        assert row.fidelity_level == level == row.proxy_level
    # every full training is level 2 (10 epochs on the whole split); its cost is at least that one FTE
    assert (full.fidelity_level == 2).all() and (full.fidelity_epochs == 10).all() and (full.cost_fte >= 1).all()
    # a proxy measured at level 0 only cost 1 x 0.25 / 10 FTE; at level 1 also 2 x 0.5 / 10
    for _, row in proxies.iterrows():
        assert row.cost_fte == pytest.approx(0.025 if row.fidelity_level == 0 else 0.025 + 0.1)
    untouched = df[df.status == "predicted"]
    assert (untouched.fidelity_level == -1).all() and (untouched.cost_fte == 0).all()


def test_front_records_say_what_measuring_each_member_took():
    ds = hand_made_run()
    promoted = int(ds.candidate.values[ds.status.values == "trained"][0])
    ds["on_front"] = ds.candidate == promoted  # the promoted network alone on the front
    (record,) = ds.moo.front_records()
    assert record["candidate"] == promoted
    assert (record["round_found"], record["round_trained"], record["round_promoted"]) == (1, 1, 1)
    assert record["cost_fte"] == pytest.approx(1.125)  # 0.025 + 0.1 + 1: its proxies and its full training
