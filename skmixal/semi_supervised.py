"""Pieces the semi-supervised training methods share (:mod:`skmixal.training`).

- :func:`sharpen`: lower the entropy of guessed label distributions;
- :class:`DistributionAlignment` (ReMixMatch): keep the guesses' running mean
  at a class prior, so a class learned from one or two labels is not starved;
- :func:`class_prior`, :func:`make_aligner`, :func:`check_alignment`: the
  ``distribution_alignment`` parameter, resolved and validated;
- :func:`linear_rampup`: the weight schedule of an unlabeled loss.
"""

import numpy as np
import torch

__all__ = ["DistributionAlignment", "check_alignment", "class_prior",
           "linear_rampup", "make_aligner", "prior_rows", "sharpen"]


def sharpen(proba, temperature):
    """Lower the entropy of a distribution: ``p ** (1/T)``, renormalised."""
    powered = proba.pow(1.0 / temperature)
    return powered / powered.sum(dim=1, keepdim=True)


class DistributionAlignment:
    """Align guessed labels to a class prior (Berthelot et al., 2020, ReMixMatch).

    Each guess is multiplied by ``prior / running`` and renormalised, where
    ``running`` is the mean of the guesses' batch means over the last
    ``window`` steps. A network that learned a class from one or two labels
    under-predicts it on the pool; its sharpened guesses then starve that
    class further, and MixMatch collapses (measured on digits with 50 labels:
    one seed at 0.33). Alignment keeps the guesses' average at the prior.

    The window starts filled with the uniform distribution and forgets a batch
    after ``window`` steps, as ReMixMatch's own code (and USB's) does. An
    exponential average with momentum 0.999 started from the first batch, as
    skmixal had it, still weighed the untrained network's first guesses 37 %
    after 1,000 steps, so it corrected a runaway class late (benchmarks/FINDINGS.md,
    "Why MixMatch collapsed before", has what this did and did not explain).

    Parameters
    ----------
    prior : torch.Tensor of shape (n_classes,)
        Target class distribution, on the device, summing to 1.
    window : int, default=128
        Steps whose batch means are averaged.
    """

    def __init__(self, prior, window=128):
        self.prior = prior
        self.window = int(window)
        n_classes = len(prior)
        self.history = torch.full((self.window, n_classes), 1.0 / n_classes,
                                  dtype=prior.dtype, device=prior.device)
        self.position = 0

    @property
    def running(self):
        """The current estimate of the guesses' class distribution."""
        return self.history.mean(dim=0)

    def __call__(self, proba):
        self.history[self.position] = proba.mean(dim=0)
        self.position = (self.position + 1) % self.window
        aligned = proba * (self.prior / self.running.clamp_min(1e-12))
        total = aligned.sum(dim=1, keepdim=True)
        # a guess with all its mass on classes the prior gives nothing (a class
        # without labels) has nothing left to align: it becomes the prior, not
        # 0 / 0
        return torch.where(total > 0, aligned / total.clamp_min(1e-30),
                           self.prior.expand_as(aligned))


def class_prior(setting, codes, n_classes):
    """The prior that ``distribution_alignment=setting`` aligns guesses to.

    A class without a labeled row gets no share. Nothing ties a cluster of the
    pool to a class the fit never saw labeled, so its probability on the pool
    is noise; aligning to a share for it multiplies that noise until some
    other class's images are guessed as it (digits, 25 random labels missing
    one class: the fit collapsed on one seed of three; benchmarks/FINDINGS.md).

    Parameters
    ----------
    setting : {'uniform', 'labeled'} or array-like of shape (n_classes,)
        ``'uniform'``: every class with labels alike; ``'labeled'``: the
        labeled rows' class frequencies with one pseudo-count per class with
        labels; an array: the user's class proportions, normalised over the
        classes with labels.
    codes : ndarray of int or None
        Class codes of the labeled rows; None when unknown (a torch Dataset):
        then every class gets its share.
    n_classes : int

    Returns
    -------
    ndarray of shape (n_classes,), float64, summing to 1
    """
    counts = (None if codes is None
              else np.bincount(np.asarray(codes), minlength=n_classes))
    if isinstance(setting, str) and setting == "uniform":
        prior = np.ones(n_classes)
    elif isinstance(setting, str) and setting == "labeled":
        prior = counts + 1.0
    else:
        prior = np.asarray(setting, dtype=np.float64)
        if prior.shape != (n_classes,):
            raise ValueError(
                f"distribution_alignment as an array needs one proportion per "
                f"class ({n_classes}), got shape {prior.shape}.")
    if counts is not None:
        prior = np.where(counts > 0, prior, 0.0)
    return prior / prior.sum()


