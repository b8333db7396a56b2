"""Archives of trained architectures: format, atomic writes, resumable builds, the report command."""

import json

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from moo_snn.cli import app
from moo_snn.config.problem import load_problem
from moo_snn.errors import ResultsError
from moo_snn.evaluation import meets_cost_limits
from moo_snn.space import SearchSpace
from moo_snn.surrogate import archive as arc
from moo_snn.surrogate.build import build_archive
from moo_snn.surrogate.sampling import space_filling_sample

PROBLEM = load_problem("digits")
SPACE = SearchSpace(PROBLEM.space)


def fake_result(arch: str, acc: float, seed: int = 0, status: str = "trained") -> dict:
    return dict(arch=arch, status=status, val_accuracy=acc, test_accuracy=acc - 0.01, train_seconds=1.5, epochs=10,
                seed=seed, params=1234, spike_rates={"stem": 1.0, "cell1.fwd0-3": 0.2, "fc2": 0.1})


def synthetic_archive(n: int = 40) -> xr.Dataset:
    archive = arc.empty_archive(PROBLEM)
    for x in space_filling_sample(PROBLEM, SPACE, n, seed=3):
        a = SPACE.decode(x)
        acc = 0.2 + 0.5 * np.log2(a.channels) / 5 + 0.25 * np.log2(a.timesteps + 1) / 3 + 0.05 * (a.weight_bits > 2)
        archive = arc.append(archive, fake_result(str(a), float(acc)), sahd_score=float(a.channels))
    return archive


def test_append_replaces_the_same_architecture_and_seed():
    archive = arc.empty_archive(PROBLEM)
    archive = arc.append(archive, fake_result("0003-0000-0000-0000_c8_t2_w4_p2_h0", 0.5))
    archive = arc.append(archive, fake_result("0003-0000-0000-0000_c8_t2_w4_p2_h0", 0.6))
    archive = arc.append(archive, fake_result("0003-0000-0000-0000_c8_t2_w4_p2_h0", 0.7, seed=1))
    # a non-canonical spelling of the same network (a pruned edge) is the same architecture
    archive = arc.append(archive, fake_result("0103-0000-0000-0000_c8_t2_w4_p2_h0", 0.65, seed=1))
    assert archive.sizes["record"] == 2
    assert sorted(zip(archive.seed.values.tolist(), archive.val_accuracy.values.tolist())) == [(0, 0.6), (1, 0.65)]
    assert archive.spike_rate.sel(layer="cell1.0-3").values.tolist() == [0.2, 0.2]
    assert np.isnan(archive.spike_rate.sel(layer="reduction").values).all()
    assert arc.has_record(archive, "0003-0000-0000-0000_c8_t2_w4_p2_h0", 1)


