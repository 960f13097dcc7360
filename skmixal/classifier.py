"""MixupNetClassifier: a skorch classifier that trains with Mixup."""

import copy
import math
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring
from skorch.dataset import get_len, unpack_data
from skorch.utils import is_dataset, to_numpy
from torch.utils.data import DataLoader

from skmixal._validation import (
    check_classes,
    check_features,
    check_in_range,
    encode_labels,
    seed_from,
)
from skmixal.iterators import TensorLoader
from skmixal.mixup import (
    MIXUP_MODES,
    MixedTarget,
    _BetaSampler,
    mix_batch,
    soft_targets,
)
from skmixal.modules import default_module, last_linear

__all__ = ["MixupNetClassifier"]

DEFAULT_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

# mixup_alpha='auto', from benchmarks/mixup_alpha.py (digits and MNIST, 20-1,000
# labels): mixup helps the default CNN on images and hurts the MLP on vectors.
AUTO_ALPHA_IMAGES = 0.2
AUTO_ALPHA_VECTORS = 0.0

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
        ``'auto'`` uses 0.2 for image input and 0 for vector input, as measured
        by ``benchmarks/mixup_alpha.py`` on digits and MNIST with 20 to 1,000
        labels: on images the default CNN gains up to 8 points of accuracy
        with mixup, while on flattened pixels the MLP loses up to 4 points.
        The value used is ``mixup_alpha_``.
    mixup_mode : {'input', 'cutmix'}, default='input'
        ``'input'`` interpolates whole inputs; ``'cutmix'`` pastes a box from
        another image (image input only).
    mixup_prob : float, default=1.0
        Probability that a mini-batch is mixed.
    min_steps : int, default=1000
        Minimum number of optimizer steps per fit: with few labels an epoch is
        one or two steps, so the number of epochs grows until this many steps
        are taken. This lets one setting serve 10 to 10,000 labels. Measured
        on MNIST with 100 labels, the default CNN gains 2 to 5 points from 300
        to 1,000 steps; the MLP neither gains nor loses.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and mixing for each
        fit. The same int gives bit-identical predictions on CPU.
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
    Minimization", ICLR 2018. Yun et al. "CutMix", ICCV 2019.

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
        min_steps=1000,
        random_state=None,
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
        self.random_state = random_state
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
        check_in_range(self.min_steps, "min_steps", low=0, integer=True)
        check_in_range(self.max_epochs, "max_epochs", low=0, integer=True)
        if self.batch_size != -1:
            check_in_range(self.batch_size, "batch_size", low=1, integer=True)
        check_random_state(self.random_state)

    def _is_fitted(self):
        return bool(self.initialized_) and "classes_" in self.__dict__

    def _validate_fit_data(self, X, y, *, reset, classes=None):
        if is_dataset(X):
            return self._validate_fit_dataset(X, y, reset=reset)
        X = check_features(self, X, reset=reset)
        if self.mixup_mode == "cutmix" and X.ndim != 4:
            raise ValueError(
                "mixup_mode='cutmix' needs image input (n_samples, channels, height,"
                f" width) or (n_samples, height, width); got X of shape "
                f"{tuple(X.shape)}. Use mixup_mode='input' for tabular data.")
        if reset:
            declared = classes if classes is not None else self.classes
            known = None if declared is None else check_classes(declared)
        else:
            known = self.classes_
        codes, found = encode_labels(y, len(X), classes=known)
        if reset:
            self.classes_ = found
        self.mixup_alpha_ = self._resolve_alpha(images=X.ndim == 4)
        return X, codes

    def _resolve_alpha(self, images):
        if self.mixup_alpha != "auto":
            return float(self.mixup_alpha)
        return AUTO_ALPHA_IMAGES if images else AUTO_ALPHA_VECTORS

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
            self.mixup_alpha_ = self._resolve_alpha(
                images=torch.as_tensor(sample).ndim >= 2)
            if self.module is None:
                shape = tuple(torch.as_tensor(sample).shape)
                self.input_shape_ = shape if len(shape) != 2 else (1, *shape)
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
    def _training_context(self):
        """Fresh lambda sampler, and torch's generators seeded from random_state.

        The generators are forked, so the caller's global torch RNG state is the
        same after fit as before.
        """
        self._lambda_sampler = (
            _BetaSampler(self.mixup_alpha_) if self.mixup_alpha_ > 0 else None)
        if self.random_state is None:
            yield
            return
        seed = seed_from(self.random_state)
        devices = []
        on_cuda = torch.device(self.device or "cpu").type == "cuda"
        if on_cuda and torch.cuda.is_available():
            devices = [torch.cuda.current_device()]
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def fit(self, X, y, **fit_params):
        """Initialise (unless ``warm_start``) and train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or image-shaped
            NumPy array, ``np.memmap``, torch tensor, sparse matrix or torch
            ``Dataset``. float64 is accepted and cast to float32 (a copy).
        y : array-like of shape (n_samples,)
            Class labels (ints, strings, ...). Ignored for a ``Dataset`` X,
            whose own targets are used.
        **fit_params
            Passed to the module's ``forward``.

        Returns
        -------
        self : MixupNetClassifier
        """
        self._check_params()
        warm = bool(self.warm_start) and self._is_fitted()
        X, y = self._validate_fit_data(X, y, reset=not warm)
        with self._training_context():
            if not warm:
                self.initialize()
            # NeuralNet.partial_fit, not ours: the data is validated already
            super().partial_fit(X, y, _routing_method="fit", **fit_params)
        return self

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Continue training on (X, y) without re-initialising.

        Runs ``max_epochs`` epochs, more when needed to take ``min_steps``
        optimizer steps.

        Parameters
        ----------
        X, y
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
        X, y = self._validate_fit_data(X, y, reset=first, classes=classes)
        with self._training_context():
            super().partial_fit(X, y, **fit_params)
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
        elif isinstance(self.module, torch.nn.Module) and not kwargs:
            self.module_ = _fresh_copy(self.module)
        else:
            super().initialize_module()
        return self

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's loop, with enough epochs to take ``min_steps`` steps."""
        if epochs is None:
            epochs = self.max_epochs
            batch_size = self.get_params_for("iterator_train").get(
                "batch_size", self.batch_size)
            n_samples = get_len(X) if not is_dataset(X) else len(X)
            if self.min_steps and batch_size != -1 and n_samples:
                steps_per_epoch = math.ceil(n_samples / batch_size)
                epochs = max(epochs, math.ceil(self.min_steps / steps_per_epoch))
        return super().fit_loop(X, y, epochs=epochs, **fit_params)

    def get_iterator(self, dataset, training=False):
        """TensorLoader gets the device and shuffles training batches by default."""
        prefix = "iterator_train" if training else "iterator_valid"
        iterator = getattr(self, prefix)
        if not (isinstance(iterator, type) and issubclass(iterator, TensorLoader)):
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
            return DataLoader(dataset, **kwargs)
        kwargs.setdefault("device", self.device)
        return iterator(dataset, **kwargs)

    def train_step(self, batch, **fit_params):
        """Mix the batch on the device, then run skorch's (or a mixin's) step.

        Mixing here, before ``train_step_single``, is what lets mixins such as
        skorch's ``AccelerateMixin`` (which replaces ``train_step_single``)
        train on mixed batches too.
        """
        sampler = getattr(self, "_lambda_sampler", None)
        if sampler is not None:
            Xi, yi = unpack_data(batch)
            if not (isinstance(Xi, torch.Tensor) and isinstance(yi, torch.Tensor)):
                raise TypeError(
                    "Mixup needs tensor batches (X, y); this iterator yields "
                    f"{type(Xi).__name__} inputs. Set mixup_alpha=0 for dict or "
                    "multi-input data.")
            if self.device is not None:
                Xi, yi = Xi.to(self.device), yi.to(self.device)
            batch = mix_batch(Xi, yi, sampler=sampler, mode=self.mixup_mode,
                              prob=self.mixup_prob)
        return super().train_step(batch, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Criterion loss; for a mixed batch, the lambda-weighted pair of losses."""
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
            Rows per batch; defaults to the estimator's ``batch_size`` x 16
            (inference needs no gradient memory).

        Yields
        ------
        proba : torch.Tensor of shape (batch, n_classes)
            Class probabilities (the module's output after the estimator's
            ``predict_nonlinearity``).
        embeddings : torch.Tensor of shape (batch, dim), only if requested
        """
        self.check_is_fitted()
        dataset = self.get_dataset(X)
        size = batch_size or max(self.batch_size, 1) * 16
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
