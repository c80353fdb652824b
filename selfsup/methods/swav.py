"""SwAV (Caron et al., 2020, "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments")."""

from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn.functional as F
from lightly.loss import SwaVLoss
from lightly.models.modules import SwaVProjectionHead, SwaVPrototypes
from pydantic import Field

from selfsup.augment import MultiCrop, local_crop_size, swav_recipe
from selfsup.backbones import Backbone
from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import register_method
from selfsup.params import OptimizerName, TrainingParams


@dataclass(frozen=True)
class SwAVParams(TrainingParams):
    """The paper's batch-256 recipe (LARS at 0.6, weight decay 1e-6) with a smaller head (2048 hidden and 3000
    prototypes there) and no queue."""

    optimizer: Annotated[OptimizerName, Field(description="Optimizer.")] = "lars"
    # The paper's batch-256 LARS rate (0.6) and 3000 prototypes are ImageNet's; with more prototypes than images
    # in a batch the per-batch equipartition is degenerate. On digits at batch 256, K=512 and lr 0.6 ended below
    # random init on kNN (-0.022); K=64 and lr 0.3 above it (+0.025).
    lr: Annotated[float, Field(gt=0, le=10, description="Peak learning rate after warm-up.")] = 0.3
    weight_decay: Annotated[float, Field(ge=0, le=1, description="Decoupled weight decay.")] = 1e-6
    projection_dim: Annotated[int, Field(ge=8, le=8192, description="Output size of the head.")] = 128
    hidden_dim: Annotated[int, Field(ge=8, le=8192, description="Hidden size of the head.")] = 512
    n_prototypes: Annotated[int, Field(ge=8, le=16384, description="Number of prototypes (clusters).")] = 64
    temperature: Annotated[float, Field(gt=0, le=10, description="Softmax temperature of the predictions.")] = 0.1
    sinkhorn_epsilon: Annotated[float, Field(gt=0, le=1, description="Entropy weight of the Sinkhorn codes.")] = 0.05
    sinkhorn_iterations: Annotated[int, Field(ge=1, le=100, description="Sinkhorn-Knopp iterations.")] = 3
    num_local_crops: Annotated[int, Field(ge=0, le=10, description="Small crops per image.")] = 6
    freeze_prototypes_epochs: Annotated[
        int, Field(ge=0, le=1000, description="Epochs the prototypes are kept fixed.")
    ] = 1


@register_method("swav", family="clustering", modalities=("image",), params=SwAVParams)
class SwAV(SSLMethod):
    """SwAV: predict the Sinkhorn cluster code of one global crop from every other crop (swapped prediction).

    Each crop's projection z (unit norm) is scored against K unit-norm prototypes. The codes q of a global
    crop are an equipartitioned soft assignment of the batch to the prototypes (Sinkhorn-Knopp, eq. 3); the
    loss is the cross-entropy between q and the softmax of every other crop's scores (eq. 1). The prototypes
    are renormalized before every step and held fixed during the first epoch(s). The queue the paper adds for
    batches under 256 is not implemented.
    """

    clock: torch.Tensor

    def __init__(self, params: SwAVParams, backbone: Backbone) -> None:
        super().__init__(params, backbone)
        size, patch = backbone.spec.image_size, backbone.spec.patch_size or 1
        self.crops = MultiCrop(swav_recipe(size, local_crop_size(size, patch), params.num_local_crops))
        self.head = SwaVProjectionHead(backbone.dim, params.hidden_dim, params.projection_dim)
        # lightly counts frozen "steps" in whatever unit forward's step is given in: here, epochs.
        self.prototypes = SwaVPrototypes(
            params.projection_dim, params.n_prototypes, n_steps_frozen_prototypes=params.freeze_prototypes_epochs
        )
        self.criterion = SwaVLoss(
            temperature=params.temperature,
            sinkhorn_iterations=params.sinkhorn_iterations,
            sinkhorn_epsilon=params.sinkhorn_epsilon,
        )
        self.register_buffer("clock", torch.zeros(2, dtype=torch.long))  # (finished steps, steps per epoch)

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.crops(images)  # 2 x (B, 3, S, S), then N x (B, 3, s, s)

    def training_loss(self, views: list[torch.Tensor]) -> torch.Tensor:
        self.prototypes.normalize()
        z = F.normalize(self.head(self.backbone.forward_crops(views)), dim=1)  # (V * B, P), unit rows
        scores = self.prototypes(z, step=self.epoch())  # (V * B, K); no gradient while frozen
        crops = scores.float().chunk(len(views))  # V x (B, K)
        return self.criterion(list(crops[:2]), list(crops[2:])).squeeze(0)

    def after_step(self, global_step: int, total_steps: int, *, steps_per_epoch: int) -> None:
        self.clock.copy_(torch.tensor([global_step, steps_per_epoch]))

    def epoch(self) -> int:
        """The epoch the next step belongs to (stored in ``clock``, so a resumed run knows it too)."""
        done, per_epoch = self.clock.tolist()
        return done // per_epoch if per_epoch else 0
