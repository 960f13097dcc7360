"""Method-specific checks for the strategies (the contract is in
test_strategies.py)."""

import itertools
import warnings

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import chisquare
from scipy.stats import entropy as scipy_entropy
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.decomposition import PCA
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skmixal import MixupNetClassifier
from skmixal.scoring import bald_scores, expand_joint_proba, joint_entropy_scores
from skmixal.strategies import (
    alfamix_sampling,
    badge_sampling,
    bald_sampling,
    batch_bald_sampling,
    bayesian,
    coreset_sampling,
    diversity,
    mixup_consistency_sampling,
    typiclust_sampling,
)
from skmixal.strategies.bayesian import (
    _extend_sampled,
    _greedy_batch_bald,
    _top_candidates,
    iter_mc_proba,
    sampled_joint_entropy_scores,
)
from skmixal.strategies.diversity import _gradient_kmeans_pp

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class NoDropout(torch.nn.Module):
    def __init__(self, n_features=64, n_classes=10):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_features, 16),
                                        torch.nn.ReLU())
        self.head = torch.nn.Linear(16, n_classes)

    def forward(self, x):
        return self.head(self.body(x))


class TinyDropout(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU())
        self.drop = torch.nn.Dropout(0.5)
        self.head = torch.nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.drop(self.body(x)))


class Linear2D(torch.nn.Module):
    """Two linear layers on 2-D input; the test sets the weights by hand."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Linear(2, 2)
        self.head = torch.nn.Linear(2, 2)

    def forward(self, x):
        return self.head(self.body(x))


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    X = X.astype(np.float32)
    return X[:60], y[:60], X[60:360]


@pytest.fixture(scope="module")
def net(data):
    X_lab, y_lab, _ = data
    return MixupNetClassifier(random_state=0, max_epochs=3, min_steps=30,
                              classes=list(range(10)),
                              module__hidden_units=(32,)).fit(X_lab, y_lab)


@pytest.mark.parametrize("strategy", [bald_sampling, batch_bald_sampling])
def test_mc_dropout_needs_a_dropout_layer(strategy, data):
    X_lab, y_lab, X_pool = data
    clf = MixupNetClassifier(NoDropout, random_state=0, max_epochs=1, min_steps=5,
                             classes=list(range(10))).fit(X_lab, y_lab)
    with pytest.raises(ValueError, match="NoDropout has no dropout layer"):
        strategy(clf, X_pool, 2)


def test_bald_scores_nonnegative_and_seeded(net, data):
    X_pool = data[2]
    idx, scores = bald_sampling(net, X_pool, 10, random_state=0, n_mc=8)
    assert (scores >= 0).all() and np.all(np.diff(scores) <= 1e-12)
    other, _ = bald_sampling(net, X_pool, 10, random_state=1, n_mc=8)
    assert not np.array_equal(idx, other)  # different dropout masks


def test_bald_scores_match_a_hand_masked_forward_pass(data):
    # Capture the masked hidden layer that reaches the head, recover each MC
    # sample's dropout mask from it, and redo the forward pass and BALD by hand.
    X_lab, y_lab, X_pool = data
    X_pool = X_pool[:40]
    n_mc, keep = 6, 0.5
    clf = MixupNetClassifier(TinyDropout, random_state=0, max_epochs=2, min_steps=10,
                             classes=list(range(10))).fit(X_lab, y_lab)
    module = clf.module_
    seen = []
    handle = module.head.register_forward_pre_hook(
        lambda m, inputs: seen.append(inputs[0].detach().cpu().double()))
    try:
        idx, top = bald_sampling(clf, X_pool, len(X_pool), random_state=0, n_mc=n_mc)
    finally:
        handle.remove()
    scores = np.empty(len(X_pool))
    scores[idx] = top
    assert len(seen) == 1  # one forward pass: the pool repeated n_mc times
    masked = seen[0].reshape(n_mc, len(X_pool), 16)
    with torch.no_grad():
        h = module.body(torch.as_tensor(X_pool, device=clf.device)).cpu().double()
    # one mask per MC sample, shared by every pool point (consistent dropout)
    ref = h.argmax(0)  # per unit, the point with the largest activation
    mask = masked[:, ref, torch.arange(16)] / h[ref, torch.arange(16)]
    mask[:, h.max(0).values <= 0] = 0.0  # dead units: any mask fits
    assert set(np.round(mask.numpy(), 5).ravel()) <= {0.0, 1 / keep}
    torch.testing.assert_close(masked, h[None] * mask[:, None], rtol=1e-5, atol=1e-6)
    assert len({tuple(m) for m in mask.numpy()}) > 1  # the samples differ
    W = module.head.weight.detach().cpu().double()
    b = module.head.bias.detach().cpu().double()
    mc = torch.softmax((h[None] * mask[:, None]) @ W.T + b, dim=-1).numpy()
    expected = scipy_entropy(mc.mean(0), axis=1) - scipy_entropy(mc, axis=2).mean(0)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-6)


def _mutual_information(mc, batch):
    """I(y_batch; w) by enumerating every labelling of the batch."""
    n_classes = mc.shape[2]
    joint_entropy = 0.0
    for labels in itertools.product(range(n_classes), repeat=len(batch)):
        p = np.prod([mc[:, i, c] for i, c in zip(batch, labels)], axis=0).mean()
        joint_entropy -= p * np.log(p) if p > 0 else 0.0
    return joint_entropy - sum(scipy_entropy(mc[:, i], axis=1).mean() for i in batch)


def _brute_force_batch_bald(mc, n_select):
    """Greedy BatchBALD by enumeration: the picks and each one's gain."""
    batch, values = [], [0.0]
    for _ in range(n_select):
        candidates = [i for i in range(mc.shape[1]) if i not in batch]
        mi = [_mutual_information(mc, batch + [i]) for i in candidates]
        batch.append(candidates[int(np.argmax(mi))])
        values.append(max(mi))
    return batch, np.diff(values)


def test_greedy_batch_bald_matches_brute_force():
    rng = np.random.RandomState(0)
    mc = rng.dirichlet(np.full(3, 0.4), size=(5, 7))  # (n_mc, n_points, n_classes)
    best_bald = int(np.argmax([_mutual_information(mc, [i]) for i in range(7)]))
    mc[:, 6] = mc[:, best_bald]  # a duplicate of the best point
    picks, gains = _greedy_batch_bald(mc, 4, 10_000, np.random.RandomState(0))
    batch, expected = _brute_force_batch_bald(mc, 4)
    assert picks.tolist() == batch
    np.testing.assert_allclose(gains, expected, atol=1e-10)
    # BatchBALD does not take the duplicate right after the original
    assert sorted(picks[:2].tolist()) != sorted([best_bald, 6])


def test_sampled_joint_entropy_matches_exact():
    rng = np.random.RandomState(0)
    mc = rng.dirichlet(np.ones(4), size=(6, 5))  # (n_mc, n_samples, n_classes)
    joint = expand_joint_proba(expand_joint_proba(None, mc[:, 0]), mc[:, 1])
    exact = joint_entropy_scores(mc[:, 2:], joint)
    q = joint.mean(0)
    draw = rng.choice(joint.shape[1], size=200_000, p=q / q.sum())
    approx = sampled_joint_entropy_scores(mc[:, 2:], joint[:, draw])
    np.testing.assert_allclose(approx, exact, rtol=0.02)


def test_sampled_labels_follow_each_configurations_predictive():
    # p(c | config m) is proportional to sum_w joint[w, m] * new[w, c]: two
    # kinds of configuration with different conditionals, 20,000 draws each
    rng = np.random.RandomState(0)
    new = rng.dirichlet(np.ones(4), size=3)  # (n_mc, n_classes)
    kinds = rng.dirichlet(np.ones(3), size=2).T  # (n_mc, 2) config weights
    joint = np.repeat(kinds, 20_000, axis=1)
    out = _extend_sampled(joint, new, np.random.RandomState(1))
    # each column is joint * new[:, label]: read the label back
    ratio = out / joint  # (n_mc, M)
    labels = np.abs(ratio.T[:, None, :] - new.T[None]).sum(axis=2).argmin(axis=1)
    for kind in range(2):
        drawn = np.bincount(labels[kind * 20_000:(kind + 1) * 20_000], minlength=4)
        expected = kinds[:, kind] @ new
        expected = expected / expected.sum() * 20_000
        assert chisquare(drawn, expected).pvalue > 1e-3


def test_batch_bald_is_exact_up_to_max_configs_and_never_holds_more(monkeypatch):
    # 3 classes: after 3 picks the exact joint has 27 configurations, so with
    # max_configs=27 a 4th pick is still scored exactly (the brute force)
    rng = np.random.RandomState(0)
    mc = rng.dirichlet(np.full(3, 0.4), size=(5, 7))
    picks, gains = _greedy_batch_bald(mc, 4, 27, np.random.RandomState(0))
    batch, expected = _brute_force_batch_bald(mc, 4)
    assert picks.tolist() == batch
    np.testing.assert_allclose(gains, expected, atol=1e-10)
    # the memory bound: no joint ever holds more than max_configs columns
    widths = []
    for name in ("expand_joint_proba", "_extend_sampled"):
        real = getattr(bayesian, name)
        monkeypatch.setattr(bayesian, name, lambda *a, real=real: widths.append(
            real(*a).shape[1]) or real(*a))
    _greedy_batch_bald(mc, 6, 15, np.random.RandomState(0))
    assert widths[:2] == [3, 9] and max(widths) == 15


