"""The collapse guard: its verdict against hand-computed numbers, and what the
estimator does with it (warning, supervised refit, fit_report_)."""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from skmixal import MixupNetClassifier
from skmixal.training.guard import (
    SemiSupervisedCollapseWarning,
    assess,
    effective_classes,
    fit_report,
)


def test_effective_classes_is_the_exponential_of_the_entropy():
    assert effective_classes([5, 5, 5, 5]) == pytest.approx(4.0)
    assert effective_classes([7, 0, 0]) == pytest.approx(1.0)
    shares = np.array([0.5, 0.25, 0.25])
    assert effective_classes([2, 1, 1]) == pytest.approx(
        np.exp(-(shares * np.log(shares)).sum()))
    assert effective_classes([0, 0]) == 0.0
    assert effective_classes([0, 1, 0]) == 1.0  # one prediction: one class


def test_assess_flags_a_pool_predicted_as_one_class():
    codes = np.repeat(np.arange(10), 3)
    report = assess([0, 97, 1, 0, 0, 0, 2, 0, 0, 0], codes, codes, 10)
    assert report["collapsed"] and "effective classes" in report["reason"]
    assert report["labeled_accuracy"] == 1.0
    assert report["label_classes"] == pytest.approx(10.0)
    healthy = assess(np.full(10, 30), codes, codes, 10)
    assert not healthy["collapsed"] and healthy["reason"] is None


def test_assess_flags_a_network_that_no_longer_fits_its_labels():
    codes = np.repeat(np.arange(4), 5)
    wrong = np.where(np.arange(20) < 8, codes, (codes + 1) % 4)  # 40 % right
    report = assess(np.full(4, 10), codes, wrong, 4)
    assert report["collapsed"] and "40% of its own labeled rows" in report["reason"]
    # class-balanced: one class of 4 entirely wrong is 75 %, under the 80 %
    # line, although 85 % of the rows are right
    one_off = np.where(codes == 3, 0, codes)
    report = assess(np.full(4, 10), codes, one_off, 4)
    assert report["labeled_accuracy"] == 0.75 and np.mean(one_off == codes) == 0.75
    assert report["collapsed"] and "75% of its own labeled rows" in report["reason"]
    many = np.repeat(np.arange(4), [17, 1, 1, 1])  # 17 of 20 rows are class 0
    right = np.where(np.arange(20) == 17, 0, many)  # class 1's row wrong
    assert np.mean(right == many) == 0.95
    assert assess(np.full(4, 10), many, right, 4)["collapsed"]


def test_assess_without_labels_compares_the_pool_with_the_classes():
    report = assess([50, 50, 0, 0, 0, 0], None, None, 6)
    assert report["collapsed"] and report["labeled_accuracy"] is None
    assert report["label_classes"] == 6.0


# -- the estimator -------------------------------------------------------------------
@pytest.fixture(scope="module")
def images(digits):
    X, y = digits
    X = X.reshape(-1, 8, 8).astype(np.float32)
    return X[:60], y[:60], X[60:600], X[1500:]


# 40 MixMatch steps leave the network predicting one class (the careless-user
# case of issue 14: --min-steps 50 --semi-supervised on digits gave 0.10)
SHORT = dict(semi_supervised="mixmatch", min_steps=40, random_state=3)


def test_a_collapsed_fit_warns_and_refits_the_supervised_model(images):
    X, y, U, Xt = images
    with pytest.warns(SemiSupervisedCollapseWarning,
                      match=r"The mixmatch fit collapsed: .* the supervised model "
                            r"was refit"):
        guarded = MixupNetClassifier(**SHORT).fit(X, y, X_unlabeled=U)
    report = guarded.fit_report_
    assert report["collapsed"] and report["action"] == "refit supervised"
    assert report["labeled_accuracy"] < 0.5 and report["n_unlabeled"] == len(U)
    # the model now is exactly the supervised fit with the same seed
    supervised = MixupNetClassifier(**dict(SHORT, semi_supervised=None)).fit(X, y)
    np.testing.assert_array_equal(guarded.predict_proba(Xt),
                                  supervised.predict_proba(Xt))
    assert guarded.n_unlabeled_ == 0


