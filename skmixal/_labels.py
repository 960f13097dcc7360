"""Labeled and unlabeled rows: reading y, and the rows it marks as unlabeled."""

import numbers

import numpy as np
import torch

from skmixal._validation import as_numpy

__all__ = ["concat_rows", "label_array", "n_rows", "unlabeled_mask"]


def _is_number(value):
    return isinstance(value, numbers.Number) and not isinstance(value, (bool, np.bool_))


def _matches(value, marker):
    # -1 and -1.0 mark the same rows; a string never equals a number
    if _is_number(marker):
        return _is_number(value) and value == marker
    return isinstance(value, str) and value == marker


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


def unlabeled_mask(y, marker, classes=None):
    """Boolean mask of the rows of y whose label is ``marker``, or None.

    scikit-learn's semi-supervised estimators mark unlabeled rows with the
    integer -1; skmixal does so only when asked (``unlabeled_label=-1``), so
    that -1 is an ordinary class otherwise. With string labels and a numeric
    marker, y must have dtype object and hold the number itself: a string
    array containing ``'-1'`` is ambiguous and rejected.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    marker : int, float, str or None
        None marks nothing.
    classes : array-like or None
        Declared classes; the marker must not be one of them.
    """
    if y is None or marker is None:
        return None
    if classes is not None and any(_matches(c, marker) for c in classes):
        raise ValueError(
            f"unlabeled_label={marker!r} is also one of the declared classes "
            f"{list(classes)!r}: a value cannot mark unlabeled rows and be a "
            "class. Pass unlabeled rows as X_unlabeled, or set "
            "unlabeled_label=None.")
    arr = label_array(y)
    if arr.ndim != 1:
        return None
    kind = arr.dtype.kind
    if kind in "iuf" and _is_number(marker):
        return arr == marker
    if kind == "O":
        return np.fromiter((_matches(v, marker) for v in arr), bool, len(arr))
    if kind in "US" and isinstance(marker, str):
        return arr == marker
    if kind in "US" and (arr == str(marker)).any():
        raise ValueError(
            f"y is an array of strings containing {str(marker)!r}. To mark "
            f"unlabeled rows among string labels with unlabeled_label="
            f"{marker!r}, use dtype=object and the number itself (as "
            "scikit-learn's semi-supervised estimators do), or a string "
            "unlabeled_label.")
    return np.zeros(len(arr), dtype=bool)


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