@pytest.mark.parametrize("n_candidates", [3, 7, 20])
def test_streamed_candidates_are_the_top_bald_points_of_the_whole_pool(
        net, data, n_candidates):
    # 6 MC samples and 60 rows a forward pass: the pool streams 10 points at
    # a time, keeping n_candidates; the same masks over the whole pool at once
    X_pool = data[2]
    idx, mc = _top_candidates(net, X_pool, 6, n_candidates, 0, batch_size=60)
    (_, whole), = iter_mc_proba(net, X_pool, 6, 0, batch_size=6 * len(X_pool))
    top = np.sort(np.argsort(-bald_scores(whole), kind="stable")[:n_candidates])
    assert idx.tolist() == top.tolist()
    np.testing.assert_allclose(mc, whole[:, top], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("n_classes, n_exact, n_seeds", [
    # 10 classes and max_configs=4: the first pick's own labels are already
    # too many, so they are sampled (the empty batch's joint is 1)
    (10, 1, 400),
    # 3 classes: the first pick is exact (3 configurations), the second's 9
    # are too many, so 4 configurations are drawn from the exact joint, in
    # proportion to their probability, before the second pick's labels
    (3, 2, 1500),
])
def test_batch_bald_sampled_joint_entropies_are_unbiased(monkeypatch, n_classes,
                                                        n_exact, n_seeds):
    # The exact steps are BatchBALD's own greedy picks, the same on every seed;
    # the first sampled step's joint entropies estimate the exact ones without
    # bias: their mean over the seeds matches them within 4 standard errors
    rng = np.random.RandomState(2)
    mc = rng.dirichlet(np.full(n_classes, 0.4), size=(5, 8))
    estimates = []
    real = bayesian.sampled_joint_entropy_scores
    monkeypatch.setattr(bayesian, "sampled_joint_entropy_scores",
                        lambda *a: estimates.append(real(*a)) or estimates[-1])
    exact_picks, _ = _greedy_batch_bald(mc, n_exact, 10**6, np.random.RandomState(0))
    for seed in range(n_seeds):
        picks, gains = _greedy_batch_bald(mc, n_exact + 1, 4,
                                          np.random.RandomState(seed))
        assert picks[:n_exact].tolist() == exact_picks.tolist()
        assert len(set(picks.tolist())) == n_exact + 1 and np.isfinite(gains).all()
    assert exact_picks[0] == np.argmax(bald_scores(mc))
    assert len(estimates) == n_seeds  # one sampled step a run
    joint = None
    for pick in exact_picks:
        joint = expand_joint_proba(joint, mc[:, pick])
    exact = joint_entropy_scores(mc, joint)
    estimates = np.asarray(estimates)
    sem = estimates.std(axis=0) / np.sqrt(n_seeds)
    assert (np.abs(estimates.mean(axis=0) - exact) < 4 * sem + 1e-9).all()
    assert (sem > 0).any()  # sampled, not exact


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_mc=1), ValueError, "n_mc == 1, must be >= 2"),
    (dict(n_mc=2.0), TypeError, "n_mc must be an integer"),
    (dict(n_candidates=0), ValueError, "n_candidates == 0, must be >= 1"),
    (dict(n_candidates=1.5), TypeError, "n_candidates must be an integer"),
    (dict(max_configs=1), ValueError, "max_configs == 1, must be >= 2"),
    (dict(max_configs=True), TypeError, "max_configs must be an integer, got True"),
    (dict(max_configs=2.0), TypeError, "max_configs must be an integer, got 2.0"),
])
def test_batch_bald_checks_its_settings(net, data, kwargs, error, match):
    with pytest.raises(error, match=match):
        batch_bald_sampling(net, data[2], 2, **kwargs)


def test_batch_bald_settings_at_their_bounds_and_default_candidates(
        net, data, monkeypatch):
    idx, gains = batch_bald_sampling(net, data[2], 2, random_state=0, n_mc=2,
                                     n_candidates=1, max_configs=2)
    assert len(np.unique(idx)) == 2 and np.isfinite(gains).all()
    with pytest.raises(ValueError, match="n_mc == 1, must be >= 2"):
        bald_sampling(net, data[2], 2, n_mc=1)
    # n_candidates=None is max(200, 20 * n_instances), as documented
    asked = []
    real = bayesian._top_candidates
    monkeypatch.setattr(bayesian, "_top_candidates",
                        lambda est, X, n_mc, n, *a: asked.append(n) or real(
                            est, X, n_mc, n, *a))
    # the greedy part is not what is checked here (and costs seconds at 220)
    monkeypatch.setattr(bayesian, "_greedy_batch_bald",
                        lambda mc, n, *a: (np.arange(n), np.zeros(n)))
    for n in (1, 10, 11):
        batch_bald_sampling(net, data[2], n, random_state=0, n_mc=2)
    assert asked == [200, 200, 220]


def test_top_candidates_keep_the_top_scores_whatever_the_streaming(monkeypatch):
    # a pool streamed in batches of 1 to 9 points, keeping 1 to 12 candidates,
    # and in batches of hundreds keeping hundreds (NumPy sorts small arrays
    # whole when asked to partition them: only large ones test the partition):
    # always the n highest BALD scores of the whole pool, in pool order
    rng = np.random.RandomState(0)
    for trial in range(70):
        if trial < 60:
            n_pool, rows = rng.randint(5, 40), rng.randint(1, 10)
            n_candidates = rng.randint(1, 13)
        else:
            n_pool, rows = rng.randint(2000, 4000), rng.randint(200, 600)
            n_candidates = rng.randint(200, 500)
        whole = rng.dirichlet(np.full(4, 0.3), size=(3, n_pool))
        monkeypatch.setattr(bayesian, "iter_mc_proba", lambda *a, whole=whole,
                            rows=rows: ((s, whole[:, s:s + rows])
                                        for s in range(0, len(whole[0]), rows)))
        idx, mc = _top_candidates(None, None, 3, n_candidates, 0, None)
        order = np.argsort(-bald_scores(whole), kind="stable")
        want = np.sort(order[:n_candidates])
        assert idx.tolist() == want.tolist(), trial
        np.testing.assert_array_equal(mc, whole[:, want])


def test_mc_forward_passes_hold_n_mc_copies_of_batch_size_over_n_mc_rows(net, data):
    # batch_size counts MC copies: 40 rows a pass with n_mc=4 is 10 pool rows;
    # under n_mc, one pool row a pass. The scores do not depend on it (the
    # masks are the pool's, not the batch's).
    X_pool = data[2][:45]
    sizes = []
    real = net.iter_outputs

    def spy(X, **kwargs):
        sizes.append(len(X))
        return real(X, **kwargs)

    net.iter_outputs = spy
    try:
        for batch_size in (40, 3, None):
            sizes.clear()
            starts = [s for s, _ in iter_mc_proba(net, X_pool, 4, 0, batch_size)]
            if batch_size == 40:
                assert sizes == [40, 40, 40, 40, 20] and starts == [0, 10, 20, 30, 40]
            elif batch_size == 3:
                assert sizes == [4] * 45 and starts == list(range(45))
            else:
                assert sizes == [4 * 45]
        scores = {b: bald_sampling(net, X_pool, 45, random_state=0, n_mc=4,
                                   batch_size=b) for b in (28, None)}
    finally:
        del net.iter_outputs
    for b in (28, None):
        scores[b] = _full_scores(*scores[b], 45)
    np.testing.assert_allclose(scores[28], scores[None], rtol=1e-5, atol=1e-7)


class ZeroDropout(NoDropout):
    """A network whose only dropout drops nothing (p=0): MC dropout has nothing
    to sample."""

    def __init__(self):
        super().__init__()
        self.drop = torch.nn.Dropout(0.0)

    def forward(self, x):
        return self.head(self.drop(self.body(x)))


