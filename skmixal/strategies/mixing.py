"""Mixup-based strategies: ALFA-Mix and mixup consistency.

Both probe how a prediction changes when a pool point is interpolated with
labeled data. ALFA-Mix mixes embeddings with class anchors and looks for label
flips; mixup consistency mixes inputs with labeled examples and measures how
far the network departs from the linear behaviour Mixup training asks of it.
"""

import numpy as np
import torch
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils import check_random_state
from skorch.utils import is_dataset

from skmixal._labels import n_rows
from skmixal._validation import as_numpy, check_features, check_in_range
from skmixal.modules import last_linear
from skmixal.selection import top_k
from skmixal.strategies._modal import modal_strategy
from skmixal.strategies._pool import (
    default_rows,
    is_skmixal,
    iter_batches,
    iter_proba,
    label_codes,
    labeled_embeddings,
    prepare,
    take_rows,
    to_final_step,
)
from skmixal.strategies.diversity import fit_kmeans

__all__ = ["alfamix_sampling", "mixup_consistency_sampling"]


def _need_labels(name, X_labeled, y_labeled, need_y=True):
    if X_labeled is None or n_rows(X_labeled) == 0 or (need_y and y_labeled is None):
        raise ValueError(
            f"{name} needs labeled data: pass a modAL learner with training data, "
            "or X_labeled= and y_labeled= with a bare estimator.")


def _nearest_to_centroids(Z, k, rng):
    """k-means on Z, then the distinct point nearest each centroid."""
    km = fit_kmeans(Z, k, rng.randint(2**31 - 1))
    d = euclidean_distances(Z, km.cluster_centers_, squared=True)  # (n, k)
    picks, used = [], np.zeros(len(Z), dtype=bool)
    for c in range(k):
        for i in np.argsort(d[:, c], kind="stable"):
            if not used[i]:
                picks.append(i)
                used[i] = True
                break
    return np.asarray(picks, dtype=np.int64)


@modal_strategy
def alfamix_sampling(learner_or_estimator, X_pool, n_instances=1, *,
                     random_state=None, X_labeled=None, y_labeled=None, eps=0.2,
                     n_alpha=4, max_candidates=20_000, batch_size=None):
    """ALFA-Mix: points whose label flips when mixed a little with class anchors.

    For each class with labels, the anchor is the mean labeled embedding. Each
    pool embedding ``z`` is interpolated ``alpha * anchor + (1 - alpha) * z``
    for ``alpha`` on the grid ``eps * (1..n_alpha) / n_alpha`` (a scalar grid
    in place of the paper's per-dimension closed-form alpha) and the last
    linear layer predicts its label. Points whose predicted label changes for
    some anchor and alpha are candidates; k-means with ``n_instances`` clusters
    on the candidates' embeddings picks the candidate nearest each centroid.
    With fewer candidates than ``n_instances``, all are taken and the rest are
    drawn at random from the pool.

    Parameters
    ----------
    learner_or_estimator : modAL learner, fitted MixupNetClassifier or Pipeline
        Labeled data comes from the learner's ``X_training`` / ``y_training``.
    %(pool)s
    random_state : int, RandomState instance or None, default=None
    X_labeled, y_labeled : array-like or None, default=None
        Labeled data, for a bare estimator.
    eps : float, default=0.2
        Largest mixing weight of the anchor, in (0, 1).
    n_alpha : int, default=4
        Grid points in (0, eps].
    max_candidates : int, default=20_000
        Candidates kept (highest flip rate first) for the clustering step.
    batch_size : int or None, default=None
    %(result)s
    scores : ndarray of the same shape
        Fraction of (anchor, alpha) pairs that flip the prediction.

    References
    ----------
    Parvaneh, Abbasnejad, Teney, Haffari, van den Hengel & Shi, "Active
    learning by feature mixing", CVPR 2022.
    """
    check_in_range(eps, "eps", low=0, high=1, low_inclusive=False,
                   high_inclusive=False)
    check_in_range(n_alpha, "n_alpha", low=1, integer=True)
    check_in_range(max_candidates, "max_candidates", low=1, integer=True)
    estimator, X_pool, n_select, X_labeled, y_labeled = prepare(
        learner_or_estimator, X_pool, n_instances, X_labeled=X_labeled,
        y_labeled=y_labeled, transform_labeled=True)
    if not is_skmixal(estimator):
        raise TypeError(
            "alfamix_sampling applies the network's last linear layer to mixed "
            f"embeddings and needs a skmixal network; got {type(estimator).__name__}.")
    _need_labels("alfamix_sampling", X_labeled, y_labeled)
    rng = check_random_state(random_state)
    lab = labeled_embeddings(estimator, X_labeled, batch_size=batch_size)
    codes = label_codes(estimator, y_labeled)
    present = np.unique(codes)
    anchors = np.stack([lab[codes == c].mean(0) for c in present])  # (A, D)
    head = last_linear(estimator.module_)
    anchors_t = torch.as_tensor(anchors, device=head.weight.device,
                                dtype=head.weight.dtype)
    alphas = eps * np.arange(1, n_alpha + 1) / n_alpha

    scores = np.zeros(n_rows(X_pool))
    cand_idx = np.empty(0, dtype=np.int64)
    cand_emb = np.empty((0, anchors.shape[1]), dtype=np.float32)
    with torch.no_grad():
        for start, proba, z in iter_proba(estimator, X_pool, embeddings=True,
                                          batch_size=batch_size):
            z = z.reshape(len(z), -1)
            pred = proba.argmax(1)  # (b,)
            flips = torch.zeros(len(z), device=z.device)
            for alpha in alphas:
                mixed = alpha * anchors_t[None] + (1 - alpha) * z[:, None]  # (b, A, D)
                flips += (head(mixed).argmax(-1) != pred[:, None]).float().sum(1)
            rate = as_numpy(flips / (len(alphas) * len(anchors)))
            scores[start : start + len(z)] = rate
            new = np.flatnonzero(rate > 0)
            if len(new):
                cand_idx = np.concatenate([cand_idx, start + new])
                cand_emb = np.concatenate([cand_emb, as_numpy(z[new])])
                if len(cand_idx) > max_candidates:
                    keep = np.sort(top_k(scores[cand_idx], max_candidates,
                                         random_state=rng))
                    cand_idx, cand_emb = cand_idx[keep], cand_emb[keep]
    if len(cand_idx) > n_select:
        picks = cand_idx[_nearest_to_centroids(cand_emb, n_select, rng)]
    else:
        rest = np.setdiff1d(np.arange(n_rows(X_pool)), cand_idx)
        fill = rng.choice(rest, n_select - len(cand_idx), replace=False)
        picks = np.concatenate([cand_idx, fill])
    picks = picks.astype(np.int64)
    return picks, scores[picks]


