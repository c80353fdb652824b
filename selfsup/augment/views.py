"""View recipes: the augmentation pipeline a method applies to make each view."""

from dataclasses import dataclass

import torch
from torch import nn

from selfsup.augment.color import color_distortion, gaussian_blur, solarize
from selfsup.augment.geometry import random_resized_crop

BLUR_MIN_SIZE = 64  # SimCLR drops blur on CIFAR-sized images: a 3 px kernel mostly erases them


@dataclass(frozen=True)
class ViewRecipe:
    """One view's augmentation. Defaults are SimCLR's (Chen et al., 2020, appendix A) at strength 0.5."""

    size: int
    min_scale: float = 0.08
    max_scale: float = 1.0
    jitter_strength: float = 0.5
    jitter_prob: float = 0.8
    gray_prob: float = 0.2
    blur_prob: float = 0.5
    solarize_prob: float = 0.0


class ViewAugment(nn.Module):
    """Crop and flip, colour distortion, blur (only at >= 64 px) and solarization, batched."""

    def __init__(self, recipe: ViewRecipe) -> None:
        super().__init__()
        self.recipe = recipe
        self.blurs = recipe.size >= BLUR_MIN_SIZE and recipe.blur_prob > 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        r, s = self.recipe, self.recipe.jitter_strength
        views = random_resized_crop(images, r.size, scale=(r.min_scale, r.max_scale))
        views = color_distortion(
            views,
            brightness=0.8 * s,
            contrast=0.8 * s,
            saturation=0.8 * s,
            hue=0.2 * s,
            jitter_prob=r.jitter_prob,
            gray_prob=r.gray_prob,
        )
        if self.blurs:
            views = gaussian_blur(views, prob=r.blur_prob, sigma=(0.1, 2.0))
        if r.solarize_prob > 0:
            views = solarize(views, prob=r.solarize_prob)
        return views


def simclr_view(size: int, *, min_scale: float = 0.08, jitter_strength: float = 0.5) -> ViewAugment:
    return ViewAugment(ViewRecipe(size=size, min_scale=min_scale, jitter_strength=jitter_strength))


def to_float_images(batch: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [0, 1]."""
    return batch.permute(0, 3, 1, 2).float().div_(255).contiguous()