def test_mc_dropout_needs_a_layer_that_drops_something(data):
    X_lab, y_lab, X_pool = data
    clf = MixupNetClassifier(ZeroDropout, random_state=0, max_epochs=1, min_steps=2,
                             classes=list(range(10)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # two steps
        clf.fit(X_lab, y_lab)
    with pytest.raises(ValueError, match="ZeroDropout has no dropout layer"):
        bald_sampling(clf, X_pool, 2)


class _Rows(torch.utils.data.Dataset):
    def __init__(self, X):
        self.X = X

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i]


def test_mc_dropout_reads_a_dataset_pool_as_the_array_and_checks_it(net, data):
    # a Dataset's batches are checked (and made float32) as they stream: float64
    # rows score as the array does; rows of the wrong width are refused
    X_pool = data[2][:40]
    want = bald_sampling(net, X_pool, 40, random_state=0, n_mc=4)
    got = bald_sampling(net, _Rows(X_pool.astype(np.float64)), 40, random_state=0,
                        n_mc=4)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
    with pytest.raises(ValueError, match="X has 60 features, but MixupNetClassifier "
                                         "is expecting 64 features"):
        bald_sampling(net, _Rows(X_pool[:, :60]), 2, random_state=0, n_mc=4)


def test_mc_defaults_are_20_samples_and_10000_configurations(net, data, monkeypatch):
    # one forward pass of 20 copies of a 3-row pool; BatchBALD exact up to
    # 10,000 configurations (10 classes: 4 picks), then 10,000 sampled ones
    sizes = []
    real = net.iter_outputs
    net.iter_outputs = lambda X, **kw: sizes.append(len(X)) or real(X, **kw)
    try:
        bald_sampling(net, data[2][:3], 1, random_state=0)
        assert sizes == [20 * 3]
        sizes.clear()
        batch_bald_sampling(net, data[2][:3], 1, random_state=0)
        assert sizes == [20 * 3]
    finally:
        del net.iter_outputs
    widths = []
    for name in ("expand_joint_proba", "_extend_sampled"):
        fn = getattr(bayesian, name)
        monkeypatch.setattr(bayesian, name, lambda *a, fn=fn: widths.append(
            fn(*a).shape[1]) or fn(*a))
    batch_bald_sampling(net, data[2][:8], 6, random_state=0, n_mc=2)
    assert widths == [10, 100, 1000, 10_000, 10_000, 10_000]


def _masks_of(layer, x, n_mc=40, seed=0):
    """What ``layer`` multiplies ``x`` by under consistent MC dropout,
    (n_mc, *x.shape[1:]) for a single pool row."""
    module = torch.nn.Sequential(layer)
    with bayesian._ConsistentDropout(module, n_mc, seed):
        out = module(x.repeat(n_mc, *[1] * (x.dim() - 1)))
    return out / x


def test_mc_dropout_keeps_each_unit_with_probability_1_minus_p_and_rescales():
    # p=0.2 on 40 x 1,000 units: values 0 or 1 / 0.8, kept at a rate of 0.8
    # (standard error 0.002)
    mask = _masks_of(torch.nn.Dropout(0.2), torch.ones(1, 1000))
    values = set(np.round(mask.numpy(), 6).ravel())
    assert values == {0.0, 1.25}
    assert float((mask > 0).double().mean()) == pytest.approx(0.8, abs=0.01)


def test_mc_dropout_masks_elements_for_dropout_and_channels_for_channel_dropout():
    x = torch.ones(1, 6, 5, 5)
    plain = _masks_of(torch.nn.Dropout(0.5), x)
    # plain Dropout on a feature map: units of one channel dropped apart
    assert any(len(torch.unique(plain[w, c])) > 1 for w in range(40) for c in range(6))
    for layer, shape in ((torch.nn.Dropout2d(0.5), (1, 6, 5, 5)),
                         (torch.nn.Dropout1d(0.5), (1, 6, 7))):
        mask = _masks_of(layer, torch.ones(shape)).flatten(2)  # (n_mc, C, rest)
        assert (mask == mask[:, :, :1]).all()  # one factor a channel
        assert set(np.round(mask.numpy(), 6).ravel()) == {0.0, 2.0}


def test_sampled_joint_entropy_by_hand_with_an_impossible_configuration():
    # H ~= (1/M) sum_m sum_c -(p(m, c) / q_m) log p(m, c), with p(m, c) the
    # mean over w of joint[w, m] * proba[w, i, c] and q_m its sum over c; a
    # configuration of probability 0 adds 0 (not 0 / 0); blocks of 3
    # candidates give the same as one block
    rng = np.random.RandomState(4)
    proba = rng.dirichlet(np.ones(3), size=(4, 7))  # (n_mc, n, n_classes)
    joint = rng.uniform(0.01, 1.0, size=(4, 5))
    joint[:, 2] = 0.0
    want = np.zeros(7)
    for i, m in itertools.product(range(7), range(5)):
        p = (joint[:, m, None] * proba[:, i]).mean(axis=0)  # (n_classes,)
        q = joint[:, m].mean()
        if q > 0:
            want[i] += -(p * np.log(p)).sum() / q
    want /= 5
    for chunk in (None, 3, 1):
        got = sampled_joint_entropy_scores(proba, joint, chunk_size=chunk)
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_sampled_joint_entropy_of_very_wide_joints_goes_a_candidate_at_a_time():
    # 4,200 configurations x 1,000 classes: more than 2**22 cells a candidate
    rng = np.random.RandomState(0)
    proba = rng.dirichlet(np.ones(1000), size=(2, 2))
    joint = rng.uniform(size=(2, 4200))
    np.testing.assert_array_equal(
        sampled_joint_entropy_scores(proba, joint),
        sampled_joint_entropy_scores(proba, joint, chunk_size=1))


def test_sampled_configurations_that_underflowed_to_zero_stay_zero():
    # a long batch's configuration can underflow to probability 0 under every
    # MC sample: its label draw must not divide 0 by 0
    new = np.random.RandomState(0).dirichlet(np.ones(3), size=2)
    joint = np.array([[0.5, 0.0], [0.25, 0.0]])
    with np.errstate(all="raise"):
        out = _extend_sampled(joint, new, np.random.RandomState(0))
    assert (out[:, 1] == 0).all() and np.isfinite(out).all()


def test_sampled_labels_stay_classes_when_rounding_leaves_the_total_under_u():
    # normalised probabilities can add up to a hair under 1; the largest
    # uniform draw below 1 then passes every class: the last one is taken
    top = np.nextafter(1.0, 0.0)
    rng = np.random.RandomState(0)
    while True:
        row = rng.dirichlet(np.ones(4)) * rng.uniform()
        if np.cumsum(row / row.sum())[-1] < top:
            break

    class Top:
        def uniform(self, size):
            return np.full(size, top)

    out = _extend_sampled(np.ones((1, 1)), row[None], Top())
    assert out.tolist() == [[row[3]]]


def test_sampled_labels_do_not_depend_on_the_configurations_scale():
    # p(c | m) is normalised per configuration: joint probabilities a
    # thousand times smaller (a longer batch) draw the same labels
    rng = np.random.RandomState(0)
    new = rng.dirichlet(np.ones(4), size=3)
    joint = rng.uniform(0.2, 1.0, size=(3, 500))
    small = 1e-3 * joint
    big_out = _extend_sampled(joint, new, np.random.RandomState(5))
    small_out = _extend_sampled(small, new, np.random.RandomState(5))
    np.testing.assert_allclose(small_out, 1e-3 * big_out, rtol=1e-12)
    labels = np.abs((big_out / joint).T[:, None, :] - new.T[None]).sum(2).argmin(1)
    assert len(np.unique(labels)) == 4


class ChannelDropout(torch.nn.Module):
    """A convolution, Dropout2d (whole channels), then a linear head."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.drop = torch.nn.Dropout2d(0.5)
        self.flat = torch.nn.Flatten()
        self.head = torch.nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.head(self.flat(self.drop(torch.relu(self.conv(x)))))


def test_channel_dropout_masks_whole_channels_the_same_over_the_pool(data):
    X_lab, y_lab, X_pool = data
    images = X_pool[:30].reshape(-1, 1, 8, 8)
    clf = MixupNetClassifier(ChannelDropout, random_state=0, max_epochs=1,
                             min_steps=5, classes=list(range(10))).fit(
        X_lab.reshape(-1, 1, 8, 8), y_lab)
    seen = []
    handle = clf.module_.flat.register_forward_pre_hook(
        lambda m, inputs: seen.append(inputs[0].detach().double()))
    try:
        (_, mc), = iter_mc_proba(clf, images, 5, 0, batch_size=5 * len(images))
    finally:
        handle.remove()
    with torch.no_grad():
        h = torch.relu(clf.module_.conv(torch.as_tensor(images))).double()
    masked = seen[0].reshape(5, len(images), 4, 8, 8)
    live = h > 0
    factors = np.empty((5, 4))
    for w, c in itertools.product(range(5), range(4)):
        seen_c, h_c = masked[w, :, c], h[:, c]
        ratio = seen_c[live[:, c]] / h_c[live[:, c]]
        # one factor per channel and MC sample, over every position and point
        torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio[0])))
        factors[w, c] = float(ratio[0])
        assert (seen_c[~live[:, c]] == 0).all()
    assert set(np.round(factors, 5).ravel()) <= {0.0, 2.0}  # dropped or 1 / keep
    assert len({tuple(f) for f in factors}) > 1  # the MC samples differ
    assert np.isfinite(mc).all()


def test_batch_bald_sampled_configurations(net, data):
    # 10 classes and max_configs=20: exact for one point, sampled after
    idx, gains = batch_bald_sampling(net, data[2], 6, random_state=0, n_mc=6,
                                     n_candidates=30, max_configs=20)
    assert len(np.unique(idx)) == 6 and np.isfinite(gains).all()
    first, _ = bald_sampling(net, data[2], 1, random_state=0, n_mc=6)
    assert idx[0] == first[0]  # with an empty batch, BatchBALD is BALD


def test_badge_factorised_distances_equal_explicit():
    rng = np.random.RandomState(0)
    a = rng.normal(size=(50, 3)).astype(np.float32)
    h = rng.normal(size=(50, 4)).astype(np.float32)
    g = (a[:, :, None] * h[:, None, :]).reshape(50, -1)  # explicit (n, C * D)
    picks, norms = _gradient_kmeans_pp(a, h, 8, np.random.RandomState(0))
    assert picks[0] == np.argmax(np.linalg.norm(g, axis=1))
    np.testing.assert_allclose(norms, np.linalg.norm(g[picks], axis=1), rtol=1e-5)
    # the same draws from explicit D^2 sampling
    rng2 = np.random.RandomState(0)
    min_d, chosen = np.full(50, np.inf), [int(picks[0])]
    for _ in range(7):
        d = ((g - g[chosen[-1]]) ** 2).sum(1)
        min_d = np.minimum(min_d, d)
        min_d[chosen] = 0
        w = np.cumsum(min_d)
        chosen.append(int(np.searchsorted(w, rng2.uniform(0, w[-1]), side="right")))
    np.testing.assert_array_equal(picks, chosen)


def _badge_law(g, k, power=2):
    """Exact law of BADGE's ordered picks 2..k given its first (largest |g|)."""
    first = int(np.argmax(np.linalg.norm(g, axis=1)))
    D = cdist(g, g) ** power
    law = {}
    rest = [i for i in range(len(g)) if i != first]
    for seq in itertools.permutations(rest, k - 1):
        chosen, p = [first], 1.0
        for nxt in seq:
            w = D[:, chosen].min(axis=1)
            p *= w[nxt] / w.sum()
            chosen.append(nxt)
        law[seq] = p
    return law


def test_badge_sampler_follows_the_d2_law():
    # 3,000 runs of the factorised sampler on 6 gradient embeddings: the
    # ordered 2nd and 3rd picks (20 cells) fit the exact D^2 law and reject
    # the D law, so the test can fail.
    rng = np.random.RandomState(1)
    a = rng.normal(size=(6, 2))
    h = rng.normal(size=(6, 3))
    g = (a[:, :, None] * h[:, None, :]).reshape(6, -1)
    picks = [_gradient_kmeans_pp(a, h, 3, np.random.RandomState(s))[0]
             for s in range(3000)]
    runs = [tuple(p[1:].tolist()) for p in picks]
    cells = sorted(_badge_law(g, 3))
    observed = np.array([runs.count(c) for c in cells])
    assert observed.sum() == len(runs)
    for power, accept in ((2, True), (1, False)):
        law = _badge_law(g, 3, power)
        expected = np.array([law[c] for c in cells]) * len(runs)
        p_value = chisquare(observed, expected).pvalue
        assert (p_value > 1e-3) == accept, (power, p_value)


def test_badge_prefers_large_gradients(net, data):
    idx, norms = badge_sampling(net, data[2], 5, random_state=0)
    assert norms[0] == norms.max()


def test_coreset_distances_non_increasing(net, data):
    X_lab, y_lab, X_pool = data
    _, dist = coreset_sampling(net, X_pool, 8, X_labeled=X_lab)
    assert np.all(np.diff(dist) <= 1e-5)
    _, dist = coreset_sampling(net, X_pool, 3, random_state=0)  # no labels
    assert np.isinf(dist[0]) and np.isfinite(dist[1:]).all()


@pytest.mark.parametrize("features", ["raw", "pca", "array"])
def test_typiclust_cold_start_unfitted(features, data):
    X_pool = data[2]
    if features == "pca":
        features = PCA(8, random_state=0).fit(X_pool).transform
    elif features == "array":
        features = X_pool[:, ::2]
    unfitted = MixupNetClassifier()
    idx, typ = typiclust_sampling(unfitted, X_pool, 5, random_state=0,
                                  features=features)
    assert len(np.unique(idx)) == 5 and (typ > 0).all()


def test_typiclust_rejects_bad_features(data):
    with pytest.raises(ValueError, match=r"features must have shape \(n_pool=300"):
        typiclust_sampling(MixupNetClassifier(), data[2], 2, features=data[2][:5])


def _three_blobs():
    rng = np.random.RandomState(0)
    return np.concatenate([rng.normal(c, 0.1, size=(40, 2)) for c in (0, 10, 20)])


def test_typiclust_covers_clusters(data):
    # three tight, well separated blobs and zero labels: one pick per blob
    Z = _three_blobs()
    idx, _ = typiclust_sampling(MixupNetClassifier(), Z, 3, random_state=0,
                                features="raw")
    assert sorted(idx // 40) == [0, 1, 2]


@pytest.mark.parametrize("seed", range(3))
def test_typiclust_skips_the_labeled_blob(seed):
    # One labeled point in blob 0: the two picks come from blobs 1 and 2, the
    # same with features='raw' (applied to X_labeled) and with precomputed
    # features and labeled_features.
    Z = _three_blobs()
    X_lab = Z[[3]] + 0.01
    raw, _ = typiclust_sampling(MixupNetClassifier(), Z, 2, random_state=seed,
                                features="raw", X_labeled=X_lab)
    assert sorted(raw // 40) == [1, 2]
    arr, _ = typiclust_sampling(MixupNetClassifier(), Z, 2, random_state=seed,
                                features=Z, labeled_features=X_lab, X_labeled=X_lab)
    np.testing.assert_array_equal(arr, raw)
    # without the labeled set, blob 0 is a candidate again
    cold = {int(typiclust_sampling(MixupNetClassifier(), Z, 2, random_state=s,
                                   features=Z)[0].min()) // 40 for s in range(10)}
    assert 0 in cold


def test_typiclust_refuses_to_ignore_the_labeled_set():
    Z = _three_blobs()
    with pytest.raises(ValueError, match="array features= without labeled_features="):
        typiclust_sampling(MixupNetClassifier(), Z, 2, features=Z, X_labeled=Z[:3])
    with pytest.raises(ValueError, match=r"labeled_features must have shape "
                                         r"\(n_labeled, 2\)"):
        typiclust_sampling(MixupNetClassifier(), Z, 2, features=Z,
                           labeled_features=np.ones((3, 5)), X_labeled=Z[:3])
    with pytest.raises(ValueError, match="labeled_features is only used with an "
                                         "array features="):
        typiclust_sampling(MixupNetClassifier(), Z, 2, features="raw",
                           labeled_features=Z[:3], X_labeled=Z[:3])


@pytest.mark.parametrize("labeled, n", [(True, 6), (False, 6), (False, 2)])
def test_coreset_picks_and_distances_match_a_brute_force_greedy(net, data, labeled,
                                                                n):
    # Sener & Savarese's Algorithm 1 written out: each pick is the pool point
    # farthest from its nearest center (the labeled set, then earlier picks),
    # and its score is that distance. Without labels the first pick is drawn
    # (distance inf) and every later one is measured to earlier picks.
    X_lab, _, X_pool = data
    emb = net.embed(X_pool).astype(np.float64)
    if labeled:
        idx, dist = coreset_sampling(net, X_pool, n, X_labeled=X_lab)
        centers, expected, distances = list(net.embed(X_lab).astype(np.float64)), [], []
    else:
        idx, dist = coreset_sampling(net, X_pool, n, random_state=0)
        centers, expected, distances = [emb[idx[0]]], [int(idx[0])], [np.inf]
    while len(expected) < n:
        nearest = cdist(emb, np.asarray(centers)).min(axis=1)
        nearest[expected] = -1.0
        pick = int(np.argmax(nearest))
        expected.append(pick)
        distances.append(nearest[pick])
        centers.append(emb[pick])
    assert idx.tolist() == expected
    np.testing.assert_allclose(dist, distances, rtol=1e-4)


class _FixedClusters:
    """A fitted-k-means stand-in: the blobs' own labels and nearest centres."""

    def __init__(self, labels, centres):
        self.labels_, self.centres = labels, centres

    def predict(self, Z):
        return cdist(Z, self.centres).argmin(axis=1)


def _typiclust_by_hand(Z, labels, covered, n_select, n_neighbors, min_size):
    """TypiClust's selection as the paper words it, with brute-force distances."""
    covered = dict(covered)
    remaining = {c: int(np.sum(labels == c)) for c in np.unique(labels)}
    taken, picks, scores = set(), [], []
    for _ in range(n_select):
        live = [c for c in remaining if remaining[c] > 0]
        big = [c for c in live if remaining[c] >= min_size]
        # the least covered cluster, the largest among those (then the first)
        cluster = min(big or live, key=lambda c: (covered.get(c, 0), -remaining[c], c))
        members = [i for i in range(len(Z)) if labels[i] == cluster and i not in taken]
        k = min(n_neighbors, len(members) - 1)

        def typicality(i, members=members, k=k):
            if k < 1:
                return 0.0
            d = sorted(np.linalg.norm(Z[i] - Z[j]) for j in members if j != i)
            return 1.0 / np.mean(d[:k])

        best = max(members, key=lambda i: (typicality(i), -i))
        picks.append(best)
        scores.append(typicality(best))
        taken.add(best)
        covered[cluster] = covered.get(cluster, 0) + 1
        remaining[cluster] -= 1
    return picks, scores


@pytest.mark.parametrize("n_select, min_size", [(3, 5), (5, 5), (9, 5), (12, 1)])
def test_typiclust_selection_matches_the_papers_rule_by_brute_force(
        monkeypatch, n_select, min_size):  # 2 labeled + 3 picks: the 5 blobs
    # Blobs of 30, 20, 12, 6 and 3 points (the last under min_cluster_size),
    # two labeled points in the largest; k-means is replaced by the blobs
    # themselves, so what is checked is the choice of cluster and of point.
    rng = np.random.RandomState(0)
    sizes, centres = [30, 20, 12, 6, 3], np.arange(5)[:, None] * [10.0, 0.0]
    Z = np.concatenate([rng.normal(c, 1.0, (n, 2)) for c, n in zip(centres, sizes)])
    Z = Z.astype(np.float32)
    labels = np.repeat(np.arange(5), sizes)
    labeled = centres[[0, 0]] + 0.3
    monkeypatch.setattr("skmixal.strategies.diversity.fit_kmeans",
                        lambda Z_, k, seed: _FixedClusters(labels, centres))
    idx, typ = typiclust_sampling(MixupNetClassifier(), Z, n_select, random_state=0,
                                  features=Z, labeled_features=labeled,
                                  X_labeled=labeled, n_neighbors=4,
                                  min_cluster_size=min_size)
    picks, scores = _typiclust_by_hand(Z.astype(np.float64), labels, {0: 2},
                                       n_select, n_neighbors=4, min_size=min_size)
    assert idx.tolist() == picks
    np.testing.assert_allclose(typ, scores, rtol=1e-5)
    if n_select == 9:  # the least covered blob of 5 or more, the largest first
        assert [labels[i] for i in picks] == [1, 2, 3, 1, 2, 3, 0, 1, 2]
    if min_size == 1:  # the blob of 3 has its turn, with 2 neighbours a point
        assert [labels[i] for i in picks][:4] == [1, 2, 3, 4]


def _fixed_cluster_layout(sizes, labeled_in, monkeypatch, seed=0):
    """Blobs of ``sizes`` points 10 apart, one labeled point in each cluster of
    ``labeled_in``, and k-means replaced by the blobs themselves."""
    rng = np.random.RandomState(seed)
    centres = np.arange(len(sizes))[:, None] * [10.0, 0.0]
    Z = np.concatenate([rng.normal(c, 1.0, (n, 2)) for c, n in zip(centres, sizes)])
    labels = np.repeat(np.arange(len(sizes)), sizes)
    labeled = centres[list(labeled_in)] + 0.3
    monkeypatch.setattr("skmixal.strategies.diversity.fit_kmeans",
                        lambda Z_, k, seed: _FixedClusters(labels, centres))
    return Z.astype(np.float32), labels, labeled


@pytest.mark.parametrize("sizes, labeled_in, n_select, min_size, clusters", [
    # equal clusters, the second labeled: after one pick each is covered once
    # and the first has one point fewer left, so the second is the larger
    ([6, 6], [1], 4, 1, [0, 1, 0, 1]),
    # every cluster under min_cluster_size: the smallest is emptied first
    # (fewest labeled), and an emptied cluster is never chosen again, even
    # while it is the least covered
    ([1, 3], [1], 3, 5, [0, 1, 1]),
])
def test_typiclust_takes_clusters_by_coverage_then_what_is_left(
        monkeypatch, sizes, labeled_in, n_select, min_size, clusters):
    Z, labels, labeled = _fixed_cluster_layout(sizes, labeled_in, monkeypatch)
    idx, typ = typiclust_sampling(MixupNetClassifier(), Z, n_select, random_state=0,
                                  features=Z, labeled_features=labeled,
                                  X_labeled=labeled, n_neighbors=4,
                                  min_cluster_size=min_size)
    picks, scores = _typiclust_by_hand(
        Z.astype(np.float64), labels, dict.fromkeys(labeled_in, 1), n_select,
        n_neighbors=4, min_size=min_size)
    assert [labels[i] for i in picks] == clusters  # the hand rule, as described
    assert idx.tolist() == picks
    np.testing.assert_allclose(typ, scores, rtol=1e-5)


def test_typicality_by_brute_force_for_small_clusters():
    # fewer points than n_neighbors: every other point is a neighbour; one
    # point alone has typicality 0; two points, 1 / their distance
    rng = np.random.RandomState(0)
    for n in (1, 2, 3, 7):
        Z = rng.normal(size=(n, 3))
        got = diversity._typicality(Z, n_neighbors=20)
        want = [0.0 if n == 1 else 1.0 / np.mean(np.delete(
            np.linalg.norm(Z - Z[i], axis=1), i)) for i in range(n)]
        np.testing.assert_allclose(got, want, rtol=1e-6)
    Z = rng.normal(size=(9, 2))
    got = diversity._typicality(Z, n_neighbors=3)
    want = [1.0 / np.mean(np.sort(np.linalg.norm(Z - Z[i], axis=1))[1:4])
            for i in range(9)]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_typicality_of_duplicate_points_is_large_not_infinite_or_negative():
    Z = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    typ = diversity._typicality(Z, n_neighbors=1)
    np.testing.assert_allclose(typ, [1e12, 1e12, 1 / 5.0])


def test_typiclust_subsamples_large_clusters_without_repeats(monkeypatch):
    # one cluster of 12 with max_cluster_points=5: typicality is computed on 5
    # distinct points of it; a cluster of exactly 5 is used whole
    seen = []
    real = diversity._typicality
    monkeypatch.setattr(diversity, "_typicality",
                        lambda Z, k: seen.append(Z.copy()) or real(Z, k))
    Z, labels, _ = _fixed_cluster_layout([12, 5], [], monkeypatch)
    idx, typ = typiclust_sampling(MixupNetClassifier(), Z, 2, random_state=0,
                                  features=Z, max_cluster_points=5, n_neighbors=2)
    big, small = seen
    assert len(big) == 5 and len(np.unique(big, axis=0)) == 5
    assert all(any(np.array_equal(row, z) for z in Z[:12]) for row in big)
    np.testing.assert_array_equal(small, Z[12:])
    assert labels[idx].tolist() == [0, 1]
    assert typ[0] == pytest.approx(real(big, 2).max())


@pytest.mark.parametrize("n, k, mini_batch", [
    (20_000, 50, False), (20_001, 2, True), (100, 51, True), (100, 50, False),
    (100, 2, False)])
def test_kmeans_goes_mini_batch_past_20000_points_or_50_clusters_on_one_thread(
        monkeypatch, n, k, mini_batch):
    from threadpoolctl import threadpool_info
    made = []

    class Fake:
        def __init__(self, n_clusters, **kwargs):
            made.append((type(self).__name__, n_clusters, kwargs["random_state"]))

        def fit(self, Z):
            self.threads = {p["num_threads"] for p in threadpool_info()}
            return self

    monkeypatch.setattr(diversity, "KMeans", type("KMeans", (Fake,), {}))
    monkeypatch.setattr(diversity, "MiniBatchKMeans",
                        type("MiniBatchKMeans", (Fake,), {}))
    km = diversity.fit_kmeans(np.zeros((n, 1), dtype=np.float32), k, 7)
    assert made == [("MiniBatchKMeans" if mini_batch else "KMeans", k, 7)]
    assert km.threads == {1}


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_neighbors=0), ValueError, "n_neighbors == 0, must be >= 1"),
    (dict(n_neighbors=2.5), TypeError, "n_neighbors must be an integer"),
    (dict(min_cluster_size=0), ValueError, "min_cluster_size == 0, must be >= 1"),
    (dict(min_cluster_size=1.0), TypeError, "min_cluster_size must be an integer"),
    (dict(max_cluster_points=1), ValueError,
     "max_cluster_points == 1, must be >= 2"),
    (dict(max_cluster_points=3.0), TypeError,
     "max_cluster_points must be an integer"),
    (dict(features="rawx"), ValueError, "features must be None, 'raw', a callable"),
    (dict(features="RAW"), ValueError, "features must be None, 'raw', a callable"),
])
def test_typiclust_checks_its_settings(kwargs, error, match):
    Z = _three_blobs()
    kwargs.setdefault("features", "raw")
    with pytest.raises(error, match=match):
        typiclust_sampling(MixupNetClassifier(), Z, 2, **kwargs)


