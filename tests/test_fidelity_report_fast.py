"""``surrogate report --fidelity`` reads the archive and computes rank statistics (hand-computed here);
the slow predictor cross-validations run only where asked, with progress on stderr."""

import json

import pytest
from typer.testing import CliRunner

from moo_snn.cli import app
from moo_snn.config.problem import load_problem
from moo_snn.errors import MooSnnError
from moo_snn.space import SearchSpace
from moo_snn.surrogate import archive as arc
from moo_snn.surrogate import fidelity_report as fr
from moo_snn.surrogate.sampling import space_filling_sample

SPEC = load_problem("digits")  # full training: 10 epochs
SPACE = SearchSpace(SPEC.space)
ARCHS = [str(SPACE.decode(x)) for x in space_filling_sample(SPEC, SPACE, 12, seed=1)]


def record(arch, acc, epochs=10, fraction=1.0, seed=0):
    return dict(arch=arch, status="trained", val_accuracy=acc, test_accuracy=acc, train_seconds=2.0 * epochs * fraction,
                epochs=epochs, train_fraction=fraction, seed=seed, params=1, spike_rates={"stem": 1.0})


@pytest.fixture(scope="module")
def archive_path(tmp_path_factory):
    """12 networks: full accuracy 0.50, 0.51, ... 0.61; a 2 ep x 0.5 proxy with two neighbour pairs
    swapped (the 1st/2nd and the 11th/12th); a 1 ep x 0.25 proxy in reverse order; five networks trained
    again (seed 1) 0.01 higher."""
    archive = arc.empty_archive(SPEC)
    full = [0.50 + 0.01 * k for k in range(12)]
    swapped = list(full)
    swapped[0], swapped[1], swapped[10], swapped[11] = full[1], full[0], full[11], full[10]
    for a, f, s in zip(ARCHS, full, swapped):
        archive = arc.append(archive, record(a, f))
        archive = arc.append(archive, record(a, s - 0.2, epochs=2, fraction=0.5))
        archive = arc.append(archive, record(a, 1.2 - f - 0.3, epochs=1, fraction=0.25))
    for a, f in list(zip(ARCHS, full))[:5]:
        archive = arc.append(archive, record(a, f + 0.01, seed=1))
    path = tmp_path_factory.mktemp("fid") / "a.nc"
    arc.save_archive(archive, path)
    return path


def test_rank_statistics_by_hand_and_no_predictor_fit_unless_asked(archive_path, monkeypatch):
    monkeypatch.setattr(fr, "predictor_with_proxy", lambda *a, **k: pytest.fail("a predictor was fit"))
    result = fr.fidelity_report(SPEC, arc.load_archive(archive_path))
    assert (result["full_epochs"], result["n_full"]) == (10, 12)
    cheap, mid = result["levels"]  # cheapest first
    assert (cheap["epochs"], cheap["train_fraction"], mid["epochs"], mid["train_fraction"]) == (1, 0.25, 2, 0.5)
    assert cheap["kendall_tau"] == pytest.approx(-1.0) and cheap["fte"] == pytest.approx(0.025)
    # 2 of the 66 pairs discordant: 1 - 2 * 2 / 66; the better half (0.56 ... 0.61) holds one swap: 1 - 2 / 15
    assert mid["kendall_tau"] == pytest.approx(1 - 4 / 66) and mid["kendall_tau_better_half"] == pytest.approx(1 - 2 / 15)
    assert mid["fte"] == pytest.approx(0.1) and mid["median_train_seconds"] == pytest.approx(2.0)
    assert "predictor" not in mid
    assert result["noise_ceiling"] == {"n": 5, "kendall_tau": pytest.approx(1.0), "mean_abs_difference": pytest.approx(0.01)}


def test_only_the_asked_levels_are_cross_validated_with_progress(archive_path, monkeypatch):
    fits = []
    monkeypatch.setattr(fr, "predictor_with_proxy", lambda problem, archs, y, x, **k: fits.append(k["proxy_fte"]) or {"ok": 1})
    said = []
    result = fr.fidelity_report(SPEC, arc.load_archive(archive_path), predictor_levels=[(2, 0.5)],
                                on_progress=lambda k, n, level, s: said.append((k, n, level)))
    assert fits == [pytest.approx(0.1)] and said == [(1, 1, (2, 0.5)), (2, 1, (0, 0.0))]
    assert "predictor" in result["levels"][1] and "predictor" not in result["levels"][0]
    fits.clear()
    fr.fidelity_report(SPEC, arc.load_archive(archive_path), predictor_levels=None)  # every level
    assert fits == [pytest.approx(0.025), pytest.approx(0.1)]
    with pytest.raises(MooSnnError, match=r"no proxy 3x0.5 in the archive; its proxies are 1x0.25, 2x0.5"):
        fr.fidelity_report(SPEC, arc.load_archive(archive_path), predictor_levels=[(3, 0.5)])


def test_the_command_says_what_it_cross_validates_on_stderr(archive_path, monkeypatch):
    monkeypatch.setattr(fr, "predictor_with_proxy", lambda *a, **k: {m: {"kendall_tau": 0.5, "kendall_tau_predicted_best_half": 0.25}
                                                                    for m in ("encoding", "encoding+proxy", "fidelity_input")})
    out = CliRunner().invoke(app, ["surrogate", "report", str(archive_path), "--fidelity", "--predictor-level", "all"])
    assert out.exit_code == 0, out.output
    lines = [line for line in out.stderr.splitlines() if "cross-validat" in line]
    assert lines[0].startswith("cross-validating the predictor with proxy 1x0.25 (1 of 2)")
    assert lines[1].startswith("cross-validating the predictor with proxy 2x0.5 (2 of 2, about ") and "left" in lines[1]
    assert lines[2].startswith("predictor cross-validations done in")
    assert "0.500 / 0.500 / 0.500" in out.stdout
    fast = CliRunner().invoke(app, ["surrogate", "report", str(archive_path), "--fidelity", "--json"])
    assert fast.exit_code == 0 and "cross-validat" not in fast.stderr
    assert [lv["kendall_tau"] for lv in json.loads(fast.stdout)["levels"]] == [pytest.approx(-1), pytest.approx(1 - 4 / 66)]


def test_report_compare_says_each_regressor_on_stderr(archive_path, monkeypatch):
    from moo_snn.surrogate import report
    from moo_snn.surrogate.predictor import REGRESSORS

    quality = dict(n=12, kendall_tau=0.5, kendall_tau_predicted_best_half=0.4, spearman_rho=0.6, mae=0.01, topk_recall=0.5)
    monkeypatch.setattr(report, "predictor_report", lambda *a, **k: (quality, [0.5] * 12))
    out = CliRunner().invoke(app, ["surrogate", "report", str(archive_path), "--compare"])
    assert out.exit_code == 0, out.output
    said = [line.split(" (")[0].removeprefix("cross-validating regressor ") for line in out.stderr.splitlines()
            if line.startswith("cross-validating regressor")]
    assert said == list(REGRESSORS)
    assert f"(2 of {len(REGRESSORS)}, about " in out.stderr