def test_warn_keeps_the_collapsed_model_and_none_stays_silent(images):
    X, y, U, Xt = images
    with pytest.warns(SemiSupervisedCollapseWarning, match="the model was kept"):
        warned = MixupNetClassifier(collapse_guard="warn", **SHORT).fit(
            X, y, X_unlabeled=U)
    assert warned.fit_report_["action"] == "warned"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        silent = MixupNetClassifier(collapse_guard=None, **SHORT).fit(
            X, y, X_unlabeled=U)
    # None neither warns nor refits, but the report says what the check saw
    assert silent.fit_report_["collapsed"] is True
    assert silent.fit_report_["action"] is None
    assert silent.fit_report_["reason"] == warned.fit_report_["reason"]
    np.testing.assert_array_equal(warned.predict_proba(Xt), silent.predict_proba(Xt))
    # the collapsed model predicts (almost) one class
    assert np.bincount(silent.predict(Xt)).max() > 0.8 * len(Xt)


def test_a_healthy_fit_is_reported_and_kept(images):
    X, y, U, _ = images
    with warnings.catch_warnings():
        warnings.simplefilter("error", SemiSupervisedCollapseWarning)
        clf = MixupNetClassifier(semi_supervised="fixmatch", min_steps=300,
                                 random_state=3).fit(X, y, X_unlabeled=U)
    report = clf.fit_report_
    assert not report["collapsed"] and report["action"] is None
    assert report["pool_classes"] > 8 and report["labeled_accuracy"] > 0.9


def test_bad_collapse_guard_is_rejected(images):
    X, y, U, _ = images
    with pytest.raises(ValueError, match=r"collapse_guard must be one of \('refit', "
                                         r"'warn'\) or None"):
        MixupNetClassifier(collapse_guard="restart").fit(X, y, X_unlabeled=U)


@pytest.mark.parametrize("method, steps", [("fixmatch", 1000), ("mixmatch", 2000)])
def test_a_fit_without_steps_is_not_judged(images, method, steps):
    # max_epochs=0 trains nothing: the untrained network is what the user asked
    # for, not a collapse, and 'auto' still resolves to the documented steps
    X, y, U, _ = images
    with warnings.catch_warnings():
        warnings.simplefilter("error", SemiSupervisedCollapseWarning)
        clf = MixupNetClassifier(semi_supervised=method, max_epochs=0,
                                 random_state=0).fit(X, y, X_unlabeled=U)
    assert clf.fit_report_ == {"method": method, "n_unlabeled": len(U),
                               "collapsed": False, "reason": None, "action": None}
    assert clf.min_steps_ == steps and clf.n_unlabeled_ == len(U)


# -- the report, on a fake fit (the numbers by hand) ---------------------------------
def test_assess_thresholds_are_half_of_the_classes_and_80_percent_of_the_labels():
    # exactly half of 4 classes (2.0 is exact in floating point): kept
    assert not assess([5, 5, 0, 0], None, None, 4)["collapsed"]
    assert assess([6, 4, 0, 0], None, None, 4)["collapsed"]
    codes = np.repeat(np.arange(10), 2)
    # 5 equally predicted classes of 10: exactly half, not collapsed; 4: collapsed
    assert not assess([4] * 5 + [0] * 5, codes, codes, 10)["collapsed"]
    assert assess([5] * 4 + [0] * 6, codes, codes, 10)["collapsed"]
    # 8 classes of 10 fitted, 2 not at all: 80 % (4 / 5 is the double 0.8),
    # kept; one row of a third class wrong as well: 75 %, collapsed
    eight = np.where(codes >= 8, (codes + 1) % 10, codes)
    assert assess(np.full(10, 3), codes, eight, 10)["labeled_accuracy"] == 0.8
    assert not assess(np.full(10, 3), codes, eight, 10)["collapsed"]
    worse = np.where(np.arange(20) == 14, 0, eight)  # row 14 is class 7
    report = assess(np.full(10, 3), codes, worse, 10)
    assert report["collapsed"] and report["labeled_accuracy"] == 0.75
    assert report["reason"] == ("it fits only 75% of its own labeled rows "
                                "(class-balanced)")


