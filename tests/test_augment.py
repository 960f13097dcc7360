"""Augmentation: shifts against a per-image loop, seeding, flips, noise."""

import numpy as np
import pytest
import torch

from skmixal.augment import (
    augment_batch,
    default_augment,
    default_shift,
    flip,
    noise,
    shift,
)


def _shift_by_hand(x, max_shift, seed, mode="constant"):
    # the same offsets as shift() draws, applied image by image with slicing
    n, _, height, width = x.shape
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n),
                            generator=torch.Generator().manual_seed(seed))
    out = np.zeros_like(x.numpy())
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (max_shift,) * 2, (max_shift,) * 2),
                    mode=mode)
    for i in range(n):
        dy, dx = int(offsets[0, i]), int(offsets[1, i])
        out[i] = padded[i, :, dy:dy + height, dx:dx + width]
    return out


@pytest.mark.parametrize("shape, max_shift", [((5, 1, 8, 8), 1), ((4, 3, 7, 9), 2),
                                              ((6, 2, 10, 11), 3)])
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


@pytest.mark.parametrize("shape, max_shift, used", [
    ((5, 3, 8, 8), 1, 1), ((4, 3, 12, 9), 3, 3),
    # reflection needs a pad under the side: clamped to the shorter side - 1
    ((3, 1, 3, 5), 4, 2), ((3, 1, 5, 3), 4, 2), ((3, 1, 4, 6), 5, 3),
    ((3, 1, 6, 4), 5, 3),
])
def test_reflect_shift_matches_numpys_reflect_padding(shape, max_shift, used):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(2))
    out = shift(x, max_shift, generator=torch.Generator().manual_seed(5),
                padding="reflect")
    np.testing.assert_array_equal(out.numpy(),
                                  _shift_by_hand(x, used, 5, mode="reflect"))


def test_zero_padding_is_not_clamped_like_reflection():
    # zeros can be shifted in from any distance: a shift past the side is kept
    x = torch.rand((6, 1, 3, 4), generator=torch.Generator().manual_seed(0))
    out = shift(x, 5, generator=torch.Generator().manual_seed(1))
    np.testing.assert_array_equal(out.numpy(), _shift_by_hand(x, 5, 1))


def _crop_flip_by_hand(x, seed):
    """crop+flip with its draws in their documented order: the (2, n) offsets of
    the crop, then one uniform number per image (flipped below 0.5)."""
    n, _, height, width = x.shape
    s = max(1, min(height, width) // 8)
    gen = torch.Generator().manual_seed(seed)
    offsets = torch.randint(0, 2 * s + 1, (2, n), generator=gen)
    flips = torch.rand(n, generator=gen) < 0.5
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (s, s), (s, s)), mode="reflect")
    out = np.empty_like(x.numpy())
    for i in range(n):
        dy, dx = int(offsets[0, i]), int(offsets[1, i])
        out[i] = padded[i, :, dy:dy + height, dx:dx + width]
        if flips[i]:
            out[i] = out[i, :, :, ::-1]
    return out


@pytest.mark.parametrize("shape", [(7, 3, 64, 64), (7, 3, 24, 40), (7, 3, 40, 24),
                                   (7, 1, 9, 9)])
def test_crop_flip_draws_in_a_fixed_order(shape):
    # the same generator state gives the same views: reproducible fits depend
    # on the order and number of draws, not only on their distribution
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    out = augment_batch(x, "crop+flip", torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(out.numpy(), _crop_flip_by_hand(x, 3))


def test_shift_without_room_or_images_returns_a_copy():
    x = torch.rand(3, 1, 5, 5)
    for max_shift in (0, -2):
        out = shift(x, max_shift, generator=torch.Generator().manual_seed(0))
        assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()
    empty = shift(torch.zeros(0, 1, 5, 5), 2)
    assert empty.shape == (0, 1, 5, 5)


def test_a_single_image_is_shifted_too():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1.0
    moved = {tuple(torch.nonzero(shift(x, 1, generator=torch.Generator()
                                       .manual_seed(seed))[0, 0])[0].tolist())
             for seed in range(40)}
    assert moved == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}


def _views(image, s, mode):
    """Every crop of ``image`` padded by ``s`` (offsets -s..s), and their flips."""
    _, height, width = image.shape
    padded = np.pad(image, ((0, 0), (s, s), (s, s)), mode=mode)
    views = {}
    for dy in range(2 * s + 1):
        for dx in range(2 * s + 1):
            crop = padded[:, dy:dy + height, dx:dx + width]
            views[(dy - s, dx - s, False)] = crop
            views[(dy - s, dx - s, True)] = crop[:, :, ::-1]
    return views


