"""``surrogate report --heldout``: the predictor fitted on an archive, judged on networks it never saw."""

import json

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from moo_snn.config.problem import load_problem
from moo_snn.errors import MooSnnError
from moo_snn.resources import archive_to_read
from moo_snn.surrogate import archive as arc
from moo_snn.surrogate.predictor import make_predictor, predictor_inputs
from moo_snn.surrogate.report import heldout_report


def _split(n_fit=40, n_out=12):
    """The shipped digits archive's full trainings split into a small archive and a held-out file."""
    full = arc.full_fidelity(arc.load_archive(archive_to_read("digits")), 10)
    full = full.isel(record=np.flatnonzero(full.seed.values == 0))
    return full.isel(record=slice(0, n_fit)), full.isel(record=slice(n_fit, n_fit + n_out))


def test_heldout_report_scores_only_unseen_networks_and_groups_by_origin():
    problem = load_problem("digits")
    fit, out = _split()
    # the held-out file also holds 3 of the archive's networks: they must not count
    again = out.isel(record=slice(0, 6)).copy(deep=True)  # 6 of them trained again with seed 1 (a noise ceiling)
    again["seed"][:] = 1
    again["val_accuracy"][:] = again.val_accuracy.values[::-1]  # reversed: τ −1 against the first training
    heldout = xr.concat([out, fit.isel(record=slice(0, 3)), again], dim="record", combine_attrs="override")
    archs = [str(a) for a in out.arch.values]
    heldout.attrs["heldout_origin"] = json.dumps({a: ("space_filling" if k < 6 else "nsga2") for k, a in enumerate(archs)})
    report = heldout_report(problem, fit, heldout, regressor="ridge")
    assert report["n"] == len(archs)
    # a second computation: the same predictor fitted by hand, the τ of its predictions on the 12
    model = make_predictor(problem, "ridge", random_state=0).fit(predictor_inputs(fit.arch.values), fit.val_accuracy.values)
    predicted = model.predict(predictor_inputs(out.arch.values))
    assert report["kendall_tau"] == pytest.approx(stats.kendalltau(out.val_accuracy.values, predicted).statistic)
    assert set(report["by_origin"]) == {"space_filling", "nsga2"}
    assert report["by_origin"]["nsga2"]["n"] == 6
    assert report["noise_ceiling"]["n"] == 6 and report["noise_ceiling"]["origins"] == ["space_filling"]
    first = out.val_accuracy.values[:6]
    assert report["noise_ceiling"]["kendall_tau"] == pytest.approx(stats.kendalltau(first, first[::-1]).statistic)


def test_heldout_report_needs_unseen_networks():
    problem = load_problem("digits")
    fit, _ = _split()
    with pytest.raises(MooSnnError, match="held-out networks"):
        heldout_report(problem, fit, fit, regressor="ridge")


def test_the_report_command_prints_the_held_out_figures(tmp_path):
    from typer.testing import CliRunner

    from moo_snn.cli import app

    fit, out = _split()
    out = out.copy()
    out.attrs["heldout_origin"] = json.dumps({str(a): "nsga2" for a in out.arch.values})
    arc.save_archive(fit, tmp_path / "fit.nc")
    arc.save_archive(out, tmp_path / "out.nc")
    result = CliRunner().invoke(app, ["surrogate", "report", str(tmp_path / "fit.nc"), "--regressor", "ridge", "--folds", "2",
                                      "--heldout", str(tmp_path / "out.nc"), "--json"])
    assert result.exit_code == 0, result.output
    held = json.loads(result.stdout)["heldout"]
    assert held["n"] == 12 and held["by_origin"]["nsga2"]["n"] == 12 and held["noise_ceiling"] is None
    assert held["kendall_tau"] == pytest.approx(heldout_report(load_problem("digits"), fit, out, regressor="ridge")["kendall_tau"])