def _forward(estimator, batch):
    """Class probabilities of one (validated) batch, as a NumPy array."""
    if is_skmixal(estimator):
        batch = torch.as_tensor(batch)
        proba = next(iter(estimator.iter_outputs(batch, batch_size=len(batch))))
        return as_numpy(proba).astype(np.float64)
    return np.asarray(estimator.predict_proba(as_numpy(batch)), dtype=np.float64)


@modal_strategy
def mixup_consistency_sampling(learner_or_estimator, X_pool, n_instances=1, *,
                               random_state=None, X_labeled=None, y_labeled=None,
                               lambdas=(0.25, 0.5, 0.75), n_anchors=10,
                               candidates_per_instance=10, batch_size=None):
    """Pick the points where the model is least consistent with Mixup.

    Mixup trains ``f(lam x + (1 - lam) a)`` towards
    ``lam f(x) + (1 - lam) f(a)`` for pairs of training points. A pool point
    where the network still breaks that linearity, when mixed with labeled
    examples, lies where the model has not been shaped by the labels yet.

    Design: ``n_anchors`` labeled inputs (one per labeled class while classes
    last, drawn with ``random_state``) are mixed in input space with every
    pool point at each ``lam`` in ``lambdas``; the score is the mean total
    variation ``0.5 * |f(mix) - (lam f(x) + (1 - lam) f(a))|_1`` over anchors
    and weights, in [0, 1]. The ``candidates_per_instance * n_instances``
    highest-scoring points are clustered (k-means on their inputs) and the
    point nearest each centroid is selected: on its own the score favours runs
    of near-duplicate atypical points (measured on digits: 0.715 accuracy after
    60 labels without this step, below random sampling). Costs
    ``1 + len(lambdas) * n_anchors`` forward passes per pool point and works
    with any classifier with ``predict_proba`` on numeric input.

    Parameters
    ----------
    learner_or_estimator : modAL learner, fitted classifier or Pipeline ending in one
    %(pool)s
    random_state : int, RandomState instance or None, default=None
        Draws the anchors and breaks ties.
    X_labeled, y_labeled : array-like or None, default=None
        Labeled data, for a bare estimator (``y_labeled`` optional: without it
        the anchors are drawn uniformly).
    lambdas : sequence of float, default=(0.25, 0.5, 0.75)
        Weights of the pool point, each in (0, 1).
    n_anchors : int, default=10
    candidates_per_instance : int, default=10
        Size of the high-score shortlist, per selected point, that the
        diversity step clusters; 1 selects the top scores only.
    batch_size : int or None, default=None
        Rows per forward pass, mixes included (None: 4,096, fewer for wide samples).
    %(result)s
    scores : ndarray of the same shape
        Mean total-variation departure from linearity.

    References
    ----------
    Zhang, Cisse, Dauphin & Lopez-Paz, "mixup: Beyond empirical risk
    minimization", ICLR 2018 (the linear behaviour it induces); an skmixal
    design, in the spirit of the mixing-based probe of Parvaneh et al., CVPR
    2022.
    """
    check_in_range(n_anchors, "n_anchors", low=1, integer=True)
    check_in_range(candidates_per_instance, "candidates_per_instance", low=1,
                   integer=True)
    lam = np.asarray(lambdas, dtype=np.float64).ravel()
    if lam.size == 0 or not np.all((lam > 0) & (lam < 1)):
        raise ValueError(f"lambdas must be values in (0, 1), got {lambdas!r}.")
    # the labeled set stays as given: only the anchors drawn from it are
    # passed through a Pipeline's first steps (to_final_step below)
    estimator, X_pool, n_select, X_labeled, y_labeled = prepare(
        learner_or_estimator, X_pool, n_instances, X_labeled=X_labeled,
        y_labeled=y_labeled)
    _need_labels("mixup_consistency_sampling", X_labeled, y_labeled, need_y=False)
    rng = check_random_state(random_state)
    n_lab = n_rows(X_labeled)
    if y_labeled is not None:
        y = as_numpy(y_labeled).ravel()  # y_labeled may be a CUDA tensor
        per_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
        order = [grp[i] for i in range(max(map(len, per_class)))
                 for grp in per_class if i < len(grp)]  # round-robin over classes
        sel = np.asarray(order[:n_anchors])
    else:
        sel = rng.permutation(n_lab)[:n_anchors]
    anchors = to_final_step(learner_or_estimator,
                            take_rows(X_labeled, np.sort(sel)))
    if is_skmixal(estimator):
        anchors = check_features(estimator, anchors, reset=False)
        # a copy: a DataFrame's values can be a read-only view (and
        # torch.tensor of a tensor warns)
        anchors = (anchors.clone() if torch.is_tensor(anchors)
                   else torch.tensor(anchors))
    else:
        anchors = as_numpy(anchors).astype(np.float64)
    p_a = _forward(estimator, anchors)  # (A, C)
    n_a, n_l = len(anchors), len(lam)
    rows = max(1, (batch_size or default_rows(X_pool)) // (1 + n_a * n_l))
    scores = np.empty(n_rows(X_pool))
    for start, x in iter_batches(X_pool, rows):
        if is_skmixal(estimator):
            if is_dataset(X_pool):  # arrays were validated by prepare()
                x = check_features(estimator, x, reset=False)
            x = torch.as_tensor(x)
            # The mixes are formed where the pool batch lives (a CUDA pool
            # stays on the GPU); anchors and weights follow it there.
            a = anchors.to(device=x.device, dtype=x.dtype)
            lam_b = torch.as_tensor(lam, dtype=x.dtype, device=x.device)
        else:
            x = as_numpy(x).astype(np.float64)
            a, lam_b = anchors, lam
        b = len(x)
        shape = (n_l, 1, 1) + (1,) * (x.ndim - 1)
        lam_x = lam_b.reshape(shape)
        mixed = lam_x * x[None, None] + (1 - lam_x) * a[None, :, None]  # (L, A, b, ...)
        stacked = (torch.cat if is_skmixal(estimator) else np.concatenate)(
            [x, mixed.reshape(n_l * n_a * b, *x.shape[1:])])
        proba = _forward(estimator, stacked)
        p_x, p_mix = proba[:b], proba[b:].reshape(n_l, n_a, b, -1)
        lin = lam[:, None, None, None] * p_x[None, None] + (
            1 - lam[:, None, None, None]) * p_a[None, :, None]
        scores[start : start + b] = 0.5 * np.abs(p_mix - lin).sum(-1).mean((0, 1))
    shortlist = top_k(scores, min(len(scores), candidates_per_instance * n_select),
                      random_state=rng)
    if len(shortlist) <= n_select:
        return shortlist, scores[shortlist]
    rows = np.sort(shortlist)
    feats = as_numpy(take_rows(X_pool, rows)).astype(np.float32).reshape(len(rows), -1)
    indices = rows[_nearest_to_centroids(feats, n_select, rng)]
    return indices, scores[indices]
