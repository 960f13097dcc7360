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
    # every sample has a partner other than itself
    assert all(p != i for i, p in enumerate(perm))


def test_soft_targets_give_the_pair_loss_with_label_smoothing():
    torch.manual_seed(0)
    logits = torch.randn(8, 5)
    target = MixedTarget(torch.randint(5, (8,)), torch.randint(5, (8,)), 0.3)
    ce = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    pair = 0.3 * ce(logits, target.y_a) + 0.7 * ce(logits, target.y_b)
    torch.testing.assert_close(ce(logits, soft_targets(target, 5)), pair)
