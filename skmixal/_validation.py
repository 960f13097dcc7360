"""Input checks shared by the estimators, the strategies and the CLI.

Every check raises before any training starts and names the parameter it
rejects. Nothing here modifies its input in place: conversions return new arrays
(or views that are only read).
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, column_or_1d, validate_data

__all__ = [
    "as_numpy",
    "check_classes",
    "check_features",
    "check_in_range",
    "check_n_instances",
    "encode_labels",
    "is_array_like",
    "seed_from",
]


def as_numpy(x):
    """A NumPy view of ``x``; torch tensors are detached and copied to the CPU,
    sparse matrices made dense."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    elif sp.issparse(x):
        return x.toarray()
    return np.asarray(x)


def seed_from(random_state):
    """An int seed for torch drawn from ``random_state`` (None: fresh entropy)."""
    return int(check_random_state(random_state).randint(2**31 - 1))


def check_in_range(value, name, *, low=None, high=None, integer=False,
                   low_inclusive=True, high_inclusive=True, allow_none=False):
    """Check that a scalar hyperparameter is a number within bounds.

    Returns the value unchanged; raises ``TypeError`` for a wrong type and
    ``ValueError`` for a value out of bounds, both naming ``name``. The bounds
    are checked by :func:`sklearn.utils.check_scalar`; two cases it lets pass
    are rejected first: booleans (an ``int`` subclass, never meant as a
    number here) and NaN (every comparison with NaN is False).
    """
    if value is None and allow_none:
        return value
    kind = Integral if integer else Real
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an integer" if integer else "a real number"
        raise TypeError(f"{name} must be {expected}, got {value!r}.")
    # integers are finite; np.isfinite would reject ints beyond int64 (10**20)
    # with a TypeError about ufuncs instead of the range check below
    if not isinstance(value, Integral) and not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    # check_scalar rejects an inclusive side without a bound
    closed = {(True, True): "both", (True, False): "left",
              (False, True): "right", (False, False): "neither"}
    sides = (low is not None and low_inclusive, high is not None and high_inclusive)
    check_scalar(value, name, kind, min_val=low, max_val=high,
                 include_boundaries=closed[sides])
    return value


def check_n_instances(n_instances):
    """Check the number of instances a query strategy should return."""
    return check_in_range(n_instances, "n_instances", low=1, integer=True)


def is_array_like(X):
    """True for in-memory inputs that the fast paths can slice: arrays and tensors."""
    return isinstance(X, (np.ndarray, torch.Tensor)) or sp.issparse(X)


def _as_image_layout(X):
    # (N, H, W) grayscale images become (N, 1, H, W) so one CNN path serves both;
    # a view, so the caller's array is neither copied nor modified.
    if X.ndim == 3:
        return X[:, None]
    return X


def check_features(estimator, X, *, reset, ensure_all_finite=True,
                   dtype=np.float32):
    """Validate X for fitting (``reset=True``) or for prediction.

    Accepts NumPy arrays (including ``np.memmap``), array-likes (lists, pandas),
    SciPy sparse matrices (densified: the networks here take dense input) and
    torch tensors (kept on their device). Returns float32 data shaped (N, F) or
    (N, C, H, W); sets or checks ``n_features_in_`` and ``input_shape_``.

    ``ensure_all_finite=False`` with ``dtype=(np.float32, np.float64)`` checks
    the structure only, reading no values: the query strategies use it for
    large pools and check finiteness (and convert) chunk by chunk instead.
    Tensors then keep their dtype too.
    """
    if isinstance(X, torch.Tensor):
        X = _check_tensor(estimator, X, reset=reset,
                          ensure_all_finite=ensure_all_finite)
    else:
        if sp.issparse(X):
            # densify per call: the networks need dense batches anyway, and
            # doing it here keeps every later path (fast iterator, CNN) simple
            X = X.toarray()
        # np.asarray, not np.ndim: array-likes may refuse __array_function__
        ndim = X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim
        fitted = getattr(estimator, "input_shape_", None)
        if not reset and ndim == 2 and fitted is not None and len(fitted) == 3:
            # scikit-learn's own message would compare the row length with the
            # channel count (n_features_in_ of an image model)
            raise ValueError(
                f"X has rows of {np.shape(X)[1]} features, but "
                f"{type(estimator).__name__} was fitted on images of shape "
                f"{tuple(fitted)}: pass images, e.g. X.reshape(-1, "
                f"{', '.join(map(str, fitted))}).")
        if ndim <= 2:
            X = validate_data(
                estimator, X, reset=reset, dtype=dtype, allow_nd=True,
                ensure_all_finite=ensure_all_finite, accept_sparse=False,
                ensure_min_samples=1,
                ensure_min_features=1)
        else:
            # images: n_features_in_ is the channel count, as for tensors, so
            # fitting on one kind and predicting on the other agree
            X = check_array(X, dtype=dtype, allow_nd=True,
                            ensure_all_finite=ensure_all_finite,
                            ensure_min_samples=1, ensure_min_features=1)
            X = _as_image_layout(X)
            _check_n_channels(estimator, int(X.shape[1]), reset=reset)
    if X.ndim not in (2, 4):
        raise ValueError(
            f"X must be 2-D (n_samples, n_features), 3-D (n_samples, height, width)"
            f" or 4-D (n_samples, channels, height, width); got shape "
            f"{tuple(X.shape)}.")
    shape = tuple(int(s) for s in X.shape[1:])
    fitted_shape = getattr(estimator, "input_shape_", None)
    if reset:
        estimator.input_shape_ = shape
    elif fitted_shape is not None and shape != tuple(fitted_shape):
        raise ValueError(
            f"X has sample shape {shape}, but {type(estimator).__name__} was "
            f"fitted on sample shape {tuple(estimator.input_shape_)}.")
    return X


