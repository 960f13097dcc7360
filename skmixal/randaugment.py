"""Strong augmentation for thresholded semi-supervised training, batched on tensors.

FixMatch (Sohn et al., 2020) trains the network to predict, on a strongly
distorted view of an unlabeled image, the label it confidently predicts on a
weakly augmented view. Its strong augmentation is RandAugment (Cubuk et al.,
2020) followed by Cutout: each image gets two operations drawn from the list
below, each applied with probability 1/2 at a random magnitude, then a square
of half the image side is blanked.

Here the whole batch is transformed at once on its device, with every draw from
one torch ``Generator`` and no per-image Python loop:

- the geometric operations (rotate, shear, translate) of both slots become one
  affine matrix per image, applied with a single ``grid_sample``;
- each photometric operation is applied to the rows that drew it
  (``index_select`` / ``index_copy``), in slot order;
- Cutout masks one square per image.

Images are handled in ``[0, 1]``: :func:`randaugment` takes the data's range
(``low``, ``high``) and maps to and from it, so standardised inputs work too.
Magnitudes follow FixMatch's table (its Table 12): brightness, color, contrast
and sharpness factors in [0.05, 0.95], posterize to 4-8 bits, rotation up to
30 degrees, shear up to 0.3, translation up to 30 % of the side, solarize
threshold in [0, 1].
"""

import math

import torch
import torch.nn.functional as F

__all__ = ["OPERATIONS", "cutout", "randaugment"]

OPERATIONS = ("identity", "autocontrast", "brightness", "color", "contrast",
              "equalize", "posterize", "rotate", "sharpness", "shear_x", "shear_y",
              "solarize", "translate_x", "translate_y")
_GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
# ITU-R 601 luma, as PIL's convert("L")
_LUMA = (0.299, 0.587, 0.114)


def _factor(v):
    # PIL ImageEnhance factors of FixMatch's table: 0.05 .. 0.95
    return (0.05 + 0.9 * v).view(-1, 1, 1, 1)


def _gray(z):
    if z.shape[1] != 3:
        return z.mean(dim=1, keepdim=True)
    luma = torch.tensor(_LUMA, dtype=z.dtype, device=z.device).view(1, 3, 1, 1)
    return (z * luma).sum(dim=1, keepdim=True)


def _autocontrast(z, v):
    lo = z.amin(dim=(2, 3), keepdim=True)
    hi = z.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    return torch.where(span > 0, (z - lo) / span.clamp_min(1e-12), z)


def _brightness(z, v):
    return z * _factor(v)


def _color(z, v):
    gray = _gray(z)
    return gray + _factor(v) * (z - gray)


def _contrast(z, v):
    mean = _gray(z).mean(dim=(1, 2, 3), keepdim=True)
    return mean + _factor(v) * (z - mean)


def _equalize(z, v):
    # histogram equalisation per channel over 256 levels, as PIL: each level
    # becomes the share of the channel's pixels at or below it (its CDF). One
    # bincount for the batch: 15x faster than sorting each channel.
    n, c, h, w = z.shape
    levels = torch.round(z.reshape(n * c, h * w) * 255).long().clamp_(0, 255)
    offsets = torch.arange(n * c, device=z.device).view(-1, 1) * 256
    hist = torch.bincount((levels + offsets).flatten(), minlength=n * c * 256)
    cdf = hist.view(n * c, 256).cumsum(dim=1).to(z.dtype) / (h * w)
    return torch.gather(cdf, 1, levels).reshape(n, c, h, w)


def _posterize(z, v):
    bits = 4 + torch.round(4 * v)  # 4..8 bits kept
    step = (2.0 ** (8 - bits)).view(-1, 1, 1, 1)
    return torch.floor(torch.round(z * 255) / step) * step / 255


def _sharpness(z, v):
    # PIL's SMOOTH filter, (3x3 sum + 4 x centre) / 13, as a box sum (a
    # depthwise conv2d is 5x slower on the CPU); border pixels are kept, as
    # PIL does
    box = F.avg_pool2d(z, 3, stride=1, padding=1, count_include_pad=True) * 9
    blurred = (box + 4 * z) / 13
    inner = torch.zeros_like(z, dtype=torch.bool)
    inner[..., 1:-1, 1:-1] = True
    blurred = torch.where(inner, blurred, z)
    return blurred + _factor(v) * (z - blurred)


def _solarize(z, v):
    threshold = (1.0 - v).view(-1, 1, 1, 1)
    return torch.where(z >= threshold, 1.0 - z, z)


_PHOTOMETRIC = {"autocontrast": _autocontrast, "brightness": _brightness,
                "color": _color, "contrast": _contrast, "equalize": _equalize,
                "posterize": _posterize, "sharpness": _sharpness,
                "solarize": _solarize}


