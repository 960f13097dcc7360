"""Augmentation: shifts against a per-image loop, seeding, flips, noise."""

import numpy as np
import pytest
import torch

from skmixal.augment import augment_batch, default_shift, flip, noise, shift


def _shift_by_hand(x, max_shift, seed):
    # the same offsets as shift() draws, applied image by image with slicing
    n, _, height, width = x.shape
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n),
                            generator=torch.Generator().manual_seed(seed))
    out = np.zeros_like(x.numpy())
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (max_shift,) * 2, (max_shift,) * 2))
    for i in range(n):
        dy, dx = int(offsets[0, i]), int(offsets[1, i])
        out[i] = padded[i, :, dy:dy + height, dx:dx + width]
    return out


@pytest.mark.parametrize("shape, max_shift", [((5, 1, 8, 8), 1), ((4, 3, 7, 9), 2)])
def test_shift_matches_a_per_image_loop(shape, max_shift):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    before = x.clone()
    out = shift(x, max_shift, generator=torch.Generator().manual_seed(7))
    np.testing.assert_array_equal(out.numpy(), _shift_by_hand(x, max_shift, 7))
    torch.testing.assert_close(x, before, rtol=0, atol=0)  # input untouched
    assert out.data_ptr() != x.data_ptr()


def test_shift_moves_pixels_and_keeps_their_values():
    x = torch.zeros(200, 1, 6, 6)
    x[:, 0, 2, 3] = 1.0  # one lit pixel per image
    out = shift(x, 1, generator=torch.Generator().manual_seed(0))
    assert torch.all(out.sum(dim=(1, 2, 3)) == 1.0)  # 1-pixel shifts keep it inside
    rows = out[:, 0].sum(dim=2).argmax(dim=1)
    cols = out[:, 0].sum(dim=1).argmax(dim=1)
    # every offset in [-1, 1] x [-1, 1] occurs
    assert set(zip((rows - 2).tolist(), (cols - 3).tolist())) == {
        (dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}


def test_augmentations_are_seeded():
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for kind in ("shift", "shift+flip", "noise"):
        a = augment_batch(x, kind, torch.Generator().manual_seed(3))
        b = augment_batch(x, kind, torch.Generator().manual_seed(3))
        c = augment_batch(x, kind, torch.Generator().manual_seed(4))
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert not torch.equal(a, c)


def test_flip_mirrors_about_half_the_images():
    x = torch.arange(4.0).repeat(1000, 1, 1, 1)  # (1000, 1, 1, 4)
    out = flip(x, generator=torch.Generator().manual_seed(0))
    mirrored = torch.all(out == x.flip(-1), dim=(1, 2, 3))
    kept = torch.all(out == x, dim=(1, 2, 3))
    assert torch.all(mirrored ^ kept)
    assert 430 < int(mirrored.sum()) < 570  # Binomial(1000, 0.5): 4.4 sigma


def test_noise_scales_with_each_features_spread():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 2, generator=gen) * torch.tensor([1.0, 100.0])
    delta = noise(x, std=0.1, generator=torch.Generator().manual_seed(1)) - x
    np.testing.assert_allclose(delta.std(dim=0).numpy(), [0.1, 10.0], rtol=0.05)
    torch.testing.assert_close(noise(x[:1]), x[:1])  # one row has no spread


def test_default_shift_is_a_fourteenth_of_the_side():
    assert [default_shift(s, s) for s in (8, 28, 32, 96)] == [1, 2, 2, 7]
    assert default_shift(3, 40) == 1


def test_image_augmentation_needs_image_batches():
    with pytest.raises(ValueError, match=r"augment='shift' needs image batches"):
        augment_batch(torch.zeros(4, 64), "shift")
