"""Diversity strategies: core-set, BADGE and TypiClust.

All three work on a representation of the pool held as one float32
(n_pool, dim) array (the network's embeddings unless told otherwise) plus
O(n_pool) vectors; distances are computed against one point or one block at a
time, never as an (n_pool, n_pool) matrix. BADGE never materialises its
(n_pool, n_classes * dim) gradient embeddings: their distances factorise.
"""

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import NotFittedError
from sklearn.metrics import pairwise_distances_argmin_min
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from skmixal._labels import n_rows
from skmixal._validation import as_numpy, check_in_range
from skmixal.selection import d2_draw, kcenter_greedy
from skmixal.strategies._modal import modal_strategy
from skmixal.strategies._pool import (
    CHUNK_ROWS,
    iter_batches,
    labeled_embeddings,
    pool_embeddings,
    prepare,
)

__all__ = ["badge_sampling", "coreset_sampling", "typiclust_sampling"]


def _pick_distances(emb, picks, centers):
    """Distance of each pick to its nearest center at the time it was picked."""
    chosen = emb[picks]  # (k, dim)
    d = np.full(len(picks), np.inf)
    if centers is not None and len(centers):
        d = pairwise_distances_argmin_min(chosen, centers, metric="sqeuclidean")[1]
    if len(picks) > 1:
        pair = euclidean_distances(chosen, squared=True)  # (k, k); k = n_instances
        pair[np.triu_indices(len(picks))] = np.inf  # only earlier picks count
        d = np.minimum(d, pair.min(1))
    return np.sqrt(np.maximum(d, 0.0))


@modal_strategy
def coreset_sampling(learner_or_estimator, X_pool, n_instances=1, *,
                     random_state=None, X_labeled=None, y_labeled=None,
                     batch_size=None):
    """Core-set selection: greedy k-center on the network's embeddings.

    Starts from the labeled embeddings as centers and repeatedly adds the pool
    point farthest from its nearest center.

    Parameters
    ----------
    learner_or_estimator : modAL learner, fitted network with embeddings or Pipeline
        A learner supplies its ``X_training`` as the labeled set.
    %(pool)s
    random_state : int, RandomState instance or None, default=None
        Draws the first point when there is no labeled data.
    X_labeled, y_labeled : array-like or None, default=None
        Labeled data, for a bare estimator (``y_labeled`` is unused).
    batch_size : int or None, default=None
        Rows per forward pass.
    %(result)s
        In the order picked.
    scores : ndarray of the same shape
        Euclidean distance of each pick to its nearest center when picked
        (``inf`` for a first pick without labeled data).

    References
    ----------
    Sener & Savarese, "Active learning for convolutional neural networks: A
    core-set approach", ICLR 2018.
    """
    estimator, X_pool, n_select, X_labeled, _ = prepare(
        learner_or_estimator, X_pool, n_instances, X_labeled=X_labeled,
        transform_labeled=True)
    emb = pool_embeddings(estimator, X_pool, batch_size=batch_size)
    centers = labeled_embeddings(estimator, X_labeled, batch_size=batch_size)
    picks = kcenter_greedy(emb, n_select, labeled=centers, random_state=random_state)
    return picks, _pick_distances(emb, picks, centers)


def _gradient_kmeans_pp(a, h, k, rng):
    """k-means++ on g_i = a_i (x) h_i without forming g.

    ``<g_i, g_j> = <a_i, a_j> <h_i, h_j>`` so
    ``|g_i - g_j|^2 = |g_i|^2 + |g_j|^2 - 2 <a_i, a_j> <h_i, h_j>``: each step
    costs two matrix-vector products and O(n) memory. The first center is the
    largest gradient, as in the BADGE reference code.

    Not ``sklearn.cluster.kmeans_plusplus``: it needs g itself, (n, n_classes *
    dim) floats (10 GB for 1M x 256 with 10 classes). Measured on 50,000 x 256
    with 10 classes, k=20: 13.7 s and +570 MB with scikit-learn on the explicit
    g, 0.21 s and +6 MB here.
    """
    n = len(a)
    # einsum: row norms without an (n, dim) temporary (1 GB for 1M x 256)
    sq = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)  # (n,) |g|^2
    min_d = np.full(n, np.inf)
    chosen = np.zeros(n, dtype=bool)
    picks = np.empty(k, dtype=np.int64)
    pick = int(np.argmax(sq))
    for step in range(k):
        picks[step] = pick
        chosen[pick] = True
        d = sq + sq[pick] - 2.0 * (a @ a[pick]) * (h @ h[pick])
        np.minimum(min_d, np.maximum(d, 0.0), out=min_d)
        min_d[chosen] = 0.0
        if step + 1 < k:
            pick = d2_draw(min_d, chosen, rng)
    return picks, np.sqrt(sq[picks])


