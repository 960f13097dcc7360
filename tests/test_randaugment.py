"""Strong augmentation: each operation against Pillow or a hand-written formula,
the geometry against pixel shifts, Cutout against a hand-placed box, seeding."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance, ImageOps

import skmixal.randaugment as ra

RNG = np.random.default_rng(0)
# 4 RGB images of 9 x 11 pixels on the uint8 grid, in [0, 1]
PIXELS = RNG.integers(0, 256, (4, 9, 11, 3), dtype=np.uint8)
Z = torch.from_numpy(PIXELS).permute(0, 3, 1, 2).float() / 255


def _by_pil(op, *args):
    out = [np.asarray(op(Image.fromarray(img), *args)) for img in PIXELS]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255


@pytest.mark.parametrize("name, enhance", [
    ("brightness", ImageEnhance.Brightness), ("color", ImageEnhance.Color),
    ("contrast", ImageEnhance.Contrast), ("sharpness", ImageEnhance.Sharpness)])
@pytest.mark.parametrize("v", [0.0, 0.5, 1.0])
def test_enhancements_match_pillow(name, enhance, v):
    factor = 0.05 + 0.9 * v  # FixMatch's range of enhancement factors
    ours = ra._PHOTOMETRIC[name](Z, torch.full((4,), v))
    theirs = _by_pil(lambda img: enhance(img).enhance(factor))
    # Pillow rounds to the uint8 grid (and its contrast to an integer mean)
    torch.testing.assert_close(ours.clamp(0, 1), theirs, rtol=0, atol=1.6 / 255)


@pytest.mark.parametrize("bits", [4, 5, 6, 7, 8])
def test_posterize_matches_pillow(bits):
    v = torch.full((4,), (bits - 4) / 4)
    torch.testing.assert_close(ra._posterize(Z, v),
                               _by_pil(ImageOps.posterize, bits), rtol=0, atol=1e-6)


@pytest.mark.parametrize("threshold", [0, 64, 128, 255])
def test_solarize_matches_pillow(threshold):
    # our threshold is 1 - v on [0, 1]; pillow's inverts values >= threshold
    v = torch.full((4,), 1 - threshold / 255)
    theirs = _by_pil(ImageOps.solarize, threshold)
    torch.testing.assert_close(ra._solarize(Z, v), theirs, rtol=0, atol=1e-6)


def test_autocontrast_matches_pillow():
    low = Z * 0.5 + 0.25  # leave room to stretch
    pixels = np.round(low.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
    low = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    theirs = np.stack([np.asarray(ImageOps.autocontrast(Image.fromarray(p)))
                       for p in pixels])
    theirs = torch.from_numpy(theirs).permute(0, 3, 1, 2).float() / 255
    # pillow truncates its lookup table to integers
    torch.testing.assert_close(ra._autocontrast(low, None), theirs, rtol=0,
                               atol=1.01 / 255)
    flat = torch.full((1, 1, 3, 3), 0.4)  # nothing to stretch: unchanged
    torch.testing.assert_close(ra._autocontrast(flat, None), flat)


def test_equalize_keeps_the_top_two_levels_apart():
    z = torch.tensor([0.0, 254, 255, 255]).view(1, 1, 2, 2) / 255
    torch.testing.assert_close(ra._equalize(z, None).flatten(),
                               torch.tensor([0.25, 0.5, 1.0, 1.0]))


def test_equalize_is_each_channels_empirical_cdf():
    out = ra._equalize(Z, None).numpy()
    levels = np.round(Z.numpy() * 255)
    for i in range(4):
        for c in range(3):
            channel = levels[i, c].ravel()
            expected = [(channel <= value).mean() for value in channel]
            np.testing.assert_allclose(out[i, c].ravel(), expected, rtol=0,
                                       atol=1e-6)


@pytest.mark.parametrize("op, axis, sign", [("translate_x", 3, 1.0),
                                            ("translate_x", 3, -1.0),
                                            ("translate_y", 2, 1.0)])
def test_translation_moves_whole_pixels_and_fills(op, axis, sign):
    # a translation of 0.3 x side at full magnitude: 3 pixels of 10
    z = torch.rand(2, 1, 10, 10, generator=torch.Generator().manual_seed(0))
    ops = torch.full((1, 2), ra.OPERATIONS.index(op))
    out = ra._geometric(z.clone(), ops, torch.full((1, 2), sign), fill=0.25)
    # the output at p shows the input at p + shift (output -> input map)
    shift = int(sign) * 3
    expected = torch.full_like(z, 0.25)
    src = [slice(None)] * 4
    dst = [slice(None)] * 4
    if shift > 0:
        src[axis], dst[axis] = slice(shift, None), slice(None, -shift)
    else:
        src[axis], dst[axis] = slice(None, shift), slice(-shift, None)
    expected[tuple(dst)] = z[tuple(src)]
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)


def test_rotation_by_the_full_angle_matches_the_rotation_matrix():
    ops = torch.full((1, 1), ra.OPERATIONS.index("rotate"))
    theta = ra._slot_affine(ops[0], torch.ones(1))
    angle = np.radians(30)
    np.testing.assert_allclose(theta[0].numpy(), [[np.cos(angle), -np.sin(angle), 0],
                                                  [np.sin(angle), np.cos(angle), 0]],
                               atol=1e-6)
    shear = ra._slot_affine(torch.tensor([ra.OPERATIONS.index("shear_y")]),
                            torch.tensor([-0.5]))
    np.testing.assert_allclose(shear[0].numpy(), [[1, 0, 0], [-0.15, 1, 0]], atol=1e-6)


def test_non_geometric_rows_are_not_resampled():
    ops = torch.tensor([[ra.OPERATIONS.index("brightness"), 0]])
    z = torch.rand(2, 1, 5, 5)
    torch.testing.assert_close(ra._geometric(z.clone(), ops, torch.ones(1, 2), 0.0), z)


@pytest.mark.parametrize("size, before, after", [(4, 2, 2), (5, 2, 3), (1, 0, 1)])
def test_cutout_blanks_one_square_per_image_at_the_drawn_centre(size, before, after):
    # `before` rows and columns above and left of the centre, `after` from it on
    z = torch.ones(3, 2, 8, 8)
    out = ra.cutout(z, size, 0.0, generator=torch.Generator().manual_seed(5))
    centre = torch.rand(2, 3, generator=torch.Generator().manual_seed(5))
    for i in range(3):
        cy, cx = int(centre[0, i] * 8), int(centre[1, i] * 8)
        expected = torch.ones(8, 8)
        expected[max(cy - before, 0):cy + after, max(cx - before, 0):cx + after] = 0
        torch.testing.assert_close(out[i, 0], expected)
        torch.testing.assert_close(out[i, 1], expected)


def test_randaugment_is_seeded_keeps_the_range_and_leaves_its_input():
    x = torch.rand(64, 3, 12, 12, generator=torch.Generator().manual_seed(1)) * 4 - 2
    before = x.clone()
    def augment(seed):
        return ra.randaugment(x, low=-2.0, high=2.0,
                              generator=torch.Generator().manual_seed(seed))

    a, b, c = augment(3), augment(3), augment(4)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    torch.testing.assert_close(x, before, rtol=0, atol=0)
    assert a.min() >= -2.0 - 1e-6 and a.max() <= 2.0 + 1e-6
    # Cutout: every image has a blanked square of 6 x 6 at the fill (0.5 -> 0.0)
    assert bool(((a == 0.0).flatten(1).sum(1) >= 3 * 9).all())


def test_randaugment_without_operations_or_cutout_is_the_identity():
    x = torch.rand(8, 1, 10, 10, generator=torch.Generator().manual_seed(2))
    generator = torch.Generator().manual_seed(0)
    out = ra.randaugment(x, prob=0.0, cutout_share=0.0, fill=0.0,
                         generator=generator)
    torch.testing.assert_close(out, x)
    # no Cutout, no draw for it: only the operations' draws were made
    replay = torch.Generator().manual_seed(0)
    torch.rand(3, 2, 8, generator=replay)
    torch.randint(len(ra.OPERATIONS), (2, 8), generator=replay)
    assert torch.equal(generator.get_state(), replay.get_state())


@pytest.mark.parametrize("shape", [(4, 10), (2, 1, 3, 4, 4)])
def test_randaugment_rejects_what_is_not_an_image_batch(shape):
    with pytest.raises(ValueError, match=r"needs image batches \(N, C, H, W\)"):
        ra.randaugment(torch.rand(*shape))


@pytest.mark.parametrize("channels", [1, 2, 4])
def test_color_and_contrast_use_the_channel_mean_as_gray_unless_rgb(channels):
    # 3 images of different brightness: each is judged by its own gray
    z = torch.rand(3, channels, 5, 6, generator=torch.Generator().manual_seed(3))
    z = z * torch.tensor([0.3, 0.6, 1.0]).view(3, 1, 1, 1)
    v = torch.tensor([0.0, 0.5, 1.0])
    factor = (0.05 + 0.9 * v).view(3, 1, 1, 1)
    gray = z.mean(dim=1, keepdim=True)
    torch.testing.assert_close(ra._color(z, v), gray + factor * (z - gray))
    mean = gray.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(ra._contrast(z, v), mean + factor * (z - mean))


def _matrix(name, v):
    """FixMatch's table, by hand: the output -> input map of one operation in
    affine_grid's coordinates (the side spans 2, so 30 % of it is 0.6)."""
    m = torch.eye(3)
    if name == "rotate":
        a = np.radians(30) * v
        m[:2, :2] = torch.tensor([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    elif name == "shear_x":
        m[0, 1] = 0.3 * v
    elif name == "shear_y":
        m[1, 0] = 0.3 * v
    elif name == "translate_x":
        m[0, 2] = 0.6 * v
    elif name == "translate_y":
        m[1, 2] = 0.6 * v
    return m


def _by_hand(x, seed, *, low, high, fill):
    """randaugment one image at a time, from FixMatch's recipe and the same
    draws: 2 operations per image, each applied with probability 1/2 at a
    magnitude whose sign (for the geometric ones) is drawn too; the geometric
    ones composed into one resampling, then the photometric ones in order,
    then a Cutout square of half the side at the drawn centre."""
    g = torch.Generator().manual_seed(seed)
    n, _, h, w = x.shape
    draw = torch.rand(3, 2, n, generator=g)
    ops = torch.randint(len(ra.OPERATIONS), (2, n), generator=g)
    centre = torch.rand(2, n, generator=g)
    scale = (high - low) or 1.0
    size = round(0.5 * min(h, w))
    out = []
    for i in range(n):
        z = (x[i:i + 1] - low) / scale
        names = [ra.OPERATIONS[ops[s, i]] if draw[0, s, i] < 0.5 else "identity"
                 for s in range(2)]
        signed = [float(-draw[1, s, i] if draw[2, s, i] < 0.5 else draw[1, s, i])
                  for s in range(2)]
        if any(name in ra._GEOMETRIC for name in names):
            theta = _matrix(names[1], signed[1]) @ _matrix(names[0], signed[0])
            grid = F.affine_grid(theta[None, :2], list(z.shape), align_corners=False)
            z = F.grid_sample(z - fill, grid, align_corners=False) + fill
        for name, v in zip(names, signed):
            if name in ra._PHOTOMETRIC:
                z = ra._PHOTOMETRIC[name](z, torch.tensor([abs(v)])).clamp(0, 1)
        z = z.clone()
        cy, cx = int(centre[0, i] * h), int(centre[1, i] * w)
        top, left = cy - size // 2, cx - size // 2
        z[..., max(top, 0):top + size, max(left, 0):left + size] = fill
        out.append(low + z * scale)
    return torch.cat(out), g.get_state()


@pytest.mark.parametrize("low, high, fill", [(None, None, 0.5), (-2.0, 3.0, 0.0),
                                             (0.25, 0.25, 0.5)])
def test_randaugment_is_the_recipe_applied_image_by_image(low, high, fill):
    # 200 images: about 6 draw two geometric operations, 40 two photometric
    # ones. (0.25, 0.25): a constant batch is handled on a unit range
    # 12 x 16: Cutout's side is half the shorter side
    x = torch.rand(200, 3, 12, 16, generator=torch.Generator().manual_seed(4))
    kwargs = {}
    if low is None:  # the defaults: images in [0, 1]
        low, high = 0.0, 1.0
    else:
        x = low + x * (high - low)
        kwargs = dict(low=low, high=high)
    generator = torch.Generator().manual_seed(9)
    out = ra.randaugment(x, fill=fill, generator=generator, **kwargs)
    expected, state = _by_hand(x, 9, low=low, high=high, fill=fill)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
    # and it drew nothing more: the next batch's draws follow on
    assert torch.equal(generator.get_state(), state)
    assert not torch.equal(out, x)
