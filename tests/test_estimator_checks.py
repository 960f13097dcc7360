"""scikit-learn's own estimator checks, run on MixupNetClassifier."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skmixal import MixupNetClassifier

# Every check is expected to pass; a check that cannot pass would be listed here
# by name with the reason, as imbalanced-learn does.
EXPECTED_FAILED_CHECKS = {}


def _estimators():
    # small fast network: the checks fit dozens of times on tiny data
    return [MixupNetClassifier(random_state=0, max_epochs=5, min_steps=150)]


@parametrize_with_checks(
    _estimators(), expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
