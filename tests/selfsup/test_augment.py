"""Batched views on the device: shapes, ranges, per-image randomness, and the fused colour transform
checked against a plain op-by-op implementation."""

import math

import numpy as np
import pytest
import torch

from selfsup.augment import (
    BLUR_MIN_SIZE,
    apply_color_transform,
    gaussian_blur,
    hue_rotation,
    random_resized_crop,
    simclr_view,
    solarize,
    to_float_images,
)

LUMA = torch.tensor([0.299, 0.587, 0.114])


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
    assert view.shape == images.shape and view.dtype == torch.float32
    assert view.min() >= 0 and view.max() <= 1


def test_two_views_of_one_batch_differ_per_image(digits: np.ndarray) -> None:
    torch.manual_seed(0)
    images = to_float_images(torch.tensor(digits[:16]))
    augment = simclr_view(32)
    first, second = augment(images), augment(images)
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
    assert BLUR_MIN_SIZE == 64
    assert not simclr_view(32).blurs and not simclr_view(63).blurs
    assert simclr_view(64).blurs and simclr_view(224).blurs


def test_full_crop_without_flip_is_the_identity() -> None:
    images = torch.rand(4, 3, 10, 10)
    out = random_resized_crop(images, 10, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_prob=0.0)
    torch.testing.assert_close(out, images, rtol=0, atol=1e-5)
    mirrored = random_resized_crop(images, 10, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_prob=1.0)
    torch.testing.assert_close(mirrored, images.flip(-1), rtol=0, atol=1e-5)


def test_crop_resizes_to_the_requested_size_and_zooms_in() -> None:
    torch.manual_seed(0)
    stripes = torch.arange(32.0).view(1, 1, 1, 32).expand(8, 3, 32, 32) / 31
    out = random_resized_crop(stripes, 12, scale=(0.1, 0.1), flip_prob=0.0)
    assert out.shape == (8, 3, 12, 12)
    spans = out[:, 0, 0, -1] - out[:, 0, 0, 0]  # a small crop covers a narrow band of the ramp
    assert (spans > 0).all() and (spans < 0.7).all()


def reference_color(images: torch.Tensor, b: float, c: float, s: float, angle: float, gray: bool) -> torch.Tensor:
    """Op by op, as the definitions read (no intermediate clamping), for one image (3, H, W)."""
    x = images * b
    x = c * x + (1 - c) * torch.einsum("c,chw->hw", LUMA, x).mean()
    x = s * x + (1 - s) * torch.einsum("c,chw->hw", LUMA, x)
    yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    y = torch.einsum("ij,jhw->ihw", yiq, x)
    i, q = y[1].clone(), y[2].clone()
    y[1], y[2] = math.cos(angle) * i - math.sin(angle) * q, math.sin(angle) * i + math.cos(angle) * q
    x = torch.einsum("ij,jhw->ihw", torch.linalg.inv(yiq), y)
    if gray:
        x = torch.einsum("c,chw->hw", LUMA, x).expand(3, -1, -1)
    return x.clamp(0, 1)


def test_fused_colour_transform_matches_the_op_by_op_definition() -> None:
    torch.manual_seed(0)
    images = 0.2 + 0.6 * torch.rand(6, 3, 7, 7)
    factors = {
        "brightness": torch.tensor([1.0, 1.3, 0.7, 1.1, 0.9, 1.2]),
        "contrast": torch.tensor([1.0, 0.6, 1.4, 1.0, 0.8, 1.1]),
        "saturation": torch.tensor([1.0, 1.2, 0.5, 0.0, 1.4, 0.9]),
        "hue_angle": torch.tensor([0.0, 0.5, -1.0, 2.0, 0.3, -0.2]),
        "grayscale": torch.tensor([False, False, True, False, False, True]),
    }
    out = apply_color_transform(images, **factors)
    for n in range(6):
        expected = reference_color(
            images[n],
            *(float(v[n]) for k, v in factors.items() if k != "grayscale"),
            gray=bool(factors["grayscale"][n]),
        )
        torch.testing.assert_close(out[n], expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(out[0], images[0], rtol=0, atol=1e-6)  # all-neutral factors are the identity


@pytest.mark.parametrize("angle", [0.3, 1.5, math.pi])
def test_hue_rotation_keeps_gray_gray_and_luma_fixed(angle: float) -> None:
    matrix = hue_rotation(torch.tensor([angle]))[0]
    torch.testing.assert_close(matrix @ torch.ones(3), torch.ones(3), rtol=0, atol=1e-5)
    torch.testing.assert_close(LUMA @ matrix, LUMA, rtol=0, atol=1e-5)
    assert (matrix - torch.eye(3)).abs().max() > 0.1


def test_solarize_and_blur_touch_only_chosen_images() -> None:
    images = torch.rand(8, 3, 16, 16)
    inverted = solarize(images, prob=1.0)
    torch.testing.assert_close(inverted, torch.where(images >= 0.5, 1 - images, images))
    torch.testing.assert_close(solarize(images, prob=0.0), images)
    torch.testing.assert_close(gaussian_blur(images, prob=0.0, sigma=(1.0, 2.0)), images)
    blurred = gaussian_blur(images, prob=1.0, sigma=(1.0, 2.0))
    assert blurred.shape == images.shape and blurred.std() < images.std()
