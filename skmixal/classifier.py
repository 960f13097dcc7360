"""MixupNetClassifier: a skorch classifier that trains with Mixup."""

import collections
import copy
import math
import numbers
import re
import threading
from contextlib import contextmanager

import numpy as np
import skorch
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring
from skorch.dataset import get_len, unpack_data
from skorch.utils import is_dataset, to_numpy
from torch.utils.data import DataLoader

from skmixal._validation import (
    as_numpy,
    check_classes,
    check_features,
    check_in_range,
    encode_labels,
    seed_from,
)
from skmixal.augment import AUGMENTATIONS, augment_batch
from skmixal.iterators import TensorLoader, inference_rows
from skmixal.mixup import (
    MIXUP_MODES,
    MixedTarget,
    _BetaSampler,
    mix_batch,
    soft_targets,
)
from skmixal.modules import SeededDropout, SmallCNN, default_module, last_linear
from skmixal.semi_supervised import (
    SEMI_SUPERVISED_METHODS,
    DistributionAlignment,
    SemiSupervisedTarget,
    UnlabeledSampler,
    class_prior,
    linear_rampup,
    mixmatch_batch,
    mixmatch_loss,
)

__all__ = ["MixupNetClassifier"]

DEFAULT_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

# mixup_alpha='auto', from benchmarks/mixup_alpha.py (digits and MNIST, 20-200
# labels, 3 seeds): on images 0.1 and 0.2 are within a point of each other
# (0.2 ahead on digits, 0.1 on MNIST, where mixup alone costs accuracy below 200
# labels, less at 0.1); on vectors mixup hurts the MLP.
AUTO_ALPHA_IMAGES = 0.1
AUTO_ALPHA_VECTORS = 0.0
# With unlabeled rows (MixMatch), 'auto' is the paper's 0.75 (benchmarks/
# semi_supervised.py, digits and MNIST).
AUTO_ALPHA_SEMI_SUPERVISED = 0.75
# min_steps='auto': supervised fits, and fits with unlabeled rows, which need
# longer to use the pool (benchmarks/semi_supervised.py: digits, MNIST)
AUTO_MIN_STEPS = 1000
AUTO_MIN_STEPS_SEMI_SUPERVISED = 2000

# skorch 1.4 threads `_routing_method` from fit into partial_fit; 1.0-1.3
# pass every fit parameter on to the module's forward, so it must not be sent.
def _major_minor(version):
    # the leading digits only: "1.4rc1" and "1.4.0.dev0" are (1, 4)
    return tuple(int(part) for part in re.match(r"(\d+)\.(\d+)", version).groups())


_SKORCH_ROUTES = _major_minor(skorch.__version__) >= (1, 4)

# Module initialisation draws from torch's global generator (every layer's
# reset_parameters); seeding it and building the module happen under one lock
# so fits in threads cannot interleave their draws.
_INIT_LOCK = threading.Lock()
# process-wide torch state that fits change and restore (the global generators,
# the deterministic switches): how many running fits use each, and what the
# first of them saved
_GLOBAL_USERS = collections.Counter()
_GLOBAL_SAVED = {}

_FIT_STATE_DEFAULTS = {
    "history_": lambda: None,
    "initialized_": lambda: False,
    "virtual_params_": dict,
}


def _code_accuracy(net, X, y):
    # the internal datasets hold integer codes, so compare codes, not labels
    return float(np.mean(net.predict_proba(X).argmax(axis=1) == to_numpy(y)))


def _takes_soft_targets(criterion):
    # Cross-entropy on soft targets equals the lambda-weighted pair of losses
    # only without class weights (hard-label 'mean' divides by the weights).
    return (type(criterion) is torch.nn.CrossEntropyLoss and criterion.weight is None
            and criterion.reduction == "mean")


def _is_minus_one(value):
    return (isinstance(value, numbers.Number)
            and not isinstance(value, (bool, np.bool_)) and value == -1)


def _label_array(y):
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


def _unlabeled_mask(y, classes):
    """Boolean mask of the rows of y marked unlabeled (-1), or None.

    scikit-learn's rule (``SelfTrainingClassifier``, ``LabelSpreading``): the
    integer -1 marks an unlabeled row; with string labels, y must have dtype
    object and hold the integer -1. A string array containing ``'-1'`` is
    ambiguous and rejected. When the declared ``classes`` include -1, it is a
    class and marks nothing.
    """
    if y is None or (classes is not None and any(_is_minus_one(c) for c in classes)):
        return None
    arr = _label_array(y)
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


def _n_rows(X):
    if X is None:
        return 0
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def _concat(a, b):
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        device = (a if isinstance(a, torch.Tensor) else b).device
        return torch.cat([torch.as_tensor(a).to(device), torch.as_tensor(b).to(device)])
    return np.concatenate([a, b])


@contextmanager
def _global_rng_seeded(seed, devices):
    """torch's global generators (CPU and ``devices``) seeded, restored after.

    Like ``torch.random.fork_rng``, but the seeding and the restoring happen
    under ``_INIT_LOCK``: another fit in a thread can then never reseed the
    global generator in the middle of a module's initialisation. Only the
    listed GPUs are seeded, and exactly those are restored. Fits that overlap
    in threads share one saved state: the first to start saves it and the last
    to finish restores it, so the caller's generators end as they began
    whatever the order in which the fits finish.
    """
    if seed is None:
        yield
        return
    keys = ["cpu", *devices]
    with _INIT_LOCK:
        for key in keys:
            if _GLOBAL_USERS[("rng", key)] == 0:
                _GLOBAL_SAVED[("rng", key)] = (
                    torch.get_rng_state() if key == "cpu"
                    else torch.cuda.get_rng_state(key))
            _GLOBAL_USERS[("rng", key)] += 1
        torch.default_generator.manual_seed(seed)
        for index in devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
    try:
        yield
    finally:
        with _INIT_LOCK:
            for key in keys:
                _GLOBAL_USERS[("rng", key)] -= 1
                if _GLOBAL_USERS[("rng", key)] == 0:
                    state = _GLOBAL_SAVED.pop(("rng", key))
                    if key == "cpu":
                        torch.set_rng_state(state)
                    else:
                        torch.cuda.set_rng_state(state, key)


