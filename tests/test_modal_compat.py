"""modAL works on current scikit-learn and NumPy once skmixal is imported.

These tests drive the installed modAL itself (0.4.1, or 0.4.2.x installed with
``--no-deps``); they skip when modAL is missing.
"""

import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sklearn.utils
import sklearn.utils.validation
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import skmixal  # noqa: F401 -- applies patch_modal()
from skmixal import _modal_compat
from skmixal._modal_compat import patch_modal

modAL_models = pytest.importorskip("modAL.models")
from modAL.models import ActiveLearner, Committee  # noqa: E402
from modAL.uncertainty import uncertainty_sampling  # noqa: E402

COMPAT_FILE = Path(_modal_compat.__file__)


def _modal_at_least_042():
    version = _modal_compat._modal_version()
    parts = tuple(int(p) for p in version.split(".")[:3] if p.isdigit())
    return parts >= (0, 4, 2)


@pytest.fixture(scope="module")
def modal_digits():
    X, y = load_digits(return_X_y=True)
    return X[:400].astype(np.float64), y[:400]


def _split(X, y, per_class=3):
    # Initial set: the first ``per_class`` samples of every class; rest: pool.
    initial = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(10)])
    pool = np.setdiff1d(np.arange(len(X)), initial)
    return X[initial], y[initial], X[pool], y[pool]


# --- the patch itself ------------------------------------------------------


def test_fixes_match_environment():
    params = inspect.signature(sklearn.utils.validation.check_X_y).parameters
    expected = set()
    if "force_all_finite" not in params:
        expected.add("check_X_y")
    if not hasattr(np, "float"):
        expected.add("np.float")
    assert patch_modal() == frozenset(expected)


def test_patch_is_idempotent():
    import modAL.models.base
    import modAL.models.learners

    before_hooks = [f for f in sys.meta_path if getattr(f, _modal_compat._MARKER, 0)]
    bound = (
        modAL.models.base.__dict__.get("check_X_y"),
        modAL.models.learners.__dict__.get("check_X_y"),
    )
    first = patch_modal()
    second = patch_modal()
    after_hooks = [f for f in sys.meta_path if getattr(f, _modal_compat._MARKER, 0)]
    assert first == second
    assert len(after_hooks) == len(before_hooks) <= 1
    assert after_hooks == before_hooks
    assert (
        modAL.models.base.__dict__.get("check_X_y"),
        modAL.models.learners.__dict__.get("check_X_y"),
    ) == bound


def test_sklearn_and_numpy_left_alone():
    check_X_y = sklearn.utils.validation.check_X_y
    assert sklearn.utils.check_X_y is check_X_y
    assert not getattr(check_X_y, _modal_compat._MARKER, False)
    assert check_X_y.__module__ == "sklearn.utils.validation"
    if "np.float" in patch_modal():
        assert not hasattr(np, "float")


def test_modal_binding_is_wrapped_where_needed():
    import modAL.models.base
    import modAL.models.learners

    bindings = [
        m.check_X_y
        for m in (modAL.models.base, modAL.models.learners)
        if hasattr(m, "check_X_y")
    ]
    assert bindings, "modAL no longer imports check_X_y: revisit _modal_compat"
    wrapped = "check_X_y" in patch_modal()
    for fn in bindings:
        assert bool(getattr(fn, _modal_compat._MARKER, False)) == wrapped
        assert fn.__name__ == "check_X_y"


def test_wrapper_translates_and_rejects_both_names():
    original = sklearn.utils.validation.check_X_y
    wrapper = _modal_compat._check_X_y_wrapper(original)
    assert _modal_compat._check_X_y_wrapper(original) is wrapper
    X = np.array([[0.0, np.nan], [1.0, 2.0]])
    y = np.array([0, 1])
    Xc, _ = wrapper(X, y, force_all_finite="allow-nan")
    assert np.isnan(Xc[0, 1])
    with pytest.raises(ValueError, match="NaN"):
        wrapper(X, y, force_all_finite=True)
    with pytest.raises(TypeError, match="only 'ensure_all_finite'"):
        wrapper(X, y, force_all_finite=True, ensure_all_finite=True)


