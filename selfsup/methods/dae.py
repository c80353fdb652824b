"""Denoising autoencoder (Vincent et al., 2008, "Extracting and Composing Robust Features with Denoising
Autoencoders")."""

from dataclasses import dataclass
from typing import Annotated

import torch
from pydantic import Field

from selfsup.augment import random_resized_crop
from selfsup.backbones import Backbone
from selfsup.methods.base import SSLMethod
from selfsup.methods.decoders import ConvDecoder, Reconstruction, reconstruction_error
from selfsup.methods.registry import register_method
from selfsup.params import TrainingParams

CROP_SCALE = (0.5, 1.0)  # a light crop: the task is reconstruction, not invariance


@dataclass(frozen=True)
class DAEParams(TrainingParams):
    noise_std: Annotated[float, Field(ge=0, le=1, description="Std of the additive Gaussian pixel noise.")] = 0.1
    mask_ratio: Annotated[float, Field(ge=0, le=0.95, description="Fraction of pixels zeroed (masking noise).")] = 0.25
    reconstruction: Annotated[Reconstruction, Field(description="Reconstruction error: mse or bce.")] = "mse"
    decoder_width: Annotated[int, Field(ge=16, le=1024, description="Channels of the decoder's first map.")] = 64


def corrupt(images: torch.Tensor, *, noise_std: float, mask_ratio: float) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> the same shape with Gaussian noise added and a random fraction of pixels
    (all three channels) set to 0, Vincent et al.'s masking noise; clamped back to [0, 1]."""
    batch, _, height, width = images.shape
    keep = torch.rand(batch, 1, height, width, device=images.device) >= mask_ratio  # (B, 1, H, W)
    noisy = images + noise_std * torch.randn_like(images)
    return (noisy * keep).clamp_(0, 1)


@register_method("dae", family="generative", modalities=("image",), params=DAEParams)
class DAE(SSLMethod):
    """Denoising autoencoder: reconstruct the clean image from the pooled features of a corrupted copy.

    The served embedding is the pooled backbone features (no head).
    """

    def __init__(self, params: DAEParams, backbone: Backbone) -> None:
        super().__init__(params, backbone)
        self.decoder = ConvDecoder(backbone.dim, backbone.spec.image_size, width=params.decoder_width)

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        clean = random_resized_crop(images, self.backbone.spec.image_size, scale=CROP_SCALE)  # (B, 3, S, S)
        p = self.params
        return [clean, corrupt(clean, noise_std=p.noise_std, mask_ratio=p.mask_ratio)]  # target, input

    def training_loss(self, views: list[torch.Tensor]) -> torch.Tensor:
        clean, corrupted = views  # 2 x (B, 3, S, S)
        logits = self.decoder(self.backbone(corrupted))  # (B, D) -> (B, 3, S, S)
        return reconstruction_error(logits, clean, self.params.reconstruction).mean()
