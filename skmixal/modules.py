"""Default networks, sized from the data at fit time.

Both expose ``features`` (input -> embedding) and ``head`` (embedding -> logits).
The embedding that :meth:`MixupNetClassifier.embed` returns, and that the
diversity strategies use, is the input of the last ``nn.Linear``: ``head`` here,
and the same rule finds it in most user networks.
"""

import torch
from torch import nn

__all__ = ["MLP", "SeededDropout", "SmallCNN", "default_module", "last_linear"]


class SeededDropout(nn.Dropout):
    """``nn.Dropout`` that can draw its masks from its own ``torch.Generator``.

    While ``generator`` is None it is exactly ``nn.Dropout`` (torch's global
    generator). :class:`~skmixal.MixupNetClassifier` with an int
    ``random_state`` hands it the fit's own generator during training, so fits
    running in threads do not share a random stream. Use it in your own modules
    to get the same guarantee.
    """

    generator = None

    def forward(self, x):
        if not self.training or self.p == 0 or self.generator is None:
            return super().forward(x)
        if self.p == 1:
            return torch.zeros_like(x)
        keep = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=self.generator)
        return x * keep / (1.0 - self.p)


class DeterministicAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` as two small matrix products.

    The CUDA backward of ``adaptive_avg_pool2d`` accumulates with atomics, so two
    fits with the same seed differ; matrix products have a deterministic
    backward. Each output cell averages the same window as torch's op:
    rows ``floor(i*H/h) .. ceil((i+1)*H/h)``.
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = (output_size, output_size) if isinstance(
            output_size, int) else tuple(output_size)
        self._cache = {}

    @staticmethod
    def _weights(size, out, device, dtype):
        weights = torch.zeros(out, size, device=device, dtype=dtype)
        for i in range(out):
            start = (i * size) // out
            stop = -((-(i + 1) * size) // out)  # ceil
            weights[i, start:stop] = 1.0 / (stop - start)
        return weights

    def __getstate__(self):
        # the cache holds device tensors: never pickle it (a model saved on CUDA
        # must load on a CPU-only machine)
        state = super().__getstate__()
        state["_cache"] = {}
        return state

    def forward(self, x):
        height, width = x.shape[-2:]
        key = (height, width, x.device, x.dtype)
        if key not in self._cache:
            self._cache[key] = (
                self._weights(height, self.output_size[0], x.device, x.dtype),
                self._weights(width, self.output_size[1], x.device, x.dtype))
        rows, cols = self._cache[key]
        return rows @ x @ cols.T


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
            layers += [nn.Linear(width, units), nn.ReLU(), SeededDropout(dropout)]
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
        Output channels of each conv block (conv 3x3, 2x2 max-pool, ReLU).
    hidden_units : int, default=128
        Size of the embedding before the classification head.
    dropout : float, default=0.25
        Dropout before the head; also what MC-dropout (BALD) samples.
    input_size : tuple of int (height, width) or None, default=None
        When given (the estimator always gives it), the last feature map is
        flattened whole up to ``max_grid`` x ``max_grid`` cells and averaged
        down to that grid beyond. ``None`` averages it to 2 x 2, which serves
        any image size but loses the layout: measured on MNIST with 100 labels
        and MixMatch, the 2 x 2 grid collapsed (0.20-0.29 accuracy) where the
        whole 7 x 7 map reached 0.975 (benchmarks/semi_supervised.py).
    max_grid : int, default=8
    """

    def __init__(self, in_channels, n_classes, channels=(32, 64), hidden_units=128,
                 dropout=0.25, input_size=None, max_grid=8):
        super().__init__()
        blocks, width = [], in_channels
        for out in channels:
            # pool, then ReLU: the same values and gradients as ReLU, then pool
            # (both are monotone), with a quarter of the ReLU work
            blocks += [nn.Conv2d(width, out, 3, padding=1),
                       nn.MaxPool2d(2, ceil_mode=True), nn.ReLU()]
            width = out
        if input_size is None:
            grid = (2, 2)
        else:
            grid = tuple(min(_pooled(side, len(channels)), max_grid)
                         for side in input_size)
        pool = (nn.Identity() if input_size is not None and grid == tuple(
            _pooled(side, len(channels)) for side in input_size)
            else DeterministicAdaptiveAvgPool2d(grid))
        self.features = nn.Sequential(
            *blocks,
            pool,
            nn.Flatten(),
            nn.Linear(width * grid[0] * grid[1], hidden_units),
            nn.ReLU(),
            SeededDropout(dropout),
        )
        self.head = nn.Linear(hidden_units, n_classes)

    def forward(self, x):
        if x.ndim == 3:
            x = x[:, None]  # (N, H, W) grayscale batches, e.g. from a Dataset
        return self.head(self.features(x))


def _pooled(side, n_blocks):
    # side after n 2x2 max-pools with ceil_mode
    for _ in range(n_blocks):
        side = -(-side // 2)
    return side


def default_module(input_shape, n_classes, **kwargs):
    """Build the default network for samples of ``input_shape``.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one sample: ``(F,)`` gives an :class:`MLP`, ``(C, H, W)`` a
        :class:`SmallCNN`. Square channels-last images (``(H, H, 1)`` or
        ``(H, H, 3)`` with ``H > 4``) are refused with a ``ValueError``.
    n_classes : int
        Number of classes.
    **kwargs
        Passed to the network (``module__hidden_units=...`` on the estimator).
    """
    if len(input_shape) == 1:
        return MLP(input_shape[0], n_classes, **kwargs)
    if len(input_shape) == 3:
        channels, height, width = input_shape
        # square images read the wrong way round: (28, 28, 1), (32, 32, 3);
        # (12, 16, 1) may be 12 channels of 16 x 1 and is left alone
        if width in (1, 3) and channels > 4 and channels == height:
            # read as (C, H, W) it would train as many-channel images a few
            # pixels wide, and augmentation would shift the wrong axes
            raise ValueError(
                f"X has images of shape {tuple(input_shape)}, which looks like "
                "(height, width, channels); the default network reads "
                "(channels, height, width). Pass np.moveaxis(X, -1, 1) (a tensor: "
                "X.permute(0, 3, 1, 2)), or your own `module`.")
        kwargs.setdefault("input_size", tuple(input_shape[1:]))
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

