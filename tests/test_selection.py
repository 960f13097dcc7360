import itertools

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import chisquare

from skmixal import selection
from skmixal.selection import kcenter_greedy, kmeans_pp, top_k

BLOB_CENTERS = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]])


def _blobs(n_per_blob=50, seed=0, spread=1.0):
    rng = np.random.RandomState(seed)
    X = np.concatenate([c + spread * rng.randn(n_per_blob, 2) for c in BLOB_CENTERS])
    blob = np.repeat(np.arange(len(BLOB_CENTERS)), n_per_blob)
    return X, blob


def _check_indices(idx, expected_len, n):
    assert isinstance(idx, np.ndarray)
    assert idx.dtype == np.int64
    assert idx.shape == (expected_len,)
    assert len(np.unique(idx)) == expected_len
    assert np.all((idx >= 0) & (idx < n))


# --- top_k --------------------------------------------------------------------


def test_top_k_matches_argsort_for_distinct_scores():
    scores = np.random.RandomState(0).rand(1000)
    for k in (1, 10, 999, 1000):
        idx = top_k(scores, k, random_state=0)
        _check_indices(idx, k, 1000)
        np.testing.assert_array_equal(idx, np.argsort(-scores)[:k])


def test_top_k_caps_k_at_n():
    idx = top_k([0.1, 0.3, 0.2], 10)
    np.testing.assert_array_equal(idx, [1, 2, 0])


def test_top_k_non_finite_rank_last():
    scores = np.array([np.nan, 1.0, np.inf, -np.inf, 0.0, -5.0])
    idx = top_k(scores, 6, random_state=0)
    np.testing.assert_array_equal(idx[:3], [1, 4, 5])
    assert set(idx[3:].tolist()) == {0, 2, 3}
    np.testing.assert_array_equal(top_k(scores, 2, random_state=1), [1, 4])


def test_top_k_ties_are_reproducible_and_random():
    scores = np.array([1.0, 5.0, 5.0, 5.0, 5.0, 5.0, 0.0])
    tied = {1, 2, 3, 4, 5}
    first = top_k(scores, 2, random_state=42)
    np.testing.assert_array_equal(first, top_k(scores, 2, random_state=42))
    rng = np.random.RandomState(7)
    np.testing.assert_array_equal(
        top_k(scores, 2, random_state=np.random.RandomState(7)),
        top_k(scores, 2, random_state=rng),
    )
    picks = [int(top_k(scores, 1, random_state=seed)[0]) for seed in range(200)]
    assert set(picks) == tied  # every tied index wins for some seed
    counts = np.bincount(picks, minlength=7)[1:6]
    assert counts.min() > 20  # roughly uniform: 40 expected each


def test_top_k_ties_at_the_cut_keep_higher_scores_first():
    scores = np.array([3.0, 2.0, 2.0, 2.0, 1.0])
    for seed in range(20):
        idx = top_k(scores, 3, random_state=seed)
        assert idx[0] == 0
        assert set(idx[1:].tolist()) <= {1, 2, 3}


def test_top_k_accepts_integer_scores_and_tensors():
    np.testing.assert_array_equal(top_k([3, 1, 2], 2), [0, 2])
    np.testing.assert_array_equal(top_k(torch.tensor([0.1, 0.9, 0.5]), 2), [1, 2])


@pytest.mark.parametrize(
    "scores, k, message",
    [
        ([1.0, 2.0], 0, "k must be a positive integer, got 0"),
        ([1.0, 2.0], -1, "k must be a positive integer"),
        ([1.0, 2.0], 1.5, "k must be a positive integer"),
        ([1.0, 2.0], True, "k must be a positive integer"),
        ([], 1, "scores is empty"),
        ([[1.0, 2.0]], 1, r"scores must be a 1-D array"),
        (["a", "b"], 1, "scores must be numeric"),
    ],
)
def test_top_k_rejects_bad_input(scores, k, message):
    with pytest.raises(ValueError, match=message):
        top_k(scores, k)


# --- kcenter_greedy -----------------------------------------------------------


def _kcenter_reference(X, k, labeled_idx):
    # Textbook Algorithm 1 of Sener & Savarese with a full distance matrix.
    D = cdist(X, X)
    selected = list(labeled_idx)
    picks = []
    for _ in range(k):
        min_d = D[:, selected].min(axis=1)
        min_d[selected] = -1
        pick = int(np.argmax(min_d))
        picks.append(pick)
        selected.append(pick)
    return picks


