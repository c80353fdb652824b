"""Colour distortion as one 3x3 colour matrix and offset per image; blur and solarization on a subset.

Brightness, contrast, saturation, hue rotation and grayscale are all linear maps of RGB (contrast adds a
per-image offset), so their composition is a single (B, 3, 3) matrix and one pass over the pixels. Compared
with applying kornia's ColorJitter and RandomGrayscale module by module (an RGB->HSV->RGB round trip for hue
and a clamp after each op), this is several times cheaper on CPU while drawing the same factors. It differs
from torchvision in two small ways: the ops run in a fixed order, and only the result is clamped to [0, 1].
"""

import math

import kornia
import torch

LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601 weights, as torchvision and kornia use for grayscale
RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ)
GRAY_MAP = torch.ones(3, 1) @ LUMA.view(1, 3)  # RGB -> (Y, Y, Y)


def _factor(draw: torch.Tensor, spread: float, applied: torch.Tensor) -> torch.Tensor:
    """1 + U(-spread, spread) from U(0, 1) draws where ``applied``, else exactly 1 (the identity)."""
    return 1 + (draw * 2 - 1) * spread * applied


def hue_rotation(angle: torch.Tensor) -> torch.Tensor:
    """(B,) angles in radians -> (B, 3, 3) RGB matrices rotating the chroma plane of YIQ; gray stays gray."""
    cos, sin, one, zero = torch.cos(angle), torch.sin(angle), torch.ones_like(angle), torch.zeros_like(angle)
    rotation = torch.stack([one, zero, zero, zero, cos, -sin, zero, sin, cos], dim=1).view(-1, 3, 3)
    return YIQ_TO_RGB.to(angle.device) @ rotation @ RGB_TO_YIQ.to(angle.device)


def color_distortion(
    images: torch.Tensor,
    *,
    brightness: float,
    contrast: float,
    saturation: float,
    hue: float,
    jitter_prob: float,
    gray_prob: float,
) -> torch.Tensor:
    """Colour jitter with probability ``jitter_prob`` then grayscale with ``gray_prob``, per image.

    ``brightness``, ``contrast`` and ``saturation`` are the spreads of their factors around 1; ``hue`` is the
    largest shift as a fraction of a full turn (torchvision's convention).
    """
    draws = torch.rand(images.shape[0], 6, device=images.device)  # one call for every per-image draw
    jitter = (draws[:, 0] < jitter_prob).float()
    return apply_color_transform(
        images,
        brightness=_factor(draws[:, 1], brightness, jitter),
        contrast=_factor(draws[:, 2], contrast, jitter),
        saturation=_factor(draws[:, 3], saturation, jitter),
        hue_angle=(draws[:, 4] * 2 - 1) * (hue * 2 * math.pi) * jitter,
        grayscale=draws[:, 5] < gray_prob,
    )


def apply_color_transform(
    images: torch.Tensor,
    *,
    brightness: torch.Tensor,
    contrast: torch.Tensor,
    saturation: torch.Tensor,
    hue_angle: torch.Tensor,
    grayscale: torch.Tensor,
) -> torch.Tensor:
    """Brightness, contrast, saturation, hue rotation, then grayscale where asked: all (B,) per image."""
    batch, device = images.shape[0], images.device
    luma, gray_map, eye = LUMA.to(device), GRAY_MAP.to(device), torch.eye(3, device=device)
    sat = saturation.view(batch, 1, 1)
    matrix = hue_rotation(hue_angle) @ (sat * eye + (1 - sat) * gray_map)  # (B, 3, 3)
    matrix = torch.where(grayscale.view(batch, 1, 1), gray_map @ matrix, matrix)
    matrix = matrix * (brightness * contrast).view(batch, 1, 1)
    # Contrast blends towards the mean gray of the brightened image. Gray is a fixed point of saturation,
    # hue rotation and grayscale, so that blend passes through them as a plain per-image offset.
    mean_gray = torch.einsum("c,bchw->b", luma, images) / images[0, 0].numel()
    offset = ((1 - contrast) * brightness * mean_gray).view(batch, 1, 1, 1)
    return (torch.einsum("bij,bjhw->bihw", matrix, images) + offset).clamp_(0, 1)


def gaussian_blur(images: torch.Tensor, *, prob: float, sigma: tuple[float, float]) -> torch.Tensor:
    """Blur a random subset of images (kernel about 10% of the side, sigma drawn per image)."""
    chosen = torch.nonzero(torch.rand(images.shape[0], device=images.device) < prob).flatten()
    if chosen.numel() == 0:
        return images
    side = images.shape[-1]
    kernel = 2 * max(side // 20, 1) + 1
    sigmas = torch.empty(chosen.numel(), device=images.device).uniform_(*sigma)
    blurred = kornia.filters.gaussian_blur2d(images[chosen], (kernel, kernel), sigmas.unsqueeze(1).expand(-1, 2))
    return images.index_copy(0, chosen, blurred)


def solarize(images: torch.Tensor, *, prob: float, threshold: float = 0.5) -> torch.Tensor:
    """Invert pixels above ``threshold`` in a random subset of images (BYOL's asymmetric augmentation)."""
    chosen = (torch.rand(images.shape[0], device=images.device) < prob).view(-1, 1, 1, 1)
    return torch.where(chosen & (images >= threshold), 1 - images, images)