def _slot_affine(ops, v):
    """(n, 2, 3) matrices of one slot's geometric operation (the identity for
    rows whose operation is not geometric), output -> input, in
    ``affine_grid``'s normalised coordinates (the width spans 2)."""
    def amount(name, scale):
        return torch.where(ops == OPERATIONS.index(name), scale * v, 0.0)

    angle = amount("rotate", math.radians(30))
    cos, sin = torch.cos(angle), torch.sin(angle)
    row0 = torch.stack([cos, amount("shear_x", 0.3) - sin,
                        amount("translate_x", 2 * 0.3)], dim=1)
    row1 = torch.stack([sin + amount("shear_y", 0.3), cos,
                        amount("translate_y", 2 * 0.3)], dim=1)
    return torch.stack([row0, row1], dim=1)


def _geometric(z, ops, mags, fill):
    # one geometric operation per slot at most: each slot's matrix holds it.
    # z is modified in place (randaugment's own tensor).
    geometric = torch.tensor([OPERATIONS.index(op) for op in _GEOMETRIC],
                             device=z.device)
    moved = torch.isin(ops, geometric).any(dim=0)
    rows = torch.nonzero(moved).flatten()
    if not len(rows):
        return z
    theta = None
    pad = torch.tensor([0.0, 0, 1], dtype=z.dtype, device=z.device)
    for slot in range(len(ops)):
        step = _slot_affine(ops[slot, rows], mags[slot, rows])
        if theta is None:
            theta = step
        else:  # the earlier slot first, then this one (output -> input maps)
            square = torch.cat([theta, pad.expand(len(rows), 1, 3)], dim=1)
            theta = step @ square
    part = torch.index_select(z, 0, rows)
    grid = F.affine_grid(theta, list(part.shape), align_corners=False)
    # pixels brought in from outside the image take the fill value
    warped = F.grid_sample(part - fill, grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False) + fill
    return z.index_copy_(0, rows, warped)


def cutout(z, size, fill, generator=None):
    """Blank one ``size`` x ``size`` square per image (clipped at the borders),
    centred at a random pixel, with ``fill``."""
    n, _, h, w = z.shape
    if size <= 0:
        return z
    centre = torch.rand(2, n, generator=generator, device=z.device)
    cy = (centre[0] * h).long().view(-1, 1, 1)
    cx = (centre[1] * w).long().view(-1, 1, 1)
    rows = torch.arange(h, device=z.device).view(1, -1, 1)
    cols = torch.arange(w, device=z.device).view(1, 1, -1)
    half = size // 2
    box = ((rows >= cy - half) & (rows < cy - half + size)
           & (cols >= cx - half) & (cols < cx - half + size))
    return torch.where(box[:, None], torch.as_tensor(fill, dtype=z.dtype), z)


def randaugment(x, *, n_ops=2, prob=0.5, cutout_share=0.5, low=0.0, high=1.0,
                fill=0.5, generator=None):
    """FixMatch's strong augmentation (RandAugment + Cutout) of a batch.

    Parameters
    ----------
    x : torch.Tensor of shape (N, C, H, W)
        Images with values in [``low``, ``high``].
    n_ops : int, default=2
        Operations drawn (with replacement) for each image.
    prob : float, default=0.5
        Probability that each drawn operation is applied.
    cutout_share : float, default=0.5
        Side of the Cutout square as a share of the shorter image side.
    low, high : float, default=0.0, 1.0
        The data's range; values are mapped to [0, 1] and back.
    fill : float, default=0.5
        Value, in [0, 1], of pixels brought in by geometric operations and of
        the Cutout square: 0.5 (FixMatch's gray) for natural images, 0 for
        dark backgrounds such as digits.
    generator : torch.Generator or None
        On ``x``'s device; ``None`` uses torch's global generator.

    Returns
    -------
    torch.Tensor of shape (N, C, H, W)
        A new tensor; ``x`` is not modified.
    """
    if x.ndim != 4:
        raise ValueError(
            f"randaugment needs image batches (N, C, H, W), got shape "
            f"{tuple(x.shape)}.")
    n = len(x)
    scale = (high - low) or 1.0
    z = (x - low) / scale
    draw = torch.rand(3, n_ops, n, generator=generator, device=x.device)
    ops = torch.randint(len(OPERATIONS), (n_ops, n), generator=generator,
                        device=x.device)
    ops = torch.where(draw[0] < prob, ops, 0)  # not applied: identity
    # signed magnitudes: the geometric operations use the sign, the others
    # their absolute value
    signed = torch.where(draw[2] < 0.5, -draw[1], draw[1]).to(x.dtype)
    mags = signed.abs()
    z = _geometric(z, ops, signed, fill)
    for slot in range(n_ops):
        for name, op in _PHOTOMETRIC.items():
            rows = torch.nonzero(ops[slot] == OPERATIONS.index(name)).flatten()
            if len(rows):
                part = op(torch.index_select(z, 0, rows), mags[slot, rows])
                # in place: z is this function's own tensor, and a copy of the
                # whole batch per operation was a third of the time
                z.index_copy_(0, rows, part.clamp(0, 1))
    z = cutout(z, round(cutout_share * min(x.shape[-2:])), fill, generator)
    return low + z * scale
