import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmixal import MixupNetClassifier

FAST = dict(max_epochs=3, min_steps=0, batch_size=32, random_state=0,
            mixup_alpha=0.4)


def test_clone_get_set_params():
    net = MixupNetClassifier(mixup_alpha=0.7, module__hidden_units=(8,), lr=0.01)
    params = net.get_params()
    assert params["mixup_alpha"] == 0.7 and params["module__hidden_units"] == (8,)
    assert not any(name.startswith("_") for name in params)
    copy = clone(net)
    assert copy.get_params()["mixup_alpha"] == 0.7
    copy.set_params(mixup_alpha=0.1, module__hidden_units=(4,))
    assert net.mixup_alpha == 0.7 and copy.module__hidden_units == (4,)


def test_pipeline_with_scaler(digits_small):
    X, y, Xt, yt = digits_small
    pipe = make_pipeline(StandardScaler(), MixupNetClassifier(**dict(FAST,
                                                                     max_epochs=15)))
    pipe.fit(X, y)
    assert pipe.score(Xt, yt) > 0.85


def test_grid_search_over_alpha_and_lr(digits_small):
    X, y, _, _ = digits_small
    grid = GridSearchCV(MixupNetClassifier(**FAST),
                        {"mixup_alpha": [0.0, 0.4], "lr": [1e-3, 3e-3]}, cv=2)
    grid.fit(X, y)
    assert set(grid.best_params_) == {"mixup_alpha", "lr"}
    assert grid.cv_results_["mean_test_score"].shape == (4,)
    assert grid.best_estimator_.classes_.shape == (10,)


def test_cross_val_score(digits_small):
    X, y, _, _ = digits_small
    scores = cross_val_score(MixupNetClassifier(**dict(FAST, max_epochs=10)), X, y,
                             cv=3)
    assert scores.shape == (3,) and scores.min() > 0.7


@pytest.mark.parametrize("roundtrip", ["pickle", "joblib"])
def test_pickle_roundtrip_predicts_identically(digits_small, tmp_path, roundtrip):
    X, y, Xt, _ = digits_small
    net = MixupNetClassifier(**FAST).fit(X, np.array([f"n{v}" for v in y]))
    if roundtrip == "pickle":
        loaded = pickle.loads(pickle.dumps(net))
    else:
        joblib.dump(net, tmp_path / "net.joblib")
        loaded = joblib.load(tmp_path / "net.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(Xt), net.predict_proba(Xt))
    np.testing.assert_array_equal(loaded.predict(Xt), net.predict(Xt))


def test_grid_search_on_dask_local_cluster(digits_small):
    distributed = pytest.importorskip("dask.distributed")
    X, y, _, _ = digits_small
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster):
            with joblib.parallel_backend("dask"):
                grid = GridSearchCV(MixupNetClassifier(**dict(FAST, max_epochs=15)),
                                    {"mixup_alpha": [0.0, 1.0]}, cv=2, n_jobs=2)
                grid.fit(X, y)
    assert grid.cv_results_["mean_test_score"].shape == (2,)
    assert grid.best_estimator_.score(X, y) > 0.8