def test_kcenter_picks_one_point_per_blob():
    X, blob = _blobs()
    for seed in range(5):
        idx = kcenter_greedy(X, 4, random_state=seed)
        _check_indices(idx, 4, len(X))
        assert sorted(blob[idx]) == [0, 1, 2, 3]


def test_kcenter_with_labeled_indices_covers_the_other_blobs():
    X, blob = _blobs()
    labeled = np.flatnonzero(blob == 0)[:5]
    idx = kcenter_greedy(X, 3, labeled=labeled)
    _check_indices(idx, 3, len(X))
    assert sorted(blob[idx]) == [1, 2, 3]
    assert not set(idx) & set(labeled)
    # A boolean mask means the same.
    mask = np.zeros(len(X), dtype=bool)
    mask[labeled] = True
    np.testing.assert_array_equal(kcenter_greedy(X, 3, labeled=mask), idx)


def test_kcenter_with_labeled_embeddings():
    X, blob = _blobs()
    labeled_embeddings = BLOB_CENTERS[:2]  # blobs 0 and 1 already covered
    idx = kcenter_greedy(X, 2, labeled=labeled_embeddings)
    assert sorted(blob[idx]) == [2, 3]


def test_kcenter_matches_reference_algorithm():
    X = np.random.RandomState(3).randn(80, 5)
    labeled = [4, 17]
    idx = kcenter_greedy(X, 12, labeled=labeled)
    assert idx.tolist() == _kcenter_reference(X, 12, labeled)


def test_kcenter_labeled_embeddings_match_reference():
    # Distances to a labeled set (scikit-learn's chunked reduction) agree with
    # the textbook algorithm run on the pool plus the labeled points.
    X = np.random.RandomState(4).randn(60, 3)
    labeled_embeddings = np.random.RandomState(5).randn(25, 3)
    idx = kcenter_greedy(X, 6, labeled=labeled_embeddings)
    both = np.vstack([labeled_embeddings, X])
    expected = np.array(_kcenter_reference(both, 6, range(25))) - 25
    np.testing.assert_array_equal(idx, expected)
    min_d = selection._min_sq_dist_to_set(
        X.astype(np.float32), labeled_embeddings.astype(np.float32)
    )
    np.testing.assert_allclose(
        min_d, (cdist(X, labeled_embeddings) ** 2).min(axis=1), rtol=1e-5, atol=1e-5
    )


def test_kcenter_caps_at_unlabeled_and_handles_duplicates():
    X = np.zeros((6, 2))  # all points identical
    idx = kcenter_greedy(X, 10, labeled=[0, 1])
    _check_indices(idx, 4, 6)
    assert not {0, 1} & set(idx.tolist())
    assert kcenter_greedy(X, 3, labeled=np.arange(6)).shape == (0,)


def test_kcenter_first_center_is_seeded():
    X, _ = _blobs()
    np.testing.assert_array_equal(
        kcenter_greedy(X, 5, random_state=11), kcenter_greedy(X, 5, random_state=11)
    )
    firsts = {int(kcenter_greedy(X, 1, random_state=s)[0]) for s in range(10)}
    assert len(firsts) > 1


@pytest.mark.parametrize(
    "labeled, message",
    [
        (np.array([0, 500]), r"labeled indices must lie in \[0, 200\)"),
        (np.ones((2, 3)), "labeled embeddings have 3 features, embeddings have 2"),
        (np.ones((2, 2, 2)), "labeled must be None, a 1-D array of integer"),
        (np.array([0.5, 1.5]), "labeled must be None"),
        (np.zeros(5, dtype=bool), "boolean mask must have length 200"),
        (np.array([[np.nan, 0.0]]), "labeled must contain only finite"),
    ],
)
def test_kcenter_rejects_bad_labeled(labeled, message):
    X, _ = _blobs()
    with pytest.raises(ValueError, match=message):
        kcenter_greedy(X, 2, labeled=labeled)


# --- kmeans_pp ------------------------------------------------------------------


def test_kmeans_pp_picks_one_point_per_blob():
    X, blob = _blobs(spread=0.5)
    for seed in range(10):
        idx = kmeans_pp(X, 4, random_state=seed)
        _check_indices(idx, 4, len(X))
        assert sorted(blob[idx]) == [0, 1, 2, 3]


