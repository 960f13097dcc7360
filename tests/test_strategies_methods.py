"""Method-specific checks for the strategies (the contract is in
test_strategies.py)."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.dummy import DummyClassifier

from skmixal import MixupNetClassifier
from skmixal.scoring import expand_joint_proba, joint_entropy_scores
from skmixal.strategies import (
    alfamix_sampling,
    badge_sampling,
    bald_sampling,
    batch_bald_sampling,
    coreset_sampling,
    mixup_consistency_sampling,
    typiclust_sampling,
)
from skmixal.strategies.bayesian import sampled_joint_entropy_scores
from skmixal.strategies.diversity import _gradient_kmeans_pp


class NoDropout(torch.nn.Module):
    def __init__(self, n_features=64, n_classes=10):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_features, 16),
                                        torch.nn.ReLU())
        self.head = torch.nn.Linear(16, n_classes)

    def forward(self, x):
        return self.head(self.body(x))


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    X = X.astype(np.float32)
    return X[:60], y[:60], X[60:360]


@pytest.fixture(scope="module")
def net(data):
    X_lab, y_lab, _ = data
    return MixupNetClassifier(random_state=0, max_epochs=3, min_steps=30,
                              classes=list(range(10)),
                              module__hidden_units=(32,)).fit(X_lab, y_lab)


@pytest.mark.parametrize("strategy", [bald_sampling, batch_bald_sampling])
def test_mc_dropout_needs_a_dropout_layer(strategy, data):
    X_lab, y_lab, X_pool = data
    clf = MixupNetClassifier(NoDropout, random_state=0, max_epochs=1, min_steps=5,
                             classes=list(range(10))).fit(X_lab, y_lab)
    with pytest.raises(ValueError, match="dropout"):
        strategy(clf, X_pool, 2)


def test_bald_scores_nonnegative_and_seeded(net, data):
    X_pool = data[2]
    idx, scores = bald_sampling(net, X_pool, 10, random_state=0, n_mc=8)
    assert (scores >= 0).all() and np.all(np.diff(scores) <= 1e-12)
    other, _ = bald_sampling(net, X_pool, 10, random_state=1, n_mc=8)
    assert not np.array_equal(idx, other)  # different dropout masks


def test_sampled_joint_entropy_matches_exact():
    rng = np.random.RandomState(0)
    mc = rng.dirichlet(np.ones(4), size=(6, 5))  # (n_mc, n_samples, n_classes)
    joint = expand_joint_proba(expand_joint_proba(None, mc[:, 0]), mc[:, 1])
    exact = joint_entropy_scores(mc[:, 2:], joint)
    q = joint.mean(0)
    draw = rng.choice(joint.shape[1], size=200_000, p=q / q.sum())
    approx = sampled_joint_entropy_scores(mc[:, 2:], joint[:, draw])
    np.testing.assert_allclose(approx, exact, rtol=0.02)


def test_batch_bald_sampled_configurations(net, data):
    # 10 classes and max_configs=20: exact for one point, sampled after
    idx, gains = batch_bald_sampling(net, data[2], 6, random_state=0, n_mc=6,
                                     n_candidates=30, max_configs=20)
    assert len(np.unique(idx)) == 6 and np.isfinite(gains).all()
    first, _ = bald_sampling(net, data[2], 1, random_state=0, n_mc=6)
    assert idx[0] == first[0]  # with an empty batch, BatchBALD is BALD


def test_badge_factorised_distances_equal_explicit():
    rng = np.random.RandomState(0)
    a = rng.normal(size=(50, 3)).astype(np.float32)
    h = rng.normal(size=(50, 4)).astype(np.float32)
    g = (a[:, :, None] * h[:, None, :]).reshape(50, -1)  # explicit (n, C * D)
    picks, norms = _gradient_kmeans_pp(a, h, 8, np.random.RandomState(0))
    assert picks[0] == np.argmax(np.linalg.norm(g, axis=1))
    np.testing.assert_allclose(norms, np.linalg.norm(g[picks], axis=1), rtol=1e-5)
    # the same draws from explicit D^2 sampling
    rng2 = np.random.RandomState(0)
    min_d, chosen = np.full(50, np.inf), [int(picks[0])]
    for _ in range(7):
        d = ((g - g[chosen[-1]]) ** 2).sum(1)
        min_d = np.minimum(min_d, d)
        min_d[chosen] = 0
        w = np.cumsum(min_d)
        chosen.append(int(np.searchsorted(w, rng2.uniform(0, w[-1]), side="right")))
    np.testing.assert_array_equal(picks, chosen)


def test_badge_prefers_large_gradients(net, data):
    idx, norms = badge_sampling(net, data[2], 5, random_state=0)
    assert norms[0] == norms.max()


def test_coreset_distances_non_increasing(net, data):
    X_lab, y_lab, X_pool = data
    _, dist = coreset_sampling(net, X_pool, 8, X_labeled=X_lab)
    assert np.all(np.diff(dist) <= 1e-5)
    _, dist = coreset_sampling(net, X_pool, 3, random_state=0)  # no labels
    assert np.isinf(dist[0]) and np.isfinite(dist[1:]).all()


@pytest.mark.parametrize("features", ["raw", "pca", "array"])
def test_typiclust_cold_start_unfitted(features, data):
    X_pool = data[2]
    if features == "pca":
        features = PCA(8, random_state=0).fit(X_pool).transform
    elif features == "array":
        features = X_pool[:, ::2]
    unfitted = MixupNetClassifier()
    idx, typ = typiclust_sampling(unfitted, X_pool, 5, random_state=0,
                                  features=features)
    assert len(np.unique(idx)) == 5 and (typ > 0).all()


def test_typiclust_rejects_bad_features(data):
    with pytest.raises(ValueError, match="features"):
        typiclust_sampling(MixupNetClassifier(), data[2], 2, features=data[2][:5])


def test_typiclust_covers_clusters(data):
    # three tight, well separated blobs and zero labels: one pick per blob
    rng = np.random.RandomState(0)
    Z = np.concatenate([rng.normal(c, 0.1, size=(40, 2)) for c in (0, 10, 20)])
    idx, _ = typiclust_sampling(MixupNetClassifier(), Z, 3, random_state=0,
                                features="raw")
    assert sorted(idx // 40) == [0, 1, 2]


def test_alfamix_fills_when_no_candidates(net, data):
    X_lab, y_lab, X_pool = data
    idx, rate = alfamix_sampling(net, X_pool, 4, random_state=0, X_labeled=X_lab,
                                 y_labeled=y_lab, eps=1e-9)
    assert len(np.unique(idx)) == 4 and (rate == 0).all()


def test_alfamix_needs_labels(net, data):
    with pytest.raises(ValueError, match="labeled"):
        alfamix_sampling(net, data[2], 2)


def test_mixup_consistency_zero_for_constant_model(data):
    X_lab, y_lab, X_pool = data
    clf = DummyClassifier(strategy="prior").fit(X_lab, y_lab)
    _, scores = mixup_consistency_sampling(clf, X_pool, 3, X_labeled=X_lab,
                                           y_labeled=y_lab, random_state=0)
    np.testing.assert_allclose(scores, 0.0, atol=1e-12)


def test_mixup_consistency_rejects_bad_lambdas(net, data):
    with pytest.raises(ValueError, match="lambdas"):
        mixup_consistency_sampling(net, data[2], 1, X_labeled=data[0],
                                   lambdas=(0.0, 0.5))

