import numpy as np
import pytest
import torch
from scipy.stats import entropy as scipy_entropy

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
    with pytest.raises(ValueError, match="chunk_size"):
        joint_entropy_scores(mc_proba, chunk_size=0)


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
