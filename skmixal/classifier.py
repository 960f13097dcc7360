"""MixupNetClassifier: a skorch classifier that trains with Mixup.

The estimator's face: parameters, input validation, fit and predict. How a
training step is built lives in :mod:`skmixal.training` (one module per method),
where a fit's randomness comes from in :mod:`skmixal._reproducibility`, how
batches travel in :mod:`skmixal.iterators` and how a network is run without
training in :mod:`skmixal.inference`.
"""

import copy
import math
import re
import warnings

import numpy as np
import skorch
import torch
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring
from skorch.dataset import get_len, unpack_data
from skorch.utils import is_dataset, multi_indexing, to_numpy
from torch.utils.data import Subset

from skmixal import inference
from skmixal._fit_data import validate_fit_data
from skmixal._labels import n_rows
from skmixal._params import check_params
from skmixal._reproducibility import FitRandomness, seed_dropout
from skmixal._validation import as_numpy, check_features
from skmixal.augment import AUGMENTATIONS
from skmixal.exceptions import SemiSupervisedCollapseWarning, TrainingDivergedError
from skmixal.iterators import (
    TensorLoader,
    UnlabeledSampler,
    make_iterator,
    unwrap_dataset,
)
from skmixal.modules import SmallCNN, default_module
from skmixal.semi_supervised import prior_rows
from skmixal.training import FitContext, loss_reader, method_class, resolve_method
from skmixal.training.guard import fit_report

__all__ = ["MixupNetClassifier"]

DEFAULT_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


# skorch 1.4 threads `_routing_method` from fit into partial_fit; 1.0-1.3
# pass every fit parameter on to the module's forward, so it must not be sent.
def _major_minor(version):
    # the leading digits only: "1.4rc1" and "1.4.0.dev0" are (1, 4)
    return tuple(int(part) for part in re.match(r"(\d+)\.(\d+)", version).groups())


_SKORCH_ROUTES = _major_minor(skorch.__version__) >= (1, 4)

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


# min_steps='auto' of a fit that continues from the last one (warm_start=True):
# this share of a cold fit's steps (benchmarks/warm_rounds.py)
WARM_SHARE = 0.25
# the parameters that 'auto' resolves per fit, and how an explicit value is read
_RESOLVED = {"mixup_alpha": float, "augment": lambda value: value, "min_steps": int,
             "unlabeled_weight": float, "unlabeled_rampup": float,
             "unlabeled_ratio": int}


def _float32(output):
    # autocast's bfloat16 results back to float32; integer outputs stay as they are
    if torch.is_tensor(output) and output.is_floating_point():
        return output.float()
    return output


def _dataset_codes(dataset):
    """The class codes of a (Subset of a) skorch Dataset of arrays, or None."""
    unwrapped = unwrap_dataset(dataset)
    if unwrapped is None or unwrapped[0].y is None:
        return None
    base, indices = unwrapped
    codes = as_numpy(base.y)
    return codes if indices is None else codes[indices]


