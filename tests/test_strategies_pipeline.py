"""Every query strategy on a scikit-learn Pipeline ending in a classifier.

The pool goes through the steps before the last exactly once per query (a
counting embedder records what it transforms), and the result is the one the
strategy gives on the last step with the pool transformed beforehand: the
independent computation every test compares against.
"""

from functools import partial

import numpy as np
import pytest
import torch
from modAL.models import ActiveLearner
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from test_strategies import FAST, PROBA_ONLY, USES_LABELS, _net
from torch.utils.data import TensorDataset

from skmixal import ImageEmbedder
from skmixal._modal_compat import patch_modal
from skmixal.backbones import Backbone
from skmixal.strategies import STRATEGIES

patch_modal()
torch.set_num_threads(1)

NAMES = sorted(STRATEGIES)


class CountingEmbedder(TransformerMixin, BaseEstimator):
    """2x2 average pooling of 8x8 images into 16 features; records every
    array it transforms. Row by row, so a subset transforms like the rows of
    the whole."""

    def fit(self, X, y=None):
        self.seen_ = []
        return self

    def transform(self, X):
        self.seen_.append(X)
        X = np.asarray(X, dtype=np.float32)
        return X.reshape(len(X), 4, 2, 4, 2).mean(axis=(2, 4)).reshape(len(X), 16)


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    X = X.astype(np.float32).reshape(-1, 8, 8)
    idx = np.random.RandomState(0).permutation(len(X))
    lab, pool = idx[:60], idx[60:300]
    return X[lab], y[lab], X[pool], y[pool]


@pytest.fixture(scope="module")
def pipeline(data):
    X_lab, y_lab, _, _ = data
    return make_pipeline(CountingEmbedder(), _net()).fit(X_lab, y_lab)


def _kwargs(name, X_lab, y_lab):
    kw = {"random_state": 0, **FAST.get(name, {})}
    if name in USES_LABELS:
        kw.update(X_labeled=X_lab, y_labeled=y_lab)
    return kw


def _pool_passes(embedder, X_pool):
    return sum(x is X_pool for x in embedder.seen_)


def _other_passes(embedder, X_pool):
    return [len(x) for x in embedder.seen_ if x is not X_pool]


def _labeled_passes(name, X_lab):
    """Rows of the labeled set each strategy transforms: those it uses."""
    if name == "mixup_consistency":
        return [FAST[name]["n_anchors"]]
    return [len(X_lab)] if name in USES_LABELS else []


@pytest.mark.parametrize("name", NAMES)
def test_pipeline_equals_last_step_on_transformed_pool(name, pipeline, data):
    X_lab, y_lab, X_pool, _ = data
    embedder, head = pipeline[0], pipeline[-1]
    embedder.seen_ = []
    idx, scores = STRATEGIES[name](pipeline, X_pool, 7, **_kwargs(name, X_lab, y_lab))
    # exactly one pass over the pool (none for random sampling) ...
    assert _pool_passes(embedder, X_pool) == (0 if name == "random" else 1)
    # ... and the labeled set at most once (mixup consistency: its anchors only)
    assert _other_passes(embedder, X_pool) == _labeled_passes(name, X_lab)
    features = CountingEmbedder().fit(X_lab)
    expected_idx, expected_scores = STRATEGIES[name](
        head, features.transform(X_pool), 7,
        **_kwargs(name, features.transform(X_lab), y_lab))
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_active_learner_on_a_pipeline(name, data):
    X_lab, y_lab, X_pool, y_pool = data
    learner = ActiveLearner(
        estimator=make_pipeline(CountingEmbedder(), _net()),
        query_strategy=partial(STRATEGIES[name], random_state=0,
                               **FAST.get(name, {})),
        X_training=X_lab, y_training=y_lab)
    embedder = learner.estimator[0]
    embedder.seen_ = []
    idx, rows = learner.query(X_pool, n_instances=5)
    assert len(np.unique(idx)) == 5
    np.testing.assert_array_equal(rows, X_pool[idx])  # pool rows, not features
    assert _pool_passes(embedder, X_pool) == (0 if name == "random" else 1)
    # the learner's training data only where the strategy uses it
    assert _other_passes(embedder, X_pool) == _labeled_passes(name, X_lab)
    learner.teach(rows, y_pool[idx])
    assert len(learner.X_training) == len(X_lab) + 5


@pytest.mark.parametrize("name", sorted(PROBA_ONLY))
def test_pipeline_with_a_plain_sklearn_head(name, data):
    X_lab, y_lab, X_pool, _ = data
    model = make_pipeline(CountingEmbedder(), LogisticRegression(max_iter=500))
    model.fit(X_lab, y_lab)
    model[0].seen_ = []
    idx, _ = STRATEGIES[name](model, X_pool, 6, **_kwargs(name, X_lab, y_lab))
    assert _pool_passes(model[0], X_pool) == (0 if name == "random" else 1)
    features = CountingEmbedder().fit(X_lab)
    expected, _ = STRATEGIES[name](model[-1], features.transform(X_pool), 6,
                                   **_kwargs(name, features.transform(X_lab), y_lab))
    np.testing.assert_array_equal(idx, expected)


@pytest.mark.parametrize("name", sorted(set(NAMES) - {"random"}))  # needs no model
def test_unfitted_pipeline(name, data):
    X_lab, y_lab, X_pool, _ = data
    with pytest.raises(NotFittedError, match="not fitted"):
        STRATEGIES[name](make_pipeline(CountingEmbedder(), _net()), X_pool, 3,
                         **_kwargs(name, X_lab, y_lab))


def test_dataset_pool_is_refused_by_a_pipeline(pipeline, data):
    pool = TensorDataset(torch.from_numpy(data[2]))
    with pytest.raises(TypeError, match="Pipeline's pool must be an array"):
        STRATEGIES["entropy"](pipeline, pool, 3)


def test_typiclust_own_features_skip_the_embedder(pipeline, data):
    X_lab, _, X_pool, _ = data
    embedder = pipeline[0]
    embedder.seen_ = []
    idx, _ = STRATEGIES["typiclust"](pipeline, X_pool, 5, features="raw",
                                     X_labeled=X_lab, random_state=0)
    assert embedder.seen_ == []  # 'raw' means the pool as given
    # the same representation without any network: an unfitted estimator
    expected, _ = STRATEGIES["typiclust"](_net(), X_pool, 5, features="raw",
                                          X_labeled=X_lab, random_state=0)
    np.testing.assert_array_equal(idx, expected)


class TinyCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x))


@pytest.mark.parametrize("name", ["badge", "coreset", "alfamix"])
def test_image_embedder_pipeline_through_modal(name, data, monkeypatch):
    X_lab, y_lab, X_pool, _ = data
    torch.manual_seed(0)
    embedder = ImageEmbedder(Backbone(TinyCNN(), input_size=8))
    calls = []
    original = ImageEmbedder.transform

    def counting(self, X):
        calls.append(len(X))
        return original(self, X)

    monkeypatch.setattr(ImageEmbedder, "transform", counting)
    learner = ActiveLearner(estimator=make_pipeline(embedder, _net()),
                            query_strategy=STRATEGIES[name],
                            X_training=X_lab, y_training=y_lab)
    calls.clear()
    idx, rows = learner.query(X_pool, n_instances=4)
    np.testing.assert_array_equal(rows, X_pool[idx])
    expected = [len(X_pool)] + ([len(X_lab)] if name in USES_LABELS else [])
    assert calls == expected
