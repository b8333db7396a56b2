"""The accuracy predictor: sklearn conformance, features, ranking metrics, cross-validation."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from moo_snn.architecture import Architecture
from moo_snn.config.problem import load_problem
from moo_snn.layers import NetworkInput
from moo_snn.errors import MooSnnError
from moo_snn.surrogate.features import FEATURE_NAMES, PATH_NAMES, ArchitectureFeaturizer, architecture_features, path_features
from moo_snn.surrogate.predictor import (BaggedRegressor, EnsembleRegressor, cross_validate, make_predictor, predict_with_std,
                                         predictor_inputs, ranking_quality)


@parametrize_with_checks([EnsembleRegressor(n_members=3, random_state=0), BaggedRegressor(n_estimators=3, random_state=0)])
def test_ensemble_regressor_follows_sklearn_conventions(estimator, check):
    check(estimator)


def test_ranking_quality_by_hand():
    """measured 1, 2, 3, 4 and predicted 1, 3, 2, 4: one discordant pair of 6 → τ = (5 − 1)/6;
    rank differences 0, 1, 1, 0 → ρ = 1 − 6·2/(4·15) = 0.8; MAE = (0 + 1 + 1 + 0)/4 = 0.5;
    top 25 % = one architecture, the same one in both rankings → recall 1."""
    q = ranking_quality([1, 2, 3, 4], [1, 3, 2, 4], top_fraction=0.25)
    assert q == pytest.approx({"n": 4, "kendall_tau": 4 / 6, "spearman_rho": 0.8, "mae": 0.5, "topk_recall": 1.0,
                               "kendall_tau_predicted_best_half": float("nan")}, nan_ok=True)  # a half of 2: no τ
    assert ranking_quality([1, 2, 3, 4], [4, 3, 2, 1], top_fraction=0.25)["topk_recall"] == 0.0


def test_features_of_the_snasnet_cifar10_cell_by_hand():
    arch = Architecture.parse("0303-0030-2002-0200_c256_t5_w4_p4_h1024")
    f = dict(zip(FEATURE_NAMES, architecture_features(arch, NetworkInput(3, 32, 10))))
    assert f["edge0-1=conv3x3"] == 1 and f["edge0-2=conv1x1<"] == 1 and f["edge1-3=conv1x1<"] == 1
    assert sum(v for k, v in f.items() if k.startswith("edge0-1=")) == 1
    assert (f["log2_channels"], f["timesteps"], f["weight_bits"], f["log2_pool"]) == (8, 5, 4, 2)
    assert (f["n_conv3x3"], f["n_conv1x1"], f["n_backward"], f["n_active"]) == (3, 3, 2, 6)
    assert f["cell_depth"] == 3  # 0 → 1 → 2 → 3
    assert f["log2_classifier_in"] == np.log2(512 * 16)
    assert f["log10_params"] == pytest.approx(np.log10(19_415_808))


def test_featurizer_reads_strings_and_scores():
    X = predictor_inputs(["0003-0000-0000-0000_c8_t2_w4_p2_h0", "0001-0000-0000-0000_c4_t1_w2_p4_h0"], [1.5, -2.0])
    features = ArchitectureFeaturizer(1, 8, 10, use_score=True).fit(X).transform(X)
    assert features.shape == (2, len(FEATURE_NAMES) + 1)
    assert features[:, -1].tolist() == [1.5, -2.0]


def _synthetic(n=60, seed=0):
    """Accuracy that grows with channels, timesteps and bits, plus noise: a predictor must rank it."""
    rng = np.random.default_rng(seed)
    archs, acc = [], []
    for _ in range(n):
        c, t, w = rng.choice([4, 8, 16, 32]), rng.choice([1, 2, 4, 6]), rng.choice([2, 4, 8])
        cell = rng.choice(["0003-0000-0000-0000", "0001-0000-0000-0000", "0303-0030-0003-0000", "0302-0030-3003-0000"])
        archs.append(f"{cell}_c{c}_t{t}_w{w}_p2_h0")
        acc.append(0.3 + 0.15 * np.log2(c) / 5 + 0.3 * np.log2(t + 1) / 3 + 0.1 * np.log2(w) / 3 + rng.normal(0, 0.01))
    return archs, np.array(acc)


def test_cross_validation_ranks_a_learnable_accuracy():
    problem = load_problem("digits")
    archs, acc = _synthetic()
    quality, oof = cross_validate(problem, archs, acc, n_splits=5, regressor="ridge")  # ridge: seconds, not minutes
    assert quality["kendall_tau"] > 0.6 and quality["mae"] < 0.05
    assert oof.shape == acc.shape
    shuffled, _ = cross_validate(problem, archs, np.random.default_rng(1).permutation(acc), n_splits=5, regressor="ridge")
    assert shuffled["kendall_tau"] < 0.3  # labels without structure cannot be ranked


def test_predictor_uncertainty_is_an_ensemble_spread():
    problem = load_problem("digits")
    archs, acc = _synthetic()
    model = make_predictor(problem, "extra_trees", n_members=3).fit(predictor_inputs(archs), acc)
    mean, std = predict_with_std(model, predictor_inputs(archs[:5]))
    assert mean.shape == std.shape == (5,) and np.all(std >= 0) and np.any(std > 0)
    np.testing.assert_allclose(mean, model.predict(predictor_inputs(archs[:5])))


def test_tau_among_the_predicted_best_half_by_hand():
    """measured 1..8, predicted ranks the top four as 8, 7, 5, 6 (by measured value: 8 > 7 > 6 > 5 predicted
    8 > 7 > 5 > 6): among them one discordant pair (5, 6) of 6 → τ = 4/6; the worse half does not count."""
    measured = [1, 2, 3, 4, 5, 6, 7, 8]
    predicted = [4, 3, 2, 1, 6, 5, 7, 8]  # the worse half scrambled: irrelevant to the best-half τ
    q = ranking_quality(measured, predicted)
    assert q["kendall_tau_predicted_best_half"] == pytest.approx(4 / 6)


def test_path_encoding_by_hand():
    """SNASNet's CIFAR-10 cell: forward 0→1 conv3x3, 0→3 conv3x3, 1→2 conv3x3, 2→3 conv1x1 (backward edges
    are on no forward path): two paths, 0→3 (conv3x3) and 0→1→2→3 (conv3x3, conv3x3, conv1x1)."""
    f = dict(zip(PATH_NAMES, path_features(Architecture.parse("0303-0030-2002-0200_c256_t5_w4_p4_h1024"))))
    assert {k: v for k, v in f.items() if v} == {"path=conv3x3": 1, "path=conv3x3>conv3x3>conv1x1": 1}
    # 0→1 conv3x3, 0→2 conv3x3, 1→3 conv1x1, 2→3 conv1x1: two node paths with the same op sequence → count 2
    f = dict(zip(PATH_NAMES, path_features(Architecture.parse("0330-0002-0002-0000_c8_t2_w4_p2_h0"))))
    assert {k: v for k, v in f.items() if v} == {"path=conv3x3>conv1x1": 2}
    # paths of the canonical cell: 0→1 skip, 0→2 skip, 1→3 conv1x1, 2→3 conv1x1 is conv1x1(x) + conv1x1(x), written
    # with one skip chain contracted (one path of one conv1x1, one of a skip then a conv1x1)
    f = dict(zip(PATH_NAMES, path_features(Architecture.parse("0110-0002-0002-0000_c8_t2_w4_p2_h0"))))
    assert {k: v for k, v in f.items() if v} == {"path=conv1x1": 1, "path=skip>conv1x1": 1}
    assert len(PATH_NAMES) == 4 + 16 + 64


def test_featurizer_appends_paths_before_score():
    X = predictor_inputs(["0003-0000-0000-0000_c8_t2_w4_p2_h0"], [1.5])
    f = ArchitectureFeaturizer(1, 8, 10, use_score=True, use_paths=True).fit(X)
    row = f.transform(X)[0]
    names = list(f.get_feature_names_out())
    assert len(row) == len(names) == len(FEATURE_NAMES) + len(PATH_NAMES) + 1
    assert row[names.index("path=conv3x3")] == 1 and row[-1] == 1.5


def test_bagging_spread_is_the_std_over_its_members():
    """The spread of the scikit-learn bagging ensemble is recomputed here from estimators_ and
    estimators_features_ (an independent second computation)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), rng.normal(size=40)
    model = BaggedRegressor(n_estimators=5, max_features=0.6, random_state=0).fit(X, y)
    mean, std = model.predict(X[:7], return_std=True)
    members = np.stack([m.predict(X[:7][:, f]) for m, f in zip(model.estimators_, model.estimators_features_)])
    np.testing.assert_allclose(mean, members.mean(axis=0))
    np.testing.assert_allclose(std, members.std(axis=0))
    assert np.any(std > 0)  # members differ (a training point in every member's resample may get none)


@pytest.mark.parametrize("options", [dict(ensemble="own", target="accuracy"), dict(ensemble="bagging", target="logit"),
                                     dict(use_paths=True)])
def test_predictor_options_rank_a_learnable_accuracy(options):
    problem = load_problem("digits")
    archs, acc = _synthetic()
    model = make_predictor(problem, "ridge", n_members=4, **options).fit(predictor_inputs(archs[:40]), acc[:40])
    mean, std = predict_with_std(model, predictor_inputs(archs[40:]))
    assert np.all((mean > 0) & (mean < 1)) and np.all(std >= 0)
    assert ranking_quality(acc[40:], mean)["kendall_tau"] > 0.5


def test_unknown_predictor_options_are_named():
    problem = load_problem("digits")
    with pytest.raises(MooSnnError, match="valid: own, bagging"):
        make_predictor(problem, ensemble="bag")
    with pytest.raises(MooSnnError, match="valid: accuracy, logit"):
        make_predictor(problem, target="rank")
