"""The accuracy predictor: sklearn conformance, features, ranking metrics, cross-validation."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from moo_snn.architecture import Architecture
from moo_snn.config.problem import load_problem
from moo_snn.layers import NetworkInput
from moo_snn.surrogate.features import FEATURE_NAMES, ArchitectureFeaturizer, architecture_features
from moo_snn.surrogate.predictor import (EnsembleRegressor, cross_validate, make_predictor, predict_with_std,
                                         predictor_inputs, ranking_quality)


@parametrize_with_checks([EnsembleRegressor(n_members=3, random_state=0)])
def test_ensemble_regressor_follows_sklearn_conventions(estimator, check):
    check(estimator)


def test_ranking_quality_by_hand():
    """measured 1, 2, 3, 4 and predicted 1, 3, 2, 4: one discordant pair of 6 → τ = (5 − 1)/6;
    rank differences 0, 1, 1, 0 → ρ = 1 − 6·2/(4·15) = 0.8; MAE = (0 + 1 + 1 + 0)/4 = 0.5;
    top 25 % = one architecture, the same one in both rankings → recall 1."""
    q = ranking_quality([1, 2, 3, 4], [1, 3, 2, 4], top_fraction=0.25)
    assert q == pytest.approx({"n": 4, "kendall_tau": 4 / 6, "spearman_rho": 0.8, "mae": 0.5, "topk_recall": 1.0})
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
    quality, oof = cross_validate(problem, archs, acc, n_splits=5)
    assert quality["kendall_tau"] > 0.6 and quality["mae"] < 0.05
    assert oof.shape == acc.shape
    shuffled, _ = cross_validate(problem, archs, np.random.default_rng(1).permutation(acc), n_splits=5)
    assert shuffled["kendall_tau"] < 0.3  # labels without structure cannot be ranked


def test_predictor_uncertainty_is_an_ensemble_spread():
    problem = load_problem("digits")
    archs, acc = _synthetic()
    model = make_predictor(problem, "extra_trees").fit(predictor_inputs(archs), acc)
    mean, std = predict_with_std(model, predictor_inputs(archs[:5]))
    assert mean.shape == std.shape == (5,) and np.all(std >= 0) and np.any(std > 0)
    np.testing.assert_allclose(mean, model.predict(predictor_inputs(archs[:5])))
