"""Training methods: how each step's batch is built and how its loss is read.

:class:`SupervisedMixup` trains every fit without unlabeled rows; a fit with
unlabeled rows uses the method that ``semi_supervised`` names in
:data:`METHODS` (``'auto'``: :func:`auto_method`). Each method is one module holding one
:class:`~skmixal.training.base.TrainingMethod` subclass.
"""

from skmixal.training.base import FitContext, TrainingMethod
from skmixal.training.fixmatch import FixMatch
from skmixal.training.mixmatch import MixMatch
from skmixal.training.supervised import SupervisedMixup

__all__ = ["METHODS", "FitContext", "FixMatch", "MixMatch", "SupervisedMixup",
           "TrainingMethod", "auto_method", "loss_reader", "method_class",
           "resolve_method"]

#: ``semi_supervised=<name>``: the method of fits with unlabeled rows
METHODS = {"fixmatch": FixMatch, "mixmatch": MixMatch}


def auto_method(input_shape):
    """``semi_supervised='auto'``: FixMatch for colour images, else MixMatch.

    Chosen by the worst seed (benchmarks/semi_supervised.py, README "Choosing
    the method"): on digits and MNIST MixMatch's worst seed beat FixMatch's by
    7 to 17 points; on the CIFAR-10 subset (2 to 25 labels a class) MixMatch
    fell up to 4.5 points below supervised training while FixMatch's worst
    seed stayed within half a point of it.
    """
    shape = tuple(input_shape or ())
    return "fixmatch" if len(shape) == 3 and shape[0] >= 3 else "mixmatch"


def resolve_method(semi_supervised, input_shape):
    """The method name ``semi_supervised`` means for samples of ``input_shape``."""
    if isinstance(semi_supervised, str) and semi_supervised == "auto":
        return auto_method(input_shape)
    return semi_supervised


def method_class(semi_supervised, n_unlabeled):
    """The method class of a fit with ``n_unlabeled`` unlabeled rows
    (``semi_supervised`` resolved: a name of :data:`METHODS` or None)."""
    if n_unlabeled and semi_supervised is not None:
        return METHODS[semi_supervised]
    return SupervisedMixup


def loss_reader(target):
    """The method class whose batches carry ``target`` (None: a plain target)."""
    for cls in (SupervisedMixup, *METHODS.values()):
        if cls.target_type is not None and isinstance(target, cls.target_type):
            return cls
    return None
