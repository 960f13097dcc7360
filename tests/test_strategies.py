"""One contract for every query strategy in ``skmixal.strategies.STRATEGIES``.

Shape, dtype, uniqueness and reproducibility of ``(indices, scores)``; clear
errors for bad input; every pool type; and use inside modAL's ActiveLearner
(0.4.1 passes the tuple through, 0.4.2.x unpacks it).
"""

import warnings
from functools import partial

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch.utils.data import TensorDataset

from skmixal import MixupNetClassifier
from skmixal._modal_compat import patch_modal
from skmixal.strategies import STRATEGIES

patch_modal()  # idempotent; skmixal/__init__ may already have applied it
ActiveLearner = pytest.importorskip("modAL.models").ActiveLearner

# Small settings so every call is fast on two CPU cores.
FAST = {
    "bald": {"n_mc": 6},
    "batch_bald": {"n_mc": 6, "n_candidates": 40},
    "mixup_consistency": {"n_anchors": 3, "lambdas": (0.5,)},
}
# Strategies that read the labeled set (from a learner, or these keywords).
USES_LABELS = {"coreset", "typiclust", "alfamix", "mixup_consistency"}
# Strategies that need only predict_proba (work with any sklearn classifier).
PROBA_ONLY = {"random", "least_confidence", "margin", "entropy", "mixup_consistency"}
NAMES = sorted(STRATEGIES)


def _net(**kwargs):
    params = {"random_state": 0, "max_epochs": 3, "min_steps": 30,
              "classes": list(range(10)), "module__hidden_units": (32,)}
    return MixupNetClassifier(**{**params, **kwargs})


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    X = X.astype(np.float32)
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(X))
    lab, pool = idx[:60], idx[60:360]
    return X[lab], y[lab], X[pool], y[pool]


@pytest.fixture(scope="module")
def fitted(data):
    X_lab, y_lab, _, _ = data
    return _net().fit(X_lab, y_lab)


def _query(name, estimator, X_pool, n, data, **kwargs):
    X_lab, y_lab = data[0], data[1]
    kw = dict(FAST.get(name, {}))
    if name in USES_LABELS:
        kw.update(X_labeled=X_lab, y_labeled=y_lab)
    kw.update(kwargs)
    return STRATEGIES[name](estimator, X_pool, n, **kw)


def _check_result(result, n_expected, n_pool):
    assert isinstance(result, tuple) and len(result) == 2
    indices, scores = result
    assert isinstance(indices, np.ndarray) and indices.dtype == np.int64
    assert isinstance(scores, np.ndarray) and scores.dtype.kind == "f"
    assert indices.shape == scores.shape == (n_expected,)
    assert len(np.unique(indices)) == n_expected
    assert indices.min() >= 0 and indices.max() < n_pool


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [1, 2, 7])
def test_indices_unique_in_range(name, n, fitted, data):
    X_pool = data[2]
    _check_result(_query(name, fitted, X_pool, n, data, random_state=0), n,
                  len(X_pool))


@pytest.mark.parametrize("name", NAMES)
def test_n_instances_capped_at_pool_size(name, fitted, data):
    X_pool = data[2][:4]
    _check_result(_query(name, fitted, X_pool, 10, data, random_state=0), 4, 4)


@pytest.mark.parametrize("name", NAMES)
def test_same_random_state_same_indices(name, fitted, data):
    first = _query(name, fitted, data[2], 5, data, random_state=3)
    second = _query(name, fitted, data[2], 5, data, random_state=3)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_allclose(first[1], second[1])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [0, -1])
def test_non_positive_n_instances(name, n, fitted, data):
    with pytest.raises(ValueError, match="n_instances"):
        _query(name, fitted, data[2], n, data)


@pytest.mark.parametrize("name", NAMES)
def test_empty_pool(name, fitted, data):
    with pytest.raises(ValueError):
        _query(name, fitted, data[2][:0], 1, data)


