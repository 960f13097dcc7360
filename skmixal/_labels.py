"""Labeled and unlabeled rows: reading y, and the rows it marks as unlabeled."""

import numbers

import numpy as np
import torch

from skmixal._validation import as_numpy

__all__ = ["concat_rows", "label_array", "n_rows", "unlabeled_mask"]


def _is_minus_one(value):
    return (isinstance(value, numbers.Number)
            and not isinstance(value, (bool, np.bool_)) and value == -1)


def label_array(y):
    """y as a 1-D NumPy array, keeping a list's mixed types (strings and -1)."""
    if isinstance(y, torch.Tensor):
        return as_numpy(y)
    arr = np.asarray(y)
    if (arr.dtype.kind in "US" and not isinstance(y, np.ndarray)
            and any(not isinstance(v, str) for v in y)):
        arr = np.empty(len(y), dtype=object)
        arr[:] = list(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    return arr


def unlabeled_mask(y, classes):
    """Boolean mask of the rows of y marked unlabeled (-1), or None.

    scikit-learn's rule (``SelfTrainingClassifier``, ``LabelSpreading``): the
    integer -1 marks an unlabeled row; with string labels, y must have dtype
    object and hold the integer -1. A string array containing ``'-1'`` is
    ambiguous and rejected. When the declared ``classes`` include -1, it is a
    class and marks nothing.
    """
    if y is None or (classes is not None and any(_is_minus_one(c) for c in classes)):
        return None
    arr = label_array(y)
    if arr.ndim != 1:
        return None
    kind = arr.dtype.kind
    if kind in "iuf":
        return arr == -1
    if kind == "O":
        return np.fromiter((_is_minus_one(v) for v in arr), bool, len(arr))
    if kind in "US" and (arr == "-1").any():
        raise ValueError(
            "y is an array of strings containing '-1'. To mark unlabeled rows "
            "among string labels, use dtype=object and the integer -1 (as "
            "scikit-learn's semi-supervised estimators do); to use '-1' as a "
            "class, declare it in classes=[...].")
    return None


def n_rows(X):
    """Number of rows of an array-like (0 for None)."""
    if X is None:
        return 0
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def concat_rows(a, b):
    """Rows of ``a`` then ``b``: a tensor if either is one, else an array."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        device = (a if isinstance(a, torch.Tensor) else b).device
        return torch.cat([torch.as_tensor(a).to(device), torch.as_tensor(b).to(device)])
    return np.concatenate([a, b])