def _which_view(out, image, s, mode):
    found = [key for key, view in _views(image, s, mode).items()
             if np.array_equal(view, out)]
    assert found, "the output is not a crop (or flipped crop) of the padded image"
    return found[0]


@pytest.mark.parametrize("shape, side_eighth", [
    ((300, 3, 32, 32), 4),   # CIFAR: 1/8 of 32
    ((300, 3, 40, 24), 3),   # the shorter side counts
    ((200, 3, 8, 8), 1),
    ((200, 3, 6, 6), 1),     # under 8 pixels: still 1
])
def test_crop_flip_is_a_reflect_padded_crop_by_an_eighth_then_half_flipped(
        shape, side_eighth):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    out = augment_batch(x, "crop+flip", generator=torch.Generator().manual_seed(1))
    seen = [_which_view(out[i].numpy(), x[i].numpy(), side_eighth, "reflect")
            for i in range(len(x))]
    offsets = {(dy, dx) for dy, dx, _ in seen}
    # the extremes occur: the crop reaches exactly +-side/8, no further
    assert {dy for dy, _ in offsets} == set(range(-side_eighth, side_eighth + 1))
    assert {dx for _, dx in offsets} == set(range(-side_eighth, side_eighth + 1))
    flipped = np.mean([f for _, _, f in seen])
    assert 0.35 < flipped < 0.65


def test_weak_augmentations_differ_in_padding_and_flips():
    ones = torch.ones(50, 3, 16, 16)
    gen = torch.Generator
    # reflection keeps a uniform image uniform; zero padding shifts black in
    assert torch.equal(augment_batch(ones, "crop+flip", gen().manual_seed(0)), ones)
    shifted = augment_batch(ones, "shift", gen().manual_seed(0))
    assert (shifted == 0).any()
    # 'shift' never flips; 'shift+flip' flips about half
    x = torch.rand(200, 1, 12, 12, generator=gen().manual_seed(3))
    s = default_shift(12, 12)
    plain = augment_batch(x, "shift", gen().manual_seed(4))
    assert not any(_which_view(plain[i].numpy(), x[i].numpy(), s, "constant")[2]
                   for i in range(200))
    both = augment_batch(x, "shift+flip", gen().manual_seed(4))
    share = np.mean([_which_view(both[i].numpy(), x[i].numpy(), s, "constant")[2]
                     for i in range(200)])
    assert 0.35 < share < 0.65


@pytest.mark.parametrize("input_shape, expected", [
    ((3, 32, 32), "crop+flip"), ((1, 28, 28), "shift"), ((4, 8, 8), "shift"),
    ((64,), None), ((8, 8), None), ((1, 3, 32, 32), None),
])
def test_default_augment_by_input_shape(input_shape, expected):
    assert default_augment(input_shape) == expected


def test_noise_is_x_plus_a_tenth_of_each_features_spread_times_gaussian():
    x = torch.tensor([[0.0, 10.0], [2.0, 30.0], [4.0, 20.0]])
    out = noise(x, generator=torch.Generator().manual_seed(0))
    z = torch.randn(3, 2, generator=torch.Generator().manual_seed(0))
    spread = torch.tensor([[2.0, 10.0]])  # sample std of each column, by hand
    torch.testing.assert_close(out, x + 0.1 * spread * z)
    via_kind = augment_batch(x, "noise", torch.Generator().manual_seed(0))
    torch.testing.assert_close(via_kind, out)


def test_noise_needs_two_rows_for_a_spread():
    one = torch.tensor([[1.0, 2.0]])
    out = noise(one, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, one) and out.data_ptr() != one.data_ptr()
    two = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    assert not torch.equal(noise(two, generator=torch.Generator().manual_seed(0)),
                           two)


@pytest.mark.parametrize("side, pixels", [(8, 1), (20, 1), (28, 2), (32, 2),
                                          (48, 3), (100, 7)])
def test_default_shift_values(side, pixels):
    assert default_shift(side, side) == pixels
    assert default_shift(side, 1000) == pixels  # the shorter side counts


def test_image_kinds_refuse_five_dimensional_batches():
    with pytest.raises(ValueError, match=r"augment='shift' needs image batches"):
        augment_batch(torch.zeros(2, 1, 1, 4, 4), "shift")
