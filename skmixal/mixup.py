"""Pure tensor functions for Mixup (Zhang et al., 2018) and CutMix (Yun et al., 2019).

A mixed batch keeps its integer labels: the target travels as a
:class:`MixedTarget` ``(y_a, y_b, lam)`` and the loss is
``lam * loss(y_pred, y_a) + (1 - lam) * loss(y_pred, y_b)``. For cross-entropy
this equals the loss on the soft target ``lam * onehot(y_a) + (1 - lam) *
onehot(y_b)``, and unlike soft targets it works with any criterion (NLLLoss,
class weights, label smoothing).

All randomness comes from torch's global generators, which
:class:`~skmixal.MixupNetClassifier` seeds from ``random_state`` during ``fit``.
"""

from typing import NamedTuple

import torch

__all__ = ["MIXUP_MODES", "MixedTarget", "cutmix", "mix_batch", "mix_inputs",
           "soft_targets"]

MIXUP_MODES = ("input", "cutmix")


class MixedTarget(NamedTuple):
    """Targets of a mixed batch: both label vectors and the mixing weight."""

    y_a: torch.Tensor
    y_b: torch.Tensor
    lam: float


class _BetaSampler:
    """Draws lambda ~ Beta(alpha, alpha) in blocks.

    One ``Beta.sample()`` call costs tens of microseconds, comparable to a small
    network's step; drawing 256 at a time makes it negligible while keeping the
    draws a deterministic function of torch's seeded global generator.
    """

    block = 256

    def __init__(self, alpha):
        self.alpha = float(alpha)
        conc = torch.tensor(self.alpha)
        self._dist = torch.distributions.Beta(conc, conc)
        self._buffer = []

    def __call__(self):
        if not self._buffer:
            self._buffer = self._dist.sample((self.block,)).tolist()
        return self._buffer.pop()


def mix_inputs(x, partner, lam):
    """Input mixup: ``lam * x + (1 - lam) * partner`` (new tensor)."""
    return torch.lerp(partner, x, lam)


def soft_targets(target, n_classes, dtype=torch.float32):
    """Mixed one-hot targets ``lam * onehot(y_a) + (1 - lam) * onehot(y_b)``."""
    one_a = torch.nn.functional.one_hot(target.y_a, n_classes).to(dtype)
    one_b = torch.nn.functional.one_hot(target.y_b, n_classes).to(dtype)
    return torch.lerp(one_b, one_a, target.lam)


def cutmix(x, partner, lam):
    """CutMix for image batches (N, C, H, W).

    Pastes a box covering about ``1 - lam`` of each image from ``partner``.
    Returns the new batch and the exact share of pixels kept from ``x``, which
    replaces ``lam`` in the loss.
    """
    if x.ndim != 4:
        raise ValueError(
            f"cutmix needs image batches (N, C, H, W), got shape {tuple(x.shape)}.")
    height, width = x.shape[-2:]
    cut = (1.0 - lam) ** 0.5
    cut_h, cut_w = int(height * cut), int(width * cut)
    cy = int(torch.randint(height, ()).item())
    cx = int(torch.randint(width, ()).item())
    y1, y2 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    x1, x2 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    # clone: x may be a view of data the iterator keeps resident on the device
    mixed = x.clone()
    mixed[:, :, y1:y2, x1:x2] = partner[:, :, y1:y2, x1:x2]
    kept = 1.0 - (y2 - y1) * (x2 - x1) / float(height * width)
    return mixed, kept


def mix_batch(x, y, *, sampler, mode="input", prob=1.0):
    """Mix one training batch.

    Parameters
    ----------
    x : torch.Tensor of shape (N, ...)
        Inputs, already on the training device.
    y : torch.Tensor of shape (N,)
        Integer class codes.
    sampler : callable
        Returns one lambda per call (see :class:`_BetaSampler`).
    mode : {'input', 'cutmix'}, default='input'
    prob : float, default=1.0
        Probability that this batch is mixed at all.

    Returns
    -------
    x : torch.Tensor
        The mixed batch (or the input itself when not mixed).
    y : torch.Tensor or MixedTarget
    """
    n = len(x)
    if n < 2 or (prob < 1.0 and torch.rand(()).item() >= prob):
        return x, y
    lam = sampler()
    # Partners: the batch rolled by a random shift, so no sample is paired with
    # itself. The batch order is already a random permutation (the loader
    # shuffles), and a roll costs a third of gathering a fresh randperm.
    shift = int(torch.randint(1, n, ()).item())
    partner = x.roll(shift, 0)
    if mode == "cutmix":
        x, lam = cutmix(x, partner, lam)
    else:
        x = mix_inputs(x, partner, lam)
    return x, MixedTarget(y, y.roll(shift, 0), lam)