@modal_strategy
def badge_sampling(learner_or_estimator, X_pool, n_instances=1, *, random_state=None,
                   batch_size=None):
    """BADGE: k-means++ seeding on last-layer gradient embeddings.

    The gradient of the cross-entropy at the predicted label with respect to
    the last layer's weights is ``g = (p - onehot(argmax p)) (x) h`` with ``h``
    the embedding: large for uncertain points, and k-means++ spreads the batch.
    Only ``h`` (n_pool, dim) and ``p - onehot`` (n_pool, n_classes) are kept.

    Parameters
    ----------
    learner_or_estimator : modAL learner, fitted network with embeddings or Pipeline
    %(pool)s
    random_state : int, RandomState instance or None, default=None
        Seeds the D^2 sampling.
    batch_size : int or None, default=None
        Rows per forward pass.
    %(result)s
        In the order drawn.
    scores : ndarray of the same shape
        Gradient-embedding norms ``|p - e| |h|``.

    References
    ----------
    Ash, Zhang, Krishnamurthy, Langford & Agarwal, "Deep batch active learning
    by diverse, uncertain gradient lower bounds", ICLR 2020.
    """
    estimator, X_pool, n_select, _, _ = prepare(learner_or_estimator, X_pool,
                                                n_instances)
    h, a = pool_embeddings(estimator, X_pool, with_proba=True, batch_size=batch_size)
    a[np.arange(len(a)), a.argmax(axis=1)] -= 1.0  # p - onehot(argmax p), in place
    return _gradient_kmeans_pp(a, h, n_select, check_random_state(random_state))


def _representation(features, estimator, X, batch_size):
    """Pool or labeled representation as float32 (n, dim)."""
    if features is None:
        return pool_embeddings(estimator, X, batch_size=batch_size)
    rows = []
    for _, batch in iter_batches(X, batch_size or CHUNK_ROWS):
        batch = as_numpy(batch).astype(np.float32, copy=False).reshape(len(batch), -1)
        out = batch if isinstance(features, str) else features(batch)
        rows.append(np.asarray(out, dtype=np.float32).reshape(len(batch), -1))
    return np.concatenate(rows)


def fit_kmeans(Z, n_clusters, seed):
    """k-means (mini-batch above 20,000 points or 50 clusters), single-threaded.

    Run with one BLAS/OpenMP thread: right after a torch forward pass, torch's
    spinning OpenMP workers and scikit-learn's thread pools oversubscribe the
    cores (measured 2-10 s instead of 0.3 s for 1,700 x 256 on 2 cores).
    """
    if len(Z) > 20_000 or n_clusters > 50:
        km = MiniBatchKMeans(n_clusters, batch_size=4096, random_state=seed,
                             n_init=3)
    else:
        km = KMeans(n_clusters, n_init=1, random_state=seed)
    with threadpool_limits(1):
        return km.fit(Z)


def _typicality(Z, n_neighbors):
    """1 / mean distance to the ``n_neighbors`` nearest other points: (n,).

    One thread, for the reason given in :func:`fit_kmeans`.
    """
    n = len(Z)
    k = min(n_neighbors, n - 1)
    if k < 1:
        return np.zeros(n)
    with threadpool_limits(1):
        # kneighbors() without X: each point's neighbours, itself excluded
        nearest, _ = NearestNeighbors(n_neighbors=k).fit(Z).kneighbors()  # (n, k)
    return 1.0 / (nearest.mean(1) + 1e-12)


def _check_labeled_features(labeled_features, dim, has_labeled):
    """The labeled set in an array ``features`` space: (n_labeled, dim) or None.

    An array ``features`` cannot be applied to ``X_labeled``, so a labeled set
    without ``labeled_features`` would be ignored and TypiClust would re-pick
    covered clusters: refuse it.
    """
    if labeled_features is None:
        if has_labeled:
            raise ValueError(
                "typiclust_sampling got a labeled set (X_labeled or the learner's "
                "training data) and an array features= without labeled_features=: "
                "pass the labeled set's features as labeled_features= (an array "
                f"of shape (n_labeled, {dim})), or features='raw', a callable or "
                "None, which are applied to X_labeled.")
        return None
    Z_lab = as_numpy(labeled_features)
    if Z_lab.ndim != 2 or Z_lab.shape[1] != dim:
        raise ValueError(
            f"labeled_features must have shape (n_labeled, {dim}) to match "
            f"features; got {Z_lab.shape}.")
    return Z_lab.astype(np.float32, copy=False)