def test_assess_rounds_its_numbers_and_skips_classes_without_labels():
    codes = np.array([0, 0, 1, 2])
    predicted = np.array([0, 1, 1, 0])  # recalls 1/2, 1, 0 of classes 0, 1, 2
    report = assess([2, 1, 1, 0], codes, predicted, 4)  # class 3 has no label
    shares = np.array([0.5, 0.25, 0.25])
    assert report["pool_classes"] == round(float(np.exp(-(shares * np.log(shares))
                                                     .sum())), 3) == 2.828
    assert report["label_classes"] == 2.828
    assert report["labeled_accuracy"] == 0.5
    thirds = assess([1, 1, 1, 0], np.array([0, 1, 2]), np.array([0, 1, 0]), 4)
    assert thirds["labeled_accuracy"] == 0.6667
    # a class without labels between two with labels is skipped too
    gap = assess([2, 0, 1], np.array([0, 0, 2]), np.array([0, 0, 2]), 3)
    assert gap["labeled_accuracy"] == 1.0 and not gap["collapsed"]


def _fake_fit(observed, n_rows=20, n_classes=4):
    y = np.arange(n_rows) % n_classes
    seen = []

    def iter_outputs(X):
        seen.append(X.copy())
        # a network that fits every labeled row: row r is class r % n_classes
        yield torch.nn.functional.one_hot(torch.as_tensor(X[:, 0] % n_classes),
                                          n_classes).float()

    net = SimpleNamespace(semi_supervised_="fixmatch", n_unlabeled_=7,
                          classes_=np.arange(n_classes), iter_outputs=iter_outputs)
    method = SimpleNamespace(uses_unlabeled=True,
                             context=SimpleNamespace(observed=observed, step=150))
    X = np.arange(n_rows)[:, None]
    return fit_report(net, method, X, y), seen


def test_the_report_reads_the_last_100_steps_of_pool_predictions():
    one_class = torch.tensor([8, 0, 0, 0])
    balanced = torch.tensor([2, 2, 2, 2])
    report, _ = _fake_fit([one_class] * 50 + [balanced] * 100)
    assert not report["collapsed"] and report["pool_classes"] == 4.0
    report, _ = _fake_fit([one_class] * 50 + [balanced] * 99)
    # the window now holds one single-class step and the 99 balanced ones
    counts = np.array([206, 198, 198, 198])
    shares = counts / counts.sum()
    assert report["pool_classes"] == round(float(np.exp(-(shares * np.log(shares))
                                                     .sum())), 3)
    assert report["labeled_accuracy"] == 1.0 and report["method"] == "fixmatch"
    assert report["n_unlabeled"] == 7 and report["action"] is None


def test_the_report_reads_4096_labeled_rows_in_order():
    _, seen = _fake_fit([torch.tensor([1, 1, 1, 1])], n_rows=5000)
    rows = seen[0][:, 0]
    assert len(rows) == 4096 and len(set(rows.tolist())) == 4096
    assert np.all(np.diff(rows) > 0)
    _, seen = _fake_fit([torch.tensor([1, 1, 1, 1])], n_rows=30)
    np.testing.assert_array_equal(seen[0][:, 0], np.arange(30))


@pytest.mark.parametrize("right, learned", [((5, 5), True), ((4, 5), False),
                                            ((8, 0), False), ((8, 8), True)])
