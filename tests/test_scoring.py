import numpy as np
import pytest
import torch
from scipy.stats import entropy as scipy_entropy

from skmixal import scoring
from skmixal.scoring import (
    bald_scores,
    entropy_scores,
    expand_joint_proba,
    joint_entropy_scores,
    least_confidence_scores,
    margin_scores,
)

SCORERS_2D = [least_confidence_scores, margin_scores, entropy_scores]


def _dirichlet(shape, seed=0, alpha=1.0):
    # (*shape[:-1], n_classes) rows on the simplex
    rng = np.random.RandomState(seed)
    return rng.dirichlet(np.full(shape[-1], alpha), size=shape[:-1])


# --- values -----------------------------------------------------------------


def test_least_confidence_values():
    proba = np.array([[1.0, 0.0, 0.0], [0.6, 0.3, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(least_confidence_scores(proba), [0.0, 0.4, 2 / 3])


def test_margin_values_and_column_order():
    proba = np.array([[1.0, 0.0, 0.0], [0.6, 0.3, 0.1], [0.45, 0.1, 0.45]])
    expected = [0.0, 0.7, 1.0]
    np.testing.assert_allclose(margin_scores(proba), expected)
    np.testing.assert_allclose(margin_scores(proba[:, [2, 0, 1]]), expected)


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_margin_finds_the_runner_up_wherever_it_is(dtype):
    # float16 and long double go through NumPy's generic selection, which
    # (unlike the SIMD sort used for float32/64 on x86) leaves the second slot
    # unordered unless asked for it: the runner-up must not be taken from
    # whatever column lands there. Hand values: 1 - (0.6 - 0.3) = 0.7,
    # 1 - (0.5 - 0.25) = 0.75, 1 - (0.4 - 0.35) = 0.95.
    proba = np.array(
        [[0.1, 0.6, 0.3, 0.0], [0.25, 0.0, 0.25, 0.5], [0.05, 0.4, 0.2, 0.35]],
        dtype=dtype,
    )
    np.testing.assert_allclose(
        margin_scores(proba).astype(np.float64), [0.7, 0.75, 0.95], atol=1e-3
    )


def test_margin_single_class():
    np.testing.assert_allclose(margin_scores([[1.0], [0.25]]), [0.0, 0.75])


@pytest.mark.parametrize("n_classes", [2, 3, 10, 1000])
def test_entropy_of_uniform_is_log_c(n_classes):
    proba = np.full((4, n_classes), 1.0 / n_classes)
    np.testing.assert_allclose(entropy_scores(proba), np.log(n_classes), rtol=1e-12)


def test_entropy_of_one_hot_is_exactly_zero():
    proba = np.eye(5)
    scores = entropy_scores(proba)
    assert np.all(scores == 0.0)


def test_entropy_matches_scipy():
    proba = _dirichlet((50, 7), alpha=0.3)
    np.testing.assert_allclose(entropy_scores(proba), scipy_entropy(proba, axis=1))


def test_entropy_float32_stays_float32_and_finite():
    proba = _dirichlet((20, 4)).astype(np.float32)
    proba[0] = [1.0, 0.0, 0.0, 0.0]
    scores = entropy_scores(proba)
    assert scores.dtype == np.float32
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(scores, scipy_entropy(proba, axis=1), rtol=1e-5)


@pytest.mark.parametrize("scorer", SCORERS_2D)
def test_more_uncertain_scores_higher(scorer):
    # Binary predictions from certain (p=1) to a coin flip (p=0.5).
    p = np.linspace(1.0, 0.5, 11)
    scores = scorer(np.column_stack([p, 1 - p]))
    assert np.all(np.diff(scores) > 0)


@pytest.mark.parametrize("scorer", SCORERS_2D)
def test_integer_and_list_inputs(scorer):
    out = scorer([[1, 0], [0, 1]])
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [0.0, 0.0])


# --- BALD and BatchBALD helpers ---------------------------------------------


def test_bald_is_zero_when_all_mc_samples_agree():
    proba = _dirichlet((30, 5))
    mc_proba = np.repeat(proba[None], 8, axis=0)
    np.testing.assert_allclose(bald_scores(mc_proba), 0.0, atol=1e-12)


def test_bald_of_confident_disagreement_is_log2():
    # Two MC samples, each certain, of different classes: H[mean] = log 2,
    # mean H = 0.
    mc_proba = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    np.testing.assert_allclose(bald_scores(mc_proba), [np.log(2)])


def test_bald_matches_definition_and_is_bounded():
    mc_proba = _dirichlet((6, 40, 3), alpha=0.5)
    expected = scipy_entropy(mc_proba.mean(axis=0), axis=1) - scipy_entropy(
        mc_proba, axis=2
    ).mean(axis=0)
    scores = bald_scores(mc_proba)
    np.testing.assert_allclose(scores, expected, atol=1e-12)
    assert np.all(scores >= 0)
    assert np.all(scores <= entropy_scores(mc_proba.mean(axis=0)) + 1e-12)


def test_bald_clips_rounding_below_zero_to_exactly_zero():
    # Agreeing samples: the true BALD is 0, but H[mean] - mean H computed in
    # floating point comes out a few 1e-16 below zero for some rows (checked
    # here with scipy, so the test can fail). The scores must not.
    proba = _dirichlet((200, 4))
    mc_proba = np.repeat(proba[None], 7, axis=0)
    raw = scipy_entropy(mc_proba.mean(axis=0), axis=1) - scipy_entropy(
        mc_proba, axis=2
    ).mean(axis=0)
    assert (raw < 0).any()
    scores = bald_scores(mc_proba)
    assert np.all(scores >= 0.0)
    assert np.all(scores < 1e-14)


def test_joint_entropy_by_hand_for_two_models():
    # Two equally weighted models, two classes. The batch holds point a, which
    # model 1 calls class 0 and model 2 class 1 (each certain).
    #  - candidate x0 agrees with a in both models: labels (0,0) or (1,1), each
    #    with probability 1/2 -> H = log 2;
    #  - candidate x1 is a coin flip in both: four labellings of 1/4 -> log 4;
    #  - candidate x2 is certain of class 0 in both: (0,0), (1,0) -> log 2.
    mc_a = np.array([[1.0, 0.0], [0.0, 1.0]])  # (n_mc, n_classes)
    mc_proba = np.array(
        [
            [[1.0, 0.0], [0.5, 0.5], [1.0, 0.0]],  # model 1
            [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]],  # model 2
        ]
    )
    joint = expand_joint_proba(None, mc_a)
    np.testing.assert_array_equal(joint, mc_a)
    np.testing.assert_allclose(
        joint_entropy_scores(mc_proba, joint),
        [np.log(2), np.log(4), np.log(2)],
        rtol=1e-12,
    )
    # A second point b, independent coin flips in both models: 4 labellings of
    # the batch, each model's joint row [p(a)p(b) for a, b in (0,0), (0,1), ...].
    joint_ab = expand_joint_proba(joint, np.array([[0.5, 0.5], [0.5, 0.5]]))
    np.testing.assert_allclose(
        joint_ab, [[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]], rtol=0, atol=0
    )
    # x0 copies a, so adding it to {a, b} adds nothing: H = H[a, b] = log 4.
    np.testing.assert_allclose(
        joint_entropy_scores(mc_proba[:, :1], joint_ab), [np.log(4)], rtol=1e-12
    )


@pytest.mark.parametrize(
    "n_configs, n_classes, n_samples, expected_blocks",
    [
        # 2**18 labellings x 4 classes = 2**20 values a candidate: 4 per block
        (2**18, 4, 10, [4, 4, 2]),
        # 2**21 x 3 = 6.3 million values, over the 2**22 budget: one at a time
        (2**21, 3, 2, [1, 1]),
    ],
)
def test_joint_entropy_default_chunks_keep_to_the_memory_budget(
    monkeypatch, n_configs, n_classes, n_samples, expected_blocks
):
    # The documented bound: with chunk_size=None each block's temporary holds
    # at most ~4 million (2**22) values, and at least one candidate. The
    # candidates' joint probabilities pass through `entr` one block at a time.
    blocks, real_entr = [], scoring.entr

    def spy(x):
        blocks.append(x.shape)  # (n_candidates_in_block, n_configs, n_classes)
        return real_entr(x)

    monkeypatch.setattr(scoring, "entr", spy)
    rng = np.random.RandomState(0)
    mc_joint = np.full((1, n_configs), 1.0 / n_configs, dtype=np.float32)
    mc_proba = rng.dirichlet(np.ones(n_classes), size=(1, n_samples))
    mc_proba = mc_proba.astype(np.float32)
    scores = joint_entropy_scores(mc_proba, mc_joint)
    assert [b[0] for b in blocks] == expected_blocks
    assert all(b[1:] == (n_configs, n_classes) for b in blocks)
    # one model: H = log(n_configs) + H[y_x]
    expected = np.log(n_configs) + scipy_entropy(mc_proba[0], axis=1)
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_joint_entropy_of_empty_batch_is_entropy_of_mean():
    mc_proba = _dirichlet((5, 12, 4))
    np.testing.assert_allclose(
        joint_entropy_scores(mc_proba), entropy_scores(mc_proba.mean(axis=0))
    )


def test_batchbald_of_one_point_is_bald():
    mc_proba = _dirichlet((5, 12, 4), seed=3)
    expected_h = scipy_entropy(mc_proba, axis=2).mean(axis=0)
    np.testing.assert_allclose(
        joint_entropy_scores(mc_proba) - expected_h, bald_scores(mc_proba), atol=1e-12
    )


def test_joint_entropy_factorises_for_a_single_model():
    # n_mc = 1: labels are independent, so H[y_a, y_x] = H[y_a] + H[y_x].
    mc_proba = _dirichlet((1, 10, 3), seed=1)
    joint = expand_joint_proba(None, mc_proba[:, 0])
    assert joint.shape == (1, 3)
    expected = entropy_scores(mc_proba[0, :1]) + entropy_scores(mc_proba[0])
    np.testing.assert_allclose(joint_entropy_scores(mc_proba, joint), expected)


def test_joint_entropy_of_a_point_with_itself_under_agreeing_models():
    # Deterministic predictions given w: choosing the same point twice adds no
    # information, H[y_a, y_a] = H[y_a] when all samples are one-hot.
    mc_proba = np.array([[[1.0, 0.0]], [[0.0, 1.0]], [[0.0, 1.0]]])
    joint = expand_joint_proba(None, mc_proba[:, 0])
    np.testing.assert_allclose(
        joint_entropy_scores(mc_proba, joint), entropy_scores(mc_proba.mean(axis=0))
    )


def test_joint_entropy_chunking_does_not_change_result():
    mc_proba = _dirichlet((4, 25, 3), seed=2)
    joint = expand_joint_proba(expand_joint_proba(None, mc_proba[:, 0]), mc_proba[:, 1])
    assert joint.shape == (4, 9)
    np.testing.assert_allclose(joint.sum(axis=1), 1.0)
    whole = joint_entropy_scores(mc_proba, joint)
    np.testing.assert_allclose(
        joint_entropy_scores(mc_proba, joint, chunk_size=1), whole
    )
    np.testing.assert_allclose(
        joint_entropy_scores(mc_proba, joint, chunk_size=7), whole
    )


def test_joint_entropy_rejects_mismatched_mc_samples():
    mc_proba = _dirichlet((4, 5, 3))
    with pytest.raises(ValueError, match="mc_joint has 2 MC samples"):
        joint_entropy_scores(mc_proba, np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match="mc_joint has 6 MC samples"):
        joint_entropy_scores(mc_proba, np.ones((6, 3)) / 3)
    with pytest.raises(ValueError, match="chunk_size"):
        joint_entropy_scores(mc_proba, chunk_size=0)


def test_joint_entropy_with_many_mc_samples():
    # 300 MC samples (beyond the small integers Python caches): the sample
    # counts of the batch and the candidates are compared by value. Brute
    # force: p(y_a, y_x) = mean over models of the outer product of the two
    # points' predictions.
    mc_proba = _dirichlet((300, 4, 3), seed=5)
    joint = expand_joint_proba(None, mc_proba[:, 0])
    assert joint.shape == (300, 3)
    expected = [
        scipy_entropy(
            np.mean([np.outer(w[0], w[x]) for w in mc_proba], axis=0).ravel()
        )
        for x in range(4)
    ]
    np.testing.assert_allclose(
        joint_entropy_scores(mc_proba, mc_joint=joint), expected, rtol=1e-12
    )


@pytest.mark.parametrize(
    "chunk_size, message",
    [
        (True, "chunk_size must be a positive integer, got True"),
        (1.5, "chunk_size must be a positive integer, got 1.5"),
        ("2", "chunk_size must be a positive integer, got '2'"),
        (-1, "chunk_size must be a positive integer, got -1"),
    ],
)
def test_joint_entropy_rejects_bad_chunk_size(chunk_size, message):
    with pytest.raises(ValueError, match=message):
        joint_entropy_scores(_dirichlet((2, 3, 2)), chunk_size=chunk_size)


def test_joint_entropy_chunk_size_is_keyword_only():
    # documented as `joint_entropy_scores(mc_proba, mc_joint=None, *,
    # chunk_size=None)`: a third positional argument is a mistake
    mc_proba = _dirichlet((2, 3, 2))
    with pytest.raises(TypeError, match="positional argument"):
        joint_entropy_scores(mc_proba, None, 2)


# --- validation and input types ---------------------------------------------


@pytest.mark.parametrize("scorer", SCORERS_2D)
@pytest.mark.parametrize(
    "bad, message",
    [
        (np.ones(3), r"proba must be a 2-D array of shape \(n_samples, n_classes\)"),
        (np.ones((2, 2, 2)), "proba must be a 2-D array"),
        (np.array([[0.5, np.nan]]), "proba must contain only finite"),
        (np.array([[0.5, np.inf]]), "proba must contain only finite"),
        (np.array([[1.5, -0.5]]), "proba must contain probabilities >= 0"),
        (np.array([["a", "b"]]), "proba must be a numeric array"),
        (np.ones((3, 0)), "proba must have at least one class"),
    ],
)
def test_2d_scorers_reject_bad_input(scorer, bad, message):
    with pytest.raises(ValueError, match=message):
        scorer(bad)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.ones((2, 2)), r"mc_proba must be a 3-D array of shape \(n_mc, n_samples"),
        (np.ones((0, 2, 2)), "mc_proba must hold at least one MC sample"),
        (np.full((2, 2, 2), np.nan), "mc_proba must contain only finite"),
    ],
)
def test_bald_rejects_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        bald_scores(bad)


def test_empty_pool_gives_empty_scores():
    assert entropy_scores(np.ones((0, 3))).shape == (0,)
    assert bald_scores(np.ones((2, 0, 3))).shape == (0,)


def test_torch_tensors_are_accepted():
    proba = _dirichlet((6, 3))
    for scorer in SCORERS_2D:
        np.testing.assert_allclose(
            scorer(torch.tensor(proba, requires_grad=True)), scorer(proba)
        )
    mc_proba = _dirichlet((3, 6, 3))
    np.testing.assert_allclose(
        bald_scores(torch.from_numpy(mc_proba)), bald_scores(mc_proba)
    )
