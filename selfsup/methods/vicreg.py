"""VICReg (Bardes et al., 2022, "VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised
Learning")."""

from dataclasses import dataclass
from typing import Annotated

import torch
from lightly.loss import VICRegLoss
from lightly.models.modules import BarlowTwinsProjectionHead
from pydantic import Field

from selfsup.backbones import Backbone
from selfsup.methods.base import SSLMethod
from selfsup.methods.byol import byol_views
from selfsup.methods.registry import register_method
from selfsup.params import TrainingParams


@dataclass(frozen=True)
class VICRegParams(TrainingParams):
    # The weighted loss is ~25x SimCLR's in scale; at the shared AdamW default (2e-3) a short run on digits ended
    # below its random init on kNN (-0.003), at 1e-3 above it (+0.067), at 5e-3 far below (-0.134).
    lr: Annotated[float, Field(gt=0, le=10, description="Peak learning rate after warm-up.")] = 1e-3
    invariance_weight: Annotated[
        float, Field(ge=0, le=1000, description="Weight lambda of the invariance (mean squared distance) term.")
    ] = 25.0
    variance_weight: Annotated[
        float, Field(ge=0, le=1000, description="Weight mu of the variance (per-dimension std hinge) term.")
    ] = 25.0
    covariance_weight: Annotated[
        float, Field(ge=0, le=1000, description="Weight nu of the covariance (off-diagonal) term.")
    ] = 1.0
    projection_dim: Annotated[int, Field(ge=8, le=8192, description="Output size of the expander.")] = 2048
    hidden_dim: Annotated[int, Field(ge=8, le=8192, description="Hidden size of the expander.")] = 2048
    min_scale: Annotated[float, Field(gt=0, le=1, description="Smallest crop, as area fraction.")] = 0.08
    jitter_strength: Annotated[float, Field(ge=0, le=2, description="Colour distortion strength s.")] = 0.5


@register_method("vicreg", family="contrastive", modalities=("image",), params=VICRegParams)
class VICReg(SSLMethod):
    """VICReg: two views' embeddings kept close, each dimension's spread kept up, dimensions decorrelated.

    Loss = lambda * s(Z, Z') + mu * (v(Z) + v(Z')) / 2 + nu * (c(Z) + c(Z')): s the mean squared difference, v the
    mean hinge max(0, 1 - std) per dimension, c the sum of squared off-diagonal covariances over P (VICReg,
    eq. 6; the halved variance term is the authors' code, which lightly follows). The expander is Barlow Twins'
    three-layer MLP, as in the paper; views are BYOL's asymmetric pair.
    """

    def __init__(self, params: VICRegParams, backbone: Backbone) -> None:
        super().__init__(params, backbone)
        self.first_view, self.second_view = byol_views(
            backbone.spec.image_size, min_scale=params.min_scale, jitter_strength=params.jitter_strength
        )
        self.projection = BarlowTwinsProjectionHead(backbone.dim, params.hidden_dim, params.projection_dim)
        self.criterion = VICRegLoss(
            lambda_param=params.invariance_weight,
            mu_param=params.variance_weight,
            nu_param=params.covariance_weight,
        )

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.first_view(images), self.second_view(images)]  # 2 x (B, 3, H, W)

    def training_loss(self, views: list[torch.Tensor]) -> torch.Tensor:
        z0, z1 = self.projection(self.backbone(torch.cat(views))).chunk(2)  # 2 x (B, P)
        # The variance term's sqrt(var + 1e-4) and the covariance sums need float32, not bfloat16.
        with torch.autocast(z0.device.type, enabled=False):
            return self.criterion(z0.float(), z1.float())
