"""scikit-learn's own estimator checks, run on MixupNetClassifier."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skmixal import MixupNetClassifier


def _estimators():
    # small fast network: the checks fit dozens of times on tiny data
    fast = dict(random_state=0, max_epochs=5, min_steps=150)
    return [MixupNetClassifier(**fast),
            MixupNetClassifier(semi_supervised=None, **fast),
            MixupNetClassifier(precision="bfloat16", **fast)]


# No expected failures: -1 is an ordinary class unless unlabeled_label=-1 is
# asked for, so the check that fits labels {-1, 1} passes.
@parametrize_with_checks(_estimators())
def test_sklearn_compatible(estimator, check):
    check(estimator)