def _check_n_channels(estimator, n_features, *, reset):
    if reset:
        estimator.n_features_in_ = n_features
    elif n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input.")


def _check_tensor(estimator, X, *, reset, ensure_all_finite=True):
    if X.ndim < 2:
        raise ValueError(
            f"Expected a 2-D or image-shaped tensor for X, got shape {tuple(X.shape)}."
            " Reshape your data: X.reshape(-1, 1) for a single feature.")
    if X.shape[0] == 0:
        raise ValueError("X has 0 samples; at least 1 is required.")
    if X.is_complex() or X.dtype == torch.bool:
        raise TypeError(f"X must be a real-valued tensor, got dtype {X.dtype}.")
    if ensure_all_finite:
        X = X.float()
        if not bool(torch.isfinite(X).all()):
            raise ValueError("Input X contains NaN or infinity.")
    X = _as_image_layout(X)
    _check_n_channels(estimator, int(X.shape[1]), reset=reset)
    return X


def check_classes(classes):
    """Validate a user-supplied list of class labels; returns them sorted."""
    values = np.asarray(classes)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(
            f"classes must be a 1-D list of at least two labels, got {classes!r}.")
    unique = np.unique(values)
    if len(unique) != len(values):
        raise ValueError(f"classes must not contain duplicates, got {classes!r}.")
    return unique


def encode_labels(y, n_samples, *, classes=None):
    """Check y and map it to integer codes ``0..n_classes-1``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels: integers, strings or any sortable type.
    n_samples : int
        Number of samples in X, checked against ``len(y)``.
    classes : ndarray or None
        Known classes (sorted, unique). When given, every label must be one of
        them; when None, the classes are those present in y.

    Returns
    -------
    codes : ndarray of int64, shape (n_samples,)
    classes : ndarray
        Sorted unique labels; ``classes[codes]`` reproduces y.
    """
    if y is None:
        raise ValueError(
            "This classifier requires y to be passed, but the target y is None.")
    if isinstance(y, torch.Tensor):
        y = as_numpy(y)
    y = check_array(y, ensure_2d=False, dtype=None, ensure_all_finite=True,
                    ensure_min_samples=0, input_name="y")
    y = column_or_1d(y, warn=True)
    if len(y) != n_samples:
        raise ValueError(
            f"X and y have different lengths: X has {n_samples} samples, y has "
            f"{len(y)}.")
    check_classification_targets(y)
    if classes is None:
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"y has only one class ({classes[0]!r}); a classifier needs at least"
                " two. Pass `classes=` to declare the classes not labeled yet.")
        return codes.astype(np.int64), classes
    codes = np.searchsorted(classes, y)
    codes = np.clip(codes, 0, len(classes) - 1)
    unknown = classes[codes] != y
    if unknown.any():
        raise ValueError(
            f"y contains labels not in classes: {np.unique(y[unknown])[:10]!r}; "
            f"known classes are {classes!r}. A warm start or partial_fit keeps "
            "the classes of the first fit: declare every class up front with "
            "`classes=`.")
    return codes.astype(np.int64), classes