def prior_rows(codes, setting, n_classes, rng):
    """Labeled row indices, with rows repeated so that class counts follow the
    alignment prior; None when they already do.

    A MixMatch fit aligns its guesses on the pool to ``setting``'s prior
    (:class:`DistributionAlignment`), but trains on its labeled rows as drawn.
    Labels chosen by a query strategy are often far from that prior (margin
    sampling on digits: 20 eights and 2 zeros among 75 labels); then the few
    rows of a rare class lose to the guesses of the pool, and MixMatch ended
    with a class merged into another, its own labels misfitted (digits, 75
    labels: 0.69-0.89 against 0.96-0.99 with the rows repeated to balance;
    benchmarks/FINDINGS.md). Repeating rows of the rarer classes makes the
    labeled batches follow the same prior as the guesses. With ``'labeled'``
    or None there is no other prior to follow, and labels already in
    proportion are left as they are, so their fits do not change.

    Parameters
    ----------
    codes : ndarray of int
        Class codes of the labeled rows.
    setting : {'uniform', 'labeled'}, array-like of shape (n_classes,) or None
        ``distribution_alignment``.
    n_classes : int
    rng : numpy.random.Generator
        Chooses which rows of a class are repeated once more than the others.

    Returns
    -------
    ndarray of int, sorted, or None
        Every row at least once; a class without labels stays without.
    """
    if setting is None or (isinstance(setting, str) and setting == "labeled"):
        return None
    codes = np.asarray(codes)
    counts = np.bincount(codes, minlength=n_classes)
    prior = class_prior(setting, codes, n_classes)
    present = prior > 0  # the classes with labels (class_prior zeroes the rest)
    scale = np.max(counts[present] / prior[present])
    target = np.where(present, np.maximum(counts, np.rint(scale * prior)), counts)
    target = target.astype(np.int64)
    if np.array_equal(target, counts):
        return None
    parts = [np.arange(len(codes))]
    for c in np.flatnonzero(target > counts):
        rows = np.flatnonzero(codes == c)
        extra = target[c] - counts[c]
        parts += [np.tile(rows, extra // len(rows)),
                  rng.choice(rows, extra % len(rows), replace=False)]
    return np.sort(np.concatenate(parts))


def linear_rampup(step, total):
    """``min(1, step / total)``; 1 when ``total`` is 0 (no ramp-up)."""
    if total <= 0:
        return 1.0
    return float(min(1.0, step / total))


def check_alignment(setting):
    """Validate ``distribution_alignment``: 'uniform', 'labeled', None or
    class proportions."""
    if setting is None or (isinstance(setting, str) and setting in ("uniform",
                                                                     "labeled")):
        return
    if isinstance(setting, str):
        raise ValueError(
            "distribution_alignment must be 'uniform', 'labeled', None or an "
            f"array of class proportions, got {setting!r}.")
    try:
        prior = np.asarray(setting, dtype=np.float64)
    except (TypeError, ValueError):
        prior = None
    if (prior is None or prior.ndim != 1 or len(prior) < 2
            or not np.all(np.isfinite(prior)) or np.any(prior <= 0)):
        raise ValueError(
            "distribution_alignment as an array needs one positive, finite "
            f"proportion per class, got {setting!r}.")


def make_aligner(setting, codes, n_classes, device):
    """The :class:`DistributionAlignment` of a fit (None: no alignment).

    ``codes`` are the labeled rows' class codes, or None when a torch Dataset
    hides them.
    """
    if setting is None:
        return None
    if isinstance(setting, str) and setting == "labeled" and codes is None:
        raise ValueError(
            "distribution_alignment='labeled' needs the labels, which a torch "
            "Dataset does not show before training; pass 'uniform' or the "
            "class proportions.")
    prior = class_prior(setting, codes, n_classes)
    return DistributionAlignment(
        torch.as_tensor(prior, dtype=torch.float32, device=device))