def test_round_trip_and_provenance(tmp_path):
    archive = synthetic_archive(10)
    arc.save_archive(archive, tmp_path / "a.nc")
    loaded = arc.load_archive(tmp_path / "a.nc")
    xr.testing.assert_identical(archive, loaded)
    assert json.loads(loaded.attrs["versions"])["torch"].startswith("2.")
    assert arc.matches(loaded, PROBLEM)
    other = load_problem("digits")
    from dataclasses import replace
    assert not arc.matches(loaded, replace(other, training=replace(other.training, lr=0.5)))
    assert arc.matches(loaded, replace(other, training=replace(other.training, epochs=3)))  # records carry epochs


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "a.nc"
    arc.save_archive(synthetic_archive(5), path)
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("moo_snn.netcdf.os.fsync", disk_full)  # where a full disk shows up with delayed allocation
    with pytest.raises(ResultsError, match=r"No space left on device\); the previous file is kept"):
        arc.save_archive(synthetic_archive(8), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.nc"]  # no temporary file left behind


def test_unreadable_or_foreign_files_are_clear_errors(tmp_path):
    with pytest.raises(ResultsError, match="no such archive"):
        arc.load_archive(tmp_path / "missing.nc")
    arc.save_archive(synthetic_archive(5), tmp_path / "good.nc")
    (tmp_path / "truncated.nc").write_bytes((tmp_path / "good.nc").read_bytes()[:300])
    with pytest.raises(ResultsError, match="not a readable NetCDF"):
        arc.load_archive(tmp_path / "truncated.nc")
    xr.Dataset({"t": ("x", [1.0, 2.0])}).to_netcdf(tmp_path / "foreign.nc", engine="h5netcdf")
    with pytest.raises(ResultsError, match="not a moo-snn archive"):
        arc.load_archive(tmp_path / "foreign.nc")


def test_space_filling_sample_is_feasible_distinct_and_prefix_stable():
    big = space_filling_sample(PROBLEM, SPACE, 60, seed=0)
    small = space_filling_sample(PROBLEM, SPACE, 15, seed=0)
    assert meets_cost_limits(PROBLEM, SPACE, big).all()
    strings = [str(SPACE.decode(x)) for x in big]
    assert len(set(strings)) == 60
    np.testing.assert_array_equal(big[:15], small)
    # spread: every channel width and every weight precision of the space appears
    assert {SPACE.decode(x).weight_bits for x in big} == set(PROBLEM.space.weight_bits)
    # greedy maximin spreads more than the same number of random feasible draws
    from moo_snn.surrogate.sampling import feasible_pool, gene_coordinates

    def min_gap(X):
        c = gene_coordinates(SPACE, X)
        d = np.linalg.norm(c[:, None] - c[None], axis=2) + np.eye(len(c)) * 1e9
        return d.min()

    random = feasible_pool(PROBLEM, SPACE, 2000, np.random.default_rng(0))[:15]
    assert min_gap(small) > min_gap(random)


def test_build_trains_resumes_and_keeps_finished_work(tmp_path, monkeypatch):
    from moo_snn.training import trainer

    path = tmp_path / "digits.nc"
    real = trainer.train_architecture
    calls = []

    def interrupt_on_third(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "train_architecture", interrupt_on_third)
    with pytest.raises(KeyboardInterrupt):
        build_archive(PROBLEM, path, 4, epochs=1, score=False)
    assert arc.load_archive(path).sizes["record"] == 2  # both finished trainings are on disk
    monkeypatch.setattr(trainer, "train_architecture", real)
    archive, n_new = build_archive(PROBLEM, path, 4, epochs=1, score=True)
    assert n_new == 2 and archive.sizes["record"] == 4
    assert set(archive.status.values) == {"trained"} and (archive.epochs == 1).all()
    again, n_new = build_archive(PROBLEM, path, 4, epochs=1, score=False)
    assert n_new == 0 and again.sizes["record"] == 4


def test_report_command_json_and_plot(tmp_path):
    path = tmp_path / "synthetic.nc"
    arc.save_archive(synthetic_archive(40), path)
    plot = tmp_path / "pred.png"
    result = CliRunner().invoke(app, ["surrogate", "report", str(path), "--json", "--plot", str(plot), "--folds", "4"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {"n", "kendall_tau", "spearman_rho", "mae", "topk_recall"} <= set(out)
    assert out["n"] == 40 and out["kendall_tau"] > 0.5
    assert out["training_free_score_tau"] > 0  # the fake score is the width, which the fake accuracy grows with
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = CliRunner().invoke(app, ["surrogate", "report", str(tmp_path / "nope.nc")])
    assert bad.exit_code == 2 and "no such archive" in bad.stderr


def test_a_sample_augmenting_measured_networks_fills_the_space_they_leave_empty():
    """``measured=``: the archive's networks are never sampled again, the top-up keeps the prefix property,
    and it lies farther from them than the first unmeasured members of an archive-blind sample (the maximin
    criterion: the smallest distance from a new point to a measured one; canonical coordinates, 12 cases of
    foreign archives: another seed's sample of 3, 8 or 14 networks, top-up to 20; 6 cases here, 12 in
    benchmarks/bootstrap_topup.py)."""
    from moo_snn.surrogate.sampling import gene_coordinates

    def nearest(A, M):
        a, m = gene_coordinates(SPACE, A), gene_coordinates(SPACE, M)
        return np.linalg.norm(a[:, None] - m[None], axis=2).min(axis=1)

    np.testing.assert_array_equal(space_filling_sample(PROBLEM, SPACE, 9, seed=2, measured=()),
                                  space_filling_sample(PROBLEM, SPACE, 9, seed=2))
    wins, cases = 0, 0
    for seed in range(2):
        for k in (3, 8, 14):
            M = space_filling_sample(PROBLEM, SPACE, k, seed=seed + 100)
            ms = [str(SPACE.decode(x)) for x in M]
            aug = space_filling_sample(PROBLEM, SPACE, 20 - k, seed=seed, measured=ms)
            assert not {str(SPACE.decode(x)) for x in aug} & set(ms) and len(aug) == 20 - k
            np.testing.assert_array_equal(space_filling_sample(PROBLEM, SPACE, 2, seed=seed, measured=M), aug[:2])
            blind = np.array([x for x in space_filling_sample(PROBLEM, SPACE, 20, seed=seed)
                              if str(SPACE.decode(x)) not in ms][: 20 - k])
            wins += nearest(aug, M).min() > nearest(blind, M).min()
            cases += 1
    assert wins >= 5, f"the augmentation kept farther from the archive in only {wins} of {cases} cases"
    # strings of another space (here: 64 channels) anchor nothing and are not an error
    wide = "0001-0000-0000-0000_c64_t1_w4_p1_h0"
    np.testing.assert_array_equal(space_filling_sample(PROBLEM, SPACE, 5, seed=0, measured=[wide]),
                                  space_filling_sample(PROBLEM, SPACE, 5, seed=0, measured=np.empty((0, SPACE.n_var))))
