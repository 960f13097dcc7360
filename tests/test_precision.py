"""``MixupNetClassifier(precision='bfloat16')``: every forward pass of the
network, in training and prediction, under bfloat16 autocast; the weights,
losses and outputs in float32."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from skmixal import MixupNetClassifier

SHORT = dict(max_epochs=1, min_steps=20, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def digit_images(digits_small):
    X, y, Xt, yt = digits_small
    return (X.reshape(-1, 1, 8, 8).astype(np.float32), y,
            Xt.reshape(-1, 1, 8, 8).astype(np.float32), yt)


def test_predictions_are_the_autocast_forward_by_hand(digit_images):
    X, y, Xt, _ = digit_images
    net = MixupNetClassifier(precision="bfloat16", **SHORT).fit(X, y)
    module = net.module_.eval()
    x = torch.as_tensor(Xt)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, features = module(x), module.features(x)
        by_hand = torch.softmax(logits.float(), dim=1).numpy()
        full = torch.softmax(module(x), dim=1).numpy()
    proba, emb = net.predict_proba(Xt), net.embed(Xt)
    assert proba.dtype == emb.dtype == np.float32
    np.testing.assert_array_equal(proba, by_hand)
    np.testing.assert_array_equal(emb, features.float().numpy())
    # bfloat16 keeps 8 bits of mantissa: the same weights in float32 differ
    assert np.abs(proba - full).max() > 1e-4
    np.testing.assert_allclose(proba, full, atol=0.05)


@pytest.mark.parametrize("method", [None, "mixmatch", "fixmatch"])
@pytest.mark.parametrize("precision, dtype", [("bfloat16", torch.bfloat16),
                                              ("float32", torch.float32)])
def test_training_computes_in_the_precision_asked(digit_images, method, precision,
                                                  dtype):
    X, y, Xt, _ = digit_images
    seen = set()
    net = MixupNetClassifier(precision=precision, semi_supervised=method,
                             collapse_guard=None, callbacks=[("spy", _Spy(seen))],
                             **SHORT)
    net.fit(X[:100], y[:100], X_unlabeled=Xt if method else None)
    assert seen == {dtype}  # the first conv's output, in every training step
    assert {p.dtype for p in net.module_.parameters()} == {torch.float32}
    assert np.isfinite(net.history_[:, "train_loss"]).all()


class _Spy(Callback):
    """Records the dtype of the first conv's output in training mode."""

    def __init__(self, seen):
        self.seen = seen

    def on_train_begin(self, net, **kwargs):
        net.module_.features[0].register_forward_hook(
            lambda module, args, out: self.seen.add(out.dtype)
            if module.training else None)


def test_bfloat16_fits_are_reproducible_and_learn(digit_images):
    X, y, Xt, yt = digit_images
    params = dict(max_epochs=1, min_steps=300, batch_size=32, random_state=3)
    fits = [MixupNetClassifier(precision="bfloat16", **params).fit(X, y)
            for _ in range(2)]
    np.testing.assert_array_equal(fits[0].predict_proba(Xt), fits[1].predict_proba(Xt))
    full = MixupNetClassifier(**params).fit(X, y).score(Xt, yt)
    half = fits[0].score(Xt, yt)
    assert full > 0.85, full
    assert abs(half - full) <= 0.03, (half, full)


class _LogitsAndArgmax(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(64, 10)

    def forward(self, x):
        logits = self.linear(x)
        return logits, logits.argmax(dim=1)


def test_tuple_outputs_come_back_float32_and_integers_stay_integers(digits_small):
    X, y, Xt, _ = digits_small
    # trains nothing: skorch's criterion takes one tensor, not a tuple
    net = MixupNetClassifier(_LogitsAndArgmax, precision="bfloat16", max_epochs=0,
                             min_steps=0).fit(X.astype(np.float32), y)
    logits, argmax = net.infer(torch.as_tensor(Xt, dtype=torch.float32))
    assert (logits.dtype, argmax.dtype) == (torch.float32, torch.int64)
    np.testing.assert_array_equal(net.predict_proba(Xt).argmax(1), argmax.numpy())
