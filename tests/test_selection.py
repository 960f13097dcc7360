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
        (np.float64(3.0), 1, r"scores must be a 1-D array .* got shape \(\)"),
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


def test_kcenter_small_distances_match_reference():
    # Squared distances well below 1: nothing may round or clip them.
    X = 1e-3 * np.random.RandomState(6).randn(40, 3)
    idx = kcenter_greedy(X, 8, labeled=[0])
    assert idx.tolist() == _kcenter_reference(X, 8, [0])


@pytest.mark.parametrize(
    "labeled, as_indices",
    [
        ([-1], [59]),  # negative indices count from the end, as in NumPy
        ([-60, 59], [0, 59]),  # the two ends of the valid range
        (np.array([3, 7], dtype=np.int32), [3, 7]),  # any integer dtype
    ],
)
def test_kcenter_labeled_index_forms(labeled, as_indices):
    X = np.random.RandomState(7).randn(60, 3)
    idx = kcenter_greedy(X, 5, labeled=labeled)
    assert idx.tolist() == _kcenter_reference(X, 5, as_indices)


@pytest.mark.parametrize(
    "labeled", [[], np.empty(0, dtype=np.int64), np.empty((0, 3))]
)
def test_kcenter_empty_labeled_means_none(labeled):
    # No labeled point: a random first center, then the reference algorithm
    # from it, exactly as with labeled=None.
    X = np.random.RandomState(8).randn(30, 3)
    idx = kcenter_greedy(X, 6, labeled=labeled, random_state=3)
    np.testing.assert_array_equal(idx, kcenter_greedy(X, 6, random_state=3))
    assert idx[1:].tolist() == _kcenter_reference(X, 5, [idx[0]])


def test_kcenter_one_labeled_embedding():
    X = np.random.RandomState(9).randn(30, 3)
    center = np.random.RandomState(10).randn(1, 3)
    idx = kcenter_greedy(X, 4, labeled=center)
    expected = np.array(_kcenter_reference(np.vstack([center, X]), 4, [0])) - 1
    np.testing.assert_array_equal(idx, expected)


def test_kcenter_boolean_labeled_embeddings_are_embeddings():
    # Binary codes as embeddings: a 2-D boolean array is a labeled set, not a
    # mask.
    X = np.random.RandomState(11).rand(40, 6) > 0.5
    idx = kcenter_greedy(X, 5, labeled=X[:2])
    Xf = X.astype(np.float64)
    expected = np.array(_kcenter_reference(np.vstack([Xf[:2], Xf]), 5, [0, 1])) - 2
    np.testing.assert_array_equal(idx, expected)


def test_kcenter_wide_and_many_points():
    # 300 points and 300 features (beyond the small integers Python caches):
    # sizes are compared by value, for a mask and for labeled embeddings.
    X = np.random.RandomState(12).randn(300, 300)
    mask = np.zeros(300, dtype=bool)
    mask[[5, 100]] = True
    idx = kcenter_greedy(X, 3, labeled=mask)
    assert idx.tolist() == _kcenter_reference(X, 3, [5, 100])
    idx = kcenter_greedy(X[2:], 3, labeled=X[:2])
    assert (idx + 2).tolist() == _kcenter_reference(X, 3, [0, 1])


def test_kcenter_with_labeled_embeddings_can_select_every_point():
    # Labeled embeddings are outside the pool: none of the pool is excluded.
    X = np.random.RandomState(13).randn(12, 2)
    idx = kcenter_greedy(X, 50, labeled=np.zeros((1, 2)))
    assert sorted(idx.tolist()) == list(range(12))
    expected = np.array(_kcenter_reference(np.vstack([np.zeros((1, 2)), X]), 12, [0]))
    np.testing.assert_array_equal(idx, expected - 1)


def test_kcenter_caps_k_at_the_unlabeled_count():
    X = np.arange(6.0)[:, None]
    idx = kcenter_greedy(X, 10, labeled=[0, 1, 2])
    # 5 is farthest from {0, 1, 2}; then 3 and 4 tie at distance 1 (first wins)
    assert idx.tolist() == [5, 3, 4] == _kcenter_reference(X, 3, [0, 1, 2])


def test_kcenter_options_are_keyword_only():
    # kcenter_greedy(embeddings, k, *, labeled=None, random_state=None)
    X = np.random.RandomState(14).randn(10, 2)
    np.testing.assert_array_equal(
        kcenter_greedy(embeddings=X, k=3, random_state=0),
        kcenter_greedy(X, 3, random_state=0),
    )
    with pytest.raises(TypeError, match="positional argument"):
        kcenter_greedy(X, 3, [0])


def test_kcenter_integer_labeled_embeddings_are_embeddings():
    # A 2-D integer array is a set of embeddings, never a grid of indices.
    X, blob = _blobs()
    idx = kcenter_greedy(X, 2, labeled=BLOB_CENTERS[:2].astype(np.int64))
    assert sorted(blob[idx]) == [2, 3]


