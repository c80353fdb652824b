"""SimSiam (Chen & He, 2021, "Exploring Simple Siamese Representation Learning")."""

from dataclasses import dataclass
from typing import Annotated

import torch
from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules import SimSiamPredictionHead, SimSiamProjectionHead
from pydantic import Field

from selfsup.augment import ViewAugment, ViewRecipe
from selfsup.backbones import Backbone
from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import register_method
from selfsup.params import TrainingParams


@dataclass(frozen=True)
class SimSiamParams(TrainingParams):
    projection_dim: Annotated[int, Field(ge=8, le=8192, description="Output size of both heads.")] = 2048
    hidden_dim: Annotated[int, Field(ge=8, le=8192, description="Hidden size of the projection head.")] = 2048
    prediction_hidden_dim: Annotated[int, Field(ge=8, le=8192, description="Bottleneck of the predictor.")] = 512
    min_scale: Annotated[float, Field(gt=0, le=1, description="Smallest crop, as area fraction.")] = 0.2
    jitter_strength: Annotated[float, Field(ge=0, le=2, description="Colour distortion strength s.")] = 0.5


@register_method("simsiam", family="contrastive", modalities=("image",), params=SimSiamParams)
class SimSiam(SSLMethod):
    """SimSiam: each view's prediction matches the other view's projection, held fixed by a stop-gradient.

    No negatives and no momentum encoder: the stop-gradient alone keeps the two branches from collapsing
    (SimSiam, section 4). Views are MoCo v2's, as in the paper.
    """

    def __init__(self, params: SimSiamParams, backbone: Backbone) -> None:
        super().__init__(params, backbone)
        size = backbone.spec.image_size
        self.view = ViewAugment(
            ViewRecipe(size=size, min_scale=params.min_scale, jitter_strength=params.jitter_strength)
        )
        self.projection = SimSiamProjectionHead(backbone.dim, params.hidden_dim, params.projection_dim)
        self.prediction = SimSiamPredictionHead(
            params.projection_dim, params.prediction_hidden_dim, params.projection_dim
        )
        self.criterion = NegativeCosineSimilarity()

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.view(images), self.view(images)]  # 2 x (B, 3, H, W)

    def training_loss(self, views: list[torch.Tensor]) -> torch.Tensor:
        """D(p1, stopgrad(z2)) / 2 + D(p2, stopgrad(z1)) / 2, with D the negative cosine (SimSiam, eq. 4)."""
        z = self.projection(self.backbone(torch.cat(views)))  # (2B, P): one pass, shared BatchNorm statistics
        p0, p1 = self.prediction(z).chunk(2)  # 2 x (B, P)
        z0, z1 = z.detach().chunk(2)  # 2 x (B, P)
        return 0.5 * (self.criterion(p0, z1) + self.criterion(p1, z0))
