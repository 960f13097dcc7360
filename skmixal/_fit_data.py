"""What a fit trains on: X, the labels as codes, and the unlabeled rows.

Every check raises before any training and names what it rejects; the
estimator's fitted attributes that describe the data (``classes_``,
``n_features_in_``, ``input_shape_``) are set here.
"""

import numbers

import numpy as np
import torch
from skorch.utils import is_dataset

from skmixal._labels import concat_rows, label_array, n_rows, unlabeled_mask
from skmixal._validation import check_classes, check_features, encode_labels

__all__ = ["validate_fit_data"]


def validate_fit_data(net, X, y, *, reset, classes=None, X_unlabeled=None):
    """Validated ``(X, codes, unlabeled rows or None)`` for a fit of ``net``.

    Rows of y equal to ``net.unlabeled_label`` (e.g. -1, scikit-learn's
    semi-supervised convention) are moved, in order, in front of
    ``X_unlabeled``: both routes give the same unlabeled set and so the same
    model. With ``unlabeled_label=None`` (the default) every value of y is a
    class.
    """
    if is_dataset(X):
        X, y = _validate_dataset(net, X, y, reset=reset)
        return X, y, _validate_unlabeled(net, X_unlabeled)
    if reset:
        declared = classes if classes is not None else net.classes
        known = None if declared is None else check_classes(declared)
    else:
        known = net.classes_
    mask = unlabeled_mask(y, net.unlabeled_label, known)
    if mask is not None and mask.all():
        raise ValueError(
            f"Every row of y is {net.unlabeled_label!r} (unlabeled_label): at least "
            "one labeled row per class is needed to start from.")
    X = check_features(net, X, reset=reset)
    if net.mixup_mode == "cutmix" and X.ndim != 4:
        raise ValueError(
            "mixup_mode='cutmix' needs image input (n_samples, channels, height,"
            f" width) or (n_samples, height, width); got X of shape "
            f"{tuple(X.shape)}. Use mixup_mode='input' for tabular data.")
    unlabeled = _validate_unlabeled(net, X_unlabeled)
    if mask is not None and mask.any():
        from_y = X[np.flatnonzero(mask)]
        unlabeled = from_y if unlabeled is None else concat_rows(from_y, unlabeled)
        rows = np.flatnonzero(~mask)
        X, y = X[rows], label_array(y)[rows]
    codes, found = encode_labels(y, len(X), classes=known)
    if reset:
        net.classes_ = found
    return X, codes, unlabeled


def _validate_unlabeled(net, X_unlabeled):
    if X_unlabeled is None:
        return None
    if net.semi_supervised is None:
        raise ValueError(
            "X_unlabeled was given but semi_supervised=None; set "
            "semi_supervised='auto', 'mixmatch' or 'fixmatch' to train on "
            "unlabeled rows.")
    if is_dataset(X_unlabeled):
        raise TypeError(
            "X_unlabeled must be an array-like, np.memmap or torch tensor of "
            "samples shaped like X, not a torch Dataset.")
    if n_rows(X_unlabeled) == 0:
        return None  # an exhausted pool: a supervised fit
    try:
        return check_features(net, X_unlabeled, reset=False)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"X_unlabeled: {exc}") from exc


def _validate_dataset(net, X, y, *, reset):
    # a torch Dataset cannot be inspected without reading it; labels inside
    # it must already be codes 0..n_classes-1 of the declared classes
    if reset:
        if net.classes is None:
            raise ValueError(
                "Fitting on a torch Dataset needs `classes` (the list of class "
                "labels); the dataset's targets must be their positions "
                "0..n_classes-1.")
        net.classes_ = check_classes(net.classes)
        sample = X[0][0] if isinstance(X[0], (tuple, list)) else X[0]
        if isinstance(sample, (torch.Tensor, np.ndarray, numbers.Number)):
            shape = tuple(torch.as_tensor(sample).shape)
            # (H, W) samples are single-channel images, as for arrays
            net.input_shape_ = shape if len(shape) != 2 else (1, *shape)
            net.n_features_in_ = net.input_shape_[0]
        else:
            # dict or multi-input samples: only a user module knows them
            if net.module is None:
                raise ValueError(
                    "module=None builds a network from array samples; this "
                    f"Dataset yields {type(sample).__name__} samples. Pass "
                    "your own `module`.")
            net.input_shape_ = None
    return X, y