def test_typiclust_settings_at_their_bounds_work():
    Z = _three_blobs()
    idx, _ = typiclust_sampling(MixupNetClassifier(), Z, 3, random_state=0,
                                features="raw", n_neighbors=1, min_cluster_size=1,
                                max_cluster_points=2)
    assert sorted(idx // 40) == [0, 1, 2]


@pytest.mark.parametrize("bad, key", [
    (lambda Z: Z[:, 0], "features"),                 # 1-D
    (lambda Z: Z[:, :, None], "features"),           # 3-D
    (lambda Z: np.concatenate([Z, Z[:1]]), "features"),  # one row too many
    (lambda Z: Z[:3, 0], "labeled_features"),        # 1-D
    (lambda Z: Z[:3, :, None], "labeled_features"),  # 3-D
    (lambda Z: Z[:3, :1], "labeled_features"),       # too few columns
])
def test_typiclust_refuses_arrays_of_the_wrong_shape(bad, key):
    Z = _three_blobs()
    kwargs = dict(features=Z, labeled_features=Z[:3], X_labeled=Z[:3])
    kwargs[key] = bad(Z)
    with pytest.raises(ValueError, match=rf"^{key} must have shape"):
        typiclust_sampling(MixupNetClassifier(), Z, 2, **kwargs)


def test_typiclust_with_an_empty_labeled_set_is_a_cold_start():
    Z = _three_blobs()
    cold = typiclust_sampling(MixupNetClassifier(), Z, 3, random_state=1, features=Z)
    empty = typiclust_sampling(MixupNetClassifier(), Z, 3, random_state=1,
                               features=Z, X_labeled=Z[:0])
    np.testing.assert_array_equal(cold[0], empty[0])


def test_typiclust_representations_are_the_flattened_inputs():
    # 'raw' and a callable are applied batch by batch to the pool as given,
    # flattened per row: the same picks as the precomputed flat array
    Z = _three_blobs().astype(np.float32)
    images = Z.reshape(-1, 1, 2, 1)
    flat = typiclust_sampling(MixupNetClassifier(), Z, 3, random_state=0,
                              features=Z)[0]
    raw = typiclust_sampling(MixupNetClassifier(), images, 3, random_state=0,
                             features="raw", batch_size=7)[0]
    called = typiclust_sampling(MixupNetClassifier(), Z, 3, random_state=0,
                                features=lambda b: b.reshape(-1, 2, 1),
                                batch_size=7)[0]
    np.testing.assert_array_equal(raw, flat)
    np.testing.assert_array_equal(called, flat)


def test_typiclust_on_embeddings_is_typiclust_on_the_embedding_array(net, data):
    # features=None: the network's embeddings of the pool and of the labeled set
    X_lab, _, X_pool = data
    got = typiclust_sampling(net, X_pool, 4, random_state=0, X_labeled=X_lab)
    want = typiclust_sampling(net, X_pool, 4, random_state=0,
                              features=net.embed(X_pool),
                              labeled_features=net.embed(X_lab), X_labeled=X_lab)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5)


