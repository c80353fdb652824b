"""Batched SimCLR views on the device: shapes, ranges, randomness and the YIQ hue rotation."""

import numpy as np
import pytest
import torch
from kornia.augmentation import RandomGaussianBlur

from selfsup.augment import BLUR_MIN_SIZE, RandomHueRotation, simclr_view, to_float_images

RGB_TO_Y = torch.tensor([0.299, 0.587, 0.114])


def test_to_float_images_reorders_and_scales() -> None:
    batch = torch.randint(0, 256, (2, 5, 5, 3), dtype=torch.uint8)
    batch[0, 0, 0] = torch.tensor([0, 128, 255], dtype=torch.uint8)
    images = to_float_images(batch)
    assert images.shape == (2, 3, 5, 5) and images.dtype == torch.float32 and images.is_contiguous()
    torch.testing.assert_close(images[0, :, 0, 0], torch.tensor([0.0, 128 / 255, 1.0]))
    torch.testing.assert_close(images.permute(0, 2, 3, 1) * 255, batch.float())


@pytest.mark.parametrize("size", [16, 32, 64])
def test_view_keeps_shape_and_range(digits: np.ndarray, size: int) -> None:
    torch.manual_seed(0)
    images = torch.nn.functional.interpolate(
        to_float_images(torch.tensor(digits[:16])), size=(size, size), mode="bilinear"
    ).clamp(0, 1)
    images = images * torch.rand(16, 3, 1, 1)  # colour the digits so jitter and hue have work to do
    view = simclr_view(size)(images)
    assert view.shape == images.shape
    assert view.dtype == torch.float32
    assert view.min() >= 0 and view.max() <= 1


def test_two_views_of_one_batch_differ(digits: np.ndarray) -> None:
    torch.manual_seed(0)
    images = to_float_images(torch.tensor(digits[:16]))
    augment = simclr_view(32)
    first, second = augment(images), augment(images)
    assert not torch.equal(first, second)
    per_image_change = (first - second).abs().flatten(1).amax(dim=1)
    assert (per_image_change > 0.05).float().mean() > 0.9  # independent draws per image, not one per batch


def test_views_are_reproducible_from_the_seed(digits: np.ndarray) -> None:
    images = to_float_images(torch.tensor(digits[:8]))
    augment = simclr_view(32)
    torch.manual_seed(3)
    first = augment(images)
    torch.manual_seed(3)
    torch.testing.assert_close(augment(images), first, rtol=0, atol=0)


def test_blur_only_at_sizes_where_it_helps() -> None:
    def has_blur(size: int) -> bool:
        return any(isinstance(op, RandomGaussianBlur) for op in simclr_view(size).modules())

    assert BLUR_MIN_SIZE == 64
    assert not has_blur(32) and not has_blur(63)
    assert has_blur(64) and has_blur(224)


def test_zero_hue_is_identity() -> None:
    images = torch.rand(8, 3, 12, 12)
    torch.testing.assert_close(RandomHueRotation(hue=0.0, p=1.0)(images.clone()), images, rtol=0, atol=1e-5)
    torch.testing.assert_close(RandomHueRotation(hue=0.5, p=0.0)(images.clone()), images, rtol=0, atol=1e-5)


@pytest.mark.parametrize("hue", [0.1, 0.25, 0.5])
def test_hue_rotation_keeps_gray_gray(hue: float) -> None:
    torch.manual_seed(0)
    gray = torch.rand(16, 1, 10, 10).expand(16, 3, 10, 10).contiguous()
    out = RandomHueRotation(hue=hue, p=1.0)(gray.clone())
    torch.testing.assert_close(out, gray, rtol=0, atol=1e-5)


def test_hue_rotation_changes_colour_but_not_luma() -> None:
    torch.manual_seed(0)
    # Low-saturation colours around mid-gray: no rotation can push them out of [0, 1], so nothing is clamped.
    images = 0.5 + 0.1 * (torch.rand(16, 3, 10, 10) * 2 - 1)
    out = RandomHueRotation(hue=0.5, p=1.0)(images.clone())
    assert (out - images).abs().amax() > 0.02  # the hue really moved
    luma_in = torch.einsum("c,bchw->bhw", RGB_TO_Y, images)
    luma_out = torch.einsum("c,bchw->bhw", RGB_TO_Y, out)
    torch.testing.assert_close(luma_out, luma_in, rtol=0, atol=1e-5)


def test_hue_rotation_clamps_to_the_unit_range() -> None:
    torch.manual_seed(0)
    # Pure primaries sit on the gamut's corners: almost any rotation of their chroma leaves [0, 1].
    saturated = torch.eye(3).view(3, 3, 1, 1).repeat(16, 1, 4, 4)  # (48, 3, 4, 4) red, green, blue
    out = RandomHueRotation(hue=0.5, p=1.0)(saturated)
    assert out.min() >= 0 and out.max() <= 1
    assert (out == 0).any() and (out == 1).any()  # clamped at both ends, not merely small rotations
