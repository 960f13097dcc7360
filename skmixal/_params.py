"""The estimator's parameters: their bounds, checked before any data is read.

Upper bounds are there to turn a typo into a clear error instead of a fit that
never ends (``min_steps=2**63``) or a raw error deep in NumPy (``10**20``).
"""

import numpy as np
from sklearn.utils import check_random_state

# one bound for the CLI and the estimator
from skmixal._fitting import MAX_STEPS, MAX_VIEWS, PRECISIONS
from skmixal._validation import check_in_range
from skmixal.augment import AUGMENTATIONS
from skmixal.mixup import MIXUP_MODES
from skmixal.semi_supervised import check_alignment

__all__ = ["MAX_STEPS", "check_params"]


# name: (integer, low, high, low inclusive); "auto" allowed where noted below
_NUMBERS = {
    "mixup_alpha": (False, 0, 1000, True),
    "mixup_prob": (False, 0, 1, True),
    "min_steps": (True, 0, MAX_STEPS, True),
    "max_epochs": (True, 0, MAX_STEPS, True),
    "unlabeled_weight": (False, 0, 1e6, True),
    "unlabeled_rampup": (False, 0, 1, True),
    "unlabeled_ratio": (True, 1, 64, True),
    "confidence_threshold": (False, 0, 1, False),
    "sharpen_temperature": (False, 0, 1, False),
    "n_augmentations": (True, 1, MAX_VIEWS, True),
}
_AUTO = {"mixup_alpha", "min_steps", "unlabeled_weight", "unlabeled_rampup",
         "unlabeled_ratio"}


def check_params(net):
    """Validate every parameter skmixal adds to skorch's, naming the bad one."""
    for name, (integer, low, high, low_inclusive) in _NUMBERS.items():
        value = getattr(net, name)
        if name in _AUTO and isinstance(value, str) and value == "auto":
            continue
        check_in_range(value, name, low=low, high=high, integer=integer,
                       low_inclusive=low_inclusive)
    if net.batch_size != -1:
        check_in_range(net.batch_size, "batch_size", low=1, high=2**31 - 1,
                       integer=True)
    if net.mixup_mode not in MIXUP_MODES:
        raise ValueError(
            f"mixup_mode must be one of {MIXUP_MODES}, got {net.mixup_mode!r}.")
    _check_choice(net.semi_supervised, "semi_supervised", _method_names(), none=True)
    check_alignment(net.distribution_alignment)
    _check_unlabeled_label(net)
    _check_choice(net.augment, "augment", ("auto", *AUGMENTATIONS), none=True)
    _check_choice(net.collapse_guard, "collapse_guard", ("refit", "warn"), none=True)
    if not isinstance(net.deterministic, (bool, np.bool_)):
        raise TypeError(
            f"deterministic must be True or False, got {net.deterministic!r}.")
    _check_choice(net.precision, "precision", PRECISIONS, none=False)
    check_random_state(net.random_state)


def _method_names():
    from skmixal.training import METHODS

    return ("auto", *METHODS)


def _check_choice(value, name, choices, *, none):
    if (value is None and none) or (isinstance(value, str) and value in choices):
        return
    raise ValueError(
        f"{name} must be one of {choices}{' or None' if none else ''}, got "
        f"{value!r}.")


def _check_unlabeled_label(net):
    marker = net.unlabeled_label
    if marker is None:
        return
    if isinstance(marker, (bool, np.bool_)) or not isinstance(
            marker, (int, float, np.integer, np.floating, str)):
        raise TypeError(
            "unlabeled_label must be None, a number (e.g. -1) or a string, got "
            f"{marker!r}.")
    if net.semi_supervised is None:
        raise ValueError(
            f"unlabeled_label={marker!r} marks rows of y as unlabeled, but "
            "semi_supervised=None trains on labeled rows only; set "
            "semi_supervised='auto', 'fixmatch' or 'mixmatch', or "
            "unlabeled_label=None.")
