"""Supervised training with Mixup or CutMix (Zhang et al., 2018; Yun et al., 2019).

Each step optionally augments the labeled batch, then mixes it with a shuffled
copy of itself (:func:`skmixal.mixup.mix_batch`); the loss is
``lam * loss(y) + (1 - lam) * loss(y[perm])``, computed as one cross-entropy on
soft targets when the criterion allows it. With ``mixup_alpha=0`` and no
augmentation the step is exactly skorch's.
"""

from skmixal import mixup
from skmixal.augment import augment_batch
from skmixal.mixup import MixedTarget, _BetaSampler, mix_batch
from skmixal.training.base import TrainingMethod

__all__ = ["SupervisedMixup"]

# mixup_alpha='auto', from benchmarks/mixup_alpha.py (digits and MNIST, 20-200
# labels, 3 seeds): on images 0.1 and 0.2 are within a point of each other
# (0.2 ahead on digits, 0.1 on MNIST, where mixup alone costs accuracy below 200
# labels, less at 0.1); on vectors mixup hurts the MLP.
AUTO_ALPHA_IMAGES = 0.1
AUTO_ALPHA_VECTORS = 0.0
# min_steps='auto': measured on MNIST with 100 labels, the default CNN gains 2
# to 5 points from 300 to 1,000 supervised steps
AUTO_MIN_STEPS = 1000


class SupervisedMixup(TrainingMethod):
    """Mixup/CutMix of labeled batches.

    Parameters
    ----------
    context : FitContext
    alpha : float
        Beta(alpha, alpha) concentration of lambda; 0 disables mixing.
    mode : {'input', 'cutmix'}
    prob : float
        Probability that a batch is mixed.
    augment : str or None
        An augmentation of :mod:`skmixal.augment` applied before mixing.
    """

    target_type = MixedTarget

    def __init__(self, context, *, alpha, mode="input", prob=1.0, augment=None):
        super().__init__(context)
        self.mode = mode
        self.prob = prob
        self.augment = augment
        self.sampler = _BetaSampler(alpha, context.rng()) if alpha > 0 else None

    @staticmethod
    def auto_settings(input_shape):
        images = len(input_shape) == 3
        return {"mixup_alpha": AUTO_ALPHA_IMAGES if images else AUTO_ALPHA_VECTORS,
                "min_steps": AUTO_MIN_STEPS, "augment": None,
                "unlabeled_weight": 0.0, "unlabeled_rampup": 0.0,
                "unlabeled_ratio": 0}

    @classmethod
    def from_estimator(cls, net, context, codes=None):
        return cls(context, alpha=net.mixup_alpha_, mode=net.mixup_mode,
                   prob=net.mixup_prob, augment=net.augment_)

    @property
    def active(self):
        return self.sampler is not None or self.augment is not None

    def batch(self, x, y):
        generator = self.context.generator(x.device)
        if self.augment is not None:
            x = augment_batch(x, self.augment, generator)
        if self.sampler is None:
            return x, y
        return mix_batch(x, y, sampler=self.sampler, mode=self.mode, prob=self.prob,
                         rng=self.context.rng(), generator=generator)

    @classmethod
    def loss(cls, logits, target, criterion, *, soft_targets):
        if not isinstance(target, MixedTarget):
            return criterion(logits, target)
        if soft_targets:
            # one call on soft targets: the same value, half the autograd work
            return criterion(logits, mixup.soft_targets(target, logits.shape[-1],
                                                        logits.dtype))
        loss_a = criterion(logits, target.y_a)
        loss_b = criterion(logits, target.y_b)
        return target.lam * loss_a + (1.0 - target.lam) * loss_b