def test_a_supervised_fit_learned_a_quarter_of_the_way_from_chance(right, learned):
    # 2 classes of 8 rows, `right` of each predicted right: class-balanced
    # accuracy by hand, against the line 1/2 + 0.25 * (1 - 1/2) = 0.625
    from skmixal.training.guard import learned as learned_check

    codes = np.repeat([0, 1], 8)
    predicted = np.concatenate([np.where(np.arange(8) < right[c], c, 1 - c)
                                for c in (0, 1)])
    ok, accuracy, reason = learned_check(codes, predicted, n_classes=10)
    assert accuracy == pytest.approx((right[0] / 8 + right[1] / 8) / 2)
    assert ok is learned and (reason is None) is learned
    if not learned:
        assert reason == (f"it fits {accuracy:.0%} of its own labeled rows "
                          "(class-balanced), where one class for every row fits 50%")


def test_labels_of_one_class_are_learned_by_any_fit():
    from skmixal.training.guard import learned as learned_check

    assert learned_check(np.zeros(5, int), np.ones(5, int), 3)[0] is True


def test_a_supervised_fit_that_learned_nothing_warns(digits):
    # lr=1 leaves the default MLP predicting one class with finite weights
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import balanced_accuracy_score

    X, y = digits
    X, y = X[:200].astype(np.float32), y[:200]
    with pytest.warns(ConvergenceWarning, match=(
            r"The supervised fit did not learn its labels: it fits 10% of its own "
            r"labeled rows \(class-balanced\), where one class for every row fits "
            r"10%\. Lower lr \(now 1\) or train longer \(min_steps, now 300\)")):
        bad = MixupNetClassifier(lr=1, min_steps=300, random_state=0).fit(X, y)
    assert len(set(bad.predict(X))) == 1
    assert bad.fit_report_ == {
        "method": "supervised", "n_unlabeled": 0, "collapsed": False,
        "learned": False, "labeled_accuracy": 0.1, "action": "warned",
        "reason": "it fits 10% of its own labeled rows (class-balanced), where "
                  "one class for every row fits 10%"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        good = MixupNetClassifier(min_steps=300, random_state=0).fit(X, y)
        # an untrained network is what max_epochs=0 asks for: not judged
        none = MixupNetClassifier(max_epochs=0, random_state=0).fit(X, y)
    assert good.fit_report_["learned"] is True
    assert good.fit_report_["labeled_accuracy"] == pytest.approx(
        balanced_accuracy_score(y, good.predict(X)), abs=5e-5)
    assert "learned" not in none.fit_report_


def test_a_refit_that_learned_nothing_is_said_too(images):
    # lr=1: the MixMatch fit collapses, and the supervised refit with the same
    # rate learns nothing either; both are said, and the report keeps both
    from sklearn.exceptions import ConvergenceWarning

    X, y, U, _ = images
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        clf = MixupNetClassifier(**dict(SHORT, lr=1.0)).fit(X, y, X_unlabeled=U)
    said = [(w.category, str(w.message)) for w in seen]
    assert [c for c, _ in said] == [SemiSupervisedCollapseWarning, ConvergenceWarning]
    assert [w.filename for w in seen] == [__file__] * 2  # the user's line
    report = clf.fit_report_
    assert report["action"] == "refit supervised" and report["learned"] is False
    refit = report["reason"].split("; the supervised refit: ")[1]
    assert said[1][1].startswith(f"The supervised refit did not learn its labels: "
                                 f"{refit}. Lower lr (now 1.0)")
    assert refit.startswith("it fits 10% of its own labeled rows")
    # with a rate that learns, the refit's verdict is kept as learned
    with pytest.warns(SemiSupervisedCollapseWarning):
        fine = MixupNetClassifier(**SHORT).fit(X, y, X_unlabeled=U)
    assert fine.fit_report_["learned"] is True
    assert "refit:" not in fine.fit_report_["reason"]
