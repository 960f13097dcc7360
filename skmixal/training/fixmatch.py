"""FixMatch (Sohn et al., 2020): confident pseudo-labels, learned on strong views.

One training step with an unlabeled batch ``u`` (all on the device):

1. the labeled batch is weakly augmented (and mixed with Mixup when
   ``mixup_alpha > 0``);
2. the network, in evaluation mode and without gradient, predicts a weakly
   augmented view of ``u``; the predictions may be aligned to a class prior
   (distribution alignment);
3. a prediction whose top probability reaches the confidence threshold becomes
   a hard pseudo-label; the others are masked out;
4. loss = cross-entropy on the labeled rows + ``lambda_u`` x the mean over
   ``u`` of mask x cross-entropy between the network's output on a *strongly*
   augmented view (:func:`skmixal.randaugment.randaugment`) and the
   pseudo-label.

The threshold is what MixMatch lacks: a network that is unsure of a sample
(early in training, or on data far from the labels) leaves it out instead of
training on a confident-looking wrong guess, so a fit with few labels falls
back towards supervised training rather than collapsing.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F

from skmixal.augment import augment_batch, default_augment
from skmixal.mixup import _BetaSampler, mix_inputs, one_hot
from skmixal.randaugment import randaugment
from skmixal.semi_supervised import linear_rampup, make_aligner
from skmixal.training.base import TrainingMethod

__all__ = ["FixMatch", "PseudoLabelTarget", "fixmatch_loss", "pseudo_labels"]

# 'auto' settings of a FixMatch fit (benchmarks/semi_supervised.py)
AUTO_MIN_STEPS = 1000
AUTO_WEIGHT = 1.0
AUTO_RATIO = 2


class PseudoLabelTarget(NamedTuple):
    """Targets of a FixMatch batch: the labeled rows come first.

    Attributes
    ----------
    labeled : torch.Tensor
        (B,) class codes, or (B, C) soft targets when the labeled rows were
        mixed.
    pseudo : torch.Tensor of shape (U,)
        Pseudo-labels of the strongly augmented unlabeled rows.
    mask : torch.Tensor of shape (U,)
        1 where the pseudo-label is confident enough to train on, else 0.
    weight : float
        ``lambda_u`` of this step.
    """

    labeled: torch.Tensor
    pseudo: torch.Tensor
    mask: torch.Tensor
    weight: float


def pseudo_labels(proba, threshold):
    """Hard pseudo-labels and their mask: ``argmax p`` where ``max p >= threshold``.

    Parameters
    ----------
    proba : torch.Tensor of shape (U, C)
    threshold : float or torch.Tensor of shape (C,)
        One threshold, or one per class (indexed by the predicted class).

    Returns
    -------
    labels : torch.Tensor of shape (U,), int64
    mask : torch.Tensor of shape (U,), float
    """
    confidence, labels = proba.max(dim=1)
    if isinstance(threshold, torch.Tensor) and threshold.ndim == 1:
        threshold = torch.index_select(threshold, 0, labels)
    return labels, (confidence >= threshold).to(proba.dtype)


def fixmatch_loss(logits, target):
    """``L_x + w * L_u`` for a :class:`PseudoLabelTarget`.

    ``L_x``: cross-entropy on the labeled rows (hard or soft targets). ``L_u``:
    per-row cross-entropy with the pseudo-labels, times the mask, averaged over
    *all* unlabeled rows (masked rows count as zeros, as in the paper, so the
    loss grows with the share of confident rows).
    """
    n = len(target.labeled)
    loss_x = F.cross_entropy(logits[:n], target.labeled)
    if len(logits) == n or target.weight == 0:
        return loss_x
    per_row = F.cross_entropy(logits[n:], target.pseudo, reduction="none")
    return loss_x + target.weight * (per_row * target.mask).mean()


class FixMatch(TrainingMethod):
    """FixMatch steps: see the module docstring.

    Parameters
    ----------
    context : FitContext
        With ``unlabeled`` set.
    alpha : float
        Mixup of the labeled rows among themselves (0: none).
    augment : str or None
        The weak augmentation (:mod:`skmixal.augment`).
    threshold : float
        Confidence a pseudo-label needs.
    weight : float
        ``lambda_u``.
    rampup : float
        Share of the fit's steps over which ``lambda_u`` rises from 0.
    align : callable or None
        Distribution alignment of the weak-view predictions.
    """

    target_type = PseudoLabelTarget
    uses_unlabeled = True

    def __init__(self, context, *, alpha, augment, threshold, weight, rampup,
                 align):
        super().__init__(context)
        self.sampler = _BetaSampler(alpha, context.rng()) if alpha > 0 else None
        self.augment = augment
        self.threshold = threshold
        self.weight, self.rampup = weight, rampup
        self.align = align

    @staticmethod
    def auto_settings(input_shape):
        return {"mixup_alpha": 0.0, "min_steps": AUTO_MIN_STEPS,
                "augment": default_augment(input_shape),
                "unlabeled_weight": AUTO_WEIGHT, "unlabeled_rampup": 0.0,
                "unlabeled_ratio": AUTO_RATIO}

    @classmethod
    def from_estimator(cls, net, context, codes):
        return cls(context, alpha=net.mixup_alpha_, augment=net.augment_,
                   threshold=net.confidence_threshold,
                   weight=net.unlabeled_weight_, rampup=net.unlabeled_rampup_,
                   align=make_aligner(net.distribution_alignment, codes,
                                      context.n_classes, context.device))

    @property
    def active(self):
        return True

    def _weak(self, batch, generator):
        if self.augment is None:
            return batch
        return augment_batch(batch, self.augment, generator)

    def _strong(self, batch, generator):
        if batch.ndim != 4:
            # vectors: Gaussian noise three times the weak one's scale
            return augment_batch(batch, "noise", generator, std=0.3)
        low, high = batch.amin(), batch.amax()
        # dark backgrounds (digits, scans) for one channel, FixMatch's gray
        # for colour images
        fill = 0.5 if batch.shape[1] == 3 else 0.0
        return randaugment(batch, low=low, high=high, fill=fill, generator=generator)

    def batch(self, x, y):
        ctx = self.context
        generator = ctx.generator(x.device)
        u = ctx.unlabeled().to(x.device)
        x_weak = self._weak(x, generator)
        u_weak = self._weak(u, generator)
        u_strong = self._strong(u, generator)
        with torch.no_grad():
            proba = ctx.predict(u_weak)
            ctx.observe(proba)
            if self.align is not None:
                proba = self.align(proba)
            pseudo, mask = pseudo_labels(proba, self.threshold)
        labeled = y
        if self.sampler is not None and len(x) > 1:
            lam = self.sampler()
            perm = torch.randperm(len(x), device=x.device, generator=generator)
            x_weak = mix_inputs(x_weak, torch.index_select(x_weak, 0, perm), lam)
            hard = one_hot(y, ctx.n_classes, x_weak.dtype)
            labeled = torch.lerp(torch.index_select(hard, 0, perm), hard, lam)
        weight = self.weight * linear_rampup(ctx.step, self.rampup * ctx.total_steps)
        return (torch.cat([x_weak, u_strong]),
                PseudoLabelTarget(labeled, pseudo, mask, weight))

    @classmethod
    def loss(cls, logits, target, criterion, *, soft_targets):
        if isinstance(target, PseudoLabelTarget):
            return fixmatch_loss(logits, target)
        return criterion(logits, target)
