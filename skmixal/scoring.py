"""Informativeness scores computed from predicted probabilities.

Pure functions on arrays: NumPy arrays in (torch tensors are accepted and moved
to the CPU), NumPy arrays out, no estimator in sight. Every score is
*higher = more informative*, so one selector (:func:`skmixal.selection.top_k`)
serves them all. Logarithms are natural; ``0 * log 0`` is taken as 0.

Shapes: ``proba`` is (n_samples, n_classes); ``mc_proba`` holds ``n_mc``
stochastic forward passes (MC dropout, ensemble members) and is
(n_mc, n_samples, n_classes). Rows are expected to sum to one.
"""

from numbers import Integral

import numpy as np
from scipy.special import entr

from skmixal._validation import as_numpy

__all__ = [
    "bald_scores",
    "entropy_scores",
    "expand_joint_proba",
    "joint_entropy_scores",
    "least_confidence_scores",
    "margin_scores",
]


def _check_proba(proba, name, ndim):
    """Return ``proba`` as a floating array of ``ndim`` dims, finite and >= 0."""
    shapes = {
        2: "(n_samples, n_classes)",
        3: "(n_mc, n_samples, n_classes)",
    }
    proba = as_numpy(proba)
    kind = proba.dtype.kind
    if kind not in "biuf":  # bool, signed, unsigned, floating
        raise ValueError(f"{name} must be a numeric array, got dtype {proba.dtype}.")
    if proba.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-D array of shape {shapes[ndim]}, "
            f"got shape {proba.shape}."
        )
    if proba.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one class (column).")
    if ndim == 3 and proba.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one MC sample (axis 0).")
    if not np.issubdtype(proba.dtype, np.floating):
        proba = proba.astype(np.float64)
    if not np.isfinite(proba).all():
        raise ValueError(f"{name} must contain only finite values (no NaN or inf).")
    if proba.size and proba.min() < 0:
        raise ValueError(f"{name} must contain probabilities >= 0.")
    return proba


def least_confidence_scores(proba):
    """One minus the probability of the most likely class.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        ``1 - max_c p(c | x)``; 0 for a certain prediction.

    References
    ----------
    Lewis & Gale, "A sequential algorithm for training text classifiers",
    SIGIR 1994.
    """
    proba = _check_proba(proba, "proba", 2)
    return 1.0 - proba.max(axis=1)  # (n_samples,)


def margin_scores(proba):
    """One minus the gap between the two most likely classes.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities. With a single class the runner-up
        probability is taken as 0.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        ``1 - (p_1 - p_2)`` with ``p_1 >= p_2`` the two largest probabilities;
        1 for a tie between the top two, 0 for a certain prediction.

    References
    ----------
    Scheffer, Decomain & Wrobel, "Active hidden Markov models for information
    extraction", IDA 2001.
    """
    proba = _check_proba(proba, "proba", 2)
    if proba.shape[1] == 1:
        return 1.0 - proba[:, 0]
    top2 = -np.partition(-proba, 1, axis=1)[:, :2]  # (n_samples, 2), descending
    return 1.0 - (top2[:, 0] - top2[:, 1])


def entropy_scores(proba):
    """Shannon entropy of the predicted class distribution.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        ``-sum_c p_c log p_c`` in nats, between 0 (certain) and
        ``log(n_classes)`` (uniform).

    References
    ----------
    Shannon, "A mathematical theory of communication", 1948; Settles, "Active
    learning literature survey", 2009.
    """
    proba = _check_proba(proba, "proba", 2)
    return entr(proba).sum(axis=1)  # entr(p) = -p log p, entr(0) = 0


def _expected_entropy(mc_proba):
    # (n_mc, n_samples, n_classes) -> (n_samples,): E_w H[y | x, w]
    return entr(mc_proba).sum(axis=2).mean(axis=0)


def bald_scores(mc_proba):
    """Mutual information between the label and the model parameters (BALD).

    Parameters
    ----------
    mc_proba : array-like of shape (n_mc, n_samples, n_classes)
        Class probabilities from ``n_mc`` stochastic forward passes (MC dropout)
        or ensemble members.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        ``H[mean_w p(y | x, w)] - mean_w H[p(y | x, w)]`` in nats; 0 when all
        samples agree, at most ``log(n_classes)``.

    References
    ----------
    Houlsby, Huszár, Ghahramani & Lengyel, "Bayesian active learning for
    classification and preference learning", arXiv:1112.5745, 2011; Gal, Islam
    & Ghahramani, "Deep Bayesian active learning with image data", ICML 2017.
    """
    mc_proba = _check_proba(mc_proba, "mc_proba", 3)
    mean_proba = mc_proba.mean(axis=0)  # (n_samples, n_classes)
    total = entr(mean_proba).sum(axis=1)  # (n_samples,)
    # Non-negative by Jensen's inequality; clip the rounding noise.
    return np.maximum(total - _expected_entropy(mc_proba), 0.0)