@modal_strategy
def typiclust_sampling(learner_or_estimator, X_pool, n_instances=1, *,
                       random_state=None, features=None, labeled_features=None,
                       X_labeled=None, y_labeled=None, n_neighbors=20,
                       min_cluster_size=5, max_cluster_points=5000,
                       batch_size=None):
    """TypiClust: the most typical point of each of the largest uncovered clusters.

    Clusters the pool into ``n_labeled + n_instances`` clusters (k-means;
    mini-batch k-means above 20,000 points or 50 clusters, as in the paper's
    code), assigns labeled points to their nearest centroid, then repeatedly
    takes the cluster with the fewest labeled or selected points (largest
    first, clusters under ``min_cluster_size`` skipped while others remain) and
    picks its most typical point: the inverse mean distance to its
    ``n_neighbors`` nearest neighbours within the cluster. For clusters larger
    than ``max_cluster_points``, typicality is computed on a random subsample
    of that size (an approximation that keeps it O(max_cluster_points^2)).
    Works from zero labels (cold start), even on an unfitted estimator when
    ``features`` is given.

    Parameters
    ----------
    learner_or_estimator : modAL learner, estimator or Pipeline
        Must be fitted (with embeddings) when ``features`` is None.
    %(pool)s
    random_state : int, RandomState instance or None, default=None
    features : None, 'raw', callable or ndarray of shape (n_pool, dim)
        Representation: the network's embeddings (None), the flattened input
        ('raw'), a function of an input batch (e.g. a fitted PCA's
        ``transform``; also applied to ``X_labeled``) or a precomputed array.
    labeled_features : ndarray of shape (n_labeled, dim) or None
        With an array ``features``, the labeled set in the same space. Required
        when an array ``features`` comes with a labeled set (``X_labeled`` or
        a learner's training data): an array cannot be applied to
        ``X_labeled``, and ignoring the labeled set would re-pick the clusters
        it already covers. Only valid with an array ``features``.
    X_labeled, y_labeled : array-like or None, default=None
        Labeled data, for a bare estimator (``y_labeled`` is unused).
    n_neighbors : int, default=20
    min_cluster_size : int, default=5
    max_cluster_points : int, default=5000
    batch_size : int or None, default=None
    %(result)s
    scores : ndarray of the same shape
        Typicality of each pick.

    References
    ----------
    Hacohen, Dekel & Weinshall, "Active learning on a budget: Opposite
    strategies suit high and low budgets", ICML 2022.
    """
    check_in_range(n_neighbors, "n_neighbors", low=1, integer=True)
    check_in_range(min_cluster_size, "min_cluster_size", low=1, integer=True)
    check_in_range(max_cluster_points, "max_cluster_points", low=2, integer=True)
    is_raw = isinstance(features, str) and features == "raw"
    if not (features is None or is_raw or callable(features)
            or hasattr(features, "shape")):
        raise ValueError(
            "features must be None, 'raw', a callable or an array of shape "
            f"(n_pool, dim); got {features!r}.")
    # given features are computed from the pool as given: a Pipeline's first
    # steps run only when its last step's embeddings are the representation
    try:
        estimator, X_pool, n_select, X_labeled, _ = prepare(
            learner_or_estimator, X_pool, n_instances, X_labeled=X_labeled,
            transform=features is None, transform_labeled=True)
    except NotFittedError:
        if features is None:
            raise
        estimator, X_pool, n_select, X_labeled, _ = prepare(
            learner_or_estimator, X_pool, n_instances, X_labeled=X_labeled,
            need_fitted=False)
    rng = check_random_state(random_state)
    has_labeled = X_labeled is not None and n_rows(X_labeled) > 0
    if hasattr(features, "shape") and not isinstance(features, str):
        Z = as_numpy(features).astype(np.float32, copy=False)
        if Z.ndim != 2 or len(Z) != n_rows(X_pool):
            raise ValueError(
                f"features must have shape (n_pool={n_rows(X_pool)}, dim); got "
                f"{Z.shape}.")
        Z_lab = _check_labeled_features(labeled_features, Z.shape[1], has_labeled)
    elif labeled_features is not None:
        raise ValueError(
            "labeled_features is only used with an array features=; with "
            f"features={features!r} the labeled set is mapped from X_labeled.")
    else:
        Z = _representation(features, estimator, X_pool, batch_size)
        Z_lab = None
        if has_labeled:
            if features is None:
                Z_lab = labeled_embeddings(estimator, X_labeled, batch_size=batch_size)
            else:
                Z_lab = _representation(features, estimator, X_labeled, batch_size)
    n_lab = 0 if Z_lab is None else len(Z_lab)
    n_clusters = min(n_lab + n_select, len(Z))
    seed = rng.randint(2**31 - 1)
    km = fit_kmeans(Z, n_clusters, seed)
    labels = km.labels_
    covered = np.zeros(n_clusters, dtype=np.int64)
    if n_lab:
        covered += np.bincount(km.predict(np.asarray(Z_lab, dtype=np.float32)),
                               minlength=n_clusters)
    remaining = np.bincount(labels, minlength=n_clusters)
    taken = np.zeros(len(Z), dtype=bool)
    picks, scores = [], []
    for _ in range(n_select):
        size_ok = remaining >= min_cluster_size
        eligible = size_ok if size_ok.any() else remaining > 0
        # fewest labeled first, then largest: lexsort's last key is primary
        order = np.lexsort((-remaining, np.where(eligible, covered, np.iinfo(
            np.int64).max)))
        cluster = int(order[0])
        members = np.flatnonzero((labels == cluster) & ~taken)
        if len(members) > max_cluster_points:
            members = np.sort(rng.choice(members, max_cluster_points, replace=False))
        typ = _typicality(Z[members], n_neighbors)
        best = int(np.argmax(typ))
        picks.append(members[best])
        scores.append(typ[best])
        taken[members[best]] = True
        covered[cluster] += 1
        remaining[cluster] -= 1
    return np.asarray(picks, dtype=np.int64), np.asarray(scores, dtype=np.float64)