def test_kmeans_pp_samples_proportionally_to_squared_distance():
    # Points 0, 1, 2 on a line. The first pick is uniform; D^2 weighting gives
    # P({0, 2}) = (0.8 + 0.8) / 3 and P({0, 1}) = P({1, 2}) = (0.2 + 0.5) / 3
    # (D weighting would give 4/9 for {0, 2}).
    X = np.array([[0.0], [1.0], [2.0]])
    n_runs = 3000
    pairs = [
        tuple(sorted(kmeans_pp(X, 2, random_state=seed).tolist()))
        for seed in range(n_runs)
    ]
    freq = {p: pairs.count(p) / n_runs for p in [(0, 1), (0, 2), (1, 2)]}
    assert freq[(0, 2)] == pytest.approx(1.6 / 3, abs=0.035)
    assert freq[(0, 1)] == pytest.approx(0.7 / 3, abs=0.035)
    assert freq[(1, 2)] == pytest.approx(0.7 / 3, abs=0.035)


def _d2_law(X, k, power=2):
    """Exact law of the ordered k-means++ draws, by enumeration: {tuple: prob}.

    power=1 gives the D law, which the test below must tell apart from D^2.
    """
    D = cdist(X, X) ** power
    law = {}
    for seq in itertools.permutations(range(len(X)), k):
        p = 1.0 / len(X)  # first draw uniform
        for step in range(1, k):
            w = D[:, list(seq[:step])].min(axis=1)
            p *= w[seq[step]] / w.sum()
        law[seq] = p
    return law


def test_kmeans_pp_follows_the_d2_law():
    # Goodness of fit of 3,000 ordered draws of 3 points out of 5 (60 cells)
    # against the exact D^2 law. The same draws must reject the D law, so the
    # test has the power to fail.
    X = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [4.0, 3.0]])
    draws = [tuple(kmeans_pp(X, 3, random_state=s).tolist()) for s in range(3000)]
    cells = sorted(_d2_law(X, 3))
    observed = np.array([draws.count(c) for c in cells])
    for power, accept in ((2, True), (1, False)):
        law = _d2_law(X, 3, power)
        expected = np.array([law[c] for c in cells]) * len(draws)
        p_value = chisquare(observed, expected).pvalue
        assert (p_value > 1e-3) == accept, (power, p_value)


def test_kmeans_pp_distinct_even_with_duplicates():
    X = np.vstack([np.zeros((5, 3)), np.ones((2, 3))])
    for seed in range(10):
        idx = kmeans_pp(X, 7, random_state=seed)
        _check_indices(idx, 7, 7)
        # The two distinct locations come first: after them every D^2 is 0.
        assert len({tuple(X[i]) for i in idx[:2]}) == 2


def test_kmeans_pp_reproducible_and_capped():
    X, _ = _blobs()
    a = kmeans_pp(X, 8, random_state=3)
    np.testing.assert_array_equal(a, kmeans_pp(X, 8, random_state=3))
    assert not np.array_equal(a, kmeans_pp(X, 8, random_state=4))
    _check_indices(kmeans_pp(X[:5], 50, random_state=0), 5, 5)


# --- shared validation ----------------------------------------------------------


@pytest.mark.parametrize("selector", [kcenter_greedy, kmeans_pp])
@pytest.mark.parametrize(
    "embeddings, k, message",
    [
        (np.ones((5, 2)), 0, "k must be a positive integer, got 0"),
        (np.ones((5, 2)), -3, "k must be a positive integer"),
        (np.ones((5, 2)), 2.0, "k must be a positive integer"),
        (np.ones((0, 2)), 1, "embeddings is empty"),
        (np.ones(5), 1, r"embeddings must be a 2-D array of shape \(n_samples"),
        (np.ones((5, 2, 2)), 1, "embeddings must be a 2-D array"),
        (np.ones((5, 0)), 1, "embeddings must have at least one feature"),
        (np.array([[0.0, np.nan]]), 1, "embeddings must contain only finite"),
    ],
)
def test_diversity_selectors_reject_bad_input(selector, embeddings, k, message):
    with pytest.raises(ValueError, match=message):
        selector(embeddings, k)


@pytest.mark.parametrize("selector", [kcenter_greedy, kmeans_pp])
def test_diversity_selectors_accept_tensors(selector):
    X, _ = _blobs()
    np.testing.assert_array_equal(
        selector(torch.from_numpy(X), 4, random_state=0), selector(X, 4, random_state=0)
    )
