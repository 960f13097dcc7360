"""skmixal: few-shot learning with Mixup plus active learning for scikit-learn.

Public API in one screen; importing the package also makes modAL work on the
installed scikit-learn and NumPy (see ``skmixal._modal_compat``).
"""

from skmixal.classifier import MixupNetClassifier
from skmixal.iterators import TensorLoader
from skmixal.modules import MLP, SmallCNN

__version__ = "0.1.0.dev0"

__all__ = ["MLP", "MixupNetClassifier", "SmallCNN", "TensorLoader", "__version__"]

from skmixal._modal_compat import patch_modal as _patch_modal  # noqa: E402

_patch_modal()
