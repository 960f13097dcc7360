"""Training methods: how each step's batch is built and how its loss is read.

:class:`SupervisedMixup` trains every fit without unlabeled rows; a fit with
unlabeled rows uses the method that ``semi_supervised`` names in
:data:`METHODS`. Each method is one module holding one
:class:`~skmixal.training.base.TrainingMethod` subclass.
"""

from skmixal.training.base import FitContext, TrainingMethod
from skmixal.training.fixmatch import FixMatch
from skmixal.training.mixmatch import MixMatch
from skmixal.training.supervised import SupervisedMixup

__all__ = ["METHODS", "FitContext", "FixMatch", "MixMatch", "SupervisedMixup",
           "TrainingMethod", "loss_reader", "method_class"]

#: ``semi_supervised=<name>``: the method of fits with unlabeled rows
METHODS = {"fixmatch": FixMatch, "mixmatch": MixMatch}


def method_class(semi_supervised, n_unlabeled):
    """The method class of a fit with ``n_unlabeled`` unlabeled rows."""
    if n_unlabeled and semi_supervised is not None:
        return METHODS[semi_supervised]
    return SupervisedMixup


def loss_reader(target):
    """The method class whose batches carry ``target`` (None: a plain target)."""
    for cls in (SupervisedMixup, *METHODS.values()):
        if cls.target_type is not None and isinstance(target, cls.target_type):
            return cls
    return None
