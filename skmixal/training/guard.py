"""A guard against collapsed semi-supervised fits, for every training method.

A semi-supervised fit can collapse: the network's guesses on the pool run away
to a few classes, it trains on them, and ends predicting one class everywhere
(MixMatch did on CIFAR-10 with 100 labels, and on digits after 50 steps). It
is silent: the loss looks fine. Two symptoms are cheap to read and do not
depend on the method:

- the classes the network predicts for the unlabeled batches it saw at the end
  of training (every method records them, :meth:`FitContext.observe`)
  concentrate on far fewer classes than the labels have. Measured by the
  effective number of classes, ``exp(entropy)`` of the class shares: a
  balanced 10-class pool predicted well has about 10, a collapse about 1.
- the network no longer fits its own labeled rows: a supervised network
  learns a few hundred labels almost perfectly, and one whose labeled loss
  lost to the unlabeled loss does not.

:func:`assess` turns these into a verdict; the estimator (``collapse_guard``)
then warns and, by default, refits the supervised model, so a user is never
left with a model worse than training on the labels alone.

A supervised fit is read too, for a plainer failure: a network that did not
learn its labels at all (too large a rate leaves it predicting one class
without a non-finite weight; too few steps leave it near chance). The
estimator warns with scikit-learn's ``ConvergenceWarning``; there is nothing
safer to fall back on.
"""

import numpy as np
import torch
from skorch.utils import is_dataset

from skmixal._validation import as_numpy
from skmixal.exceptions import SemiSupervisedCollapseWarning

__all__ = ["SemiSupervisedCollapseWarning", "assess", "effective_classes",
           "fit_report", "learned"]

# A fit is collapsed when its pool predictions cover fewer than this share of
# the labels' effective classes, or when it fits fewer than this share of its
# own labeled rows (class-balanced). Measured with 10 balanced classes: healthy
# fits (MNIST and CIFAR-10, benchmarks/semi_supervised.py) covered 8.0 to 10
# effective classes and fitted 96 to 100 % of their labels; collapsed MixMatch
# fits on digits (10 or 50 steps) covered 1.1 to 6.3 and fitted 10 %.
# The labeled line is higher than the pool's because a supervised network fits
# nearly all its labels, so one under 80 % let its guesses override them:
# benchmarks/guard_threshold.py found 3 such fits in 192, all below supervised
# training (refitting gained 20 points in all), and none on digits or MNIST
# under 99 %. Raising the pool line instead refit more good fits than bad.
MIN_POOL_SHARE = 0.5
MIN_LABELED_ACCURACY = 0.8
# A supervised fit has learned its labels when it fits at least this share of
# the way from chance (one class for every row) to all of them, class-balanced:
# 32.5 % with 10 classes. benchmarks/learned_line.py, digits, 3 seeds: lr=1 or
# 10 fitted 10-11.5 % of 200 labels (one class for every row, finite weights);
# one epoch (4 steps) 14-35 %, three (12 steps) 47-56 %; default fits 99-100 %,
# 1,797 labels with 40 % replaced at random 62 %, labels drawn at random 88-94 %
# (a network memorises them); CIFAR-10 from scratch with 250 labels 100 %. A
# line this low names failed training, not noisy labels.
MIN_LEARNED_SHARE = 0.25
# steps at the end of the fit whose pool predictions are read
WINDOW = 100


