"""MixMatch (Berthelot et al., 2019), with ReMixMatch's distribution alignment.

One training step with an unlabeled batch ``u`` (all on the device):

1. augment the labeled batch once and ``u`` ``K`` times;
2. guess labels for ``u``: the mean of the network's softmax over the ``K``
   views, aligned to the class prior (ReMixMatch's distribution alignment) and
   sharpened with temperature ``T`` (no gradient);
3. shuffle the concatenation of both batches and Mixup every row with a
   partner from it, ``lam' = max(lam, 1 - lam)`` so each mixed row stays closest
   to its own sample (and keeps its role, labeled or unlabeled);
4. loss = cross-entropy on the labeled rows + ``w(t)`` x squared error between
   probabilities and guessed targets on the unlabeled rows, with ``w`` ramped up
   linearly from 0 so the early, meaningless guesses carry little weight.

:meth:`MixMatch.batch` does steps 1-3 and :meth:`MixMatch.loss` step 4.
"""

from typing import NamedTuple

import torch

from skmixal.augment import augment_batch, default_augment
from skmixal.mixup import _BetaSampler, cutmix, mix_inputs, one_hot
from skmixal.semi_supervised import linear_rampup, make_aligner, sharpen
from skmixal.training.base import TrainingMethod

__all__ = ["MixMatch", "SemiSupervisedTarget", "mixmatch_batch", "mixmatch_loss"]

# With unlabeled rows, mixup_alpha='auto' is the paper's 0.75 and min_steps='auto'
# 2,000 (benchmarks/semi_supervised.py, digits and MNIST); lambda_u the paper's 75
AUTO_ALPHA = 0.75
AUTO_MIN_STEPS = 2000
AUTO_WEIGHT = 75.0


class SemiSupervisedTarget(NamedTuple):
    """Targets of a MixMatch batch: soft targets for every row, the number of
    labeled rows (they come first) and the weight of the unlabeled loss."""

    soft: torch.Tensor
    n_labeled: int
    weight: float


def mixmatch_batch(x, y, u, *, n_classes, guess, n_views, temperature, sampler,
                   augment=None, align=None, mode="input", rng=None,
                   generator=None):
    """Assemble one MixMatch batch.

    Parameters
    ----------
    x : torch.Tensor of shape (B, ...)
        Labeled inputs on the device.
    y : torch.Tensor of shape (B,)
        Their integer class codes.
    u : torch.Tensor of shape (B_u, ...)
        Unlabeled inputs on the device.
    n_classes : int
    guess : callable
        ``guess(inputs) -> probabilities``, run without gradient.
    n_views : int
        Augmentations ``K`` of each unlabeled sample.
    temperature : float
        Sharpening temperature ``T``.
    sampler : callable or None
        Returns one Beta(alpha, alpha) draw per call; ``None`` disables mixing
        (MixMatch then trains on augmented samples and sharpened guesses).
    augment : str or None, default=None
        An augmentation of :mod:`skmixal.augment`, or None.
    align : callable or None, default=None
        Applied to the averaged guesses before sharpening, e.g. a
        :class:`~skmixal.semi_supervised.DistributionAlignment`.
    mode : {'input', 'cutmix'}, default='input'
    rng : numpy.random.Generator or None
        Scalar draws (the CutMix box).
    generator : torch.Generator or None
        Tensor draws on the device (augmentations, the shuffle).

    Returns
    -------
    inputs : torch.Tensor of shape (B + K * B_u, ...)
        Mixed labeled rows first, then the mixed unlabeled rows.
    soft : torch.Tensor of shape (B + K * B_u, n_classes)
        Their mixed soft targets.
    """
    def view(batch):
        return batch if augment is None else augment_batch(batch, augment, generator)

    x_view = view(x)
    u_views = torch.cat([view(u) for _ in range(n_views)])
    with torch.no_grad():
        proba = guess(u_views).reshape(n_views, len(u), n_classes).mean(dim=0)
        if align is not None:
            proba = align(proba)
        guessed = sharpen(proba, temperature)
    inputs = torch.cat([x_view, u_views])
    targets = torch.cat([
        one_hot(y, n_classes, guessed.dtype),
        guessed.repeat(n_views, 1),
    ])
    if sampler is None:
        return inputs, targets
    lam = sampler()
    lam = max(lam, 1.0 - lam)
    perm = torch.randperm(len(inputs), device=inputs.device, generator=generator)
    partner = torch.index_select(inputs, 0, perm)
    if mode == "cutmix":
        mixed, lam = cutmix(inputs, partner, lam, rng=rng)
    else:
        mixed = mix_inputs(inputs, partner, lam)
    return mixed, torch.lerp(torch.index_select(targets, 0, perm), targets, lam)