@pytest.mark.parametrize(
    "labeled, message",
    [
        (np.array([0, 500]), r"labeled indices must lie in \[0, 200\)"),
        (np.array([200]), r"labeled indices must lie in \[0, 200\); got values "
                          "from 200 to 200"),
        (np.array([-201, 3]), r"labeled indices must lie in \[0, 200\); got "
                              "values from -201 to 3"),
        (np.ones((2, 3)), "labeled embeddings have 3 features, embeddings have 2"),
        (np.ones((2, 1)), "labeled embeddings have 1 features, embeddings have 2"),
        (np.ones((2, 2, 2)), "labeled must be None, a 1-D array of integer"),
        (np.array([0.5, 1.5]), "labeled must be None"),
        (3, r"labeled must be None, .* got an array of shape \(\) and dtype int"),
        (True, r"labeled must be None, .* got an array of shape \(\) and dtype bool"),
        (np.array(["a", "b"]), "labeled must be None, .* dtype <U1"),
        (np.zeros(5, dtype=bool), "boolean mask must have length 200, got 5"),
        (np.zeros(201, dtype=bool), "boolean mask must have length 200, got 201"),
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


class _TopOfRange(np.random.RandomState):
    """A generator whose uniform draw lands exactly on the top of its range.

    NumPy's ``uniform(0, total)`` can round onto ``total`` (with probability
    near 2**-53); this makes that case happen every time.
    """

    def uniform(self, low=0.0, high=1.0, size=None):
        return high


@pytest.mark.parametrize(
    "min_dist, chosen, expected",
    [
        # u = total lands past the end: the last point, which has weight
        ([0.0, 4.0, 1.0, 2.0], [True, False, False, False], 3),
        # ... but not when that point was drawn: the last one with weight
        ([4.0, 1.0, 2.0, 0.0], [False, False, False, True], 2),
        # ... nor when it duplicates a drawn point (D^2 = 0, not drawn yet)
        ([0.0, 4.0, 1.0, 0.0], [True, False, False, False], 2),
    ],
)
@pytest.mark.filterwarnings("error")  # and quietly: no NumPy warning either
def test_d2_draw_at_the_top_of_the_range_never_picks_zero_weight(
    min_dist, chosen, expected
):
    pick = selection.d2_draw(np.array(min_dist), np.array(chosen), _TopOfRange(0))
    assert pick == expected


@pytest.mark.parametrize("scale", [1.0, 1e-3])
def test_d2_draw_follows_the_weights(scale):
    # Exact law: P(i) = w_i / sum(w), whatever the scale of the weights.
    # Chi-square on 4,000 draws.
    min_dist = scale * np.array([0.0, 1.0, 3.0, 0.0, 4.0])
    chosen = np.array([True, False, False, False, False])
    rng = np.random.RandomState(0)
    draws = [selection.d2_draw(min_dist, chosen, rng) for _ in range(4000)]
    counts = np.bincount(draws, minlength=5)
    assert counts[0] == counts[3] == 0
    expected = min_dist[[1, 2, 4]] / min_dist.sum() * len(draws)
    assert chisquare(counts[[1, 2, 4]], expected).pvalue > 1e-3


def test_d2_draw_without_weight_is_uniform_over_the_undrawn():
    # Every D^2 is 0 (all points coincide with drawn ones): uniform over the
    # points not drawn yet, 1/3 each here.
    min_dist = np.zeros(5)
    chosen = np.array([True, False, False, True, False])
    rng = np.random.RandomState(0)
    draws = [selection.d2_draw(min_dist, chosen, rng) for _ in range(3000)]
    counts = np.bincount(draws, minlength=5)
    assert counts[0] == counts[3] == 0
    assert chisquare(counts[[1, 2, 4]]).pvalue > 1e-3


def test_squared_distances_are_never_negative():
    # Near-duplicates far from the origin: the expansion |x|^2 - 2<x, c> + |c|^2
    # rounds some exact squared distances (~1e-6 here) below zero in float32.
    rng = np.random.RandomState(0)
    X = (1000.0 + 1e-3 * rng.randn(200, 8)).astype(np.float32)
    X_sq = np.einsum("ij,ij->i", X, X)
    raw = X_sq - 2.0 * (X @ X[0]) + X[0] @ X[0]
    assert (raw < 0).any()  # the case the clip is for
    d = selection._sq_dist_to_point(X, X_sq, X[0])
    assert d.min() >= 0.0
    exact = ((X.astype(np.float64) - X[0]) ** 2).sum(axis=1)
    # within a few float32 ulps of |x|^2 = 8e6 (one ulp is 0.5)
    np.testing.assert_allclose(d, exact, rtol=0, atol=4 * np.spacing(X_sq.max()))


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
        (np.array([[0.0, 1.0], [np.inf, 0.0]]), 1, "embeddings must contain only"),
        (np.array([[0.0, 1.0], [-np.inf, 0.0]]), 1, "embeddings must contain only"),
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
