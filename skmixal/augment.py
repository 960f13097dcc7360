"""Batched, seeded, on-device data augmentation.

Semi-supervised training (MixMatch) guesses a label for an unlabeled image from
several augmented views of it, and trains the network to agree across them; the
augmentation must change the input without changing its class. Everything here
works on a whole batch already on the training device, draws its randomness from
a torch ``Generator`` on that device, and returns a new tensor (the input may be
a view of data the loaders keep resident, so it is never written to).

- ``shift``: random translation by up to ``max_shift`` pixels, by zero padding and
  cropping (the MixMatch paper's crop; zero padding matches the black
  background of digits).
- ``flip``: a horizontal flip of half the images. Off unless asked for: digits
  and characters are not flip-invariant.
- ``crop+flip``: the standard weak augmentation of natural images (FixMatch's):
  a random crop after reflection padding of 1/8 of the side, and a flip of
  half the images. Reflection keeps the photo's statistics at the border,
  where zero padding adds black bars a colour image never has.
- ``noise``: Gaussian noise for vector input, ``std`` times each feature's
  standard deviation in the batch.
"""

import torch
import torch.nn.functional as F

__all__ = ["AUGMENTATIONS", "augment_batch", "default_augment", "default_shift",
           "flip", "noise", "shift"]

# what `augment=` accepts besides 'auto' and None
AUGMENTATIONS = ("shift", "shift+flip", "crop+flip", "noise")


def default_shift(height, width):
    """Largest translation for an image size: 1/14 of the side, at least 1 pixel.

    2 pixels on MNIST's 28x28 and CIFAR's 32x32, 1 on 8x8 digits. Measured on
    MNIST with 100 labels (benchmarks/semi_supervised.py): 2 pixels reached
    0.975 with MixMatch.
    """
    return max(1, round(min(height, width) / 14))


def shift(x, max_shift, generator=None, padding="zeros"):
    """Translate each image by its own random offset in [-max_shift, max_shift].

    Parameters
    ----------
    x : torch.Tensor of shape (N, C, H, W)
    max_shift : int
    generator : torch.Generator or None
        On ``x``'s device; ``None`` uses torch's global generator.
    padding : {'zeros', 'reflect'}, default='zeros'
        What is shifted in from outside the image.

    Returns
    -------
    torch.Tensor of shape (N, C, H, W)
        Pixels shifted in from outside the image are 0 (or reflected).
    """
    n, _, height, width = x.shape
    s = int(max_shift)
    if padding == "reflect":
        s = min(s, height - 1, width - 1)  # reflection needs pad < side
    if s <= 0 or n == 0:
        return x.clone()
    offsets = torch.randint(0, 2 * s + 1, (2, n), generator=generator,
                            device=x.device)
    padded = F.pad(x, (s, s, s, s), mode="reflect" if padding == "reflect"
                   else "constant")
    channels = x.shape[1]
    # two gathers for the whole batch, rows then columns (0.6x the time of one
    # advanced-indexing gather over (N, H, W, C) on the CPU, same result)
    rows = offsets[0, :, None] + torch.arange(height, device=x.device)  # (N, H)
    rows = rows[:, None, :, None].expand(n, channels, height, width + 2 * s)
    cols = offsets[1, :, None] + torch.arange(width, device=x.device)   # (N, W)
    cols = cols[:, None, None, :].expand(n, channels, height, width)
    return torch.gather(torch.gather(padded, 2, rows), 3, cols)


def flip(x, generator=None):
    """Flip a random half (in expectation) of the images left to right."""
    mask = torch.rand(len(x), generator=generator, device=x.device) < 0.5
    return torch.where(mask[:, None, None, None], x.flip(-1), x)


def noise(x, std=0.1, generator=None):
    """Add Gaussian noise of ``std`` times each feature's batch standard deviation.

    Scaling by the batch's own spread keeps one default right for features in
    [0, 1] and for standardised ones alike.
    """
    if len(x) < 2:
        return x.clone()
    scale = x.std(dim=0, keepdim=True) * std
    return x + scale * torch.randn(x.shape, generator=generator, device=x.device,
                                   dtype=x.dtype)


def default_augment(input_shape):
    """The weak augmentation ``augment='auto'`` means for semi-supervised fits.

    ``'crop+flip'`` for colour images (3 channels: natural images, where a
    flip keeps the class), ``'shift'`` for other images (digits, characters,
    scans), None for vectors.
    """
    if len(input_shape) != 3:
        return None
    return "crop+flip" if input_shape[0] == 3 else "shift"


def augment_batch(x, kind, generator=None, *, std=0.1):
    """Apply augmentation ``kind`` (one of :data:`AUGMENTATIONS`) to a batch.

    Image kinds need (N, C, H, W) batches; ``'noise'`` takes any shape (with
    ``std`` times each feature's batch standard deviation).
    """
    if kind == "noise":
        return noise(x, std=std, generator=generator)
    if x.ndim != 4:
        raise ValueError(
            f"augment={kind!r} needs image batches (N, C, H, W), got shape "
            f"{tuple(x.shape)}; use augment='noise' or None for vector input.")
    if kind == "crop+flip":
        out = shift(x, max(1, min(x.shape[-2:]) // 8), generator=generator,
                    padding="reflect")
    else:
        out = shift(x, default_shift(*x.shape[-2:]), generator=generator)
    if kind in ("shift+flip", "crop+flip"):
        out = flip(out, generator=generator)
    return out