def mixmatch_loss(logits, target):
    """``L_x + w * L_u`` for a :class:`SemiSupervisedTarget`.

    ``L_x``: cross-entropy with the soft targets of the labeled rows. ``L_u``:
    mean squared error between the softmax and the targets of the unlabeled
    rows, averaged over rows and classes as in the paper (bounded, so wrong
    guesses cannot dominate the way a cross-entropy would).
    """
    n = target.n_labeled
    loss_x = torch.nn.functional.cross_entropy(logits[:n], target.soft[:n])
    if len(logits) == n or target.weight == 0:
        return loss_x
    proba_u = torch.softmax(logits[n:], dim=1)
    loss_u = torch.mean((proba_u - target.soft[n:]) ** 2)
    return loss_x + target.weight * loss_u


class MixMatch(TrainingMethod):
    """MixMatch steps: see the module docstring.

    Parameters
    ----------
    context : FitContext
        With ``unlabeled`` set.
    alpha, mode, prob : as for :class:`~skmixal.training.SupervisedMixup`
    augment : str or None
    weight : float
        ``lambda_u``, reached at the end of the ramp-up.
    rampup : float
        Share of the fit's steps over which the weight rises from 0.
    temperature : float
    n_views : int
    align : callable or None
    """

    target_type = SemiSupervisedTarget
    uses_unlabeled = True
    # its labeled rows are mixed with guesses on the pool (no threshold): with
    # unbalanced labels a rare class lost to its neighbours' guesses (digits,
    # margin sampling), and repeating its rows stopped that; FixMatch, which
    # trains its labels on their own, did no better with them repeated
    balances_labels = True

    def __init__(self, context, *, alpha, mode, prob, augment, weight, rampup,
                 temperature, n_views, align):
        super().__init__(context)
        self.sampler = _BetaSampler(alpha, context.rng()) if alpha > 0 else None
        self.mode, self.prob, self.augment = mode, prob, augment
        self.weight, self.rampup = weight, rampup
        self.temperature, self.n_views, self.align = temperature, n_views, align

    @staticmethod
    def auto_settings(input_shape):
        return {"mixup_alpha": AUTO_ALPHA, "min_steps": AUTO_MIN_STEPS,
                "augment": default_augment(input_shape),
                "unlabeled_weight": AUTO_WEIGHT, "unlabeled_rampup": 1.0,
                "unlabeled_ratio": 1}

    @classmethod
    def from_estimator(cls, net, context, codes):
        return cls(context, alpha=net.mixup_alpha_, mode=net.mixup_mode,
                   prob=net.mixup_prob, augment=net.augment_,
                   weight=net.unlabeled_weight_, rampup=net.unlabeled_rampup_,
                   temperature=net.sharpen_temperature,
                   n_views=net.n_augmentations,
                   align=make_aligner(net.distribution_alignment, codes,
                                      context.n_classes, context.device))

    @property
    def active(self):
        return True

    def batch(self, x, y):
        ctx = self.context
        sampler = self.sampler
        if self.prob < 1.0 and ctx.rng().random() >= self.prob:
            sampler = None
        u = ctx.unlabeled().to(x.device)
        weight = self.weight * linear_rampup(ctx.step, self.rampup * ctx.total_steps)
        inputs, soft = mixmatch_batch(
            x, y, u, n_classes=ctx.n_classes, guess=self._guess,
            n_views=self.n_views, temperature=self.temperature, sampler=sampler,
            augment=self.augment, align=self.align, mode=self.mode, rng=ctx.rng(),
            generator=ctx.generator(x.device))
        return inputs, SemiSupervisedTarget(soft, len(x), weight)

    def _guess(self, inputs):
        proba = self.context.predict(inputs)
        self.context.observe(proba)
        return proba

    @classmethod
    def loss(cls, logits, target, criterion, *, soft_targets):
        if isinstance(target, SemiSupervisedTarget):
            return mixmatch_loss(logits, target)
        return criterion(logits, target)