def _parameter_device(module, fallback):
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device(fallback or "cpu")


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
        loses up to 4 points. With unlabeled rows, ``'auto'`` is MixMatch's
        0.75, and 0 under FixMatch (which does not mix). The value used is
        ``mixup_alpha_``.
    mixup_mode : {'input', 'cutmix'}, default='input'
        ``'input'`` interpolates whole inputs; ``'cutmix'`` pastes a box from
        another image (image input only).
    mixup_prob : float, default=1.0
        Probability that a mini-batch is mixed.
    min_steps : int or 'auto', default='auto'
        Minimum number of optimizer steps per fit: with few labels an epoch is
        one or two steps, so the number of epochs grows until this many steps
        are taken. This lets one setting serve 10 to 10,000 labels. ``'auto'``
        is 1,000 for a supervised fit, 2,000 for MixMatch and 1,000 for
        FixMatch; a fit that continues the last one (``warm_start=True`` on a
        fitted model) takes a quarter of that (the value used is
        ``min_steps_``). Measured on MNIST with 100 labels, the default CNN
        gains 2 to 5 points from 300 to 1,000 supervised steps; MixMatch on
        digits with 50 labels reached 0.92 after 1,000 steps and 0.97 after
        2,000 (benchmarks/semi_supervised.py).
    semi_supervised : {'auto', 'mixmatch', 'fixmatch'} or None, default='auto'
        How the unlabeled rows of ``fit(..., X_unlabeled=U)`` are used. It only
        acts when a fit is given unlabeled rows; without them training is
        exactly the supervised fit. ``'auto'``: FixMatch for colour images (3
        or more channels), MixMatch otherwise (the method used is
        ``semi_supervised_``). ``'mixmatch'``: MixMatch (Berthelot et
        al., 2019), Mixup across labeled and unlabeled rows with sharpened,
        distribution-aligned guesses averaged over ``n_augmentations`` views.
        ``'fixmatch'``: FixMatch (Sohn et al., 2020), hard pseudo-labels of a
        weak view where the network is at least ``confidence_threshold``
        sure, learned on a strong view (batched RandAugment + Cutout on the
        device, :mod:`skmixal.randaugment`). ``None``: a plain classifier, for
        which ``X_unlabeled`` is an error. Measured by the worst seed,
        MixMatch is the stronger on digits and MNIST with 2 to 10 labels a
        class, FixMatch the safer on the CIFAR-10 subset with the default
        network (README, "Choosing the method"); hence ``'auto'``. On a
        pretrained backbone's features (vectors) pass ``'fixmatch'``.
    unlabeled_weight : float or 'auto', default='auto'
        Weight ``lambda_u`` of the unlabeled loss: 'auto' is MixMatch's 75
        (squared error averaged over classes, as in the paper) and FixMatch's
        1 (cross-entropy); the value used is ``unlabeled_weight_``.
    unlabeled_rampup : float or 'auto', default='auto'
        Share of the fit's steps over which that weight rises linearly from 0:
        'auto' is 1.0 for MixMatch (the whole fit; the paper's 16,000 of
        1,000,000 steps is far from a fit of a few thousand) and 0 for
        FixMatch, whose threshold does that job.
    unlabeled_ratio : int or 'auto', default='auto'
        Unlabeled rows per labeled row in a step (FixMatch's ``mu``), 1 to
        64: 'auto' is 1 for MixMatch (which trains on K views of each) and 2
        for FixMatch.
    confidence_threshold : float, default=0.95
        FixMatch: the top probability a pseudo-label needs, in (0, 1].
    sharpen_temperature : float, default=0.5
        MixMatch: temperature ``T`` that sharpens the guessed labels
        (``0 < T <= 1``).
    n_augmentations : int, default=4
        MixMatch: augmented views ``K`` of each unlabeled sample whose
        predictions are averaged into its guessed label; each step trains on
        ``K`` views of a ``batch_size`` batch of the pool. Measured on digits
        with 50 labels (5 seeds), K=4 held 0.96-0.97 on the seeds where one or
        two labels of a class made K=2 fall to 0.91; it costs 1.6x the time
        of K=2 a step.
    distribution_alignment : {'uniform', 'labeled'}, array-like or None, \
            default='uniform'
        Scale the guessed labels (both methods) so that their average over
        the last 128 steps matches a class prior before sharpening or
        thresholding (ReMixMatch's distribution alignment, its window started
        uniform as in its code): ``'uniform'``; ``'labeled'``, the labeled rows'
        class frequencies plus one pseudo-count each; or your own class
        proportions, in the order of ``classes_``; ``None`` is MixMatch as
        published. A class of ``classes`` without a labeled row gets no share
        of any of these priors (nor a pseudo-count): nothing ties it to any
        images of the pool, and aligning guesses towards it handed it other
        classes' images (digits, 25 random labels missing a class, 10 seeds:
        worst seed 0.319 with a share, 0.744 without;
        benchmarks/FINDINGS.md). Measured on digits (50
        random labels, 5 seeds), alignment stopped the collapse of classes
        that had one or two labels. 'uniform'
        is right for balanced classes; when you know the classes are
        imbalanced, pass their proportions. With ``'uniform'`` or
        proportions, MixMatch also repeats the labeled rows of the rarer
        classes until the class counts follow the prior (``prior_rows`` in
        :mod:`skmixal.semi_supervised`): labels a query strategy chose are
        often far from balanced, and MixMatch then merged a rare class into a
        neighbour (digits, margin sampling: 0.69-0.89 against 0.965-0.994
        with the rows repeated). Labels already in proportion train as given.
        FixMatch trains on its labels as given: with them repeated it did no
        better on CIFAR-10 (benchmarks/FINDINGS.md).
    unlabeled_label : int, str or None, default=None
        None: every value of ``y`` is a class (``-1`` included), and unlabeled
        rows come only through ``X_unlabeled``. A value (``-1`` for
        scikit-learn's convention): rows of ``y`` equal to it are unlabeled,
        as for ``sklearn.semi_supervised`` estimators.
    collapse_guard : {'refit', 'warn'} or None, default='refit'
        After a semi-supervised fit, look for collapse: the predictions on the
        last 100 steps' unlabeled batches cover fewer than half as many
        effective classes (the exponential of the entropy of their counts) as
        the labels, or the network fits under 80 % of its own labeled rows
        (class-balanced). ``'refit'``: warn
        (:class:`~skmixal.SemiSupervisedCollapseWarning`) and refit
        the supervised model on the labeled rows; ``'warn'``: warn and keep
        the model; None: neither (``fit_report_`` still says what the check
        saw). ``fit_report_`` says what happened.
    augment : {'auto', 'shift', 'shift+flip', 'crop+flip', 'noise'} or None, \
            default='auto'
        Batched, seeded augmentation on the device (:mod:`skmixal.augment`),
        the weak view of a semi-supervised fit. ``'auto'``: when the fit has
        unlabeled image rows, ``'crop+flip'`` for 3-channel images (shift by
        up to 1/8 of the side with reflected borders, and horizontal flips)
        and ``'shift'`` for other images (up to 1/14 of the side, black
        borders: flips are wrong for digits and characters); otherwise none.
        An explicit value also augments supervised fits. ``'noise'``
        (Gaussian, for vectors) is never chosen automatically. Vector rows are
        not augmented: MixMatch is then Mixup with guessed labels. Measured on
        digits as 64 features (MLP, 50 labels, 3 seeds): supervised 0.814, no
        augmentation 0.932, 'noise' 0.924.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout, mixing, augmentation
        and unlabeled sampling for each fit, through the fit's own generators:
        the same int gives bit-identical predictions on the same device with
        the same torch thread count, also for fits running in threads (default
        networks; give your own modules :class:`~skmixal.modules.SeededDropout`
        for that). ``None`` draws from torch's global generator.
    deterministic : bool, default=False
        Run the fit with ``torch.use_deterministic_algorithms(True)`` and
        deterministic cuDNN, restored afterwards. Every fit on CUDA runs with
        deterministic cuDNN (and without its autotuning), which makes the
        default networks bit-identical without this; a user module with an op
        whose CUDA backward is not (adaptive pooling, scatter, interpolate)
        needs it for bit-identical results. Slower on GPU; no effect on CPU
        results.
    precision : {'float32', 'bfloat16'}, default='float32'
        How the network computes, in training and prediction alike.
        ``'bfloat16'`` runs every forward pass under ``torch.autocast`` in
        bfloat16 (the weights, the optimizer and the losses stay float32;
        outputs and embeddings are returned as float32). It pays on CPUs with
        bfloat16 units (AVX512-BF16 or AMX): measured on 2 threads of such a
        CPU (``benchmarks/results/precision.txt``), MixMatch on MNIST with 100
        random labels took 0.6x the time of float32 at the same accuracy
        (3 seeds), and with 2 labels a class its worst of 5 seeds was 0.962
        against 0.940 (digits: 0.954 against 0.952). With oneDNN limited to
        AVX2 on the same CPU a step took 7 to 9 times as long, hence the
        float32 default (bfloat16 results also differ from float32 ones).
        skorch's ``AccelerateMixin`` with ``mixed_precision='bf16'`` ran as
        fast; this needs no subclass and clones, pickles and reaches the
        command line (``--precision``).
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
    unlabeled_weight_, unlabeled_rampup_ : float
        The unlabeled loss's weight and ramp-up of the last fit (resolved).
    unlabeled_ratio_ : int
        Unlabeled rows per labeled row of the last fit (resolved).
    semi_supervised_ : {'mixmatch', 'fixmatch'} or None
        The method ``semi_supervised`` named for the last fit's input (used
        only when it had unlabeled rows).
    n_unlabeled_ : int
        Number of unlabeled rows the last fit trained on (0: supervised).
    fit_report_ : dict
        What the last fit did: ``method`` ('supervised', 'mixmatch' or
        'fixmatch'), ``n_unlabeled``, ``collapsed`` (bool), ``reason`` and
        ``action`` (None, 'warned' or 'refit supervised'); where the guard
        looked, also ``pool_classes`` and ``label_classes`` (effective classes
        of the pool's predictions and of the labels) and ``labeled_accuracy``
        (class-balanced, on up to 4,096 labeled rows, the validation part of a
        ``train_split`` included). A supervised fit on array-like data also
        has ``labeled_accuracy`` and ``learned``: False (with a
        ``ConvergenceWarning``, ``reason`` and ``action`` 'warned') when it
        fits less than a quarter of the way from chance to every label, as a
        too large ``lr`` leaves it (:mod:`skmixal.training.guard`); after a
        collapse, ``learned`` is the supervised refit's, whose failure is
        added to ``reason``.
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
    Approach to Semi-Supervised Learning", NeurIPS 2019. Sohn et al.
    "FixMatch: Simplifying Semi-Supervised Learning with Consistency and
    Confidence", NeurIPS 2020. Berthelot et al. "ReMixMatch", ICLR 2020.

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
        semi_supervised="auto",
        unlabeled_weight="auto",
        unlabeled_rampup="auto",
        unlabeled_ratio="auto",
        confidence_threshold=0.95,
        sharpen_temperature=0.5,
        n_augmentations=4,
        distribution_alignment="uniform",
        unlabeled_label=None,
        collapse_guard="refit",
        augment="auto",
        random_state=None,
        deterministic=False,
        precision="float32",
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
        self.unlabeled_ratio = unlabeled_ratio
        self.confidence_threshold = confidence_threshold
        self.sharpen_temperature = sharpen_temperature
        self.n_augmentations = n_augmentations
        self.distribution_alignment = distribution_alignment
        self.unlabeled_label = unlabeled_label
        self.collapse_guard = collapse_guard
        self.augment = augment
        self.random_state = random_state
        self.deterministic = deterministic
        self.precision = precision
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
        # _params_to_validate or the training method must not become a parameter
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

    def __sklearn_is_fitted__(self):
        # scikit-learn's check_is_fitted asks this first; skorch < 1.4 lacks it
        return self._is_fitted()

    def _is_fitted(self):
        return bool(self.initialized_) and "classes_" in self.__dict__

    # -- validation ----------------------------------------------------------------
    def _check_params(self):
        check_params(self)

    def _validate_fit_data(self, X, y, *, reset, classes=None, X_unlabeled=None,
                           warm=False):
        """Validated (X, codes, unlabeled rows or None); sets the fitted attributes
        (:func:`skmixal._fit_data.validate_fit_data`) and resolves the fit's
        ``'auto'`` parameters."""
        X, y, unlabeled = validate_fit_data(self, X, y, reset=reset, classes=classes,
                                            X_unlabeled=X_unlabeled)
        self._resolve_training(n_unlabeled=n_rows(unlabeled), warm=warm)
        return X, y, unlabeled

    def _resolve_training(self, *, n_unlabeled, warm=False):
        """The ``'auto'`` parameters, resolved by the fit's training method
        (``mixup_alpha_``, ``augment_``, ``min_steps_``, ``unlabeled_*_``); a
        warm-started fit takes :data:`WARM_SHARE` of the method's steps."""
        shape = self.input_shape_ or ()
        if self.augment in AUGMENTATIONS and self.augment != "noise" and len(
                shape) != 3:
            raise ValueError(
                f"augment={self.augment!r} needs image input; use augment='noise'"
                " or None for vector input.")
        self.semi_supervised_ = resolve_method(self.semi_supervised, shape)
        auto = method_class(self.semi_supervised_, n_unlabeled).auto_settings(shape)
        for name, kind in _RESOLVED.items():
            value = getattr(self, name)
            setattr(self, f"{name}_", auto[name] if isinstance(value, str)
                    and value == "auto" else kind(value))
        if warm and self.min_steps == "auto":
            self.min_steps_ = math.ceil(WARM_SHARE * self.min_steps_)
        self.n_unlabeled_ = n_unlabeled

    def _validate_predict_data(self, X):
        if not self._is_fitted():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit'"
                " with appropriate arguments before using this estimator.")
        if is_dataset(X):
            return X
        return check_features(self, X, reset=False)

    # -- fitting ---------------------------------------------------------------------
    def _train(self, X, y, unlabeled, fit_params, *, initialize, routing):
        """Train under the fit's own generators (:mod:`skmixal._reproducibility`);
        return what :func:`~skmixal.training.guard.fit_report` read of the fit."""
        given = X, y
        randomness = self._randomness = FitRandomness(self.random_state)
        try:
            with randomness.forked(self.device, self.deterministic):
                if initialize:
                    randomness.initialize(self.initialize)
                codes = None if is_dataset(X) else as_numpy(y)
                self._method = self._training_method(randomness, unlabeled, codes)
                if (self._method.balances_labels and codes is not None
                        and self.train_split is None):
                    # with a train_split, the training part is repeated after
                    # the split (get_split_datasets): a copy of a training row
                    # must never land in the validation part
                    rows = self._repeated_rows(codes)
                    if rows is not None:
                        X, y = multi_indexing(X, rows), y[rows]
                seed_dropout(self.module_, randomness)
                if routing and _SKORCH_ROUTES:
                    fit_params = dict(fit_params, _routing_method="fit")
                # NeuralNet.partial_fit, not ours: the data is validated already
                NeuralNetClassifier.partial_fit(self, X, y, **fit_params)
                # _check_loss sees a step's loss, computed before its update: an
                # update that broke the weights on the last step would leave
                # predict answering class 0 for every row, silently
                bad = self._nonfinite_weights()
                if bad:
                    raise TrainingDivergedError(
                        "Training diverged in its last step: the network's weights "
                        f"are no longer finite ({bad[0]}). {self._divergence_hint()}")
                # read in the same context: its forward pass is under the fit's
                # determinism setting too
                return fit_report(self, self._method, *given)
        finally:
            seed_dropout(self.__dict__.get("module_"), None)
            for name in ("_randomness", "_method"):
                self.__dict__.pop(name, None)

    def _fit_guarded(self, X, y, unlabeled, fit_params, *, initialize, routing):
        """Train; if a semi-supervised fit collapsed, warn and (by default)
        refit the supervised model (:mod:`skmixal.training.guard`)."""
        report = self._train(X, y, unlabeled, fit_params, initialize=initialize,
                             routing=routing)
        if report["collapsed"] and self.collapse_guard is not None:
            action = ("the supervised model was refit on the labeled rows"
                      if self.collapse_guard == "refit" else "the model was kept")
            warnings.warn(
                f"The {report['method']} fit collapsed: {report['reason']}; "
                f"{action} (collapse_guard={self.collapse_guard!r}; see "
                "fit_report_).", SemiSupervisedCollapseWarning, stacklevel=3)
            if self.collapse_guard == "refit":
                self._resolve_training(n_unlabeled=0)
                refit = self._train(X, y, None, fit_params, initialize=True,
                                    routing=routing)
                report["action"] = "refit supervised"
                if "learned" in refit:
                    report["learned"] = refit["learned"]
                if refit.get("learned") is False:
                    report["reason"] += f"; the supervised refit: {refit['reason']}"
                    self._warn_not_learned("supervised refit", refit["reason"])
            else:
                report["action"] = "warned"
        elif report.get("learned") is False:
            self._warn_not_learned("supervised fit", report["reason"])
            report["action"] = "warned"
        self.fit_report_ = report

    def _warn_not_learned(self, what, reason):
        # as scikit-learn's MLPClassifier warns when it stops unconverged: the
        # model is still returned, and fit_report_ says so. The reason rides on
        # the warning, so the command line can give its own advice.
        warning = ConvergenceWarning(
            f"The {what} did not learn its labels: {reason}. Lower lr (now "
            f"{self.lr}) or train longer (min_steps, now {self.min_steps_}); see "
            "fit_report_.")
        warning.reason = reason
        # fit or partial_fit -> _fit_guarded -> here: the user's line
        warnings.warn(warning, stacklevel=4)

    def _training_method(self, randomness, unlabeled, codes):
        """The fit's :class:`~skmixal.training.TrainingMethod`."""
        context = FitContext(n_classes=len(self.classes_), randomness=randomness,
                             predict=self._predict_eval,
                             device=_parameter_device(self.module_, self.device))
        cls = method_class(self.semi_supervised_, n_rows(unlabeled))
        if not cls.uses_unlabeled:
            return cls.from_estimator(self, context, codes)
        if not _takes_soft_targets(self.criterion_):
            raise ValueError(
                "Training on unlabeled rows needs the default criterion, "
                "torch.nn.CrossEntropyLoss without class weights, and a module "
                f"returning logits; got {self.criterion_!r}.")
        method = cls.from_estimator(self, context, codes)
        batch_size = self.batch_size if self.batch_size != -1 else 64
        context.unlabeled = UnlabeledSampler(
            unlabeled, batch_size * self.unlabeled_ratio_, context.rng(),
            self.device or "cpu")
        return method

    def _predict_eval(self, inputs):
        # Guesses in evaluation mode: dropout noise in the targets made MixMatch
        # collapse on MNIST (0.29 accuracy with the default CNN's dropout,
        # benchmarks/semi_supervised.py); batch norm uses its running stats.
        with inference.evaluating(self.module_):
            logits = inference.logits_of(self, inputs)
        return torch.softmax(logits, dim=1)

    def fit(self, X, y, X_unlabeled=None, **fit_params):
        """Initialise (unless ``warm_start``) and train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or image-shaped
            NumPy array, ``np.memmap``, torch tensor, sparse matrix or torch
            ``Dataset``. float64 is accepted and cast to float32 (a copy).
        y : array-like of shape (n_samples,)
            Class labels (ints, strings, ...; -1 is a class like any other).
            With ``unlabeled_label`` set (e.g. -1), rows with that label are
            unlabeled. Ignored for a ``Dataset`` X, whose own targets are used.
        X_unlabeled : array-like, np.memmap or tensor, or None, default=None
            Unlabeled samples shaped like X (e.g. an active-learning pool),
            used as set by ``semi_supervised``. Each step reads one batch of
            them, so the cost does not grow with their number; a memmap is
            read batch by batch. Equivalent to appending them to X with the
            label ``unlabeled_label``.
        **fit_params
            Passed to the module's ``forward``.

        Returns
        -------
        self : MixupNetClassifier
        """
        self._check_params()
        warm = bool(self.warm_start) and self._is_fitted()
        X, y, unlabeled = self._validate_fit_data(
            X, y, reset=not warm, X_unlabeled=X_unlabeled, warm=warm)
        self._fit_guarded(X, y, unlabeled, fit_params, initialize=not warm,
                          routing=True)
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
        self._fit_guarded(X, y, unlabeled, fit_params, initialize=first,
                          routing=False)
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
        method = self.__dict__.get("_method")
        if method is not None:
            method.context.total_steps = epochs * steps_per_epoch
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
        dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        return self._balanced(dataset_train), dataset_valid

    def _balanced(self, dataset):
        """The training part with MixMatch's repeated rows (``prior_rows``),
        when a ``train_split`` made it; otherwise ``dataset`` itself."""
        method = self.__dict__.get("_method")
        if self.train_split is None or method is None or not method.balances_labels:
            return dataset
        codes = _dataset_codes(dataset)
        rows = None if codes is None else self._repeated_rows(codes)
        return dataset if rows is None else Subset(dataset, rows.tolist())

    def _repeated_rows(self, codes):
        # MixMatch's labeled rows repeated to the alignment prior (or None),
        # drawn from the fit's own generator
        return prior_rows(codes, self.distribution_alignment, len(self.classes_),
                          self._randomness.numpy())

    def get_iterator(self, dataset, training=False):
        """:func:`skmixal.iterators.make_iterator`: TensorLoader on the device,
        training batches shuffled by the fit's own generator."""
        iterator = make_iterator(self, dataset, training=training)
        return iterator if iterator is not None else super().get_iterator(
            dataset, training=training)

    def train_step(self, batch, **fit_params):
        """The training method's batch (augmented, mixed, with unlabeled rows),
        then skorch's step.

        Building it here, before ``train_step_single``, is what lets mixins
        such as skorch's ``AccelerateMixin`` (which replaces
        ``train_step_single``) train on mixed batches too.
        """
        method = self.__dict__.get("_method")
        if method is None or not method.active:
            if method is not None:
                method.context.step += 1
            return self._check_loss(super().train_step(batch, **fit_params))
        Xi, yi = unpack_data(batch)
        if not (isinstance(Xi, torch.Tensor) and isinstance(yi, torch.Tensor)):
            raise TypeError(
                "Mixup, augmentation and unlabeled rows need tensor batches (X, y);"
                f" this iterator yields {type(Xi).__name__} inputs. Set "
                "mixup_alpha=0 and augment=None for dict or multi-input data.")
        if self.device is not None:
            Xi, yi = Xi.to(self.device), yi.to(self.device)
        shape = self.__dict__.get("input_shape_")
        if shape is not None and len(shape) == 3 and Xi.dim() == 3:
            # a Dataset's (H, W) samples: the channel axis arrays get on
            # validation, which augmentation and the unlabeled rows expect
            Xi = Xi.unsqueeze(1)
        batch = method.batch(Xi, yi)
        method.context.step += 1
        step = self._check_loss(super().train_step(batch, **fit_params))
        # the labeled rows come first: callbacks that cache training
        # predictions (EpochScoring(on_train=True)) pair them with this batch's
        # y, so they get those rows' outputs (on their mixed, augmented inputs)
        return dict(step, y_pred=step["y_pred"][:len(Xi)])

    def _check_loss(self, step):
        # A diverged network (too large a rate, unscaled inputs) has NaN
        # weights: skorch trained on and predict gave class 0 for every row,
        # silently. A non-finite loss with finite weights is a step a gradient
        # scaler skipped (float16 mixed precision) and training goes on. skorch
        # reads the loss with .item() after this anyway, so no extra sync.
        loss = step["loss"]
        if torch.is_tensor(loss) and not torch.isfinite(loss.detach()).all():
            bad = self._nonfinite_weights()
            if bad:
                raise TrainingDivergedError(
                    f"Training diverged: the loss became {loss.detach().item()} "
                    f"in epoch {len(self.history)} and the network's weights are no "
                    f"longer finite ({bad[0]}). {self._divergence_hint()}")
        return step

    def _nonfinite_weights(self):
        """Names of the trainable parameters holding a NaN or an infinity."""
        return [name for name, param in self.module_.named_parameters()
                if param.requires_grad and not torch.isfinite(param.detach()).all()]

    def _divergence_hint(self):
        """What to change after a divergence: the rate the optimizer used."""
        return (f"Lower lr (now {self.optimizer_.param_groups[0]['lr']}) or scale the "
                "inputs (e.g. to [0, 1], or with StandardScaler).")

    def infer(self, x, **fit_params):
        """skorch's forward pass, under bfloat16 autocast for
        ``precision='bfloat16'``; the logits come back as float32, so the
        losses, softmax and outputs are computed as for a float32 network."""
        if self.precision == "float32":
            out = super().infer(x, **fit_params)
        else:
            device = _parameter_device(self.module_, self.device)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                out = super().infer(x, **fit_params)
            out = (tuple(_float32(o) for o in out) if isinstance(out, tuple)
                   else _float32(out))
        self._check_scores(out[0] if isinstance(out, tuple) else out)
        return out

    def _check_scores(self, scores):
        # a module with more outputs than classes gave predict_proba extra
        # columns (and predict indices past classes_); fewer failed deep in a
        # loss. Checked on every forward: a shape comparison
        classes = self.__dict__.get("classes_")
        if (classes is not None and torch.is_tensor(scores) and scores.ndim == 2
                and scores.shape[1] != len(classes)):
            raise ValueError(
                f"The module returned {scores.shape[1]} scores per sample, but "
                f"there are {len(classes)} classes (classes_): its last layer "
                "must output one score per class (for PretrainedClassifier: "
                f"module__n_classes={len(classes)}).")

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Criterion loss; for a training method's targets (a mixed batch, a
        semi-supervised batch), that method's loss."""
        reader = loss_reader(y_true)
        if reader is None:
            return super().get_loss(y_pred, y_true, X=X, training=training)

        def criterion(logits, target):
            return super(MixupNetClassifier, self).get_loss(
                logits, target, X=X, training=training)

        return reader.loss(y_pred, y_true, criterion,
                           soft_targets=_takes_soft_targets(self.criterion_))

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
        return inference.iter_outputs(self, self.get_dataset(X), embeddings=embeddings,
                                      mc_dropout=mc_dropout, batch_size=batch_size,
                                      rows_hint=X)
