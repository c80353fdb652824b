"""Barlow Twins (Zbontar et al., 2021, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction")."""

from dataclasses import dataclass
from typing import Annotated

import torch
from lightly.loss import BarlowTwinsLoss
from lightly.models.modules import BarlowTwinsProjectionHead
from pydantic import Field

from selfsup.backbones import Backbone
from selfsup.methods.base import SSLMethod
from selfsup.methods.byol import byol_views
from selfsup.methods.registry import register_method
from selfsup.params import TrainingParams


@dataclass(frozen=True)
class BarlowTwinsParams(TrainingParams):
    redundancy_weight: Annotated[
        float, Field(gt=0, le=1, description="Weight lambda of the off-diagonal (redundancy) term.")
    ] = 0.005
    projection_dim: Annotated[int, Field(ge=8, le=8192, description="Output size of the projector.")] = 2048
    hidden_dim: Annotated[int, Field(ge=8, le=8192, description="Hidden size of the projector.")] = 2048
    min_scale: Annotated[float, Field(gt=0, le=1, description="Smallest crop, as area fraction.")] = 0.08
    jitter_strength: Annotated[float, Field(ge=0, le=2, description="Colour distortion strength s.")] = 0.5


@register_method("barlow_twins", family="contrastive", modalities=("image",), params=BarlowTwinsParams)
class BarlowTwins(SSLMethod):
    """Barlow Twins: the cross-correlation of two views' projections is pushed towards the identity.

    With C the (P, P) cross-correlation of the batch-standardized projections, the loss is
    sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2 (Barlow Twins, eq. 1). Views are BYOL's asymmetric pair.
    """

    def __init__(self, params: BarlowTwinsParams, backbone: Backbone) -> None:
        super().__init__(params, backbone)
        self.first_view, self.second_view = byol_views(
            backbone.spec.image_size, min_scale=params.min_scale, jitter_strength=params.jitter_strength
        )
        self.projection = BarlowTwinsProjectionHead(backbone.dim, params.hidden_dim, params.projection_dim)
        self.criterion = BarlowTwinsLoss(lambda_param=params.redundancy_weight)

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.first_view(images), self.second_view(images)]  # 2 x (B, 3, H, W)

    def training_loss(self, views: list[torch.Tensor]) -> torch.Tensor:
        z0, z1 = self.projection(self.backbone(torch.cat(views))).chunk(2)  # 2 x (B, P)
        # Batch statistics and a sum over P^2 entries lose too much in bfloat16: take the loss in float32.
        with torch.autocast(z0.device.type, enabled=False):
            return self.criterion(z0.float(), z1.float())