def test_diversity_strategies_read_a_pipeline_after_its_transforms(data):
    # the last step's embeddings of the transformed pool and labeled set; and
    # TypiClust's own features='raw' of the pool as given, untransformed
    X_lab, y_lab, X_pool = data
    pipe = make_pipeline(FunctionTransformer(lambda X: 3.0 * X - 1.0),
                         MixupNetClassifier(random_state=0, max_epochs=2,
                                            min_steps=20,
                                            module__hidden_units=(16,)))
    pipe.fit(X_lab, y_lab)
    last = pipe[-1]
    emb_pool, emb_lab = last.embed(3.0 * X_pool - 1.0), last.embed(3.0 * X_lab - 1.0)
    got = typiclust_sampling(pipe, X_pool, 4, random_state=0, X_labeled=X_lab)
    want = typiclust_sampling(MixupNetClassifier(), X_pool, 4, random_state=0,
                              features=emb_pool, labeled_features=emb_lab,
                              X_labeled=X_lab)
    np.testing.assert_array_equal(got[0], want[0])
    raw = typiclust_sampling(pipe, X_pool, 4, random_state=0, features="raw")
    by_hand = typiclust_sampling(MixupNetClassifier(), X_pool, 4, random_state=0,
                                 features=X_pool)
    np.testing.assert_array_equal(raw[0], by_hand[0])
    # core-set: distances to the transformed labeled set's embeddings
    idx, dist = coreset_sampling(pipe, X_pool, 1, X_labeled=X_lab)
    nearest = cdist(emb_pool, emb_lab).min(axis=1)
    assert idx[0] == np.argmax(nearest)
    np.testing.assert_allclose(dist[0], nearest.max(), rtol=1e-4)


def test_badge_scores_are_the_gradient_embeddings_norms(net, data):
    # |(p - onehot(argmax p)) (x) h| = |p - e| |h|, for every pick
    X_pool = data[2]
    idx, norms = badge_sampling(net, X_pool, 6, random_state=0)
    p = net.predict_proba(X_pool)
    p[np.arange(len(p)), p.argmax(1)] -= 1.0
    h = net.embed(X_pool)
    g = (p[:, :, None] * h[:, None, :]).reshape(len(p), -1)
    np.testing.assert_allclose(norms, np.linalg.norm(g[idx], axis=1), rtol=1e-4)
    assert idx[0] == np.argmax(np.linalg.norm(g, axis=1))


def test_badge_draws_see_distances_to_the_chosen_and_zero_on_them(monkeypatch):
    # every D^2 draw gets the squared distance of each gradient embedding to its
    # nearest chosen one, 0 on the chosen, and the chosen mask; none after the last
    rng = np.random.RandomState(3)
    a = rng.normal(size=(30, 3)) * 0.2  # distances under 1 as well as over
    h = rng.normal(size=(30, 2))
    g = (a[:, :, None] * h[:, None, :]).reshape(30, -1)
    calls = []
    real = diversity.d2_draw

    def spy(min_d, chosen, rng_):
        calls.append((min_d.copy(), chosen.copy()))
        return real(min_d, chosen, rng_)

    monkeypatch.setattr(diversity, "d2_draw", spy)
    picks, _ = _gradient_kmeans_pp(a, h, 5, np.random.RandomState(0))
    assert len(calls) == 4
    for step, (min_d, chosen) in enumerate(calls):
        so_far = picks[:step + 1]
        assert np.flatnonzero(chosen).tolist() == sorted(so_far.tolist())
        want = cdist(g, g[so_far], "sqeuclidean").min(axis=1)
        want[so_far] = 0.0
        np.testing.assert_allclose(min_d, want, rtol=1e-6, atol=1e-9)
    assert (np.asarray([c[0].min() for c in calls]) == 0).all()


@pytest.mark.parametrize("n", [4, 300])
def test_badge_can_take_the_whole_pool(n):
    # k-means++ draws one point fewer than it picks: with every point chosen
    # there is nothing left to draw from
    rng = np.random.RandomState(0)
    picks, _ = _gradient_kmeans_pp(rng.normal(size=(n, 3)), rng.normal(size=(n, 2)),
                                   n, np.random.RandomState(0))
    assert sorted(picks.tolist()) == list(range(n))


def test_typicality_runs_on_one_thread(monkeypatch):
    from threadpoolctl import threadpool_info
    seen = []

    class Spy(diversity.NearestNeighbors):
        def kneighbors(self, *args, **kwargs):
            seen.append({p["num_threads"] for p in threadpool_info()})
            return super().kneighbors(*args, **kwargs)

    monkeypatch.setattr(diversity, "NearestNeighbors", Spy)
    diversity._typicality(np.random.RandomState(0).normal(size=(30, 2)), 5)
    assert seen == [{1}]


def test_typiclust_defaults_are_the_documented_ones(monkeypatch):
    # n_neighbors=20: a cluster of 30, the pick's score is 1 / the mean
    # distance to its 20 nearest; max_cluster_points=5000: a cluster of 5,001
    # is subsampled to 5,000; min_cluster_size=5: a cluster of 4 waits while
    # one of 6 (one of them labeled) is open
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(30, 2)).astype(np.float32)
    monkeypatch.setattr(diversity, "fit_kmeans", lambda Z_, k, seed: _FixedClusters(
        np.zeros(len(Z_), dtype=np.int64), np.zeros((1, 2))))
    _, typ = typiclust_sampling(MixupNetClassifier(), Z, 1, features=Z)
    d = np.sort(cdist(Z, Z), axis=1)[:, 1:21].mean(axis=1)
    assert typ[0] == pytest.approx(1 / d.min(), rel=1e-5)
    seen = []
    real = diversity._typicality
    monkeypatch.setattr(diversity, "_typicality",
                        lambda Z_, k: seen.append(len(Z_)) or real(Z_, k))
    big = rng.normal(size=(5001, 2)).astype(np.float32)
    typiclust_sampling(MixupNetClassifier(), big, 1, random_state=0, features=big)
    assert seen == [5000]
    Z, labels, labeled = _fixed_cluster_layout([4, 6], [1], monkeypatch)
    idx, _ = typiclust_sampling(MixupNetClassifier(), Z, 1, random_state=0,
                                features=Z, labeled_features=labeled,
                                X_labeled=labeled)
    assert labels[idx].tolist() == [1]


def test_typiclust_takes_wide_features_and_a_raw_spelled_at_run_time():
    # 300 columns (ints past CPython's small-int cache) and a 'raw' that is not
    # the literal's object
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(40, 300)).astype(np.float32)
    idx, _ = typiclust_sampling(MixupNetClassifier(), Z, 2, random_state=0,
                                features=Z, labeled_features=Z[:2], X_labeled=Z[:2])
    assert len(set(idx.tolist())) == 2
    raw = "".join(["r", "a", "w"])
    assert raw == "raw" and id(raw) != id("raw")
    np.testing.assert_array_equal(
        typiclust_sampling(MixupNetClassifier(), Z, 2, random_state=0,
                           features=raw)[0],
        typiclust_sampling(MixupNetClassifier(), Z, 2, random_state=0,
                           features=Z)[0])


@pytest.mark.parametrize("strategy", [coreset_sampling, badge_sampling,
                                      typiclust_sampling, bald_sampling,
                                      batch_bald_sampling, alfamix_sampling,
                                      mixup_consistency_sampling])
