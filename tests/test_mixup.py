import numpy as np
import pytest
import torch
import torch.nn.functional as F

from skmixal.mixup import (
    MixedTarget,
    _BetaSampler,
    cutmix,
    mix_batch,
    mix_inputs,
    soft_targets,
)


def test_mix_inputs_is_convex_combination():
    x = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    perm = torch.tensor([1, 0, 3, 2])
    out = mix_inputs(x, x[perm], 0.3)
    torch.testing.assert_close(out, 0.3 * x + 0.7 * x[perm])
    # the input is untouched
    torch.testing.assert_close(x, torch.arange(12, dtype=torch.float32).reshape(4, 3))


def test_cutmix_box_and_exact_lambda():
    torch.manual_seed(0)
    x = torch.zeros(2, 1, 10, 10)
    x[1] = 1.0
    perm = torch.tensor([1, 0])
    mixed, kept = cutmix(x, x[perm], 0.75)
    # image 0 received ones from image 1 exactly where the box is
    pasted = mixed[0].mean().item()
    assert pasted == pytest.approx(1.0 - kept)
    assert 0.0 < kept < 1.0
    assert x[0].sum() == 0  # cloned, not modified in place


def test_cutmix_rejects_tabular():
    with pytest.raises(ValueError, match="image batches"):
        cutmix(torch.zeros(4, 5), torch.zeros(4, 5), 0.5)


def test_mixed_loss_equals_soft_target_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(8, 5)
    y = torch.randint(5, (8,))
    perm = torch.randperm(8)
    lam = 0.37
    pair = (lam * F.cross_entropy(logits, y)
            + (1 - lam) * F.cross_entropy(logits, y[perm]))
    soft = lam * F.one_hot(y, 5).float() + (1 - lam) * F.one_hot(y[perm], 5).float()
    torch.testing.assert_close(pair, F.cross_entropy(logits, soft))


def test_beta_sampler_matches_distribution_and_is_seeded():
    torch.manual_seed(1)
    sampler = _BetaSampler(0.4)
    draws = np.array([sampler() for _ in range(2000)])
    assert np.all((draws >= 0) & (draws <= 1))
    # Beta(a, a) has mean 1/2 and variance 1 / (4 (2a + 1))
    assert draws.mean() == pytest.approx(0.5, abs=0.03)
    assert draws.var() == pytest.approx(1 / (4 * 1.8), rel=0.15)
    torch.manual_seed(3)
    a = [_BetaSampler(1.0)() for _ in range(3)]
    torch.manual_seed(3)
    b = [_BetaSampler(1.0)() for _ in range(3)]
    assert a == b


def test_mix_batch_probability_zero_and_single_sample_pass_through():
    x, y = torch.randn(6, 3), torch.arange(6)
    out_x, out_y = mix_batch(x, y, sampler=lambda: 0.5, prob=0.0)
    assert out_x is x and out_y is y
    out_x, out_y = mix_batch(x[:1], y[:1], sampler=lambda: 0.5)
    assert out_y is not None and not isinstance(out_y, MixedTarget)


def test_mix_batch_returns_mixed_target():
    torch.manual_seed(0)
    x, y = torch.randn(6, 3), torch.arange(6)
    out_x, out_y = mix_batch(x, y, sampler=lambda: 0.25)
    assert isinstance(out_y, MixedTarget)
    assert out_y.lam == 0.25
    perm = [int((y == v).nonzero()) for v in out_y.y_b]
    torch.testing.assert_close(out_x, 0.25 * x + 0.75 * x[perm])


def test_mix_batch_partners_are_a_uniform_permutation_not_a_roll():
    from scipy.stats import chisquare

    # With y = arange(n), y_b is the partner permutation itself. A roll of
    # the batch (a constant offset i -> i + k mod n, the old scheme) would
    # pass a "partner != self" check but fails both checks below.
    n, draws = 6, 3000
    generator = torch.Generator().manual_seed(0)
    x, y = torch.zeros(n, 2), torch.arange(n)
    counts = np.zeros((n, n), dtype=np.int64)  # counts[i, j]: partner of i is j
    rolls = fixed = 0
    for _ in range(draws):
        _, target = mix_batch(x, y, sampler=lambda: 0.5, generator=generator)
        perm = target.y_b.numpy()
        assert sorted(perm) == list(range(n))  # a permutation of the batch
        counts[np.arange(n), perm] += 1
        rolls += len(set((perm - np.arange(n)) % n)) == 1
        fixed += int((perm == np.arange(n)).sum())
    # a uniform permutation is a rotation with probability n / n! = 1/120
    assert rolls < 3 * draws / 120, rolls
    # and has one fixed point per draw on average (a roll by k != 0 has none)
    assert fixed / draws == pytest.approx(1.0, abs=0.1)
    # each position's partner is uniform over the batch, itself included (a
    # fixed roll, or a derangement, leaves cells empty): chi-square on the
    # n x n table, (n - 1)^2 degrees of freedom (rows and columns sum to draws)
    test = chisquare(counts.ravel(), ddof=2 * (n - 1))
    assert test.pvalue > 1e-3, (test, counts)
    # the draws are the generator's: the same seed gives the same partners
    again = mix_batch(x, y, sampler=lambda: 0.5,
                      generator=torch.Generator().manual_seed(0))[1].y_b
    first = mix_batch(x, y, sampler=lambda: 0.5,
                      generator=torch.Generator().manual_seed(0))[1].y_b
    torch.testing.assert_close(again, first)


def test_soft_targets_give_the_pair_loss_with_label_smoothing():
    torch.manual_seed(0)
    logits = torch.randn(8, 5)
    target = MixedTarget(torch.randint(5, (8,)), torch.randint(5, (8,)), 0.3)
    ce = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    pair = 0.3 * ce(logits, target.y_a) + 0.7 * ce(logits, target.y_b)
    torch.testing.assert_close(ce(logits, soft_targets(target, 5)), pair)


def test_one_hot_equals_torchs():
    from skmixal.mixup import one_hot

    y = torch.tensor([3, 0, 9, 3, 1])
    for dtype in (torch.float32, torch.float64):
        torch.testing.assert_close(
            one_hot(y, 10, dtype), torch.nn.functional.one_hot(y, 10).to(dtype),
            rtol=0, atol=0)
