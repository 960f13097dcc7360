"""Strong augmentation: each operation against Pillow or a hand-written formula,
the geometry against pixel shifts, Cutout against a hand-placed box, seeding."""

import numpy as np
import pytest
import torch
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


def test_cutout_blanks_one_square_per_image_at_the_drawn_centre():
    z = torch.ones(3, 2, 8, 8)
    out = ra.cutout(z, 4, 0.0, generator=torch.Generator().manual_seed(5))
    centre = torch.rand(2, 3, generator=torch.Generator().manual_seed(5))
    for i in range(3):
        cy, cx = int(centre[0, i] * 8), int(centre[1, i] * 8)
        expected = torch.ones(8, 8)
        expected[max(cy - 2, 0):cy + 2, max(cx - 2, 0):cx + 2] = 0
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


def test_randaugment_with_no_operation_applied_is_cutout_only():
    x = torch.rand(8, 1, 10, 10, generator=torch.Generator().manual_seed(2))
    out = ra.randaugment(x, prob=0.0, cutout_share=0.0, fill=0.0,
                         generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x)


def test_randaugment_rejects_vectors():
    with pytest.raises(ValueError, match=r"needs image batches \(N, C, H, W\)"):
        ra.randaugment(torch.rand(4, 10))