def _run_isolated(code):
    """Run ``code`` in a fresh interpreter with _modal_compat loaded from file,
    without importing the skmixal package (whose __init__ patches already)."""
    prelude = textwrap.dedent(
        f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location(
            "compat_under_test", {str(COMPAT_FILE)!r})
        compat = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(compat)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_patch_does_not_import_modal():
    out = _run_isolated(
        """
        fixes = compat.patch_modal()
        print(sorted(fixes), "modAL" in sys.modules)
        """
    )
    assert out.strip().endswith("False")


def test_modal_imported_before_patch_is_fixed():
    out = _run_isolated(
        """
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        from modAL.models import ActiveLearner   # imported before the patch
        compat.patch_modal()
        rng = np.random.RandomState(0)
        X = rng.normal(size=(20, 3)); y = np.arange(20) % 2
        learner = ActiveLearner(LogisticRegression(), X_training=X[:10],
                                y_training=y[:10])
        learner.teach(X[10:], y[10:])
        import modAL.expected_error
        print(len(learner.X_training))
        """
    )
    assert out.strip() == "20"


def test_importing_skmixal_applies_the_fix():
    # What users rely on: `import skmixal` alone, in a fresh interpreter.
    code = textwrap.dedent(
        """
        import numpy as np
        import skmixal
        from sklearn.linear_model import LogisticRegression
        from modAL.models import ActiveLearner
        from modAL.expected_error import expected_error_reduction
        rng = np.random.RandomState(0)
        X = rng.normal(size=(20, 3)); y = np.arange(20) % 2
        learner = ActiveLearner(LogisticRegression(), X_training=X[:10],
                                y_training=y[:10])
        learner.teach(X[10:], y[10:])
        print(len(learner.X_training))
        """
    )
    root = str(Path(skmixal.__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH")) if p
        ),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "20"


# --- ActiveLearner / Committee on the real modAL ---------------------------


@pytest.mark.parametrize(
    "estimator",
    [
        LogisticRegression(max_iter=500),
        RandomForestClassifier(n_estimators=20, random_state=0),
    ],
    ids=["logreg", "forest"],
)
def test_active_learner_query_teach_grows_training_set(modal_digits, estimator):
    X0, y0, X_pool, y_pool = _split(*modal_digits)
    learner = ActiveLearner(
        estimator=estimator,
        query_strategy=uncertainty_sampling,
        X_training=X0,
        y_training=y0,
    )
    for round_ in range(3):
        idx, X_query = learner.query(X_pool, n_instances=5)
        idx = np.asarray(idx)
        assert idx.shape == (5,)
        assert len(np.unique(idx)) == 5
        np.testing.assert_array_equal(X_query, X_pool[idx])
        learner.teach(X_query, y_pool[idx])
        assert len(learner.X_training) == len(X0) + 5 * (round_ + 1)
        assert len(learner.y_training) == len(learner.X_training)
        X_pool = np.delete(X_pool, idx, axis=0)
        y_pool = np.delete(y_pool, idx, axis=0)
    assert learner.score(X_pool, y_pool) > 0.6


def test_committee_query_teach(modal_digits):
    X0, y0, X_pool, y_pool = _split(*modal_digits)
    learners = [
        ActiveLearner(
            estimator=RandomForestClassifier(n_estimators=10, random_state=seed),
            X_training=X0,
            y_training=y0,
        )
        for seed in range(3)
    ]
    committee = Committee(learner_list=learners)
    idx, X_query = committee.query(X_pool, n_instances=4)
    idx = np.asarray(idx)
    assert idx.shape == (4,)
    committee.teach(X_query, y_pool[idx])
    for learner in committee:
        assert len(learner.X_training) == len(X0) + 4
    assert committee.predict(X_pool[:10]).shape == (10,)


def test_teach_only_new_fits_on_new_data(modal_digits):
    X0, y0, X_pool, y_pool = _split(*modal_digits)
    learner = ActiveLearner(
        estimator=LogisticRegression(max_iter=500), X_training=X0, y_training=y0
    )
    learner.teach(X_pool[:50], y_pool[:50], only_new=True)
    # only_new: the estimator saw X_pool[:50]; 0.4.1 still appends to
    # X_training, 0.4.2.x does not.
    expected = len(X0) if _modal_at_least_042() else len(X0) + 50
    assert len(learner.X_training) == expected


def test_force_all_finite_is_forwarded(modal_digits):
    X0, y0, _, _ = _split(*modal_digits)
    X_nan = X0.copy()
    X_nan[::3, 5] = np.nan

    strict = ActiveLearner(estimator=HistGradientBoostingClassifier(max_iter=5))
    with pytest.raises(ValueError, match="NaN"):
        strict.teach(X_nan, y0)

    # The learner is built without X_training: modAL 0.4.2.x would forward
    # force_all_finite to estimator.fit() at construction time.
    lenient = ActiveLearner(
        estimator=HistGradientBoostingClassifier(max_iter=5), force_all_finite=False
    )
    lenient.teach(X_nan, y0)
    assert np.isnan(lenient.X_training).sum() == np.isnan(X_nan).sum()
    assert lenient.predict(X_nan).shape == (len(X_nan),)


# --- modAL.expected_error ----------------------------------------------------


def test_expected_error_module_imports_and_keeps_its_file():
    import modAL.expected_error as ee

    fn = ee.expected_error_reduction
    annotation = inspect.signature(fn).parameters["p_subsample"].annotation
    assert annotation is float or hasattr(np, "float")
    # Tracebacks and inspect still point at modAL's file.
    assert fn.__code__.co_filename == ee.__file__
    assert "def expected_error_reduction" in inspect.getsource(ee)


def _binary_expected_errors(X_train, y_train, X_pool, estimator):
    # Roy & McCallum (2001) with modAL's 'binary' loss, written out directly.
    proba = estimator.fit(X_train, y_train).predict_proba(X_pool)
    labels = np.unique(y_train)
    errors = np.zeros(len(X_pool))
    for i in range(len(X_pool)):
        X_rest = np.delete(X_pool, i, axis=0)
        for j, label in enumerate(labels):
            refit = LogisticRegression().fit(
                np.vstack([X_train, X_pool[i : i + 1]]), np.append(y_train, label)
            )
            errors[i] += (
                np.sum(1 - refit.predict_proba(X_rest).max(axis=1)) * proba[i, j]
            )
    return errors


def test_expected_error_reduction_runs():
    from modAL.expected_error import expected_error_reduction

    rng = np.random.RandomState(0)
    X_train = np.vstack([rng.normal(-2, 1, (5, 2)), rng.normal(2, 1, (5, 2))])
    y_train = np.repeat([0, 1], 5)
    X_pool = rng.normal(0, 2, (8, 2))

    learner = ActiveLearner(
        estimator=LogisticRegression(),
        query_strategy=expected_error_reduction,
        X_training=X_train,
        y_training=y_train,
    )
    idx, X_query = learner.query(X_pool, loss="binary", p_subsample=1.0)
    errors = _binary_expected_errors(X_train, y_train, X_pool, LogisticRegression())
    assert np.asarray(idx).tolist() == [int(np.argmin(errors))]
    np.testing.assert_array_equal(X_query, X_pool[idx])


# --- DeepActiveLearner (modAL 0.4.2.x) -------------------------------------


def test_deep_active_learner_query_teach(modal_digits):
    if not hasattr(modAL_models, "DeepActiveLearner"):
        pytest.skip("DeepActiveLearner exists from modAL 0.4.2")
    import torch
    from modAL.models import DeepActiveLearner
    from skorch import NeuralNetClassifier
    from skorch.toy import make_classifier

    torch.manual_seed(0)
    X0, y0, X_pool, y_pool = _split(*modal_digits)
    X0, X_pool = (X0 / 16).astype(np.float32), (X_pool / 16).astype(np.float32)
    net = NeuralNetClassifier(
        make_classifier(input_units=64, hidden_units=32, output_units=10),
        max_epochs=5,
        lr=0.5,
        train_split=None,
        verbose=0,
    )
    learner = DeepActiveLearner(estimator=net, query_strategy=uncertainty_sampling)
    learner.teach(X0, y0, warm_start=False)
    epochs_before = len(net.history)
    idx, X_query = learner.query(X_pool, n_instances=5)
    idx = np.asarray(idx)
    assert idx.shape == (5,)
    np.testing.assert_array_equal(X_query, X_pool[idx])
    learner.teach(X_query, y_pool[idx])  # warm start: partial_fit
    assert len(net.history) == epochs_before + 5
    assert learner.predict_proba(X_pool[:3]).shape == (3, 10)
