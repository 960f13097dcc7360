"""skmixal: few-shot learning with Mixup plus active learning for scikit-learn.

The public API fits on one screen. Importing the package also makes modAL work
on the installed scikit-learn and NumPy (see :mod:`skmixal._modal_compat`).
"""

from skmixal._modal_compat import patch_modal as _patch_modal

_patch_modal()

from skmixal.classifier import MixupNetClassifier  # noqa: E402
from skmixal.iterators import TensorLoader  # noqa: E402
from skmixal.modules import MLP, SmallCNN  # noqa: E402
from skmixal.strategies import (  # noqa: E402
    STRATEGIES,
    alfamix_sampling,
    badge_sampling,
    bald_sampling,
    batch_bald_sampling,
    coreset_sampling,
    entropy_sampling,
    least_confidence_sampling,
    margin_sampling,
    mixup_consistency_sampling,
    random_sampling,
    typiclust_sampling,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "MLP",
    "STRATEGIES",
    "MixupNetClassifier",
    "SmallCNN",
    "TensorLoader",
    "__version__",
    "alfamix_sampling",
    "badge_sampling",
    "bald_sampling",
    "batch_bald_sampling",
    "coreset_sampling",
    "entropy_sampling",
    "least_confidence_sampling",
    "margin_sampling",
    "mixup_consistency_sampling",
    "random_sampling",
    "typiclust_sampling",
]
