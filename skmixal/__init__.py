"""skmixal: few-shot learning with Mixup plus active learning for scikit-learn.

The public API fits on one screen. Importing the package also makes modAL work
on the installed scikit-learn and NumPy (see :mod:`skmixal._modal_compat`).
The estimator and the strategies load on first use, so that the command line
answers ``--version`` or a bad flag without waiting for torch.
"""

import importlib

from skmixal._modal_compat import patch_modal, patch_modal_unless_disabled

# SKMIXAL_PATCH_MODAL=0 keeps modAL untouched; patch_modal() applies it later
patch_modal_unless_disabled()

__version__ = "0.1.0.dev0"

__all__ = [
    "ImageEmbedder",
    "MLP",
    "STRATEGIES",
    "MixupNetClassifier",
    "PretrainedClassifier",
    "SemiSupervisedCollapseWarning",
    "SmallCNN",
    "TensorLoader",
    "TrainingDivergedError",
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
    "patch_modal",
    "random_sampling",
    "typiclust_sampling",
]

_HOMES = {
    "ImageEmbedder": "skmixal.embedding",
    "MLP": "skmixal.modules",
    "SmallCNN": "skmixal.modules",
    "MixupNetClassifier": "skmixal.classifier",
    "PretrainedClassifier": "skmixal.finetune",
    "SemiSupervisedCollapseWarning": "skmixal.exceptions",
    "TensorLoader": "skmixal.iterators",
    "TrainingDivergedError": "skmixal.exceptions",
}


def __getattr__(name):
    if name in _HOMES:
        home = _HOMES[name]
    elif name in __all__ and name not in ("__version__", "patch_modal"):
        home = "skmixal.strategies"
    else:
        raise AttributeError(f"module 'skmixal' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
