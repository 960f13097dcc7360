"""Fine-tuning a pretrained backbone: the network for ``MixupNetClassifier``.

:class:`PretrainedClassifier` is a backbone of :mod:`skmixal.backbones` with a
new linear head. It takes the images as skmixal trains on them ((N, C, H, W)
floats in [0, 1], grayscale or RGB, any size), resizes and normalises them as
the backbone expects inside ``forward``, so Mixup, CutMix and the
semi-supervised methods' augmentations work on the original pixels, as for
any other network::

    MixupNetClassifier(
        module=PretrainedClassifier, module__n_classes=10,
        module__backbone="efficientnet_lite0", module__input_size=96,
        lr=1e-3, optimizer__param_groups=[("backbone.*", {"lr": 1e-4})])

The smaller learning rate of the backbone is skorch's own ``param_groups``
(parameters whose names start with ``backbone.``); the head takes ``lr``.
Batch norm is folded into the convolutions (as in
:class:`~skmixal.ImageEmbedder`): its ImageNet statistics stay fixed, which is
what small labeled batches need.

On a GPU the backbone runs in bfloat16 autocast on channels-last tensors
(``precision='auto'``), which halves its activation memory; the head and the
loss stay in float32. bfloat16 keeps float32's range, so no loss scaling is
needed (float16 would need a ``GradScaler``).
"""

import torch
import torch.nn.functional as F
from torch import nn

from skmixal._fitting import PRECISIONS as ESTIMATOR_PRECISIONS
from skmixal._validation import check_in_range
from skmixal.backbones import Backbone, get_backbone
from skmixal.embedding import _pooled, backbone_autocast

__all__ = ["PretrainedClassifier"]

# the estimator's precisions, and 'auto': bfloat16 on CUDA only
PRECISIONS = ("auto", *ESTIMATOR_PRECISIONS)


class PretrainedClassifier(nn.Module):
    """A pretrained backbone and a new linear head, trained together.

    Parameters
    ----------
    n_classes : int
        Outputs of the head.
    backbone : str or Backbone, default="efficientnet_lite0"
        A registered name (:func:`skmixal.backbones.get_backbone`) or a
        :class:`~skmixal.backbones.Backbone`. Lite0 here, where
        :class:`~skmixal.ImageEmbedder` defaults to Lite2: fine-tuning was
        measured (on a GPU) with Lite0 only.
    input_size : int or None, default=None
        Side images are resized to before the backbone; None: the backbone's
        own (160 for ``"efficientnet_lite0"``). Smaller is faster on a CPU.
    freeze_backbone : bool, default=False
        Train the head only (the backbone's weights keep ``requires_grad``
        off): the frozen-features model, end to end on pixels.
    dropout : float, default=0.2
        Dropout before the head (EfficientNet-Lite0's own rate).
    precision : {'auto', 'float32', 'bfloat16'}, default='auto'
        How the backbone computes: 'bfloat16' runs it under bfloat16 autocast
        on whatever device the input is on (CUDA, or the CPU's own bfloat16
        kernels), 'float32' does not; 'auto' is 'bfloat16' on CUDA and
        'float32' elsewhere, where bfloat16 is rarely faster. The head is
        always float32. bfloat16 halves the backbone's activation memory; it
        is not always faster: on an H200, fine-tuning a ResNet-18 at 96 px
        (batch 128) ran 1.06-1.17x slower than 'float32', whose convolutions
        already use the tensor cores through TF32 (benchmarks/gpu.py).
    """

    def __init__(self, n_classes, backbone="efficientnet_lite0", input_size=None,
                 freeze_backbone=False, dropout=0.2, precision="auto"):
        super().__init__()
        check_in_range(n_classes, "n_classes", low=1, integer=True)
        check_in_range(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        if not (isinstance(precision, str) and precision in PRECISIONS):
            raise ValueError(f"precision must be one of {PRECISIONS}, got "
                             f"{precision!r}.")
        self.precision = precision
        spec = get_backbone(backbone) if isinstance(backbone, str) else backbone
        if not isinstance(spec, Backbone):
            raise TypeError(
                "backbone must be a registered name or a skmixal.backbones.Backbone, "
                f"got {type(backbone).__name__}.")
        self.input_size = check_in_range(input_size or spec.input_size,
                                         "input_size", low=1, integer=True)
        self.channels_last = spec.channels_last
        self.backbone = spec.load(input_size=self.input_size)
        self.backbone.requires_grad_(not freeze_backbone)
        self.freeze_backbone = bool(freeze_backbone)
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1))
        with torch.no_grad():
            probe = self.backbone(torch.zeros(1, 3, self.input_size, self.input_size))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(_pooled(probe).shape[1], n_classes)

    def train(self, mode=True):
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()  # a frozen backbone keeps its dropouts off
        return self

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(
                "PretrainedClassifier takes images (N, 1 or 3, H, W) in [0, 1], "
                f"got shape {tuple(x.shape)}.")
        size = (self.input_size, self.input_size)
        if tuple(x.shape[2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False,
                              antialias=True)  # as ImageEmbedder: same features
        x = (x.expand(-1, 3, -1, -1) - self.mean) / self.std
        if self.channels_last:  # the layout the backbone's weights were given
            x = x.contiguous(memory_format=torch.channels_last)
        with backbone_autocast(x.device, self.precision):
            features = _pooled(self.backbone(x))
        return self.head(self.dropout(features.float()))

