"""Selectors: turn scores or embeddings into the indices to label.

Pure functions on arrays (torch tensors are accepted and moved to the CPU).
Each returns a NumPy array of unique ``int64`` indices, reproducible from
``random_state``. The diversity selectors keep a single vector of distances to
the nearest chosen point and compute distances in chunks, so their memory is
O(n_samples) beside the embeddings (stored as float32), never
O(n_samples ** 2).
"""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from skmixal._validation import as_numpy

__all__ = ["kcenter_greedy", "kmeans_pp", "top_k"]

# Largest temporary distance block, in float32 values (16 MiB).
_BLOCK_VALUES = 2**22


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, Integral):
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    if k <= 0:
        raise ValueError(f"k must be a positive integer, got {k}.")
    return int(k)


def _check_embeddings(embeddings, name="embeddings"):
    X = as_numpy(embeddings)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array, got dtype {X.dtype}.")
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features), "
            f"got shape {X.shape}."
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it must hold at least one sample.")
    if X.shape[1] == 0:
        raise ValueError(f"{name} must have at least one feature (column).")
    X = np.asarray(X, dtype=np.float32)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} must contain only finite values (no NaN or inf).")
    return X


def top_k(scores, k, random_state=None):
    """Indices of the ``k`` highest scores.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Informativeness, higher is better. NaN and infinite scores rank after
        every finite score.
    k : int
        Number of indices to return; capped at ``n_samples``.
    random_state : int, RandomState instance or None, default=None
        Breaks ties between equal scores (and orders the non-finite ones)
        uniformly at random, reproducibly for a fixed seed.

    Returns
    -------
    indices : ndarray of shape (min(k, n_samples),), dtype int64
        Sorted by descending score.
    """
    k = _check_k(k)
    scores = as_numpy(scores)
    if scores.ndim != 1:
        raise ValueError(
            f"scores must be a 1-D array of shape (n_samples,), got shape "
            f"{scores.shape}."
        )
    if scores.shape[0] == 0:
        raise ValueError("scores is empty: it must hold at least one score.")
    if scores.dtype.kind not in "biuf":
        raise ValueError(f"scores must be numeric, got dtype {scores.dtype}.")
    rng = check_random_state(random_state)
    n = scores.shape[0]
    k = min(k, n)
    perm = rng.permutation(n)  # random tie order
    shuffled = scores[perm].astype(np.float64)
    # Sort key: -score for finite scores, +inf (last) for the rest.
    keys = np.where(np.isfinite(shuffled), -shuffled, np.inf)
    if k < n:
        # Keep the k smallest keys and every key tied with the k-th, then sort
        # that short list stably, so ties keep the random order of `perm`.
        kth = np.partition(keys, k - 1)[k - 1]
        candidates = np.flatnonzero(keys <= kth)
    else:
        candidates = np.arange(n)
    order = candidates[np.argsort(keys[candidates], kind="stable")[:k]]
    return perm[order].astype(np.int64)


def _sq_norms(X):
    return np.einsum("ij,ij->i", X, X)  # (n_samples,)


def sq_distances(A, B):
    """Squared Euclidean distances (len(A), len(B)), for blocks that fit memory."""
    d = _sq_norms(A)[:, None] - 2.0 * (A @ B.T) + _sq_norms(B)[None, :]
    return np.maximum(d, 0.0, out=d)


def _sq_dist_to_point(X, X_sq, center):
    """Squared distances from every row of X to one point: (n_samples,)."""
    d = X_sq - 2.0 * (X @ center) + center @ center
    return np.maximum(d, 0.0, out=d)


