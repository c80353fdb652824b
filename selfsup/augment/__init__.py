"""Batched view augmentation on the training device: one random draw per image, no Python loop over images.

Inputs and outputs are float images in [0, 1], shape (B, 3, H, W).
"""

from selfsup.augment.color import apply_color_transform, color_distortion, gaussian_blur, hue_rotation, solarize
from selfsup.augment.geometry import random_resized_crop
from selfsup.augment.multicrop import LOCAL_TO_GLOBAL, MultiCrop, MultiCropRecipe, local_crop_size, swav_recipe
from selfsup.augment.views import BLUR_MIN_SIZE, ViewAugment, ViewRecipe, simclr_view, to_float_images

__all__ = [
    "BLUR_MIN_SIZE",
    "LOCAL_TO_GLOBAL",
    "MultiCrop",
    "MultiCropRecipe",
    "ViewAugment",
    "ViewRecipe",
    "apply_color_transform",
    "color_distortion",
    "gaussian_blur",
    "hue_rotation",
    "local_crop_size",
    "random_resized_crop",
    "simclr_view",
    "solarize",
    "swav_recipe",
    "to_float_images",
]
