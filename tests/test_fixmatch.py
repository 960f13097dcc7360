"""FixMatch: pseudo-labels, the loss and the batch against hand computations;
the estimator with semi_supervised='fixmatch'."""

import numpy as np
import pytest
import torch

from skmixal import MixupNetClassifier
from skmixal._reproducibility import FitRandomness
from skmixal.iterators import UnlabeledSampler
from skmixal.randaugment import randaugment
from skmixal.training import FitContext
from skmixal.training.fixmatch import (
    FixMatch,
    PseudoLabelTarget,
    fixmatch_loss,
    pseudo_labels,
)

FAST = dict(max_epochs=2, min_steps=20, batch_size=16, collapse_guard=None,
            semi_supervised="fixmatch")


def _log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def test_pseudo_labels_keep_only_confident_rows():
    proba = torch.tensor([[0.96, 0.02, 0.02], [0.5, 0.3, 0.2], [0.05, 0.95, 0.0],
                          [0.1, 0.1, 0.8]])
    labels, mask = pseudo_labels(proba, 0.95)
    assert labels.tolist() == [0, 0, 1, 2]
    assert mask.tolist() == [1.0, 0.0, 1.0, 0.0]  # 0.95 itself is confident
    # one threshold per class, read at the predicted class
    labels, mask = pseudo_labels(proba, torch.tensor([0.99, 0.9, 0.7]))
    assert mask.tolist() == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("soft", [False, True])
def test_fixmatch_loss_matches_a_hand_written_loss(soft):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 4, generator=g)
    labeled = (torch.softmax(torch.randn(3, 4, generator=g), 1) if soft
               else torch.tensor([0, 3, 1]))
    pseudo = torch.tensor([2, 2, 0, 1])
    mask = torch.tensor([1.0, 0.0, 1.0, 1.0])
    loss = fixmatch_loss(logits, PseudoLabelTarget(labeled, pseudo, mask, 2.5))
    logp = _log_softmax(logits.double().numpy())
    target = labeled.double().numpy() if soft else np.eye(4)[labeled.numpy()]
    loss_x = -(target * logp[:3]).sum(1).mean()
    # masked rows count as zeros in the mean over all 4 unlabeled rows
    loss_u = (-logp[3:][np.arange(4), pseudo.numpy()] * mask.numpy()).sum() / 4
    assert loss.item() == pytest.approx(loss_x + 2.5 * loss_u, rel=1e-6)
    no_weight = fixmatch_loss(logits, PseudoLabelTarget(labeled, pseudo, mask, 0.0))
    assert no_weight.item() == pytest.approx(loss_x, rel=1e-6)


def _context(u, predict, seed=0):
    randomness = FitRandomness(seed)
    ctx = FitContext(n_classes=3, randomness=randomness, predict=predict)
    ctx.unlabeled = UnlabeledSampler(u, len(u) * 2, randomness.numpy(), "cpu")
    ctx.total_steps = 10
    return ctx


def test_fixmatch_batch_pairs_each_strong_view_with_its_own_pseudo_label():
    # row i of the pool is the constant image i / 10; the fake network's
    # confidence grows with the image's value, so each row has its own label
    u = (torch.arange(6, dtype=torch.float32) / 10).view(6, 1, 1, 1).expand(
        6, 1, 4, 4).contiguous().numpy()

    def predict(inputs):
        level = inputs.mean(dim=(1, 2, 3))
        return torch.stack([1 - level, level * 0.5, level * 0.5], dim=1)

    x = torch.rand(3, 1, 4, 4)
    y = torch.tensor([0, 1, 2])
    ctx = _context(u, predict, seed=4)
    method = FixMatch(ctx, alpha=0.0, augment=None, threshold=0.75, weight=1.0,
                      rampup=0.0, align=None)
    inputs, target = method.batch(x, y)
    # the same draws, made by hand: the sampler's rows, then the strong views
    twin = _context(u, predict, seed=4)
    rows = twin.unlabeled()
    strong = randaugment(rows, low=rows.amin(), high=rows.amax(), fill=0.0,
                         generator=twin.generator("cpu"))
    torch.testing.assert_close(inputs[:3], x)
    torch.testing.assert_close(inputs[3:], strong)
    level = rows.mean(dim=(1, 2, 3))
    assert target.labeled is y
    expected_conf = torch.maximum(1 - level, level * 0.5)
    expected_label = torch.where(1 - level >= level * 0.5, 0, 1)
    assert target.pseudo.tolist() == expected_label.tolist()
    assert target.mask.tolist() == (expected_conf >= 0.75).float().tolist()
    assert len(ctx.observed) == 1 and ctx.observed[0].sum() == len(rows)


