"""Multi-crop views (Caron et al., 2020, SwAV, sec. 3.2; reused by DINO, Caron et al., 2021).

Two global crops at the stored size S and N local crops at about 96/224 of it, the ratio both papers use
(224 and 96 px on ImageNet). Each group is augmented in one batched pass: the N local crops of a batch are
drawn as one (N * B)-image batch and split afterwards. Like :class:`selfsup.augment.ViewAugment`, blur is
skipped on crops under ``BLUR_MIN_SIZE``, where a 3 px kernel mostly erases the image.
"""

from dataclasses import dataclass

import torch
from torch import nn

from selfsup.augment.color import color_distortion, gaussian_blur, solarize
from selfsup.augment.geometry import random_resized_crop
from selfsup.augment.views import BLUR_MIN_SIZE

LOCAL_TO_GLOBAL = 96 / 224


def local_crop_size(global_size: int, multiple: int = 1) -> int:
    """``global_size * 96 / 224`` rounded to a multiple of ``multiple`` (a ViT's patch), at least one."""
    return max(multiple, multiple * round(global_size * LOCAL_TO_GLOBAL / multiple))


@dataclass(frozen=True)
class MultiCropRecipe:
    """Sizes, crop scales and photometric augmentation. Defaults are DINO's (``DataAugmentationDINO``).

    ``jitter`` is (brightness, contrast, saturation, hue) as torchvision's ColorJitter takes them. The two
    global crops differ (BYOL's asymmetry): the first is always blurred, the second rarely, and only it
    may be solarized.
    """

    global_size: int
    local_size: int
    num_local: int = 6
    global_scale: tuple[float, float] = (0.4, 1.0)
    local_scale: tuple[float, float] = (0.05, 0.4)
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.2, 0.1)
    jitter_prob: float = 0.8
    gray_prob: float = 0.2
    global_blur_probs: tuple[float, float] = (1.0, 0.1)
    global_solarize_probs: tuple[float, float] = (0.0, 0.2)
    local_blur_prob: float = 0.5


def swav_recipe(global_size: int, local_size: int, num_local: int) -> MultiCropRecipe:
    """SwAV's multi-crop (its appendix A): SimCLR's colour distortion at strength 1, blur at p = 0.5, smaller crops."""
    return MultiCropRecipe(
        global_size=global_size,
        local_size=local_size,
        num_local=num_local,
        global_scale=(0.14, 1.0),
        local_scale=(0.05, 0.14),
        jitter=(0.8, 0.8, 0.8, 0.2),
        global_blur_probs=(0.5, 0.5),
        global_solarize_probs=(0.0, 0.0),
    )


class MultiCrop(nn.Module):
    """(B, 3, H, W) floats in [0, 1] -> [2 x (B, 3, S, S) global crops, N x (B, 3, s, s) local crops]."""

    def __init__(self, recipe: MultiCropRecipe) -> None:
        super().__init__()
        self.recipe = recipe

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        r = self.recipe
        crops = [
            self._augment(images, r.global_size, r.global_scale, blur_prob=blur, solarize_prob=sol)
            for blur, sol in zip(r.global_blur_probs, r.global_solarize_probs, strict=True)
        ]
        if r.num_local:
            batch = images.repeat(r.num_local, 1, 1, 1)  # (N * B, 3, H, W): every local crop in one pass
            local = self._augment(batch, r.local_size, r.local_scale, blur_prob=r.local_blur_prob, solarize_prob=0.0)
            crops += list(local.chunk(r.num_local))
        return crops

    def _augment(
        self, images: torch.Tensor, size: int, scale: tuple[float, float], *, blur_prob: float, solarize_prob: float
    ) -> torch.Tensor:
        r = self.recipe
        brightness, contrast, saturation, hue = r.jitter
        crops = random_resized_crop(images, size, scale=scale)
        crops = color_distortion(
            crops,
            brightness=brightness,
            contrast=contrast,
            saturation=saturation,
            hue=hue,
            jitter_prob=r.jitter_prob,
            gray_prob=r.gray_prob,
        )
        if size >= BLUR_MIN_SIZE and blur_prob > 0:
            crops = gaussian_blur(crops, prob=blur_prob, sigma=(0.1, 2.0))
        if solarize_prob > 0:
            crops = solarize(crops, prob=solarize_prob)
        return crops
