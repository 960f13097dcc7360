"""The seam every training method plugs into.

A training method decides two things of a training step: the batch the network
sees (``batch``: augmented, mixed, with unlabeled rows and their targets) and
how the loss reads the targets (``loss``). The estimator only orchestrates:
``train_step`` asks the method for the batch before skorch's
``train_step_single`` (so mixins that replace that, such as ``AccelerateMixin``,
train on the method's batches too) and ``get_loss`` hands the method its own
targets back. A new method is a new module with one subclass of
:class:`TrainingMethod`, registered in :data:`skmixal.training.METHODS`.
"""

from dataclasses import dataclass, field

import torch

__all__ = ["FitContext", "TrainingMethod"]


@dataclass
class FitContext:
    """What a method may use during one fit.

    Attributes
    ----------
    n_classes : int
    randomness : skmixal._reproducibility.FitRandomness
        The fit's generators: ``randomness.numpy()`` for scalar draws,
        ``randomness.torch(device)`` for tensor draws.
    predict : callable
        ``predict(inputs) -> probabilities`` of the network in evaluation mode
        (no dropout; batch norm on its running statistics). Call it under
        ``torch.no_grad()``.
    unlabeled : callable or None
        ``unlabeled() -> tensor``: the next unlabeled batch (None: supervised).
    total_steps : int
        Optimizer steps the fit will take (set when the loop starts).
    step : int
        Steps taken so far in this fit.
    device : torch.device
        Where the network's parameters are.
    observed : list of torch.Tensor
        Per step, the predicted-class counts of the unlabeled batch (what a
        collapse guard reads; see :meth:`observe`).
    """

    n_classes: int
    randomness: object
    predict: object
    unlabeled: object = None
    total_steps: int = 0
    step: int = 0
    device: object = "cpu"
    observed: list = field(default_factory=list)

    def observe(self, proba):
        """Record the classes predicted for an unlabeled batch (no sync)."""
        self.observed.append(torch.bincount(proba.argmax(dim=1),
                                            minlength=self.n_classes))

    def generator(self, device):
        return self.randomness.torch(device)

    def rng(self):
        return self.randomness.numpy()


class TrainingMethod:
    """Base class: a supervised step that leaves the batch untouched.

    Subclasses override :meth:`batch` and :meth:`loss`, and set ``target_type``
    to the class of the targets their batches carry, so the estimator knows
    which losses are theirs (:func:`skmixal.training.loss_reader`).

    Parameters
    ----------
    context : FitContext
    """

    #: the target class this method's batches carry (None: plain labels only)
    target_type = None
    #: whether the method trains on unlabeled batches
    uses_unlabeled = False
    #: whether the labeled rows are repeated to the alignment's prior first
    #: (:func:`skmixal.semi_supervised.prior_rows`)
    balances_labels = False

    @staticmethod
    def auto_settings(input_shape):
        """What the estimator's ``'auto'`` parameters resolve to for samples of
        ``input_shape`` (a dict keyed by parameter name)."""
        raise NotImplementedError

    def __init__(self, context):
        self.context = context

    @property
    def active(self):
        """False when steps are exactly skorch's (no augmentation, no mixing)."""
        return False

    def batch(self, x, y):
        """``(inputs, target)`` for one step from a labeled batch on the device."""
        return x, y

    @classmethod
    def loss(cls, logits, target, criterion, *, soft_targets):
        """The training loss of a batch's ``target`` (of ``target_type``).

        A classmethod: targets carry everything their loss needs, so a loss
        can be read outside a fit too. ``criterion(logits, target)`` is the
        estimator's own loss (skorch's ``get_loss``); ``soft_targets`` is True
        when that criterion is cross-entropy on logits without class weights,
        so soft targets give the same loss as a weighted pair of hard ones.
        """
        return criterion(logits, target)
