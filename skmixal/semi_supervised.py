"""Semi-supervised Mixup: MixMatch (Berthelot et al., 2019) as tensor functions.

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

The estimator does steps 1-3 in ``train_step`` (before skorch's
``train_step_single``, like supervised Mixup) and step 4 in ``get_loss``.
"""

from typing import NamedTuple

import numpy as np
import torch

from skmixal.augment import augment_batch
from skmixal.mixup import cutmix, mix_inputs, one_hot

__all__ = ["SEMI_SUPERVISED_METHODS", "DistributionAlignment", "SemiSupervisedTarget",
           "UnlabeledSampler", "class_prior", "linear_rampup", "mixmatch_batch",
           "mixmatch_loss", "sharpen"]

SEMI_SUPERVISED_METHODS = ("mixmatch",)


class SemiSupervisedTarget(NamedTuple):
    """Targets of a MixMatch batch: soft targets for every row, the number of
    labeled rows (they come first) and the weight of the unlabeled loss."""

    soft: torch.Tensor
    n_labeled: int
    weight: float


def sharpen(proba, temperature):
    """Lower the entropy of a distribution: ``p ** (1/T)``, renormalised."""
    powered = proba.pow(1.0 / temperature)
    return powered / powered.sum(dim=1, keepdim=True)


class DistributionAlignment:
    """Align guessed labels to a class prior (Berthelot et al., 2020, ReMixMatch).

    Each guess is multiplied by ``prior / running``, where ``running`` is a
    moving average of the guesses themselves, and renormalised. A network that
    learned a class from one or two labels under-predicts it on the pool; its
    sharpened guesses then starve that class further, and MixMatch collapses
    (measured on digits with 50 labels: one seed at 0.33). Alignment keeps the
    guesses' average at the prior.

    Parameters
    ----------
    prior : torch.Tensor of shape (n_classes,)
        Target class distribution, on the device, summing to 1.
    momentum : float, default=0.999
        Weight of the past in the moving average, per step.
    """

    def __init__(self, prior, momentum=0.999):
        self.prior = prior
        self.momentum = float(momentum)
        self.running = None

    def __call__(self, proba):
        mean = proba.mean(dim=0)
        if self.running is None:
            self.running = mean
        else:
            self.running = torch.lerp(mean, self.running, self.momentum)
        aligned = proba * (self.prior / self.running.clamp_min(1e-12))
        return aligned / aligned.sum(dim=1, keepdim=True)


def class_prior(setting, codes, n_classes):
    """The prior that ``distribution_alignment=setting`` aligns guesses to.

    Parameters
    ----------
    setting : {'uniform', 'labeled'} or array-like of shape (n_classes,)
        ``'labeled'``: the labeled rows' class frequencies with one pseudo-count
        per class (a class seen once still gets a share); an array: the user's
        class proportions, normalised.
    codes : ndarray of int
        Class codes of the labeled rows.
    n_classes : int

    Returns
    -------
    ndarray of shape (n_classes,), float64, summing to 1
    """
    if isinstance(setting, str) and setting == "uniform":
        return np.full(n_classes, 1.0 / n_classes)
    if isinstance(setting, str) and setting == "labeled":
        counts = np.bincount(np.asarray(codes), minlength=n_classes) + 1.0
        return counts / counts.sum()
    prior = np.asarray(setting, dtype=np.float64)
    if prior.shape != (n_classes,):
        raise ValueError(
            f"distribution_alignment as an array needs one proportion per class "
            f"({n_classes}), got shape {prior.shape}.")
    return prior / prior.sum()


def linear_rampup(step, total):
    """``min(1, step / total)``; 1 when ``total`` is 0 (no ramp-up)."""
    if total <= 0:
        return 1.0
    return float(min(1.0, step / total))


class UnlabeledSampler:
    """Draws unlabeled batches of fixed size, with replacement.

    The cost of a step does not depend on the pool's size: each call draws
    ``batch_size`` row indices from ``rng`` and reads only those rows. In-memory
    arrays are served from one tensor (on the device when it fits under the
    same cap as the training data); an ``np.memmap`` or a read-only array is
    read row by row from where it lies (sorted indices: sequential reads).

    Parameters
    ----------
    X : ndarray, np.memmap or torch.Tensor of shape (n, ...)
        Validated unlabeled samples, float32.
    batch_size : int
    rng : numpy.random.Generator
        The same draws whatever the storage, so a memmap and an array holding
        the same rows give the same model.
    device : str or torch.device
    """

    max_resident_bytes = 2 * 1024**3

    def __init__(self, X, batch_size, rng, device):
        self.batch_size = int(batch_size)
        self.rng = rng
        self.device = device
        self.n = len(X)
        self._resident = None
        self._host = None
        if isinstance(X, torch.Tensor):
            self._resident = X.to(device)
        elif (isinstance(X, np.memmap) or not X.flags.writeable
              or X.nbytes > self.max_resident_bytes):
            self._host = X
        else:
            # a view on the CPU; one copy on an accelerator
            self._resident = torch.from_numpy(np.ascontiguousarray(X)).to(device)

    def __call__(self):
        index = np.sort(self.rng.integers(0, self.n, self.batch_size))
        if self._resident is not None:
            return torch.index_select(
            self._resident, 0, torch.from_numpy(index).to(self._resident.device))
        return torch.from_numpy(np.asarray(self._host[index])).to(self.device)


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
        :class:`DistributionAlignment`.
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
