"""Random resized crop and horizontal flip for a whole batch in one resampling pass."""

import math

import torch
import torch.nn.functional as F

ASPECT_RATIOS = (3 / 4, 4 / 3)


def random_resized_crop(
    images: torch.Tensor,
    size: int,
    *,
    scale: tuple[float, float],
    ratio: tuple[float, float] = ASPECT_RATIOS,
    flip_prob: float = 0.5,
) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, size, size): a crop of random area and aspect per image, randomly mirrored.

    Parameters follow torchvision's RandomResizedCrop (area fraction in ``scale``, log-uniform aspect in
    ``ratio``), except that a side longer than the image is clamped instead of re-drawn. Crop and flip are one
    axis-aligned affine map per image, so the batch is resampled once (bilinear).
    """
    batch, device = images.shape[0], images.device
    draws = torch.rand(batch, 5, device=device)  # one call: small-tensor ops cost more than the arithmetic
    area = scale[0] + (scale[1] - scale[0]) * draws[:, 0]
    aspect = torch.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * draws[:, 1])
    width = torch.sqrt(area * aspect).clamp_(max=1.0)  # fractions of the side
    height = torch.sqrt(area / aspect).clamp_(max=1.0)
    centre_x = (draws[:, 2] * 2 - 1) * (1 - width)  # in [-1, 1] grid coordinates
    centre_y = (draws[:, 3] * 2 - 1) * (1 - height)
    width = torch.where(draws[:, 4] < flip_prob, -width, width)
    grid = _crop_grid(width, height, centre_x, centre_y, size)
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False)


def _crop_grid(
    width: torch.Tensor, height: torch.Tensor, centre_x: torch.Tensor, centre_y: torch.Tensor, size: int
) -> torch.Tensor:
    """(B, size, size, 2) sampling grid. The map is axis-aligned, so x depends on the column alone and y on
    the row alone: two broadcasts instead of affine_grid's full matrix product."""
    batch = width.shape[0]
    steps = (torch.arange(size, device=width.device, dtype=width.dtype) * 2 + 1) / size - 1  # pixel centres
    grid_x = (width.view(batch, 1, 1) * steps.view(1, 1, size) + centre_x.view(batch, 1, 1)).expand(-1, size, -1)
    grid_y = (height.view(batch, 1, 1) * steps.view(1, size, 1) + centre_y.view(batch, 1, 1)).expand(-1, -1, size)
    return torch.stack((grid_x, grid_y), dim=-1)