def test_fixmatch_batch_mixes_labeled_rows_with_soft_targets():
    u = np.zeros((4, 1, 4, 4), np.float32)
    ctx = _context(u, lambda inputs: torch.full((len(inputs), 3), 1 / 3), seed=1)
    method = FixMatch(ctx, alpha=1.0, augment=None, threshold=0.95, weight=1.0,
                      rampup=0.0, align=None)
    lam = 0.3
    method.sampler = lambda: lam
    x = torch.arange(3, dtype=torch.float32).view(3, 1, 1, 1).expand(3, 1, 4, 4)
    y = torch.tensor([0, 1, 2])
    inputs, target = method.batch(x, y)
    # each labeled row is lam * itself + (1 - lam) * its partner, targets alike
    partner = (inputs[:3, 0, 0, 0] - lam * torch.arange(3.0)) / (1 - lam)
    perm = partner.round().long()
    assert sorted(perm.tolist()) == [0, 1, 2]
    torch.testing.assert_close(target.labeled,
                               lam * torch.eye(3) + (1 - lam) * torch.eye(3)[perm])


def test_unlabeled_weight_ramps_up_over_the_given_share_of_steps():
    u = np.zeros((4, 1, 4, 4), np.float32)
    ctx = _context(u, lambda inputs: torch.full((len(inputs), 3), 1 / 3))
    method = FixMatch(ctx, alpha=0.0, augment=None, threshold=0.95, weight=2.0,
                      rampup=0.5, align=None)
    weights = []
    for step in range(8):
        ctx.step = step
        weights.append(method.batch(torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]))[1]
                       .weight)
    # 10 steps in all, ramped over the first 5
    assert weights == pytest.approx([0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.0, 2.0])


# -- the estimator -----------------------------------------------------------------
@pytest.fixture(scope="module")
def images(digits):
    X, y = digits
    X = X.reshape(-1, 8, 8).astype(np.float32)
    return X[:40], y[:40], X[40:400], X[1500:], y[1500:]


def test_fixmatch_without_unlabeled_rows_is_the_supervised_fit(images):
    X, y, _, Xt, _ = images
    sup = MixupNetClassifier(random_state=2, **dict(FAST, semi_supervised=None))
    fix = MixupNetClassifier(random_state=2, **FAST)
    np.testing.assert_array_equal(sup.fit(X, y).predict_proba(Xt),
                                  fix.fit(X, y).predict_proba(Xt))
    assert fix.fit_report_["method"] == "supervised"


def test_fixmatch_resolves_its_auto_settings(images):
    X, y, U, _, _ = images
    clf = MixupNetClassifier(random_state=0, **FAST).fit(X, y, X_unlabeled=U)
    assert (clf.unlabeled_weight_, clf.unlabeled_rampup_, clf.unlabeled_ratio_,
            clf.augment_, clf.mixup_alpha_) == (1.0, 0.0, 2, "shift", 0.0)
    rgb = MixupNetClassifier(random_state=0, **FAST).fit(
        np.repeat(X[:, None], 3, axis=1), y, X_unlabeled=np.repeat(U[:, None], 3, 1))
    assert rgb.augment_ == "crop+flip"
    assert clf.fit_report_["method"] == "fixmatch"
    # the documented 1,000 steps (max_epochs=0 resolves them, trains nothing)
    steps = MixupNetClassifier(semi_supervised="fixmatch", max_epochs=0,
                               random_state=0).fit(X, y, X_unlabeled=U).min_steps_
    assert steps == 1000


def test_unlabeled_ratio_sets_the_unlabeled_batch(images, monkeypatch):
    X, y, U, _, _ = images
    sizes = []
    original = UnlabeledSampler.__call__

    def spy(self):
        out = original(self)
        sizes.append(len(out))
        return out

    monkeypatch.setattr(UnlabeledSampler, "__call__", spy)
    MixupNetClassifier(random_state=0, unlabeled_ratio=3, **FAST).fit(
        X, y, X_unlabeled=U)
    assert sizes and set(sizes) == {48}


def test_fixmatch_is_seeded_and_trains_on_the_pool(images):
    X, y, U, Xt, _ = images
    a = MixupNetClassifier(random_state=5, **FAST).fit(X, y, X_unlabeled=U)
    b = MixupNetClassifier(random_state=5, **FAST).fit(X, y, X_unlabeled=U)
    np.testing.assert_array_equal(a.predict_proba(Xt), b.predict_proba(Xt))
    # a pool of other images gives another model: the pool is trained on
    c = MixupNetClassifier(random_state=5, confidence_threshold=1e-3, **FAST).fit(
        X, y, X_unlabeled=U)
    d = MixupNetClassifier(random_state=5, confidence_threshold=1e-3, **FAST).fit(
        X, y, X_unlabeled=U[::-1].copy() * 0.5)
    assert not np.array_equal(c.predict_proba(Xt), d.predict_proba(Xt))