@contextmanager
def _deterministic_flags(enabled):
    """torch's deterministic-algorithm switches for one fit, restored after.

    The switches are process-wide: while any fit with ``deterministic=True``
    runs, they are on for every fit. The first such fit saves them and the
    last one restores them, so overlapping fits in threads cannot leave them on.
    """
    if not enabled:
        yield
        return
    with _INIT_LOCK:
        if _GLOBAL_USERS["flags"] == 0:
            _GLOBAL_SAVED["flags"] = (
                torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
        _GLOBAL_USERS["flags"] += 1
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        with _INIT_LOCK:
            _GLOBAL_USERS["flags"] -= 1
            if _GLOBAL_USERS["flags"] == 0:
                saved = _GLOBAL_SAVED.pop("flags")
                torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
                torch.backends.cudnn.deterministic = saved[2]
                torch.backends.cudnn.benchmark = saved[3]


def _check_alignment(setting):
    """``distribution_alignment``: 'uniform', 'labeled', None or class proportions."""
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


def _fresh_copy(module):
    """Deep copy of a user's module instance with every layer re-initialised.

    The instance is a template: fitting never trains the caller's object, and
    fitting twice starts from new weights drawn from ``random_state``.
    """
    module = copy.deepcopy(module)
    for sub in module.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()
    return module


class MixupNetClassifier(NeuralNetClassifier):
    """Neural network classifier trained with Mixup, as a scikit-learn estimator.

    A skorch :class:`~skorch.NeuralNetClassifier` whose training step mixes each
    mini-batch: ``lam ~ Beta(mixup_alpha, mixup_alpha)``, a random permutation of
    the batch, inputs ``lam * x + (1 - lam) * x[perm]`` (or a CutMix box) and the
    loss ``lam * loss(y) + (1 - lam) * loss(y[perm])``. Validation, prediction and
    embeddings never see mixed data.

    Without a ``module`` it builds a network from the data at fit time: an
    :class:`~skmixal.modules.MLP` for (n_samples, n_features) input and a
    :class:`~skmixal.modules.SmallCNN` for images (n_samples, channels, height,
    width) or (n_samples, height, width).

    Parameters
    ----------
    module : torch.nn.Module class or instance, or None, default=None
        The network; it must return logits (for the default cross-entropy).
        ``None`` builds the default network; keyword arguments go through
        ``module__<name>`` (e.g. ``module__hidden_units=(512,)``). An instance is
        used as a template: it is copied and re-initialised on each fit.
    mixup_alpha : float or 'auto', default='auto'
        Concentration of the Beta distribution of the mixing weight; ``0``
        disables mixing and trains exactly like ``NeuralNetClassifier``.
        ``'auto'`` uses 0.1 for image input and 0 for vector input, as measured
        by ``benchmarks/mixup_alpha.py`` on digits and MNIST with 20 to 300
        labels: on 8x8 digits the default CNN gains 0.4 to 2 points with mixup
        from 50 labels on; on MNIST it loses 1 to 3 points with 20 to 100
        labels and breaks even at 200 (0.1 and 0.2 within a point of each
        other on both, 0.1 losing less on MNIST); on flattened pixels the MLP
        loses up to 4 points. With unlabeled rows,
        ``'auto'`` is MixMatch's 0.75. The value used is ``mixup_alpha_``.
    mixup_mode : {'input', 'cutmix'}, default='input'
        ``'input'`` interpolates whole inputs; ``'cutmix'`` pastes a box from
        another image (image input only).
    mixup_prob : float, default=1.0
        Probability that a mini-batch is mixed.
    min_steps : int or 'auto', default='auto'
        Minimum number of optimizer steps per fit: with few labels an epoch is
        one or two steps, so the number of epochs grows until this many steps
        are taken. This lets one setting serve 10 to 10,000 labels. ``'auto'``
        is 1,000 for a supervised fit and 2,000 for a fit with unlabeled rows
        (the value used is ``min_steps_``). Measured on MNIST with 100 labels,
        the default CNN gains 2 to 5 points from 300 to 1,000 supervised
        steps; the MLP neither gains nor loses. MixMatch on digits with 50
        labels reached 0.92 after 1,000 steps and 0.97 after 2,000
        (benchmarks/semi_supervised.py).
    semi_supervised : {'mixmatch'} or None, default='mixmatch'
        How unlabeled rows (``y == -1``, or ``fit(..., X_unlabeled=U)``) are
        used. ``'mixmatch'``: MixMatch (Berthelot et al., 2019), Mixup across
        labeled rows and unlabeled rows with sharpened guessed labels. It only
        acts when a fit is given unlabeled rows; without them training is
        exactly the supervised fit. ``None``: a plain classifier, for which -1
        is an ordinary class label and ``X_unlabeled`` is an error.
    unlabeled_weight : float, default=75.0
        Weight of the unlabeled loss (MixMatch's ``lambda_u``; the squared
        error is averaged over classes, as in the paper).
    unlabeled_rampup : float, default=1.0
        Share of the fit's steps over which that weight rises linearly from 0
        (1.0: over the whole fit; the paper's 16,000 of 1,000,000 steps is far
        from a fit of a few thousand).
    sharpen_temperature : float, default=0.5
        Temperature ``T`` that sharpens the guessed labels (``0 < T <= 1``).
    n_augmentations : int, default=4
        Augmented views ``K`` of each unlabeled sample whose predictions are
        averaged into its guessed label; each step trains on ``K`` views of a
        ``batch_size`` batch of the pool. Measured on digits with 50 labels
        (5 seeds), K=4 held 0.96-0.97 on the seeds where one or two labels of
        a class made K=2 fall to 0.91; it costs 1.6x the time of K=2 a step.
    distribution_alignment : {'uniform', 'labeled'}, array-like or None, \
            default='uniform'
        Scale the guessed labels so that their running average matches a
        class prior before sharpening (ReMixMatch's distribution alignment):
        ``'uniform'``; ``'labeled'``, the labeled rows' class frequencies plus
        one pseudo-count each; or your own class proportions, in the order of
        ``classes_``; ``None`` is MixMatch as published. Measured on digits
        (50 random labels, 5 seeds; ``benchmarks/semi_supervised.py``),
        alignment stopped the collapse of classes that had one or two labels.
        'uniform' is right for balanced classes; when you know the classes are
        imbalanced, pass their proportions.
    augment : {'auto', 'shift', 'shift+flip', 'noise'} or None, default='auto'
        Batched, seeded augmentation on the device (:mod:`skmixal.augment`).
        ``'auto'``: random shifts of up to 1/14 of the image side (at least
        1 pixel) when the fit has unlabeled image rows, otherwise none. An
        explicit value also augments supervised fits. ``'noise'`` (Gaussian,
        for vectors) and flips are never chosen automatically; flips are wrong
        for digits and characters. Vector rows are not augmented: MixMatch is
        then Mixup with guessed labels, the K views differing only in their
        mixing partners. Measured on digits as 64 features (MLP, 50 labels,
        3 seeds): supervised 0.814, no augmentation 0.932, 'noise' 0.924.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout, mixing, augmentation
        and unlabeled sampling for each fit, through the fit's own generators:
        the same int gives bit-identical predictions on the same device with
        the same torch thread count, also for fits running in threads (default
        networks; give your own modules :class:`~skmixal.modules.SeededDropout`
        for that). ``None`` draws from torch's global generator.
    deterministic : bool, default=False
        Run the fit with ``torch.use_deterministic_algorithms(True)`` and
        deterministic cuDNN, restored afterwards. The default networks are
        deterministic on CUDA without it; a user module with an op whose CUDA
        backward is not (adaptive pooling, scatter, interpolate) needs it for
        bit-identical results. Slower on GPU; no effect on CPU results.
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
    optimizer : torch optimizer class, default=torch.optim.AdamW
    lr : float, default=1e-3
    max_epochs : int, default=30
    batch_size : int, default=64
    iterator_train, iterator_valid : class, default=TensorLoader
        Batches in-memory data by slicing tensors already on the device; torch
        ``Dataset`` inputs and ``DataLoader``-only arguments fall back to
        ``DataLoader``. Training batches are shuffled unless
        ``iterator_train__shuffle=False``.
    train_split : callable or None, default=None
        No internal validation split by default, so a class with a single
        label is fine. Pass ``skorch.dataset.ValidSplit(5, stratified=True)`` to
        track ``valid_loss`` (for ``EarlyStopping`` or ``Checkpoint``).
    classes : array-like or None, default=None
        All class labels, when y may not show every class yet (an active
        learning round): the output layer covers them all.
    verbose : int, default=0
    device : str or torch.device, default='cuda' if available, else 'cpu'
    **kwargs
        Any other ``NeuralNetClassifier`` parameter (``callbacks``,
        ``optimizer__weight_decay``, ``warm_start``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted; ``predict`` returns values from it.
    n_features_in_ : int
        Number of features (channels for images) seen during fit.
    mixup_alpha_ : float
        The mixing concentration used in the last fit (``mixup_alpha`` resolved).
    min_steps_ : int
        The minimum number of steps of the last fit (``min_steps`` resolved).
    augment_ : str or None
        The augmentation used in the last fit (``augment`` resolved).
    n_unlabeled_ : int
        Number of unlabeled rows the last fit trained on (0: supervised).
    input_shape_ : tuple of int
        Shape of one sample, e.g. ``(64,)`` or ``(1, 28, 28)``.
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Per-epoch and per-batch training records.

    Notes
    -----
    Labels are stored internally as codes ``0..n_classes-1``; custom skorch
    scoring callbacks see those codes. Sparse input is densified.

    References
    ----------
    Zhang, Cisse, Dauphin, Lopez-Paz. "mixup: Beyond Empirical Risk
    Minimization", ICLR 2018. Yun et al. "CutMix", ICCV 2019. Berthelot,
    Carlini, Goodfellow, Papernot, Oliver, Raffel. "MixMatch: A Holistic
    Approach to Semi-Supervised Learning", NeurIPS 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skmixal import MixupNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MixupNetClassifier(random_state=0).fit(X[:500] / 16, y[:500])
    >>> clf.score(X[500:] / 16, y[500:]) > 0.9
    True
    """

    def __init__(
        self,
        module=None,
        *,
        mixup_alpha="auto",
        mixup_mode="input",
        mixup_prob=1.0,
        min_steps="auto",
        semi_supervised="mixmatch",
        unlabeled_weight=75.0,
        unlabeled_rampup=1.0,
        sharpen_temperature=0.5,
        n_augmentations=4,
        distribution_alignment="uniform",
        augment="auto",
        random_state=None,
        deterministic=False,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr=1e-3,
        max_epochs=30,
        batch_size=64,
        iterator_train=TensorLoader,
        iterator_valid=TensorLoader,
        train_split=None,
        classes=None,
        verbose=0,
        device=DEFAULT_DEVICE,
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            iterator_train=iterator_train,
            iterator_valid=iterator_valid,
            train_split=train_split,
            classes=classes,
            verbose=verbose,
            device=device,
            **kwargs,
        )
        self.mixup_alpha = mixup_alpha
        self.mixup_mode = mixup_mode
        self.mixup_prob = mixup_prob
        self.min_steps = min_steps
        self.semi_supervised = semi_supervised
        self.unlabeled_weight = unlabeled_weight
        self.unlabeled_rampup = unlabeled_rampup
        self.sharpen_temperature = sharpen_temperature
        self.n_augmentations = n_augmentations
        self.distribution_alignment = distribution_alignment
        self.augment = augment
        self.random_state = random_state
        self.deterministic = deterministic
        # scikit-learn: __init__ stores parameters only. skorch's __init__ also
        # sets these three; they come back from __getattr__ until fit sets them.
        for name in _FIT_STATE_DEFAULTS:
            self.__dict__.pop(name, None)

    def __getattr__(self, name):
        # Only reached when normal lookup fails. Before skorch's __init__ has
        # stored the parameters (marked by _params_to_validate), skorch's
        # __setattr__ must see these as missing, so the defaults wait for it.
        if name in _FIT_STATE_DEFAULTS and "_params_to_validate" in self.__dict__:
            value = _FIT_STATE_DEFAULTS[name]()
            if isinstance(value, dict):
                self.__dict__[name] = value  # mutated in place by skorch
            return value
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}")

    def _get_param_names(self):
        # skorch lists every public key of __dict__; private state such as
        # _params_to_validate or the lambda sampler must not become a parameter
        return [name for name in super()._get_param_names()
                if not name.startswith("_")]

    # -- fitted attributes -------------------------------------------------------
    @property
    def classes_(self):
        try:
            return self.__dict__["classes_"]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'classes_' before fit."
            ) from None

    @classes_.setter
    def classes_(self, value):
        self.__dict__["classes_"] = value

    @property
    def _default_callbacks(self):
        callbacks = dict(super()._default_callbacks)
        callbacks["valid_acc"] = EpochScoring(
            _code_accuracy, name="valid_acc", lower_is_better=False)
        return list(callbacks.items())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.three_d_array = True
        return tags

    # -- validation ----------------------------------------------------------------
    def _check_params(self):
        if not (isinstance(self.mixup_alpha, str) and self.mixup_alpha == "auto"):
            check_in_range(self.mixup_alpha, "mixup_alpha", low=0)
        if self.mixup_mode not in MIXUP_MODES:
            raise ValueError(
                f"mixup_mode must be one of {MIXUP_MODES}, got {self.mixup_mode!r}.")
        check_in_range(self.mixup_prob, "mixup_prob", low=0, high=1)
        if not (isinstance(self.min_steps, str) and self.min_steps == "auto"):
            check_in_range(self.min_steps, "min_steps", low=0, integer=True)
        check_in_range(self.max_epochs, "max_epochs", low=0, integer=True)
        if self.batch_size != -1:
            check_in_range(self.batch_size, "batch_size", low=1, integer=True)
        if (self.semi_supervised is not None
                and self.semi_supervised not in SEMI_SUPERVISED_METHODS):
            raise ValueError(
                f"semi_supervised must be one of {SEMI_SUPERVISED_METHODS} or None,"
                f" got {self.semi_supervised!r}.")
        check_in_range(self.unlabeled_weight, "unlabeled_weight", low=0)
        check_in_range(self.unlabeled_rampup, "unlabeled_rampup", low=0, high=1)
        check_in_range(self.sharpen_temperature, "sharpen_temperature", low=0,
                       high=1, low_inclusive=False)
        check_in_range(self.n_augmentations, "n_augmentations", low=1, integer=True)
        _check_alignment(self.distribution_alignment)
        if self.augment is not None and self.augment not in ("auto", *AUGMENTATIONS):
            raise ValueError(
                f"augment must be 'auto', one of {AUGMENTATIONS} or None, got "
                f"{self.augment!r}.")
        if not isinstance(self.deterministic, (bool, np.bool_)):
            raise TypeError(
                f"deterministic must be True or False, got {self.deterministic!r}.")
        check_random_state(self.random_state)

    def __sklearn_is_fitted__(self):
        # scikit-learn's check_is_fitted asks this first; skorch < 1.4 lacks it
        return self._is_fitted()

    def _is_fitted(self):
        return bool(self.initialized_) and "classes_" in self.__dict__

    def _validate_fit_data(self, X, y, *, reset, classes=None, X_unlabeled=None):
        """Validated (X, codes, unlabeled rows or None); sets the fitted attributes.

        Rows of y equal to -1 (scikit-learn's semi-supervised convention) are
        moved, in order, in front of ``X_unlabeled``: both routes give the same
        unlabeled set and so the same model.
        """
        if is_dataset(X):
            X, y = self._validate_fit_dataset(X, y, reset=reset)
            unlabeled = self._validate_unlabeled(X_unlabeled)
            self._resolve_training(images=self.input_shape_ is not None
                                   and len(self.input_shape_) == 3,
                                   n_unlabeled=_n_rows(unlabeled))
            return X, y, unlabeled
        if reset:
            declared = classes if classes is not None else self.classes
            known = None if declared is None else check_classes(declared)
        else:
            known = self.classes_
        # semi_supervised=None is a plain classifier: -1 is a label like any other
        mask = None if self.semi_supervised is None else _unlabeled_mask(y, known)
        if mask is not None and mask.any():
            if mask.all():
                raise ValueError(
                    "Every row of y is -1 (unlabeled): at least one labeled row "
                    "per class is needed to start from.")
        X = check_features(self, X, reset=reset)
        if self.mixup_mode == "cutmix" and X.ndim != 4:
            raise ValueError(
                "mixup_mode='cutmix' needs image input (n_samples, channels, height,"
                f" width) or (n_samples, height, width); got X of shape "
                f"{tuple(X.shape)}. Use mixup_mode='input' for tabular data.")
        unlabeled = self._validate_unlabeled(X_unlabeled)
        if mask is not None and mask.any():
            rows = np.flatnonzero(~mask)
            from_y = X[np.flatnonzero(mask)]
            unlabeled = from_y if unlabeled is None else _concat(from_y, unlabeled)
            X, y = X[rows], _label_array(y)[rows]
        codes, found = encode_labels(y, len(X), classes=known)
        if reset:
            self.classes_ = found
        self._resolve_training(images=X.ndim == 4, n_unlabeled=_n_rows(unlabeled))
        return X, codes, unlabeled

    def _validate_unlabeled(self, X_unlabeled):
        if X_unlabeled is None:
            return None
        if self.semi_supervised is None:
            raise ValueError(
                "X_unlabeled was given but semi_supervised=None; set "
                "semi_supervised='mixmatch' to train on unlabeled rows.")
        if is_dataset(X_unlabeled):
            raise TypeError(
                "X_unlabeled must be an array-like, np.memmap or torch tensor of "
                "samples shaped like X, not a torch Dataset.")
        if _n_rows(X_unlabeled) == 0:
            return None  # an exhausted pool: a supervised fit
        try:
            return check_features(self, X_unlabeled, reset=False)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"X_unlabeled: {exc}") from exc

    def _resolve_training(self, *, images, n_unlabeled):
        if self.augment in AUGMENTATIONS and self.augment != "noise" and not images:
            raise ValueError(
                f"augment={self.augment!r} needs image input; use augment='noise'"
                " or None for vector input.")
        semi = n_unlabeled > 0
        if self.mixup_alpha != "auto":
            self.mixup_alpha_ = float(self.mixup_alpha)
        elif semi:
            self.mixup_alpha_ = AUTO_ALPHA_SEMI_SUPERVISED
        else:
            self.mixup_alpha_ = AUTO_ALPHA_IMAGES if images else AUTO_ALPHA_VECTORS
        if self.augment == "auto":
            self.augment_ = "shift" if semi and images else None
        else:
            self.augment_ = self.augment
        if isinstance(self.min_steps, str):
            self.min_steps_ = AUTO_MIN_STEPS_SEMI_SUPERVISED if semi else AUTO_MIN_STEPS
        else:
            self.min_steps_ = int(self.min_steps)
        self.n_unlabeled_ = n_unlabeled

    def _validate_fit_dataset(self, X, y, *, reset):
        # a torch Dataset cannot be inspected without reading it; labels inside
        # it must already be codes 0..n_classes-1 of the declared classes
        if reset:
            if self.classes is None:
                raise ValueError(
                    "Fitting on a torch Dataset needs `classes` (the list of class "
                    "labels); the dataset's targets must be their positions "
                    "0..n_classes-1.")
            self.classes_ = check_classes(self.classes)
            sample = X[0][0] if isinstance(X[0], (tuple, list)) else X[0]
            if isinstance(sample, (torch.Tensor, np.ndarray, numbers.Number)):
                shape = tuple(torch.as_tensor(sample).shape)
                # (H, W) samples are single-channel images, as for arrays
                self.input_shape_ = shape if len(shape) != 2 else (1, *shape)
                self.n_features_in_ = self.input_shape_[0]
            else:
                # dict or multi-input samples: only a user module knows them
                if self.module is None:
                    raise ValueError(
                        "module=None builds a network from array samples; this "
                        f"Dataset yields {type(sample).__name__} samples. Pass "
                        "your own `module`.")
                self.input_shape_ = None
        return X, y

    def _validate_predict_data(self, X):
        if not self._is_fitted():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit'"
                " with appropriate arguments before using this estimator.")
        if is_dataset(X):
            return X
        return check_features(self, X, reset=False)

    # -- fitting ---------------------------------------------------------------------
    @contextmanager
    def _training_context(self, unlabeled):
        """The fit's own random generators, and torch's global one forked.

        With an int ``random_state`` every draw of the fit comes from
        generators made here: a NumPy ``Generator`` for scalars (lambda, the
        CutMix box, unlabeled rows), a CPU torch ``Generator`` for the batch
        order and one torch ``Generator`` per device for tensor draws (mixing
        partners, augmentation, dropout of the default networks). Fits in
        threads therefore never share a stream. torch's global generator is
        also seeded, and restored afterwards, for modules that draw from it (a
        user module's ``nn.Dropout``); only the CPU and the training GPU are
        seeded, and exactly those are restored.
        """
        seeds = None
        if self.random_state is not None:
            entropy = seed_from(self.random_state)
            seeds = np.random.SeedSequence(entropy).generate_state(4)
        self._seeds = seeds
        self._generators = {}
        self._rng = None if seeds is None else np.random.default_rng(int(seeds[0]))
        self._lambda_sampler = None
        self._unlabeled_sampler = None
        self._aligner = None
        devices = []
        device = torch.device(self.device or "cpu")
        if device.type == "cuda" and torch.cuda.is_available():
            devices = [device.index if device.index is not None
                       else torch.cuda.current_device()]
        flags = _deterministic_flags(self.deterministic)
        try:
            with _global_rng_seeded(None if seeds is None else int(seeds[1]), devices):
                with flags:
                    yield
        finally:
            self._release_training_state()

    def _release_training_state(self):
        for sub in self.__dict__.get("module_", torch.nn.Module()).modules():
            if isinstance(sub, SeededDropout):
                sub.generator = None  # generators do not pickle, and MC dropout
                # after fit must follow the caller's seeding
        for name in ("_rng", "_generators", "_seeds", "_lambda_sampler",
                     "_unlabeled_sampler", "_aligner"):
            self.__dict__.pop(name, None)

    def _random(self):
        """The fit's NumPy generator (from torch's global one without a seed)."""
        if self._rng is None:
            # random_state=None: torch.manual_seed still makes the fit repeatable
            self._rng = np.random.default_rng(int(torch.randint(2**62, ()).item()))
        return self._rng

    def _generator(self, device):
        """The fit's torch generator on ``device`` (None: torch's global one)."""
        if self._seeds is None:
            return None
        device = torch.device(device)
        key = str(device)
        if key not in self._generators:
            if device.type == "cuda" and device.index is None:
                device = torch.device("cuda", torch.cuda.current_device())
            self._generators[key] = torch.Generator(device=device).manual_seed(
                int(self._seeds[2]))
        return self._generators[key]

    def _initialize_for_fit(self):
        """``initialize()``, with its weight draws seeded and serialised."""
        if self._seeds is None:
            self.initialize()
            return
        with _INIT_LOCK:
            state = torch.get_rng_state()
            torch.default_generator.manual_seed(int(self._seeds[3]))
            try:
                self.initialize()
            finally:
                torch.set_rng_state(state)

    def _prepare_training(self, unlabeled, codes):
        """Samplers and dropout generators for the steps to come."""
        if self.mixup_alpha_ > 0:
            self._lambda_sampler = _BetaSampler(self.mixup_alpha_, self._random())
        if unlabeled is not None:
            if not _takes_soft_targets(self.criterion_):
                raise ValueError(
                    "Training on unlabeled rows (MixMatch) needs the default "
                    "criterion, torch.nn.CrossEntropyLoss without class weights, "
                    f"and a module returning logits; got {self.criterion_!r}.")
            batch_size = self.batch_size if self.batch_size != -1 else 64
            self._unlabeled_sampler = UnlabeledSampler(
                unlabeled, batch_size, self._random(), self.device or "cpu")
            self._ssl_step = 0
            self._aligner = self._make_aligner(codes)
        if self._seeds is not None:
            for sub in self.module_.modules():
                if isinstance(sub, SeededDropout):
                    param = next(self.module_.parameters(), None)
                    where = param.device if param is not None else "cpu"
                    sub.generator = self._generator(where)

    def _make_aligner(self, codes):
        setting = self.distribution_alignment
        if setting is None:
            return None
        if isinstance(setting, str) and setting == "labeled" and codes is None:
            raise ValueError(
                "distribution_alignment='labeled' needs the labels, which a torch "
                "Dataset does not show before training; pass 'uniform' or the "
                "class proportions.")
        prior = class_prior(setting, codes, len(self.classes_))
        param = next(self.module_.parameters(), None)
        device = param.device if param is not None else torch.device(
            self.device or "cpu")
        return DistributionAlignment(
            torch.as_tensor(prior, dtype=torch.float32, device=device))

    def _train(self, X, y, unlabeled, fit_params, *, initialize, routing):
        with self._training_context(unlabeled):
            if initialize:
                self._initialize_for_fit()
            self._prepare_training(
                unlabeled, None if is_dataset(X) else as_numpy(y))
            if routing and _SKORCH_ROUTES:
                fit_params = dict(fit_params, _routing_method="fit")
            # NeuralNet.partial_fit, not ours: the data is validated already
            NeuralNetClassifier.partial_fit(self, X, y, **fit_params)

    def fit(self, X, y, X_unlabeled=None, **fit_params):
        """Initialise (unless ``warm_start``) and train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or image-shaped
            NumPy array, ``np.memmap``, torch tensor, sparse matrix or torch
            ``Dataset``. float64 is accepted and cast to float32 (a copy).
        y : array-like of shape (n_samples,)
            Class labels (ints, strings, ...); -1 marks an unlabeled row
            (with string labels: dtype object and the integer -1), used as
            set by ``semi_supervised``. Ignored for a ``Dataset`` X, whose own
            targets are used.
        X_unlabeled : array-like, np.memmap or tensor, or None, default=None
            Unlabeled samples shaped like X (e.g. an active-learning pool).
            Each step reads one batch of them, so the cost does not grow with
            their number; a memmap is read batch by batch. Equivalent to
            appending them to X with label -1.
        **fit_params
            Passed to the module's ``forward``.

        Returns
        -------
        self : MixupNetClassifier
        """
        self._check_params()
        warm = bool(self.warm_start) and self._is_fitted()
        X, y, unlabeled = self._validate_fit_data(
            X, y, reset=not warm, X_unlabeled=X_unlabeled)
        self._train(X, y, unlabeled, fit_params, initialize=not warm, routing=True)
        return self

    def partial_fit(self, X, y, classes=None, X_unlabeled=None, **fit_params):
        """Continue training on (X, y) without re-initialising.

        Runs ``max_epochs`` epochs, more when needed to take ``min_steps``
        optimizer steps.

        Parameters
        ----------
        X, y, X_unlabeled
            As in :meth:`fit`.
        classes : array-like or None, default=None
            All class labels; only read on the first call (as in scikit-learn).
        **fit_params
            Passed to the module's ``forward``.

        Returns
        -------
        self : MixupNetClassifier
        """
        self._check_params()
        first = not self._is_fitted()
        X, y, unlabeled = self._validate_fit_data(
            X, y, reset=first, classes=classes, X_unlabeled=X_unlabeled)
        self._train(X, y, unlabeled, fit_params, initialize=first, routing=False)
        return self

    def initialize_module(self):
        """Build the network: the default one, a fresh copy, or skorch's way."""
        kwargs = self.get_params_for("module")
        if self.module is None:
            if "classes_" not in self.__dict__ or not hasattr(self, "input_shape_"):
                raise NotFittedError(
                    "module=None builds the network from the data: call fit (or "
                    "pass a module) before initialize().")
            self.module_ = default_module(self.input_shape_, len(self.classes_),
                                          **kwargs)
            if (isinstance(self.module_, SmallCNN)
                    and torch.device(self.device or "cpu").type == "cpu"):
                # oneDNN follows the weights' layout: channels-last weights make
                # every activation channels-last, where max-pooling is 8x faster
                # on the CPU (a 28x28 CNN step: 1.7x faster in all). Not on
                # CUDA, where the default layout's determinism is what is tested.
                self.module_.to(memory_format=torch.channels_last)
        elif isinstance(self.module, torch.nn.Module) and not kwargs:
            self.module_ = _fresh_copy(self.module)
        else:
            super().initialize_module()
        return self

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's loop, with enough epochs to take ``min_steps`` steps.

        Steps are counted on the training part (after ``train_split``);
        ``max_epochs=0`` trains nothing.
        """
        batch_size = self.get_params_for("iterator_train").get(
            "batch_size", self.batch_size)
        n_train = len(X) if is_dataset(X) else get_len(X)
        min_steps = self.__dict__.get("min_steps_", 0)
        if self.train_split is not None and min_steps and self.max_epochs:
            # split once: skorch's loop asks for the split again, and a random
            # split drawn twice would count steps on one and train on another
            split = self.get_split_datasets(X, y)
            self.__dict__["_split_cache"] = (X, y, split)
            n_train = len(split[0])
        steps_per_epoch = 1 if batch_size == -1 else math.ceil(n_train / batch_size)
        if epochs is None:
            epochs = self.max_epochs
            if epochs and min_steps and steps_per_epoch:
                epochs = max(epochs, math.ceil(min_steps / steps_per_epoch))
        self._total_steps = epochs * steps_per_epoch
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        finally:
            self.__dict__.pop("_split_cache", None)

    def get_split_datasets(self, X, y=None, **fit_params):
        """skorch's split, reusing the one ``fit_loop`` drew to count steps."""
        cached = self.__dict__.pop("_split_cache", None)
        if (cached is not None and cached[0] is X and cached[1] is y
                and not fit_params):
            return cached[2]
        return super().get_split_datasets(X, y, **fit_params)

    def get_iterator(self, dataset, training=False):
        """TensorLoader gets the device and shuffles training batches by default.

        Training iterators (a ``DataLoader`` too) draw their order from the
        fit's own generator when ``random_state`` is an int.
        """
        prefix = "iterator_train" if training else "iterator_valid"
        iterator = getattr(self, prefix)
        generator = (self._generator("cpu")
                     if training and "_seeds" in self.__dict__ else None)
        if not (isinstance(iterator, type) and issubclass(iterator, TensorLoader)):
            if generator is not None and iterator is DataLoader:
                kwargs = self.get_params_for(prefix)
                kwargs.setdefault("batch_size", self.batch_size)
                if kwargs["batch_size"] == -1:
                    kwargs["batch_size"] = len(dataset)
                kwargs.setdefault("generator", generator)
                return DataLoader(dataset, **kwargs)
            return super().get_iterator(dataset, training=training)
        kwargs = self.get_params_for(prefix)
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        kwargs.setdefault("shuffle", training)
        if getattr(self, "accelerator", None) is not None:
            # accelerate shards DataLoaders across processes; a tensor iterator
            # would hand every process the whole data set
            kwargs.pop("device", None)
            if generator is not None:
                kwargs.setdefault("generator", generator)
            return DataLoader(dataset, **kwargs)
        kwargs.setdefault("device", self.device)
        if generator is not None:
            kwargs.setdefault("generator", generator)
        return iterator(dataset, **kwargs)

    def _guess(self, inputs):
        # Guess in evaluation mode: dropout noise in the targets made MixMatch
        # collapse on MNIST (0.29 accuracy with the default CNN's dropout,
        # benchmarks/semi_supervised.py); batch norm uses its running stats.
        module = self.module_
        module.eval()
        try:
            logits = self.infer(inputs)
        finally:
            module.train()
        logits = logits[0] if isinstance(logits, tuple) else logits
        return torch.softmax(logits, dim=1)

    def train_step(self, batch, **fit_params):
        """Augment and mix the batch on the device, then run skorch's step.

        Supervised: Mixup (or CutMix) of the batch. With unlabeled rows: a
        MixMatch batch, labeled rows first (:mod:`skmixal.semi_supervised`).
        Mixing here, before ``train_step_single``, is what lets mixins such as
        skorch's ``AccelerateMixin`` (which replaces ``train_step_single``)
        train on mixed batches too.
        """
        sampler = getattr(self, "_lambda_sampler", None)
        unlabeled = getattr(self, "_unlabeled_sampler", None)
        augment = getattr(self, "augment_", None)
        if sampler is None and unlabeled is None and augment is None:
            return super().train_step(batch, **fit_params)
        Xi, yi = unpack_data(batch)
        if not (isinstance(Xi, torch.Tensor) and isinstance(yi, torch.Tensor)):
            raise TypeError(
                "Mixup, augmentation and unlabeled rows need tensor batches (X, y);"
                f" this iterator yields {type(Xi).__name__} inputs. Set "
                "mixup_alpha=0 and augment=None for dict or multi-input data.")
        if self.device is not None:
            Xi, yi = Xi.to(self.device), yi.to(self.device)
        generator = self._generator(Xi.device)
        if unlabeled is not None:
            if self.mixup_prob < 1.0 and self._random().random() >= self.mixup_prob:
                sampler = None
            u = unlabeled().to(Xi.device)
            rampup = self.unlabeled_rampup * self._total_steps
            weight = self.unlabeled_weight * linear_rampup(self._ssl_step, rampup)
            self._ssl_step += 1
            inputs, soft = mixmatch_batch(
                Xi, yi, u, n_classes=len(self.classes_), guess=self._guess,
                n_views=self.n_augmentations, temperature=self.sharpen_temperature,
                sampler=sampler, augment=augment, align=self._aligner,
                mode=self.mixup_mode, rng=self._random(), generator=generator)
            batch = (inputs, SemiSupervisedTarget(soft, len(Xi), weight))
        else:
            if augment is not None:
                Xi = augment_batch(Xi, augment, generator)
            batch = (Xi, yi)
            if sampler is not None:
                batch = mix_batch(Xi, yi, sampler=sampler, mode=self.mixup_mode,
                                  prob=self.mixup_prob, rng=self._random(),
                                  generator=generator)
        return super().train_step(batch, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Criterion loss; for a mixed batch, the lambda-weighted pair of losses;
        for a MixMatch batch, ``L_x + w * L_u``."""
        if isinstance(y_true, SemiSupervisedTarget):
            return mixmatch_loss(y_pred, y_true)
        if isinstance(y_true, MixedTarget):
            if _takes_soft_targets(self.criterion_):
                # one call on soft targets: the same value, half the autograd work
                target = soft_targets(y_true, y_pred.shape[-1], y_pred.dtype)
                return super().get_loss(y_pred, target, X=X, training=training)
            loss_a = super().get_loss(y_pred, y_true.y_a, X=X, training=training)
            loss_b = super().get_loss(y_pred, y_true.y_b, X=X, training=training)
            return y_true.lam * loss_a + (1.0 - y_true.lam) * loss_b
        return super().get_loss(y_pred, y_true, X=X, training=training)

    # -- prediction ----------------------------------------------------------------
    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._validate_predict_data(X)
        return super().predict_proba(X)

    def predict(self, X):
        """Predicted class labels (values from ``classes_``).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def embed(self, X):
        """Embeddings: the input of the network's last linear layer.

        Computed batch by batch in evaluation mode; only the (n_samples,
        embedding_dim) result is kept in memory.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        embeddings : ndarray of shape (n_samples, embedding_dim), float32
        """
        X = self._validate_predict_data(X)
        chunks = [to_numpy(emb) for _, emb in self.iter_outputs(X, embeddings=True)]
        return np.concatenate(chunks, axis=0)

    def iter_outputs(self, X, *, embeddings=False, mc_dropout=False, batch_size=None):
        """Yield network outputs batch by batch, on the device, without grad.

        The building block of the query strategies: they reduce each batch to
        scores before the next one is computed.

        Parameters
        ----------
        X : array-like or torch Dataset
            Already-validated input (see ``_validate_predict_data``).
        embeddings : bool, default=False
            Also yield the input of the last linear layer.
        mc_dropout : bool, default=False
            Keep dropout layers stochastic (MC dropout) while everything else
            (e.g. batch norm) stays in evaluation mode.
        batch_size : int or None, default=None
            Rows per batch; defaults to ``skmixal.iterators.inference_rows(X)``:
            4,096 rows, fewer for wide samples.

        Yields
        ------
        proba : torch.Tensor of shape (batch, n_classes)
            Class probabilities (the module's output after the estimator's
            ``predict_nonlinearity``).
        embeddings : torch.Tensor of shape (batch, dim), only if requested
        """
        self.check_is_fitted()
        dataset = self.get_dataset(X)
        size = batch_size or inference_rows(X)
        loader = TensorLoader(dataset, batch_size=size, shuffle=False,
                              device=self.device)
        module = self.module_
        nonlin = self._get_predict_nonlinearity()
        captured = []
        handle = None
        if embeddings:
            handle = last_linear(module).register_forward_pre_hook(
                lambda _, args: captured.append(args[0]))
        was_training = module.training
        module.eval()
        if mc_dropout:
            for sub in module.modules():
                if isinstance(sub, torch.nn.modules.dropout._DropoutNd):
                    sub.train()
        try:
            with torch.no_grad():
                for batch in loader:
                    Xi, _ = unpack_data(batch)
                    logits = self.infer(Xi)
                    logits = logits[0] if isinstance(logits, tuple) else logits
                    proba = nonlin(logits)
                    if embeddings:
                        emb = captured[-1]
                        captured.clear()
                        yield proba, emb
                    else:
                        yield proba
        finally:
            if handle is not None:
                handle.remove()
            module.train(was_training)
