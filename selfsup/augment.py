"""Batched view augmentation on the training device (kornia), one random draw per image.

Inputs and outputs are float images in [0, 1], shape (B, 3, H, W). Nothing here runs per sample in
Python: a whole batch is cropped, flipped and colour-jittered by a handful of tensor ops.
"""

import math

import kornia.augmentation as K
import torch
from torch import nn

BLUR_MIN_SIZE = 64  # SimCLR drops blur on CIFAR-sized images: a 3 px kernel mostly erases them


class RandomHueRotation(nn.Module):
    """Hue shift as a rotation of the chroma plane in YIQ space (a 3x3 colour matrix per image).

    Equivalent in spirit to ColorJitter's hue term but costs one batched matmul instead of an RGB->HSV->RGB
    round trip, which dominated augmentation time on CPU. ``hue`` is the max shift as a fraction of a
    full turn, as in torchvision and kornia.
    """

    _RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])

    def __init__(self, hue: float, p: float) -> None:
        super().__init__()
        self.hue, self.p = hue, p
        self.register_buffer("to_yiq", self._RGB_TO_YIQ, persistent=False)
        self.register_buffer("from_yiq", torch.linalg.inv(self._RGB_TO_YIQ), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        batch = images.shape[0]
        angle = (torch.rand(batch, device=images.device) * 2 - 1) * self.hue * 2 * math.pi
        angle = angle * (torch.rand(batch, device=images.device) < self.p)
        cos, sin = torch.cos(angle), torch.sin(angle)
        rotation = torch.zeros(batch, 3, 3, device=images.device)
        rotation[:, 0, 0] = 1
        rotation[:, 1, 1], rotation[:, 1, 2] = cos, -sin
        rotation[:, 2, 1], rotation[:, 2, 2] = sin, cos
        matrix = self.from_yiq @ rotation @ self.to_yiq  # (B, 3, 3)
        return torch.einsum("bij,bjhw->bihw", matrix, images).clamp_(0, 1)


def simclr_view(
    size: int,
    *,
    min_scale: float = 0.08,
    jitter_strength: float = 0.5,
    jitter_prob: float = 0.8,
    gray_prob: float = 0.2,
) -> nn.Module:
    """SimCLR's view recipe (Chen et al., 2020, appendix A): crop, flip, colour distortion, blur."""
    s = jitter_strength
    ops: list[nn.Module] = [
        K.RandomResizedCrop((size, size), scale=(min_scale, 1.0)),
        K.RandomHorizontalFlip(),
        K.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.0, p=jitter_prob),
        RandomHueRotation(0.2 * s, p=jitter_prob),
        K.RandomGrayscale(p=gray_prob),
    ]
    if size >= BLUR_MIN_SIZE:
        kernel = 2 * (size // 20) + 1  # about 10% of the side, odd
        ops.append(K.RandomGaussianBlur((kernel, kernel), sigma=(0.1, 2.0), p=0.5))
    return nn.Sequential(*ops)


def to_float_images(batch: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [0, 1]."""
    return batch.permute(0, 3, 1, 2).float().div_(255).contiguous()