def test_strategies_take_one_point_by_default_and_their_arguments_by_name(
        strategy, net, data):
    X_lab, y_lab, X_pool = data
    labeled = {}
    if strategy in (alfamix_sampling, mixup_consistency_sampling):
        labeled = dict(X_labeled=X_lab, y_labeled=y_lab)
    idx, scores = strategy(learner_or_estimator=net, X_pool=X_pool, random_state=0,
                           return_scores=True, **labeled)
    assert idx.shape == scores.shape == (1,)
    # as modAL's query(X, n_instances=...) passes it
    idx = strategy(net, X_pool, n_instances=3, random_state=0, return_scores=False,
                   **labeled)
    assert idx.shape == (3,)


def test_alfamix_finds_planted_candidates():
    # Embedding = input, head predicts class 1 iff z0 > 0; anchors at (-2, 0)
    # and (2, 0). Pool points with |z0| >= 3 never flip for alpha <= 0.2;
    # two planted groups at z0 = +-0.1 flip for every alpha. Two picks: one
    # from each group (the k-means step), both with flip rate 1/2 (one of
    # the two anchors flips them).
    X_lab = np.array([[-2.0, 0.0]] * 5 + [[2.0, 0.0]] * 5, dtype=np.float32)
    y_lab = np.array([0] * 5 + [1] * 5)
    clf = MixupNetClassifier(Linear2D, random_state=0, max_epochs=1, min_steps=2,
                             classes=[0, 1]).fit(X_lab, y_lab)
    with torch.no_grad():
        clf.module_.body.weight.copy_(torch.eye(2))
        clf.module_.body.bias.zero_()
        clf.module_.head.weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        clf.module_.head.bias.zero_()
    rng = np.random.RandomState(0)
    deep = np.column_stack([rng.choice([-1, 1], 60) * rng.uniform(3, 5, 60),
                            rng.uniform(-3, 3, 60)])
    planted = np.array([[0.1, 3.0], [0.1, 3.1], [0.1, 2.9],
                        [-0.1, -3.0], [-0.1, -3.1], [-0.1, -2.9]])
    X_pool = np.vstack([deep, planted]).astype(np.float32)
    idx, rate = alfamix_sampling(clf, X_pool, 2, random_state=0, X_labeled=X_lab,
                                 y_labeled=y_lab)
    assert set(idx.tolist()) <= set(range(60, 66))
    assert sorted((idx - 60) // 3) == [0, 1]
    np.testing.assert_allclose(rate, 0.5)


def test_alfamix_fills_when_no_candidates(net, data):
    X_lab, y_lab, X_pool = data
    idx, rate = alfamix_sampling(net, X_pool, 4, random_state=0, X_labeled=X_lab,
                                 y_labeled=y_lab, eps=1e-9)
    assert len(np.unique(idx)) == 4 and (rate == 0).all()


def test_alfamix_needs_labels(net, data):
    with pytest.raises(ValueError, match="alfamix_sampling needs labeled data"):
        alfamix_sampling(net, data[2], 2)


def test_mixup_consistency_zero_for_constant_model(data):
    X_lab, y_lab, X_pool = data
    clf = DummyClassifier(strategy="prior").fit(X_lab, y_lab)
    _, scores = mixup_consistency_sampling(clf, X_pool, 3, X_labeled=X_lab,
                                           y_labeled=y_lab, random_state=0)
    np.testing.assert_allclose(scores, 0.0, atol=1e-12)


def test_mixup_consistency_rejects_bad_lambdas(net, data):
    with pytest.raises(ValueError, match=r"lambdas must be values in \(0, 1\)"):
        mixup_consistency_sampling(net, data[2], 1, X_labeled=data[0],
                                   lambdas=(0.0, 0.5))



@pytest.mark.filterwarnings("error:To copy construct from a tensor:UserWarning")
@pytest.mark.parametrize("device", DEVICES)
def test_mixup_consistency_on_the_pool_device(device, data):
    # Pool, labeled inputs and labels as tensors on the network's device give
    # the same query as NumPy input (anchors and weights follow the pool),
    # without torch's warning about copying a tensor with torch.tensor.
    X_lab, y_lab, X_pool = data
    net = MixupNetClassifier(random_state=0, max_epochs=2, min_steps=10, device=device,
                             classes=list(range(10)),
                             module__hidden_units=(32,)).fit(X_lab, y_lab)
    kwargs = {"random_state": 0, "n_anchors": 4, "candidates_per_instance": 3}
    idx, scores = mixup_consistency_sampling(net, X_pool, 4, X_labeled=X_lab,
                                             y_labeled=y_lab, **kwargs)
    on = mixup_consistency_sampling(
        net, torch.as_tensor(X_pool, device=device), 4,
        X_labeled=torch.as_tensor(X_lab, device=device),
        y_labeled=torch.as_tensor(y_lab, device=device), **kwargs)
    np.testing.assert_array_equal(on[0], idx)
    np.testing.assert_allclose(on[1], scores, rtol=1e-5, atol=1e-7)


def _full_scores(idx, scores, n):
    """A strategy's scores for every pool point, from a query of all of them."""
    assert sorted(idx.tolist()) == list(range(n))
    full = np.full(n, np.nan)
    full[idx] = scores
    return full


def _alfamix_by_hand(module, X_lab, codes, X_pool, eps, n_alpha):
    """ALFA-Mix's flip rates as its docstring words them, one pool point,
    anchor and alpha at a time."""
    with torch.no_grad():
        z_lab = module.body(torch.as_tensor(X_lab)).double()
        z_pool = module.body(torch.as_tensor(X_pool)).double()
        head_w, head_b = module.head.weight.double(), module.head.bias.double()
    anchors = [z_lab[codes == c].mean(0) for c in sorted(set(codes.tolist()))]
    rates = []
    for z in z_pool:
        pred = int(torch.argmax(head_w @ z + head_b))
        flips = [int(torch.argmax(head_w @ (alpha * a + (1 - alpha) * z) + head_b))
                 != pred
                 for alpha in [eps * (i + 1) / n_alpha for i in range(n_alpha)]
                 for a in anchors]
        rates.append(np.mean(flips))
    return np.asarray(rates)


@pytest.mark.parametrize("batch_size", [None, 7])
def test_alfamix_flip_rates_match_a_hand_computation(data, batch_size):
    # Labels of 3 of the 10 classes, the largest rows' codes not their labels'
    # order (classes 9, 2, 5): 3 anchors, each the mean embedding of its class.
    X_lab, y_lab, X_pool = data
    X_pool = X_pool[:50]
    keep = np.isin(y_lab, [2, 5, 9])
    X_lab, y_lab = X_lab[keep], y_lab[keep]
    names = np.array([f"c{i}" for i in range(10)])[::-1]  # classes_ sorted: c0..c9
    clf = MixupNetClassifier(NoDropout, random_state=0, max_epochs=2, min_steps=10,
                             classes=sorted(names)).fit(X_lab, names[y_lab])
    eps, n_alpha = 0.6, 3
    idx, rate = alfamix_sampling(clf, X_pool, len(X_pool), random_state=0,
                                 X_labeled=X_lab, y_labeled=names[y_lab], eps=eps,
                                 n_alpha=n_alpha, batch_size=batch_size)
    codes = np.searchsorted(clf.classes_, names[y_lab])
    expected = _alfamix_by_hand(clf.module_, X_lab, codes, X_pool, eps, n_alpha)
    assert 0 < np.mean(expected > 0) < 1  # some flip, some do not
    np.testing.assert_allclose(_full_scores(idx, rate, len(X_pool)), expected)
    # fewer picks than candidates: only points that flip, one per k-means cluster
    idx, rate = alfamix_sampling(clf, X_pool, 3, random_state=0, X_labeled=X_lab,
                                 y_labeled=names[y_lab], eps=eps, n_alpha=n_alpha,
                                 batch_size=batch_size)
    assert len(set(idx.tolist())) == 3 and (rate > 0).all()
    np.testing.assert_allclose(rate, expected[idx])


@pytest.fixture(scope="module")
def plain_net(data):
    """A briefly trained network without dropout: body, then a linear head."""
    X_lab, y_lab, _ = data
    return MixupNetClassifier(NoDropout, random_state=0, max_epochs=2, min_steps=10,
                              classes=list(range(10))).fit(X_lab, y_lab)


def test_alfamix_keeps_the_highest_flip_rates_as_candidates(data, plain_net):
    # max_candidates=4, batches of 5 rows: the candidates are pruned batch by
    # batch, and every pick is among the 4 highest rates over the whole pool.
    X_lab, y_lab, X_pool = data
    X_pool = X_pool[:60]
    clf = plain_net
    expected = _alfamix_by_hand(clf.module_, X_lab, y_lab, X_pool, 0.6, 3)
    fourth = np.sort(expected)[-4]
    assert fourth > 0 and np.sum(expected >= fourth) < np.sum(expected > 0)
    idx, rate = alfamix_sampling(clf, X_pool, 2, random_state=0, X_labeled=X_lab,
                                 y_labeled=y_lab, eps=0.6, n_alpha=3,
                                 max_candidates=4, batch_size=5)
    assert len(set(idx.tolist())) == 2 and (rate >= fourth).all()
    np.testing.assert_allclose(rate, expected[idx])


def test_alfamix_fill_keeps_every_candidate(data, net, monkeypatch):
    # 2 candidates, 5 picks: both candidates first, then 3 distinct others
    X_lab, y_lab, X_pool = data
    full = _full_scores(*alfamix_sampling(net, X_pool, len(X_pool), random_state=0,
                                          X_labeled=X_lab, y_labeled=y_lab, eps=0.1),
                        len(X_pool))
    order = np.argsort(-full, kind="stable")
    # the pool as 2 flipping points and 8 that never flip
    never = np.flatnonzero(full == 0)[:8]
    assert full[order[1]] > 0 and len(never) == 8
    pool = X_pool[np.concatenate([order[:2], never])]
    idx, rate = alfamix_sampling(net, pool, 5, random_state=0, X_labeled=X_lab,
                                 y_labeled=y_lab, eps=0.1)
    assert idx[:2].tolist() == [0, 1] and len(set(idx.tolist())) == 5
    assert (rate[:2] > 0).all() and (rate[2:] == 0).all()
    # as many candidates as picks: both taken as they are, no k-means
    from skmixal.strategies import mixing

    monkeypatch.setattr(mixing, "fit_kmeans", None)  # calling it fails
    idx, rate = alfamix_sampling(net, pool, 2, random_state=0, X_labeled=X_lab,
                                 y_labeled=y_lab, eps=0.1)
    assert idx.tolist() == [0, 1] and (rate > 0).all()


def test_nearest_to_centroids_takes_distinct_points(monkeypatch):
    # Two centres share their nearest point (index 3): the first centre gets
    # it, the second its next nearest. Equal distances go to the lower index.
    from skmixal.strategies import mixing

    Z = np.array([[0.0, 0.0], [5.0, 5.0], [1.0, 0.0], [0.1, 0.0], [-1.0, 0.0],
                  [5.0, 4.0]])
    centres = np.array([[0.1, 0.0], [0.1, 0.0], [5.0, 4.5], [0.1, 0.0]])
    seeds = []

    class Fitted:
        cluster_centers_ = centres

    def fake_kmeans(Z_, k, seed):
        seeds.append(seed)
        assert k == 4 and Z_ is Z
        return Fitted()

    monkeypatch.setattr(mixing, "fit_kmeans", fake_kmeans)
    picks = mixing._nearest_to_centroids(Z, 4, np.random.RandomState(0))
    # brute force: each centre in turn, the nearest point not yet taken
    taken = []
    for c in centres:
        d = [np.inf if i in taken else np.sum((z - c) ** 2) for i, z in enumerate(Z)]
        taken.append(int(np.argmin(d)))
    assert picks.tolist() == taken == [3, 0, 1, 2]
    assert seeds == [np.random.RandomState(0).randint(2**31 - 1)]


def _consistency_by_hand(proba, X_pool, anchors, lambdas):
    """Mean total-variation departure from linearity, pair by pair."""
    p_x = proba(X_pool)
    total = np.zeros(len(X_pool))
    for lam in lambdas:
        for a in anchors:
            p_a = proba(a[None])[0]
            p_mix = proba(lam * X_pool + (1 - lam) * a[None])
            total += 0.5 * np.abs(p_mix - (lam * p_x + (1 - lam) * p_a)).sum(1)
    return total / (len(lambdas) * len(anchors))


@pytest.fixture(scope="module")
def sharp_net(data):
    """A network trained long enough to be far from linear between inputs
    (mixup consistency scores 0.1-0.2 on digits, not the 0.003-0.007 of
    ``net``)."""
    X_lab, y_lab, _ = data
    return MixupNetClassifier(NoDropout, random_state=0, max_epochs=20,
                              min_steps=300,
                              classes=list(range(10))).fit(X_lab, y_lab)


@pytest.mark.parametrize("kind", ["logistic", "skmixal"])
def test_mixup_consistency_scores_match_a_hand_computation(data, sharp_net, kind):
    # Every labeled row is an anchor (6 rows, n_anchors=10), so the scores do
    # not depend on which are drawn; lambdas are not symmetric about 1/2.
    from sklearn.linear_model import LogisticRegression

    X_lab, y_lab, X_pool = data
    X_lab, y_lab, X_pool = X_lab[:6], y_lab[:6], X_pool[:45]
    lambdas = (0.2, 0.7)
    if kind == "logistic":
        clf = LogisticRegression(max_iter=500).fit(data[0], data[1])

        def proba(X):
            return clf.predict_proba(X.astype(np.float64))
        batch_size, rtol, atol = 7 * (1 + 6 * 2), 1e-10, 1e-12
    else:
        clf = sharp_net

        def proba(X):
            return clf.predict_proba(X.astype(np.float32)).astype(np.float64)
        batch_size, rtol, atol = 7 * (1 + 6 * 2) + 3, 1e-4, 1e-6
    expected = _consistency_by_hand(proba, X_pool.astype(np.float64),
                                    X_lab.astype(np.float64), lambdas)
    assert expected.min() > 0 and np.ptp(expected) > 0.01
    # one batch; batches of 7 pool rows; 5 rows a pass, fewer than one pool
    # row's 13 mixes: one pool row a pass
    for size in (None, batch_size, 5):
        idx, scores = mixup_consistency_sampling(
            clf, X_pool, len(X_pool), random_state=0, X_labeled=X_lab,
            y_labeled=y_lab, lambdas=lambdas, n_anchors=10,
            candidates_per_instance=1, batch_size=size)
        np.testing.assert_allclose(_full_scores(idx, scores, len(X_pool)),
                                   expected, rtol=rtol, atol=atol)
    # the shortlist of one per pick is the top scores
    idx, scores = mixup_consistency_sampling(
        clf, X_pool, 5, random_state=0, X_labeled=X_lab, y_labeled=y_lab,
        lambdas=lambdas, n_anchors=10, candidates_per_instance=1)
    assert sorted(idx.tolist()) == sorted(np.argsort(-expected)[:5].tolist())
    np.testing.assert_allclose(scores, expected[idx], rtol=rtol, atol=atol)


class _AnchorSpy(ClassifierMixin, BaseEstimator):
    """predict_proba of a fixed softmax over 3 classes; keeps the first input
    it saw (the anchors, which mixup_consistency_sampling scores first)."""

    def fit(self, X, y):
        self.classes_, self.first_ = np.array([0, 1, 2]), None
        return self

    def predict_proba(self, X):
        if self.first_ is None:
            self.first_ = np.array(X)
        logits = np.column_stack([X[:, 0], -X[:, 0], X[:, 1]])
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("n_anchors, counts", [(2, None), (3, [1, 1, 1]),
                                               (5, [1, 2, 2]), (6, [1, 3, 2]),
                                               (9, [1, 4, 2])])
def test_mixup_consistency_anchors_go_round_the_classes(n_anchors, counts):
    # classes of 1, 4 and 2 labeled rows; row i holds i, so the anchors name
    # their rows. Round-robin: one per class while classes last.
    y = np.array([1, 0, 2, 1, 1, 2, 1])
    X_lab = np.column_stack([np.arange(7.0), np.zeros(7)])
    X_pool = np.random.RandomState(0).normal(size=(12, 2))
    for seed in range(4):
        spy = _AnchorSpy().fit(X_lab, y)
        idx, _ = mixup_consistency_sampling(spy, X_pool, 2, random_state=seed,
                                            X_labeled=X_lab, y_labeled=y,
                                            n_anchors=n_anchors)
        rows = spy.first_[:, 0].astype(int)
        assert len(set(rows.tolist())) == len(rows) == min(n_anchors, 7)
        assert rows.tolist() == sorted(rows.tolist())
        got = np.bincount(y[rows], minlength=3)
        if counts is None:  # two anchors from two different classes
            assert sorted(got.tolist()) == [0, 1, 1]
        else:
            assert got.tolist() == counts
    # without labels, n_anchors distinct rows drawn uniformly
    seen = set()
    for seed in range(30):
        spy = _AnchorSpy().fit(X_lab, y)
        mixup_consistency_sampling(spy, X_pool, 2, random_state=seed,
                                   X_labeled=X_lab, n_anchors=2)
        rows = spy.first_[:, 0].astype(int)
        assert len(set(rows.tolist())) == 2
        seen.update(rows.tolist())
    assert seen == set(range(7))


def test_mixup_consistency_clusters_its_shortlist(data, sharp_net, monkeypatch):
    # candidates_per_instance=4, 3 picks: the 12 best points (by a hand
    # computation) are clustered; with k-means replaced by 3 fixed centres,
    # each pick is the shortlisted point nearest its centre, in centre order.
    from skmixal.strategies import mixing

    X_lab, y_lab, X_pool = data
    X_lab, y_lab, X_pool = X_lab[:6], y_lab[:6], X_pool[:45]
    net = sharp_net
    expected = _consistency_by_hand(
        lambda X: net.predict_proba(X.astype(np.float32)).astype(np.float64),
        X_pool.astype(np.float64), X_lab.astype(np.float64), (0.5,))
    shortlist = np.sort(np.argsort(-expected)[:12])
    centres = X_pool[shortlist[[5, 0, 9]]].astype(np.float64) + 0.01

    class Fitted:
        cluster_centers_ = centres

    def fake_kmeans(Z, k, seed):
        # the shortlist's own inputs, in pool order
        np.testing.assert_array_equal(Z, X_pool[shortlist].reshape(12, -1))
        return Fitted()

    monkeypatch.setattr(mixing, "fit_kmeans", fake_kmeans)
    idx, scores = mixup_consistency_sampling(
        net, X_pool, 3, random_state=0, X_labeled=X_lab, y_labeled=y_lab,
        lambdas=(0.5,), n_anchors=10, candidates_per_instance=4)
    assert idx.tolist() == shortlist[[5, 0, 9]].tolist()
    np.testing.assert_allclose(scores, expected[idx], rtol=1e-4, atol=1e-6)


def test_alfamix_through_a_pipeline_embeds_the_labeled_set_too(data, plain_net):
    # Pipeline(scaler, net): the anchors are class means of the labeled rows
    # as the network sees them (scaled), like the pool's embeddings
    from sklearn.preprocessing import StandardScaler

    X_lab, y_lab, X_pool = data
    X_pool = X_pool[:60]
    scaler = StandardScaler().fit(X_lab)
    pipe = make_pipeline(scaler, plain_net)
    expected = _alfamix_by_hand(plain_net.module_, scaler.transform(X_lab), y_lab,
                                scaler.transform(X_pool), 0.6, 3)
    raw = _alfamix_by_hand(plain_net.module_, X_lab, y_lab,
                           scaler.transform(X_pool), 0.6, 3)
    assert 0 < np.mean(expected > 0) < 1 and not np.allclose(raw, expected)
    full = _full_scores(*alfamix_sampling(pipe, X_pool, len(X_pool), random_state=0,
                                          X_labeled=X_lab, y_labeled=y_lab, eps=0.6,
                                          n_alpha=3),
                        len(X_pool))
    np.testing.assert_allclose(full, expected)


def test_mixup_consistency_reads_a_dataset_pool_as_the_array_and_checks_it(net,
                                                                          data):
    # a Dataset's batches are checked (and made float32) as they stream:
    # float64 rows score as the array does; rows of the wrong width, in the
    # pool or the labeled set, are refused with the estimator's message
    X_lab, y_lab, X_pool = data
    X_pool = X_pool[:40]
    kwargs = {"random_state": 0, "X_labeled": X_lab, "y_labeled": y_lab,
              "n_anchors": 3, "candidates_per_instance": 1}
    want = mixup_consistency_sampling(net, X_pool, 40, **kwargs)
    got = mixup_consistency_sampling(net, _Rows(X_pool.astype(np.float64)), 40,
                                     **kwargs)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-7)
    message = "X has 60 features, but MixupNetClassifier is expecting 64 features"
    with pytest.raises(ValueError, match=message):
        mixup_consistency_sampling(net, _Rows(X_pool[:, :60]), 2, **kwargs)
    with pytest.raises(ValueError, match=message):
        mixup_consistency_sampling(net, X_pool, 2, **{**kwargs,
                                                      "X_labeled": X_lab[:, :60]})
    assert net.n_features_in_ == 64


