"""Default networks, sized from the data at fit time.

Both expose ``features`` (input -> embedding) and ``head`` (embedding -> logits).
The embedding that :meth:`MixupNetClassifier.embed` returns, and that the
diversity strategies use, is the input of the last ``nn.Linear``: ``head`` here,
and the same rule finds it in most user networks.
"""

from torch import nn

__all__ = ["MLP", "SmallCNN", "default_module", "last_linear"]


class MLP(nn.Module):
    """Multi-layer perceptron for tabular input (N, F).

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_classes : int
        Number of output logits.
    hidden_units : tuple of int, default=(256,)
        Width of each hidden layer; the last one is the embedding size.
    dropout : float, default=0.1
        Dropout after each hidden layer; also what MC-dropout (BALD) samples.
    """

    def __init__(self, n_features, n_classes, hidden_units=(256,), dropout=0.1):
        super().__init__()
        layers, width = [], n_features
        for units in hidden_units:
            layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
            width = units
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x):
        return self.head(self.features(x.flatten(1)))


class SmallCNN(nn.Module):
    """Small convolutional network for images (N, C, H, W), any size >= 4x4.

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    n_classes : int
        Number of output logits.
    channels : tuple of int, default=(32, 64)
        Output channels of each conv block (conv 3x3, ReLU, 2x2 max-pool).
    hidden_units : int, default=128
        Size of the embedding before the classification head.
    dropout : float, default=0.25
        Dropout before the head; also what MC-dropout (BALD) samples.
    """

    def __init__(self, in_channels, n_classes, channels=(32, 64), hidden_units=128,
                 dropout=0.25):
        super().__init__()
        blocks, width = [], in_channels
        for out in channels:
            blocks += [nn.Conv2d(width, out, 3, padding=1), nn.ReLU(),
                       nn.MaxPool2d(2, ceil_mode=True)]
            width = out
        self.features = nn.Sequential(
            *blocks,
            # fixed 2x2 grid: the same network serves 8x8 digits and 32x32 CIFAR
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(width * 4, hidden_units),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.head = nn.Linear(hidden_units, n_classes)

    def forward(self, x):
        return self.head(self.features(x))


def default_module(input_shape, n_classes, **kwargs):
    """Build the default network for samples of ``input_shape``.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one sample: ``(F,)`` gives an :class:`MLP`, ``(C, H, W)`` a
        :class:`SmallCNN`.
    n_classes : int
        Number of classes.
    **kwargs
        Passed to the network (``module__hidden_units=...`` on the estimator).
    """
    if len(input_shape) == 1:
        return MLP(input_shape[0], n_classes, **kwargs)
    if len(input_shape) == 3:
        return SmallCNN(input_shape[0], n_classes, **kwargs)
    raise ValueError(
        f"No default network for samples of shape {tuple(input_shape)}: expected "
        "(n_features,) or (channels, height, width). Pass your own `module`.")


def last_linear(module):
    """The last ``nn.Linear`` registered in ``module``, whose input is the embedding."""
    found = None
    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            found = sub
    if found is None:
        raise TypeError(
            f"{type(module).__name__} has no nn.Linear layer, so its embedding (the "
            "input of the last linear layer) is undefined.")
    return found