def _min_sq_dist_to_set(X, X_sq, centers):
    """Squared distance from every row of X to its nearest row of centers.

    Blocks over the centers so that at most ``_BLOCK_VALUES`` distances exist
    at once: O(n_samples) memory however many centers there are.
    """
    n = X.shape[0]
    best = np.full(n, np.inf, dtype=np.float32)
    step = max(1, _BLOCK_VALUES // n)
    for start in range(0, centers.shape[0], step):
        block = centers[start : start + step]  # (b, n_features)
        d = X @ block.T  # (n_samples, b), updated in place below
        d *= -2.0
        d += X_sq[:, None]
        d += _sq_norms(block)[None, :]
        np.minimum(best, d.min(axis=1), out=best)  # (n_samples,)
    return np.maximum(best, 0.0, out=best)


def _resolve_labeled(labeled, X):
    """Split ``labeled`` into (indices into X, extra center embeddings)."""
    n, n_features = X.shape
    if labeled is None:
        return np.empty(0, dtype=np.int64), None
    labeled = as_numpy(labeled)
    if labeled.ndim == 1 and (labeled.dtype.kind in "iu" or labeled.size == 0):
        idx = labeled.astype(np.int64)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise ValueError(
                f"labeled indices must lie in [0, {n}); got values from "
                f"{idx.min()} to {idx.max()}."
            )
        return np.unique(idx % n), None
    if labeled.ndim == 1 and labeled.dtype.kind == "b":
        if labeled.shape[0] != n:
            raise ValueError(
                f"labeled as a boolean mask must have length {n}, got "
                f"{labeled.shape[0]}."
            )
        return np.flatnonzero(labeled).astype(np.int64), None
    if labeled.ndim == 2:
        if labeled.shape[0] == 0:
            return np.empty(0, dtype=np.int64), None
        centers = _check_embeddings(labeled, "labeled")
        if centers.shape[1] != n_features:
            raise ValueError(
                f"labeled embeddings have {centers.shape[1]} features, "
                f"embeddings have {n_features}."
            )
        return np.empty(0, dtype=np.int64), centers
    raise ValueError(
        "labeled must be None, a 1-D array of integer indices into embeddings, "
        "a boolean mask of length n_samples, or a 2-D array of labeled "
        f"embeddings; got an array of shape {labeled.shape} and dtype "
        f"{labeled.dtype}."
    )


def kcenter_greedy(embeddings, k, *, labeled=None, random_state=None):
    """Greedy k-center (core-set) selection.

    Repeatedly picks the point farthest from its nearest center, starting from
    the labeled points, so that the chosen points cover the pool: the greedy
    2-approximation to the minimax facility location problem.

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
        Pool embeddings (e.g. the penultimate layer); Euclidean distances.
    k : int
        Number of points to select; capped at the number of unlabeled points.
    labeled : array-like or None, default=None
        Centers already chosen, as either
        - integer indices into ``embeddings`` (never selected again),
        - a boolean mask of shape (n_samples,), or
        - embeddings of the labeled set, shape (n_labeled, n_features).
        With None, the first center is drawn uniformly at random.
    random_state : int, RandomState instance or None, default=None
        Draws the first center when there is no labeled point.

    Returns
    -------
    indices : ndarray of shape (min(k, n_unlabeled),), dtype int64
        In the order they were picked.

    References
    ----------
    Sener & Savarese, "Active learning for convolutional neural networks: A
    core-set approach", ICLR 2018 (Algorithm 1); Gonzalez, "Clustering to
    minimize the maximum intercluster distance", TCS 1985.
    """
    k = _check_k(k)
    X = _check_embeddings(embeddings)
    labeled_idx, centers = _resolve_labeled(labeled, X)
    rng = check_random_state(random_state)
    n = X.shape[0]
    k = min(k, n - labeled_idx.size)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    X_sq = _sq_norms(X)

    # min_dist[i]: squared distance from point i to its nearest center; -inf
    # marks chosen points so they are never picked twice.  (n_samples,)
    if centers is None and labeled_idx.size:
        centers = X[labeled_idx]  # (n_labeled, n_features)
    if centers is not None:
        min_dist = _min_sq_dist_to_set(X, X_sq, centers)
    else:
        min_dist = np.full(n, np.inf, dtype=np.float32)
    min_dist[labeled_idx] = -np.inf

    selected = np.empty(k, dtype=np.int64)
    for step in range(k):
        if step == 0 and centers is None:
            pick = int(rng.randint(n))
        else:
            pick = int(np.argmax(min_dist))
        selected[step] = pick
        np.minimum(min_dist, _sq_dist_to_point(X, X_sq, X[pick]), out=min_dist)
        min_dist[pick] = -np.inf
    return selected


def kmeans_pp(embeddings, k, random_state=None):
    """k-means++ seeding: sample points with probability proportional to D².

    The first point is drawn uniformly; each next one with probability
    proportional to its squared distance to the nearest point already drawn.
    BADGE applies it to gradient embeddings to get a batch that is both
    uncertain (large gradients) and diverse.

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
        Points to sample from; Euclidean distances.
    k : int
        Number of points; capped at ``n_samples``.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling.

    Returns
    -------
    indices : ndarray of shape (min(k, n_samples),), dtype int64
        Distinct indices in the order they were drawn. When every remaining
        point coincides with a drawn one (all D² are 0), the rest are drawn
        uniformly among the points not yet drawn.

    References
    ----------
    Arthur & Vassilvitskii, "k-means++: The advantages of careful seeding",
    SODA 2007; Ash, Zhang, Krishnamurthy, Langford & Agarwal, "Deep batch
    active learning by diverse, uncertain gradient lower bounds" (BADGE),
    ICLR 2020.
    """
    k = _check_k(k)
    X = _check_embeddings(embeddings)
    rng = check_random_state(random_state)
    n = X.shape[0]
    k = min(k, n)
    X_sq = _sq_norms(X)

    min_dist = np.full(n, np.inf, dtype=np.float32)  # (n_samples,) D² to nearest
    chosen = np.zeros(n, dtype=bool)
    selected = np.empty(k, dtype=np.int64)
    for step in range(k):
        if step == 0:
            pick = int(rng.randint(n))
        else:
            weights = np.cumsum(min_dist, dtype=np.float64)  # (n_samples,)
            total = weights[-1]
            if total > 0:
                # First index whose cumulative weight exceeds u: points with
                # weight 0 (the chosen ones) can never be hit.
                u = rng.uniform(0.0, total)
                pick = min(int(np.searchsorted(weights, u, side="right")), n - 1)
                if chosen[pick]:  # u rounded onto the very end of the range
                    pick = int(np.flatnonzero(~chosen & (min_dist > 0))[-1])
            else:
                pick = int(rng.choice(np.flatnonzero(~chosen)))
        selected[step] = pick
        chosen[pick] = True
        np.minimum(min_dist, _sq_dist_to_point(X, X_sq, X[pick]), out=min_dist)
        min_dist[pick] = 0.0  # exactly, whatever the rounding
    return selected
