"""scikit-learn's own estimator checks, run on MixupNetClassifier."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skmixal import MixupNetClassifier

# A check that cannot pass is listed by name with the reason, as imbalanced-learn
# does. The plain classifier (semi_supervised=None) passes every check.
SEMI_SUPERVISED_FAILURES = {
    "check_classifiers_classes": (
        "y == -1 marks an unlabeled row (scikit-learn's semi-supervised "
        "convention), and this check fits labels {-1, 1}; scikit-learn exempts "
        "its own semi-supervised classifiers by name (LabelPropagation, "
        "LabelSpreading, SelfTrainingClassifier). Declaring classes=[-1, 1] or "
        "semi_supervised=None makes -1 a class."),
}


def _estimators():
    # small fast network: the checks fit dozens of times on tiny data
    fast = dict(random_state=0, max_epochs=5, min_steps=150)
    return [MixupNetClassifier(**fast),
            MixupNetClassifier(semi_supervised=None, **fast)]


def _expected_failures(estimator):
    return {} if estimator.semi_supervised is None else SEMI_SUPERVISED_FAILURES


@parametrize_with_checks(_estimators(), expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)