def expand_joint_proba(mc_joint, mc_proba_selected):
    """Add one selected point to the joint label probabilities of a batch.

    BatchBALD keeps, per MC sample ``w``, the probability of every labelling of
    the points selected so far: ``mc_joint[w, j] = prod_i p(y_i = c_ij | w)``
    over the ``n_classes ** batch_size`` labellings ``j``.

    Parameters
    ----------
    mc_joint : array-like of shape (n_mc, n_configs) or None
        Joint probabilities of the current batch; None for an empty batch.
    mc_proba_selected : array-like of shape (n_mc, n_classes)
        Class probabilities of the newly selected point, one row per MC sample.

    Returns
    -------
    mc_joint : ndarray of shape (n_mc, n_configs * n_classes)
        Joint probabilities of the batch grown by one point.
    """
    mc_proba_selected = _check_proba(mc_proba_selected, "mc_proba_selected", 2)
    n_mc = mc_proba_selected.shape[0]
    mc_joint = _check_joint(mc_joint, n_mc, mc_proba_selected.dtype)
    # (n_mc, n_configs, 1) * (n_mc, 1, n_classes) -> (n_mc, n_configs * n_classes)
    return (mc_joint[:, :, None] * mc_proba_selected[:, None, :]).reshape(n_mc, -1)


def _check_joint(mc_joint, n_mc, dtype):
    if mc_joint is None:
        return np.ones((n_mc, 1), dtype=dtype)
    mc_joint = _check_proba(mc_joint, "mc_joint", 2)
    if mc_joint.shape[0] != n_mc:
        raise ValueError(
            f"mc_joint has {mc_joint.shape[0]} MC samples (rows) but the "
            f"probabilities have {n_mc}."
        )
    return mc_joint


def joint_entropy_scores(mc_proba, mc_joint=None, *, chunk_size=None):
    """Joint entropy of a batch's labels and each candidate's label.

    For every candidate ``x``, ``H[y_1, ..., y_b, y_x]`` under the predictive
    distribution ``p(y_1..y_b, y_x) = mean_w p(y_1..y_b | w) p(y_x | w)``.
    BatchBALD's acquisition of candidate ``x`` is this value minus the summed
    expected conditional entropies ``E_w H[y | w]`` of the batch and of ``x``;
    with an empty batch it reduces to BALD.

    Parameters
    ----------
    mc_proba : array-like of shape (n_mc, n_samples, n_classes)
        Candidates' class probabilities per MC sample.
    mc_joint : array-like of shape (n_mc, n_configs) or None, default=None
        Joint probabilities of the batch selected so far, from
        :func:`expand_joint_proba`; None for an empty batch.
    chunk_size : int or None, default=None
        Candidates processed at once; bounds the temporary memory to
        ``chunk_size * n_configs * n_classes`` values. None picks a size that
        keeps it near 4 million values.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        Joint entropies in nats.

    References
    ----------
    Kirsch, van Amersfoort & Gal, "BatchBALD: Efficient and diverse batch
    acquisition for deep Bayesian active learning", NeurIPS 2019.
    """
    mc_proba = _check_proba(mc_proba, "mc_proba", 3)
    n_mc, n_samples, n_classes = mc_proba.shape
    mc_joint = _check_joint(mc_joint, n_mc, mc_proba.dtype)
    n_configs = mc_joint.shape[1]
    if chunk_size is None:
        chunk_size = max(1, 2**22 // (n_configs * n_classes))
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, Integral):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
    elif chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}.")
    scores = np.empty(n_samples, dtype=np.result_type(mc_proba, mc_joint))
    for start in range(0, n_samples, chunk_size):
        block = mc_proba[:, start : start + chunk_size]  # (n_mc, b, n_classes)
        # p[i, j, c] = mean_w mc_joint[w, j] * block[w, i, c]
        joint = np.einsum("wj,wic->ijc", mc_joint, block) / n_mc
        scores[start : start + chunk_size] = entr(joint).sum(axis=(1, 2))
    return scores