def test_mixup_consistency_passes_hold_batch_size_rows_mixes_included(
        data, sharp_net, monkeypatch):
    # batch_size counts each pool row with its mixes (1 + anchors x weights
    # rows): 40 rows a pass is 3 pool rows of 13, or 20 of 2 with one anchor
    # and one weight; under one pool row's mixes, one pool row a pass. The
    # anchors are scored first, in one pass. Scores as by hand in every case.
    from skmixal.strategies import mixing

    X_lab, y_lab, X_pool = data
    X_pool = X_pool[:45]
    def proba(X):
        return sharp_net.predict_proba(X.astype(np.float32)).astype(np.float64)

    sizes, real = [], mixing._forward
    monkeypatch.setattr(mixing, "_forward",
                        lambda est, batch: sizes.append(len(batch)) or real(est, batch))
    cases = [(6, (0.2, 0.7), 40, [6] + [39] * 15),
             (6, (0.2, 0.7), 5, [6] + [13] * 45),
             (1, (0.5,), 40, [1, 40, 40, 10]),
             (1, (0.5,), None, [1, 90])]
    for n_lab, lambdas, batch_size, want in cases:
        sizes.clear()
        idx, scores = mixup_consistency_sampling(
            sharp_net, X_pool, len(X_pool), random_state=0, X_labeled=X_lab[:n_lab],
            y_labeled=y_lab[:n_lab], lambdas=lambdas, n_anchors=10,
            candidates_per_instance=1, batch_size=batch_size)
        assert sizes == want, (n_lab, lambdas, batch_size)
        expected = _consistency_by_hand(proba, X_pool.astype(np.float64),
                                        X_lab[:n_lab].astype(np.float64), lambdas)
        np.testing.assert_allclose(_full_scores(idx, scores, len(X_pool)), expected,
                                   rtol=1e-4, atol=1e-6)