@pytest.mark.parametrize("name", NAMES)
def test_unfitted_estimator(name, data):
    with pytest.raises(ValueError, match="not fitted"):
        _query(name, _net(), data[2], 1, data)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_feature_count(name, fitted, data):
    with pytest.raises(ValueError, match="features"):
        _query(name, fitted, data[2][:, :10], 1, data)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["memmap", "tensor", "dataset"])
def test_pool_types_match_array(name, kind, fitted, data, tmp_path):
    X_pool = data[2][:120]
    expected = _query(name, fitted, X_pool, 3, data, random_state=0)
    if kind == "memmap":
        pool = np.memmap(tmp_path / "pool.dat", dtype=np.float32, mode="w+",
                         shape=X_pool.shape)
        pool[:] = X_pool
        pool.flush()
        pool = np.memmap(tmp_path / "pool.dat", dtype=np.float32, mode="r",
                         shape=X_pool.shape)
    elif kind == "tensor":
        pool = torch.as_tensor(X_pool)
    else:
        pool = TensorDataset(torch.as_tensor(X_pool))
    got = _query(name, fitted, pool, 3, data, random_state=0)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_plain_sklearn_classifier(name, data):
    X_lab, y_lab, X_pool, _ = data
    clf = LogisticRegression(max_iter=200).fit(X_lab, y_lab)
    if name in PROBA_ONLY:
        _check_result(_query(name, clf, X_pool, 2, data, random_state=0), 2,
                      len(X_pool))
    else:
        with pytest.raises(TypeError):
            _query(name, clf, X_pool, 2, data, random_state=0)


def _learner(name, data, net=None):
    X_lab, y_lab = data[0], data[1]
    strategy = partial(STRATEGIES[name], random_state=0, **FAST.get(name, {}))
    return ActiveLearner(estimator=net or _net(), query_strategy=strategy,
                         X_training=X_lab, y_training=y_lab)


def _query_indices(learner, X_pool, n):
    with warnings.catch_warnings():
        # modAL 0.4.1 warns that strategies "should no longer return" tuples;
        # it still passes (indices, scores) through unchanged.
        warnings.simplefilter("ignore", DeprecationWarning)
        result = learner.query(X_pool, n_instances=n)
    # 0.4.1: (indices, scores); 0.4.2.x: (indices, X_pool[indices])
    return np.asarray(result[0])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [1, 2])
def test_modal_query_and_teach(name, n, data):
    X_lab, _, X_pool, y_pool = data
    learner = _learner(name, data)
    idx = _query_indices(learner, X_pool, n)
    assert idx.shape == (n,) and len(np.unique(idx)) == n
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.X_training) == len(X_lab) + n


@pytest.mark.parametrize("name", ["entropy", "coreset", "alfamix"])
def test_modal_calls_the_strategy_once_per_query(name, data):
    # modAL 0.4.2.x retries a strategy in a bare except; ours must never fail there
    X_lab, y_lab, X_pool, _ = data
    calls = []

    def counted(learner, X, n_instances=1, **kwargs):
        calls.append(n_instances)
        return STRATEGIES[name](learner, X, n_instances, random_state=0,
                                **FAST.get(name, {}), **kwargs)

    learner = ActiveLearner(estimator=_net(), query_strategy=counted,
                            X_training=X_lab, y_training=y_lab)
    idx = _query_indices(learner, X_pool, 2)
    assert calls == [2] and idx.shape == (2,)


@pytest.mark.parametrize("name", NAMES)
def test_modal_loop_on_digits(name, data, digits):
    X, y = digits
    _, _, X_pool, y_pool = data
    learner = _learner(name, data, _net(min_steps=100, module__hidden_units=(64,)))
    remaining = np.arange(len(X_pool))
    for _ in range(3):
        idx = _query_indices(learner, X_pool[remaining], 5)
        chosen = remaining[idx]
        learner.teach(X_pool[chosen], y_pool[chosen])
        remaining = np.setdiff1d(remaining, chosen)
    assert len(learner.X_training) == 60 + 15
    assert len(remaining) == len(X_pool) - 15
    # better than chance (0.1): the learner was refitted on what it queried
    assert learner.score(X.astype(np.float32), y) > 0.3
