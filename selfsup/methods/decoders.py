"""The image decoder and reconstruction error the generative methods (DAE, VAE) share."""

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Reconstruction = Literal["mse", "bce"]
START_SIDE_MAX = 4  # the decoder starts from a map no larger than this, then doubles up to the image side


def stage_sides(image_size: int) -> list[int]:
    """Sides of the decoder's maps, smallest first: halve (rounding up) to at most 4 px. 24 -> [3, 6, 12, 24]."""
    sides = [image_size]
    while sides[-1] > START_SIDE_MAX:
        sides.append(math.ceil(sides[-1] / 2))
    return sides[::-1]


class ConvDecoder(nn.Module):
    """(B, D) vector -> (B, 3, S, S) image logits, for any side S.

    A linear layer makes a (width, s, s) map with s <= 4; each stage then upsamples (nearest) to the next side
    of :func:`stage_sides` and convolves (3x3, BatchNorm, ReLU), halving the channels down to ``min_width``.
    Upsampling to exact sides rather than by a fixed factor lands on S with no cropping, whatever S is.
    """

    def __init__(self, in_dim: int, image_size: int, *, width: int = 128, min_width: int = 16) -> None:
        super().__init__()
        sides = stage_sides(image_size)
        self.start_shape = (width, sides[0], sides[0])
        self.project = nn.Linear(in_dim, width * sides[0] ** 2)
        layers: list[nn.Module] = []
        channels = width
        for side in sides[1:]:
            out = max(channels // 2, min_width)
            layers += [
                nn.Upsample(size=(side, side), mode="nearest"),
                nn.Conv2d(channels, out, 3, padding=1, bias=False),
            ]
            layers += [nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
        layers.append(nn.Conv2d(channels, 3, 3, padding=1))
        self.stages = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        start = F.relu(self.project(z)).view(-1, *self.start_shape)  # (B, width, s, s)
        return self.stages(start)  # (B, 3, S, S) logits; sigmoid gives the image in [0, 1]


def reconstruction_error(logits: torch.Tensor, target: torch.Tensor, kind: Reconstruction) -> torch.Tensor:
    """Per-element error (B, 3, S, S) of decoded logits against target images in [0, 1], in float32.

    ``"mse"``: squared error of ``sigmoid(logits)`` (a Gaussian decoder); ``"bce"``: binary cross-entropy on the
    logits (a Bernoulli decoder, as Kingma & Welling use for MNIST; numerically stable under autocast).
    """
    logits, target = logits.float(), target.float()
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (torch.sigmoid(logits) - target).pow(2)