def test_a_labeled_only_batch_has_no_unlabeled_loss():
    # 300 labeled rows (above the small ints CPython shares) and no unlabeled
    # row: the loss is the labeled cross-entropy, whatever the weight says
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(300, 5, generator=g)
    labels = torch.randint(0, 5, (300,), generator=g)
    empty = torch.zeros(0, dtype=torch.int64)
    loss = fixmatch_loss(logits, PseudoLabelTarget(labels, empty, empty.float(), 1.0))
    logp = _log_softmax(logits.double().numpy())
    expected = -logp[np.arange(300), labels.numpy()].mean()
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_one_scalar_tensor_threshold_is_one_threshold_for_all_classes():
    proba = torch.tensor([[0.96, 0.02, 0.02], [0.5, 0.3, 0.2], [0.05, 0.92, 0.03]])
    labels, mask = pseudo_labels(proba, torch.tensor(0.9))
    assert labels.tolist() == [0, 0, 1] and mask.tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("shape, fill", [
    ((5, 3, 8, 8), 0.5),   # colour images: FixMatch's gray
    ((3, 1, 3, 8), 0.0),   # grey images (3 of them, 3 rows high): dark
    ((5, 4, 8, 8), 0.0),
    ((5, 2, 8, 8), 0.0),
])
def test_strong_views_fill_colour_images_with_gray_and_others_with_black(
        shape, fill, monkeypatch):
    seen = {}

    def spy(batch, *, low, high, fill, generator):
        seen.update(low=float(low), high=float(high), fill=fill)
        return batch

    monkeypatch.setattr("skmixal.training.fixmatch.randaugment", spy)
    u = (np.arange(np.prod(shape), dtype=np.float32).reshape(shape) % 7) - 2.0
    ctx = _context(u, lambda inputs: torch.full((len(inputs), 3), 1 / 3))
    method = FixMatch(ctx, alpha=0.0, augment=None, threshold=0.95, weight=1.0,
                      rampup=0.0, align=None)
    method.batch(torch.zeros(2, *shape[1:]), torch.tensor([0, 1]))
    # the range is the unlabeled batch's own (all of u's values occur in it)
    assert seen == {"low": -2.0, "high": 4.0, "fill": fill}


def test_strong_views_of_vectors_add_noise_of_three_tenths_of_each_features_std():
    rng = np.random.default_rng(0)
    scales = np.array([1.0, 2.0, 5.0, 0.5], np.float32)
    u = (rng.standard_normal((2000, 4)) * scales).astype(np.float32)
    ctx = _context(u, lambda inputs: torch.full((len(inputs), 3), 1 / 3), seed=2)
    method = FixMatch(ctx, alpha=0.0, augment=None, threshold=0.95, weight=1.0,
                      rampup=0.0, align=None)
    inputs, _ = method.batch(torch.zeros(2, 4), torch.tensor([0, 1]))
    rows = _context(u, None, seed=2).unlabeled()  # the same draw of 4,000 rows
    added = (inputs[2:] - rows).numpy()
    expected = 0.3 * rows.numpy().std(axis=0, ddof=1)
    np.testing.assert_allclose(added.std(axis=0), expected, rtol=0.05)
    assert np.all(np.abs(added.mean(axis=0)) < 0.05 * expected)


def test_labeled_rows_mix_with_their_partners_inputs_and_targets():
    # 4 rows, 3 classes: row i is the i-th unit vector, so a mixed row shows
    # its partner, whose target must be mixed in with the same weight
    u = np.zeros((4, 4), np.float32)
    ctx = _context(u, lambda inputs: torch.full((len(inputs), 3), 1 / 3), seed=3)
    method = FixMatch(ctx, alpha=0.4, augment=None, threshold=0.95, weight=1.0,
                      rampup=0.0, align=None)
    x, y = torch.eye(4), torch.tensor([2, 0, 1, 1])
    inputs, target = method.batch(x, y)
    mixed = inputs[:4]
    hard = torch.eye(3)[y]
    shares = []
    for i in range(4):
        own = mixed[i, i]
        partner = int(torch.argmax(mixed[i] - own * x[i]))
        if own < 1:  # mixed with another row (not with itself)
            shares.append(float(own))
            torch.testing.assert_close(mixed[i], own * x[i] + (1 - own) * x[partner])
        torch.testing.assert_close(target.labeled[i],
                                   own * hard[i] + (1 - own) * hard[partner])
    # one lam for the batch
    assert len(shares) >= 2 and max(shares) - min(shares) < 1e-6


def test_two_labeled_rows_are_mixed_too():
    u = np.zeros((4, 2), np.float32)
    for seed in range(20):
        ctx = _context(u, lambda inputs: torch.full((len(inputs), 3), 1 / 3),
                       seed=seed)
        method = FixMatch(ctx, alpha=0.4, augment=None, threshold=0.95,
                          weight=1.0, rampup=0.0, align=None)
        inputs, target = method.batch(torch.eye(2), torch.tensor([0, 1]))
        if not torch.equal(inputs[:2], torch.eye(2)):
            break
    else:
        pytest.fail("20 seeds never mixed two labeled rows")
    # a swap: each row is lam * itself + (1 - lam) * the other, targets alike
    lam = inputs[0, 0]
    torch.testing.assert_close(inputs[:2], torch.tensor([[lam, 1 - lam],
                                                         [1 - lam, lam]]))
    torch.testing.assert_close(target.labeled[:, :2], inputs[:2])