def test_mixup_consistency_takes_the_top_scores_without_clustering_at_one_per_pick(
        data, net, monkeypatch):
    # candidates_per_instance=1: the shortlist is the picks, k-means never
    # runs (it would warn on duplicate rows), also for more than 256 picks
    from skmixal.strategies import mixing

    X_lab, y_lab, X_pool = data

    def no_kmeans(*args):
        raise AssertionError("k-means ran")

    monkeypatch.setattr(mixing, "fit_kmeans", no_kmeans)
    for n in (3, 300):
        idx, scores = mixup_consistency_sampling(
            net, X_pool, n, random_state=0, X_labeled=X_lab, y_labeled=y_lab,
            n_anchors=2, candidates_per_instance=1)
        assert len(set(idx.tolist())) == n


class _FlatSoftmax(ClassifierMixin, BaseEstimator):
    """A fixed softmax of a linear map of the flattened sample, any shape."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1, 2])
        self.w_ = np.random.RandomState(0).normal(size=(np.prod(X.shape[1:]), 3))
        return self

    def predict_proba(self, X):
        logits = np.tanh(X.reshape(len(X), -1)) @ self.w_ * 3
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)


def test_mixup_consistency_on_3d_samples_of_any_classifier():
    # samples of shape (2, 3) for a classifier that takes them: mixes formed
    # sample by sample, 4 anchors and 3 weights, as by hand
    rng = np.random.RandomState(0)
    X_lab, y = rng.normal(size=(4, 2, 3)), np.array([0, 1, 2, 0])
    X_pool = rng.normal(size=(25, 2, 3))
    clf = _FlatSoftmax().fit(X_lab, y)
    lambdas = (0.2, 0.5, 0.9)
    expected = _consistency_by_hand(clf.predict_proba, X_pool, X_lab, lambdas)
    assert np.ptp(expected) > 0.01
    idx, scores = mixup_consistency_sampling(
        clf, X_pool, len(X_pool), random_state=0, X_labeled=X_lab, y_labeled=y,
        lambdas=lambdas, n_anchors=4, candidates_per_instance=1)
    np.testing.assert_allclose(_full_scores(idx, scores, len(X_pool)), expected,
                               rtol=1e-10, atol=1e-12)


def test_mixup_consistency_on_images_matches_a_hand_computation(data):
    # (N, 1, 8, 8) images into a CNN: each mix is formed image by image, for
    # 6 anchors and 2 weights (different counts, so a weight broadcast along
    # the anchors' axis cannot pass)
    X_lab, y_lab, X_pool = data
    X_lab, y_lab = X_lab.reshape(-1, 1, 8, 8), y_lab
    X_pool = X_pool[:30].reshape(-1, 1, 8, 8)
    clf = MixupNetClassifier(random_state=0, max_epochs=3, min_steps=30,
                             classes=list(range(10))).fit(X_lab, y_lab)
    lambdas = (0.2, 0.7)
    expected = _consistency_by_hand(
        lambda X: clf.predict_proba(X.astype(np.float32)).astype(np.float64),
        X_pool.astype(np.float64), X_lab[:6].astype(np.float64), lambdas)
    assert expected.min() > 0 and np.ptp(expected) > 0
    idx, scores = mixup_consistency_sampling(
        clf, X_pool, len(X_pool), random_state=0, X_labeled=X_lab[:6],
        y_labeled=y_lab[:6], lambdas=lambdas, n_anchors=10,
        candidates_per_instance=1)
    np.testing.assert_allclose(_full_scores(idx, scores, len(X_pool)), expected,
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("strategy", [alfamix_sampling, mixup_consistency_sampling])
def test_mixing_strategies_need_labeled_rows(net, data, strategy):
    X_lab, y_lab, X_pool = data
    name = strategy.__name__
    for X, y in [(X_lab[:0], y_lab[:0]), (None, y_lab)]:
        with pytest.raises(ValueError, match=f"{name} needs labeled data"):
            strategy(net, X_pool, 2, X_labeled=X, y_labeled=y)
    # one labeled row is enough
    idx, _ = strategy(net, X_pool, 2, random_state=0, X_labeled=X_lab[:1],
                      y_labeled=y_lab[:1])
    assert len(set(idx.tolist())) == 2
    if strategy is alfamix_sampling:  # its anchors are class means
        with pytest.raises(ValueError, match=f"{name} needs labeled data"):
            strategy(net, X_pool, 2, X_labeled=X_lab)
    else:  # anchors drawn without labels
        idx, _ = strategy(net, X_pool, 2, random_state=0, X_labeled=X_lab)
        assert len(set(idx.tolist())) == 2


@pytest.mark.parametrize("strategy, kwargs, error, message", [
    (alfamix_sampling, {"eps": 0.0}, ValueError, r"eps == 0\.0, must be > 0"),
    (alfamix_sampling, {"eps": 1.0}, ValueError, r"eps == 1\.0, must be < 1"),
    (alfamix_sampling, {"n_alpha": 0}, ValueError, r"n_alpha == 0, must be >= 1"),
    (alfamix_sampling, {"n_alpha": 2.0}, TypeError, "n_alpha must be an integer"),
    (alfamix_sampling, {"max_candidates": 0}, ValueError,
     r"max_candidates == 0, must be >= 1"),
    (alfamix_sampling, {"max_candidates": 5.0}, TypeError,
     "max_candidates must be an integer"),
    (mixup_consistency_sampling, {"n_anchors": 0}, ValueError,
     r"n_anchors == 0, must be >= 1"),
    (mixup_consistency_sampling, {"n_anchors": 3.0}, TypeError,
     "n_anchors must be an integer"),
    (mixup_consistency_sampling, {"candidates_per_instance": 0}, ValueError,
     r"candidates_per_instance == 0, must be >= 1"),
    (mixup_consistency_sampling, {"candidates_per_instance": 2.0}, TypeError,
     "candidates_per_instance must be an integer"),
    (mixup_consistency_sampling, {"lambdas": ()}, ValueError,
     r"lambdas must be values in \(0, 1\), got \(\)"),
    (mixup_consistency_sampling, {"lambdas": (0.5, 1.0)}, ValueError,
     r"lambdas must be values in \(0, 1\)"),
    (mixup_consistency_sampling, {"lambdas": (-0.5,)}, ValueError,
     r"lambdas must be values in \(0, 1\)"),
    (mixup_consistency_sampling, {"lambdas": (0.5, 1.5)}, ValueError,
     r"lambdas must be values in \(0, 1\)"),
])
# a bad setting is refused with its error alone, no NumPy warning on the way
@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_mixing_strategies_check_their_settings(net, data, strategy, kwargs, error,
                                                message):
    X_lab, y_lab, X_pool = data
    with pytest.raises(error, match=message):
        strategy(net, X_pool, 2, X_labeled=X_lab, y_labeled=y_lab, **kwargs)
    # the boundary values that are allowed
    ok = {"n_alpha": 1, "max_candidates": 1, "n_anchors": 1,
          "candidates_per_instance": 1}
    if set(kwargs) <= set(ok):
        idx, _ = strategy(net, X_pool, 2, random_state=0, X_labeled=X_lab,
                          y_labeled=y_lab, **{k: ok[k] for k in kwargs})
        assert len(set(idx.tolist())) == 2


def test_alfamix_defaults_match_the_documented_grid(data, plain_net):
    # n_instances=1, eps=0.2 and n_alpha=4 by default: one pick, and the flip
    # rates of a query of the whole pool are the hand computation's on that grid
    X_lab, y_lab, X_pool = data
    X_pool = X_pool[:80]
    clf = plain_net
    expected = _alfamix_by_hand(clf.module_, X_lab, y_lab, X_pool, 0.2, 4)
    assert expected.max() > 0
    idx, rate = alfamix_sampling(clf, X_pool, X_labeled=X_lab, y_labeled=y_lab,
                                 random_state=0)
    assert len(idx) == 1 and rate[0] > 0
    full = _full_scores(*alfamix_sampling(clf, X_pool, len(X_pool), random_state=0,
                                          X_labeled=X_lab, y_labeled=y_lab),
                        len(X_pool))
    np.testing.assert_allclose(full, expected)
    # modAL's form: the indices alone
    only = alfamix_sampling(clf, X_pool, X_labeled=X_lab, y_labeled=y_lab,
                            random_state=0, return_scores=False)
    np.testing.assert_array_equal(only, idx)


def test_mixup_consistency_defaults(monkeypatch):
    # n_instances=1, 10 anchors, 10 candidates per pick, lambdas 1/4, 1/2, 3/4
    from skmixal.strategies import mixing

    y = np.arange(12) % 3
    X_lab = np.column_stack([np.arange(12.0), np.zeros(12)])
    X_pool = np.random.RandomState(0).normal(size=(40, 2))
    sizes = []

    def fake_kmeans(Z, k, seed):
        sizes.append((len(Z), k))
        return type("Fitted", (), {"cluster_centers_": Z[:k]})()

    monkeypatch.setattr(mixing, "fit_kmeans", fake_kmeans)
    spy = _AnchorSpy().fit(X_lab, y)
    idx, scores = mixup_consistency_sampling(spy, X_pool, X_labeled=X_lab,
                                             y_labeled=y, random_state=0)
    assert len(idx) == 1 and sizes == [(10, 1)] and len(spy.first_) == 10
    anchors = spy.first_
    expected = _consistency_by_hand(
        lambda A: _AnchorSpy().fit(X_lab, y).predict_proba(A), X_pool, anchors,
        (0.25, 0.5, 0.75))
    np.testing.assert_allclose(scores, expected[idx])
    assert scores[0] >= np.sort(expected)[-10]  # from the 10 best
    only = mixup_consistency_sampling(spy, X_pool, X_labeled=X_lab, y_labeled=y,
                                      random_state=0, return_scores=False)
    np.testing.assert_array_equal(only, idx)