def effective_classes(counts):
    """``exp(entropy)`` of the class shares of ``counts`` (0 when empty)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return 0.0
    shares = counts[counts > 0] / total
    return float(np.exp(-(shares * np.log(shares)).sum()))


def _balanced_accuracy(codes, predicted, n_classes):
    recalls = [np.mean(predicted[codes == c] == c) for c in range(n_classes)
               if np.any(codes == c)]
    return float(np.mean(recalls)) if recalls else float("nan")


def assess(pool_counts, label_codes, predicted_codes, n_classes):
    """The guard's verdict on one semi-supervised fit.

    Parameters
    ----------
    pool_counts : array-like of shape (n_classes,)
        How often each class was predicted on the unlabeled batches of the
        last steps.
    label_codes : ndarray of int or None
        Class codes of the labeled rows (None: unknown, e.g. a torch Dataset;
        the labeled check is then skipped and the pool is compared with a
        uniform distribution over the classes).
    predicted_codes : ndarray of int or None
        The fitted network's predictions for those rows.
    n_classes : int

    Returns
    -------
    report : dict
        ``collapsed`` (bool), ``reason`` (str or None), ``pool_classes`` and
        ``label_classes`` (effective numbers of classes), ``labeled_accuracy``
        (class-balanced, or None).
    """
    if label_codes is None:
        reference = float(n_classes)
        accuracy = None
    else:
        label_codes = np.asarray(label_codes)
        reference = effective_classes(np.bincount(label_codes, minlength=n_classes))
        accuracy = _balanced_accuracy(label_codes, np.asarray(predicted_codes),
                                      n_classes)
    pool = effective_classes(pool_counts)
    reasons = []
    if pool < MIN_POOL_SHARE * reference:
        reasons.append(
            f"its predictions on the unlabeled rows cover {pool:.1f} effective "
            f"classes against {reference:.1f} in the labels")
    if accuracy is not None and accuracy < MIN_LABELED_ACCURACY:
        reasons.append(
            f"it fits only {accuracy:.0%} of its own labeled rows (class-balanced)")
    return {"collapsed": bool(reasons),
            "reason": "; ".join(reasons) or None,
            "pool_classes": round(pool, 3), "label_classes": round(reference, 3),
            "labeled_accuracy": None if accuracy is None else round(accuracy, 4)}


def learned(label_codes, predicted_codes, n_classes):
    """Whether a supervised fit learned its labels, and why not.

    Parameters
    ----------
    label_codes, predicted_codes : ndarray of int
        Class codes of the labeled rows and the fitted network's predictions.
    n_classes : int

    Returns
    -------
    learned : bool
        False when the class-balanced accuracy is less than
        ``MIN_LEARNED_SHARE`` of the way from chance (``1 / k`` for ``k``
        classes among the labels) to 1. Labels of one class: True.
    accuracy : float
        The class-balanced accuracy.
    reason : str or None
    """
    accuracy = _balanced_accuracy(label_codes, predicted_codes, n_classes)
    chance = 1 / len(np.unique(label_codes))
    if chance == 1 or accuracy >= chance + MIN_LEARNED_SHARE * (1 - chance):
        return True, accuracy, None
    return False, accuracy, (
        f"it fits {accuracy:.0%} of its own labeled rows (class-balanced), where "
        f"one class for every row fits {chance:.0%}")


def _labeled_fit(net, X, y):
    """Codes and predictions of up to 4,096 labeled rows (None, None for a
    Dataset, whose labels are not read)."""
    if is_dataset(X):
        return None, None
    # up to 4,096 labeled rows (in order): enough to read how well they fit
    rows = np.sort(np.random.default_rng(0).permutation(len(X))[:4096])
    predicted = as_numpy(torch.cat([proba.argmax(dim=1) for proba in
                                    net.iter_outputs(X[rows])]))
    return as_numpy(y)[rows], predicted


def fit_report(net, method, X, y):
    """The ``fit_report_`` of a fit of ``net`` with ``method`` on (X, codes y)."""
    name = net.semi_supervised_ if method.uses_unlabeled else "supervised"
    report = {"method": name, "n_unlabeled": net.n_unlabeled_,
              "collapsed": False, "reason": None, "action": None}
    if method.context.step == 0:
        # no step ran (max_epochs=0): the untrained network is what the user
        # asked for, not a collapse nor a failed fit
        return report
    if not method.uses_unlabeled:
        codes, predicted = _labeled_fit(net, X, y)
        if codes is not None:
            ok, accuracy, reason = learned(codes, predicted, len(net.classes_))
            report.update(learned=ok, labeled_accuracy=round(accuracy, 4),
                          reason=reason)
        return report
    # measured whatever collapse_guard says: with None the report still tells
    # what it saw, and only the warning and the refit are left out
    observed = method.context.observed[-WINDOW:]
    counts = as_numpy(torch.stack(observed).sum(dim=0))
    codes, predicted = _labeled_fit(net, X, y)
    report.update(assess(counts, codes, predicted, len(net.classes_)))
    return report
