"""Frozen features of a pretrained backbone, as a scikit-learn transformer.

:class:`ImageEmbedder` turns images into the embeddings of a backbone from
:mod:`skmixal.backbones`, so that ``make_pipeline(ImageEmbedder(),
MixupNetClassifier())`` is an ordinary estimator: it fits, predicts, clones,
pickles, goes into ``GridSearchCV`` and into modAL's ``ActiveLearner``, and the
query strategies take it (they transform the pool once per query).
"""

import contextlib
import sys

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted
from torch import nn
from tqdm import tqdm

from skmixal._validation import check_in_range
from skmixal.backbones import Backbone, get_backbone

__all__ = ["ImageEmbedder"]

# progress='auto' shows a bar from this many images on (and only on a terminal)
LONG_POOL = 1000
# images per forward pass by default: bounded memory (a 224 px float batch of
# 32 is 19 MB, its largest EfficientNet activation about 150 MB)
CPU_BATCH, CUDA_BATCH = 32, 256
_FORMATS = ("auto", "channels_first", "channels_last")


def _as_images(X):
    """Lists and tuples as arrays; arrays, memmaps and tensors as they are."""
    return np.asarray(X) if isinstance(X, (list, tuple)) else X


def _layout(X, data_format):
    """Checked ``(n, channel axis or None)`` of an image array; nothing is read."""
    if not (hasattr(X, "shape") and hasattr(X, "dtype")):
        raise TypeError(
            "X must be a NumPy array, np.memmap, torch.Tensor or list of images, got "
            f"{type(X).__name__}.")
    if isinstance(X, torch.Tensor):
        kind = ("b" if X.dtype == torch.bool else "f" if X.dtype.is_floating_point
                else "c" if X.dtype.is_complex else "i")
    else:
        kind = np.dtype(X.dtype).kind
    if kind not in "uif":
        raise TypeError(f"X must hold integer or float pixels, got dtype {X.dtype}.")
    shape = tuple(X.shape)
    if len(shape) not in (3, 4):
        hint = (" (flattened images? reshape them, e.g. X.reshape(-1, 28, 28))"
                if len(shape) == 2 else "")
        raise ValueError(
            "X must be images of shape (N, H, W), (N, C, H, W) or (N, H, W, C), "
            f"got shape {shape}{hint}.")
    if shape[0] == 0:
        raise ValueError("X is empty: it must hold at least one image.")
    if len(shape) == 3:
        return shape[0], None
    first, last = shape[1] in (1, 3), shape[3] in (1, 3)
    if data_format == "auto" and first and last:
        raise ValueError(
            f"X of shape {shape} could be channels-first or channels-last: pass "
            "data_format='channels_first' or 'channels_last'.")
    if data_format == "channels_first" or (data_format == "auto" and first):
        axis = 1
    else:
        axis = 3
    if shape[axis] not in (1, 3):
        raise ValueError(
            f"X must have 1 (grayscale) or 3 (RGB) channels; shape {shape} has "
            f"{shape[axis]} on axis {axis} (data_format={data_format!r}).")
    return shape[0], axis


def _is_integer(X):
    if isinstance(X, torch.Tensor):
        return not X.dtype.is_floating_point
    return np.dtype(X.dtype).kind in "ui"


class ImageEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Embeddings of images by a frozen pretrained backbone.

    Images are scaled to [0, 1] (see ``value_range``), grayscale repeated to
    three channels, resized to ``input_size`` × ``input_size`` (bilinear,
    antialiased; the aspect ratio is not kept, nothing is cropped),
    normalised with the backbone's mean and std, and passed through the
    backbone batch by batch on ``device``, in evaluation mode under
    ``torch.inference_mode``: the same input gives the same output. On CUDA
    the forward pass runs under bfloat16 autocast; registered convolutional
    backbones get channels-last tensors on every device. An ``np.memmap`` is
    read one batch at a time: memory is one batch plus the (n, dim) output.

    Parameters
    ----------
    backbone : str, Backbone or nn.Module, default="efficientnet_lite2"
        A name for :func:`skmixal.backbones.get_backbone`
        (``"efficientnet_lite0"``, ``"efficientnet_lite1"``,
        ``"efficientnet_lite2"``, ``"resnet18"``, ``"timm:<model>"``), a
        :class:`~skmixal.backbones.Backbone`, or a module used with its own
        weights and ImageNet's preprocessing. EfficientNet-Lite2 by default:
        on the CIFAR-10 subset its features gave 2.8 to 4.5 points more than
        Lite0's with logistic regression, the MLP head and FixMatch, with 100
        and with 250 labels (mean of 6 label draws,
        ``benchmarks/embedding_floor.py``), for 1.2x the embedding time. (On
        grey digits ImageNet features of either lose to a network trained
        from scratch, Lite2's more than Lite0's on MNIST.)
    input_size : int or None, default=None
        Side images are resized to; None: the backbone's ``input_size``
        (160 for the EfficientNet-Lite networks: as accurate as 224 on the
        CIFAR-10 subset in under half the time, see
        ``benchmarks/embedding_speed.py``).
    batch_size : int or None, default=None
        Images per forward pass; None: 32 on the CPU, 256 on CUDA.
    device : str, torch.device or None, default=None
        None: CUDA when available, else the CPU, decided when the backbone is
        loaded (an unpickled embedder uses what the new machine has).
    value_range : 'auto' or (low, high), default='auto'
        Pixel values that map to 0 and 1. 'auto': integer images are 0..255
        (uint8 as stored), float images 0..1. Values outside the range (by
        more than 0.1 % of it for floats), NaN or infinity raise a
        ``ValueError``: float images in 0..255 need ``value_range=(0, 255)``.
    data_format : {'auto', 'channels_first', 'channels_last'}, default='auto'
        Where the channel axis of 4-D input is: 'auto' takes the axis (1 or
        last) of size 1 or 3, and asks when both are.
    progress : 'auto' or bool, default='auto'
        A tqdm bar on stderr; 'auto' shows it for 1,000 images or more when
        stderr is a terminal.
    flip_average : bool, default=False
        Embed each image and its mirror image (flipped left to right) and
        average the two: features that do not depend on which way the scene
        faces, for twice the embedding time. Only for images whose mirror
        image is the same class (photographs, most medical and industrial
        images; not text or digits, where it merges a glyph with its mirror).
        On the CIFAR-10 subset it was a small, uneven gain. On Lite0's
        features (``benchmarks/label_efficiency.py``, the ``+flip`` plans
        against the plain ones) it raised the worst of 3 seeds by 1 to 2.5
        points for logistic regression and the MLP head, and margin sampling
        + FixMatch to 0.701 at 250 labels (0.662 on the plain features), but
        cost FixMatch 2.5 points on 2 of 3 seeds at 100. On Lite2's it added
        0.1 to 1 point to each head on the mean of 6 label draws
        (``benchmarks/embedding_floor.py``) and moved the campaigns' arms by
        -2.0 to +2.4 points on the mean.

    Attributes
    ----------
    backbone_ : Backbone
        The resolved backbone (its description; the network itself is loaded
        on first use and never pickled: an unpickled embedder reloads it
        from the registry or the weights file).
    input_size_ : int
        The side images are resized to.
    embedding_dim_ : int
        Features per image.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skmixal import ImageEmbedder, MixupNetClassifier
    >>> model = make_pipeline(ImageEmbedder(), MixupNetClassifier())  # doctest: +SKIP
    >>> model.fit(X_labeled, y_labeled).score(X_test, y_test)  # doctest: +SKIP
    """

    def __init__(self, backbone="efficientnet_lite2", *, input_size=None,
                 batch_size=None, device=None, value_range="auto",
                 data_format="auto", progress="auto", flip_average=False):
        self.backbone = backbone
        self.input_size = input_size
        self.batch_size = batch_size
        self.device = device
        self.value_range = value_range
        self.data_format = data_format
        self.progress = progress
        self.flip_average = flip_average

    # --- parameters ----------------------------------------------------------

    def _check_params(self):
        """The resolved Backbone; every parameter checked before any work."""
        check_in_range(self.input_size, "input_size", low=1, integer=True,
                       allow_none=True)
        check_in_range(self.batch_size, "batch_size", low=1, integer=True,
                       allow_none=True)
        if self.device is not None:
            if not isinstance(self.device, (str, torch.device)):
                raise TypeError(f"device must be None, a str or a torch.device, "
                                f"got {type(self.device).__name__}.")
            try:
                device = torch.device(self.device)
            except RuntimeError:
                raise ValueError(f"device must name a torch device such as 'cpu' "
                                 f"or 'cuda', got {self.device!r}.") from None
            if device.type == "cuda" and not torch.cuda.is_available():
                raise ValueError(f"device={self.device!r}, but CUDA is not "
                                 "available here (device=None picks the CPU).")
        self._range_of(np.zeros(1, np.uint8))  # checks value_range
        if not (isinstance(self.data_format, str) and self.data_format in _FORMATS):
            raise ValueError(f"data_format must be one of {_FORMATS}, got "
                             f"{self.data_format!r}.")
        if not (isinstance(self.progress, bool)
                or isinstance(self.progress, str) and self.progress == "auto"):
            raise ValueError(f"progress must be 'auto', True or False, got "
                             f"{self.progress!r}.")
        if not isinstance(self.flip_average, (bool, np.bool_)):
            raise TypeError(f"flip_average must be True or False, got "
                            f"{self.flip_average!r}.")
        if isinstance(self.backbone, Backbone):
            return self.backbone
        if isinstance(self.backbone, nn.Module):
            return Backbone(self.backbone)
        if isinstance(self.backbone, str):
            return get_backbone(self.backbone)
        raise TypeError(
            "backbone must be a registered name (skmixal.backbones.BACKBONES), a "
            f"Backbone or a torch.nn.Module, got {type(self.backbone).__name__}.")

    def _range_of(self, X):
        """(low, high) of X's pixel values under ``value_range``."""
        vr = self.value_range
        if isinstance(vr, str) and vr == "auto":
            return (0.0, 255.0) if _is_integer(X) else (0.0, 1.0)
        if isinstance(vr, (str, bytes)) or not hasattr(vr, "__len__") or len(vr) != 2:
            raise ValueError(f"value_range must be 'auto' or (low, high), got {vr!r}.")
        low, high = (check_in_range(v, "value_range") for v in vr)
        if not low < high:
            raise ValueError(f"value_range must have low < high, got {vr!r}.")
        return float(low), float(high)

    # --- the network ---------------------------------------------------------

    def _network(self):
        """The loaded backbone (cached; loaded again after unpickling)."""
        if getattr(self, "_module", None) is None:
            device = self.device
            if device is None:
                device = "cuda" if torch.cuda.is_available() else "cpu"
            self._device = torch.device(device)
            self._module = self.backbone_.load(input_size=self.input_size_,
                                               device=self._device)
        return self._module

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_module", None)  # weights come back from the backbone
        state.pop("_device", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # --- fit / transform -----------------------------------------------------

    def fit(self, X, y=None):
        """Check the parameters and X's layout, load the backbone.

        Nothing is learned from X: the backbone is frozen.

        Parameters
        ----------
        X : ndarray, np.memmap or torch.Tensor
            Images (N, H, W), (N, C, H, W) or (N, H, W, C); only the shape is
            checked here.
        y : ignored

        Returns
        -------
        self : ImageEmbedder
        """
        backbone = self._check_params()
        _layout(_as_images(X), self.data_format)
        self.backbone_ = backbone
        self.input_size_ = self.input_size or backbone.input_size
        self._module = None
        module = self._network()
        # one black image: its output size, and an early error for a module
        # that cannot take images of this size
        probe = torch.zeros(1, 3, self.input_size_, self.input_size_,
                            device=self._device)
        with torch.inference_mode():
            dim = _pooled(module(self._memory_format(probe))).shape[1]
        if backbone.embedding_dim not in (None, dim):
            raise ValueError(
                f"{backbone.name} gave {dim} features per image, but its "
                f"embedding_dim says {backbone.embedding_dim}.")
        self.embedding_dim_ = self._n_features_out = int(dim)
        return self

    def transform(self, X):
        """Embeddings of the images in X.

        Parameters
        ----------
        X : ndarray, np.memmap or torch.Tensor
            Images (N, H, W), (N, C, H, W) or (N, H, W, C), any size, integer
            or float pixels (see ``value_range``). Not modified.

        Returns
        -------
        embeddings : ndarray of shape (N, embedding_dim_), float32
        """
        check_is_fitted(self, "backbone_")
        X = _as_images(X)
        n, axis = _layout(X, self.data_format)
        low, high = self._range_of(X)
        streamed = isinstance(X, np.memmap)
        if not streamed:  # in memory: check every value before any work
            self._check_values(X, low, high, 0)
        module = self._network()
        rows = self.batch_size or (CUDA_BATCH if self._device.type == "cuda"
                                   else CPU_BATCH)
        show = self.progress if isinstance(self.progress, bool) else (
            n >= LONG_POOL and sys.stderr.isatty())
        out = np.empty((n, self.embedding_dim_), dtype=np.float32)
        with torch.inference_mode(), backbone_autocast(self._device), tqdm(
                total=n, unit="img", disable=not show, file=sys.stderr,
                desc=f"embedding ({self.backbone_.name})") as bar:
            for start in range(0, n, rows):
                batch = X[start : start + rows]
                if streamed:  # a memmap is read, and checked, batch by batch
                    batch = np.array(batch)
                    self._check_values(batch, low, high, start)
                x = self._prepare(batch, axis, low, high)
                z = _pooled(module(x)).float()
                if self.flip_average:  # the mirror image: width is the last axis
                    mirror = self._memory_format(torch.flip(x, dims=(3,)))
                    z = (z + _pooled(module(mirror)).float()) / 2
                out[start : start + len(z)] = z.cpu().numpy()
                bar.update(len(z))
        return out

    def _check_values(self, X, low, high, start):
        """Raise unless every pixel is finite and within ``(low, high)``."""
        lib = torch if isinstance(X, torch.Tensor) else np
        if _is_integer(X):
            tol = 0.0
        else:
            tol = 1e-3 * (high - low)
            if not bool(lib.isfinite(X).all()):
                raise ValueError(f"X contains NaN or infinity (in images from "
                                 f"{start}).")
        t_min, t_max = float(X.min()), float(X.max())
        if t_min < low - tol or t_max > high + tol:
            raise ValueError(
                f"X holds pixel values in [{t_min:g}, {t_max:g}] (images from "
                f"{start}), outside value_range ({low:g}, {high:g}); pass "
                "value_range=(low, high) with the range of your images (e.g. "
                "(0, 255) for float images in 0..255).")

    def _memory_format(self, x):
        if self.backbone_.channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def _prepare(self, batch, axis, low, high):
        """One batch as the backbone expects it: (b, 3, s, s), normalised."""
        if isinstance(batch, torch.Tensor):
            x = batch.to(self._device)
        else:  # read-only or reversed slices are copied: torch needs neither
            arr = np.ascontiguousarray(batch)
            x = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
            x = x.to(self._device)
        x = (x.float() - low) / (high - low)
        if axis is None:
            x = x.unsqueeze(1)
        elif axis == 3:
            x = x.permute(0, 3, 1, 2)
        size = self.input_size_
        if tuple(x.shape[2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear",
                              align_corners=False, antialias=True)
        mean = torch.tensor(self.backbone_.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.backbone_.std, device=x.device).view(1, 3, 1, 1)
        x = (x.expand(-1, 3, -1, -1) - mean) / std  # grayscale: 3 equal channels
        return self._memory_format(x)


def backbone_autocast(device, precision="auto"):
    """How a backbone computes on ``device``: bfloat16 autocast under
    ``precision='bfloat16'``, and under 'auto' on CUDA (half the activation
    memory); no autocast otherwise. Not under 'auto' on the CPU: on one with
    bfloat16 units EfficientNet-Lite0 embedded the 2,000 CIFAR-10 images in
    5.7 s instead of 12.1 s, but its features lost a point with logistic
    regression (benchmarks/results/precision.txt); on a CPU without them it
    is several times slower."""
    device = torch.device(device)
    if precision == "bfloat16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _pooled(z):
    """(n, dim) features: feature maps are averaged over space, others flattened."""
    if z.ndim == 4:
        return z.mean(dim=(2, 3))
    return z.reshape(len(z), -1)
