"""BYOL (Grill et al., 2020, "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning")."""

import copy
from dataclasses import dataclass, replace
from typing import Annotated

import torch
from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.utils.scheduler import cosine_schedule
from pydantic import Field

from selfsup.augment import ViewAugment, ViewRecipe
from selfsup.backbones import Backbone
from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import register_method
from selfsup.params import TrainingParams


@dataclass(frozen=True)
class BYOLParams(TrainingParams):
    momentum: Annotated[
        float, Field(ge=0, le=1, description="Target momentum at the first step; rises to 1 along a cosine.")
    ] = 0.99
    projection_dim: Annotated[int, Field(ge=8, le=8192, description="Output size of both heads.")] = 256
    hidden_dim: Annotated[int, Field(ge=8, le=8192, description="Hidden size of the projection head.")] = 2048
    prediction_hidden_dim: Annotated[int, Field(ge=8, le=8192, description="Hidden size of the predictor.")] = 2048
    min_scale: Annotated[float, Field(gt=0, le=1, description="Smallest crop, as area fraction.")] = 0.08
    jitter_strength: Annotated[float, Field(ge=0, le=2, description="Colour distortion strength s.")] = 0.5


def byol_views(size: int, *, min_scale: float, jitter_strength: float) -> tuple[ViewAugment, ViewAugment]:
    """BYOL's asymmetric pair (Grill et al., 2020, table 6), which Barlow Twins and VICReg reuse.

    The first view is always blurred and never solarized, the second rarely blurred and sometimes solarized.
    ViewRecipe draws saturation with the same spread as brightness (0.4 at s = 0.5, where BYOL uses 0.2), and
    blur only applies from 64 px.
    """
    base = ViewRecipe(size=size, min_scale=min_scale, jitter_strength=jitter_strength)
    first = replace(base, blur_prob=1.0, solarize_prob=0.0)
    second = replace(base, blur_prob=0.1, solarize_prob=0.2)
    return ViewAugment(first), ViewAugment(second)


@register_method("byol", family="contrastive", modalities=("image",), params=BYOLParams)
class BYOL(SSLMethod):
    """BYOL: an online network predicts a slow-moving average of itself on another view, with no negatives.

    The online side is backbone -> projection -> prediction; the target is an exponential moving average of
    backbone -> projection that receives no gradient. Its momentum follows a cosine from ``params.momentum``
    to 1 over the run (BYOL, section 3.2).
    """

    def __init__(self, params: BYOLParams, backbone: Backbone) -> None:
        super().__init__(params, backbone)
        self.first_view, self.second_view = byol_views(
            backbone.spec.image_size, min_scale=params.min_scale, jitter_strength=params.jitter_strength
        )
        self.projection = BYOLProjectionHead(backbone.dim, params.hidden_dim, params.projection_dim)
        self.prediction = BYOLPredictionHead(params.projection_dim, params.prediction_hidden_dim, params.projection_dim)
        self.target_backbone = copy.deepcopy(backbone)
        self.target_projection = copy.deepcopy(self.projection)
        for target in (self.target_backbone, self.target_projection):
            deactivate_requires_grad(target)  # moved by after_step only; the optimizer never sees it
        self.criterion = NegativeCosineSimilarity()

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.first_view(images), self.second_view(images)]  # 2 x (B, 3, H, W)

    def training_loss(self, views: list[torch.Tensor]) -> torch.Tensor:
        """Symmetric loss: each view's prediction against the target's projection of the other view."""
        both = torch.cat(views)  # (2B, 3, H, W): one pass per network, BatchNorm statistics over both views
        p0, p1 = self.prediction(self.projection(self.backbone(both))).chunk(2)  # 2 x (B, P)
        with torch.no_grad():  # stop-gradient on the target
            z0, z1 = self.target_projection(self.target_backbone(both)).chunk(2)  # 2 x (B, P)
        return 0.5 * (self.criterion(p0, z1) + self.criterion(p1, z0))

    def momentum(self, global_step: int, total_steps: int) -> float:
        """Momentum of the update after step ``global_step`` (1-based): ``params.momentum`` first, 1 last."""
        return cosine_schedule(global_step - 1, total_steps, self.params.momentum, 1.0)

    def after_step(self, global_step: int, total_steps: int, *, steps_per_epoch: int) -> None:
        m = self.momentum(global_step, total_steps)
        update_momentum(self.backbone, self.target_backbone, m)
        update_momentum(self.projection, self.target_projection, m)
