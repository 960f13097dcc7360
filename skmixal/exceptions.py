"""skmixal's own warning and error classes (as :mod:`sklearn.exceptions`).

Torch-free, so that the command line can catch them without importing torch.
"""

__all__ = ["SemiSupervisedCollapseWarning", "TrainingDivergedError"]


class SemiSupervisedCollapseWarning(UserWarning):
    """A semi-supervised fit collapsed (see :mod:`skmixal.training.guard`)."""


class TrainingDivergedError(ValueError):
    """The network's weights stopped being finite during a fit.

    Raised at the first such step, so no time is spent training a network
    that can only predict one class. Usually the learning rate is too large
    for the data's scale. A ``ValueError``, as scikit-learn's ``SGDClassifier``
    raises on a floating-point overflow.
    """
