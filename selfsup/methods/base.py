"""The contract between a method and the training loop."""

from typing import Any

import torch
from torch import nn

from selfsup.backbones import Backbone


class SSLMethod(nn.Module):
    """A self-supervised objective around a backbone.

    The loop calls :meth:`make_views` outside autocast and without gradients, then :meth:`training_loss`
    under autocast, then :meth:`after_step` once the optimizer has stepped (momentum encoders, schedules).
    ``backbone`` is the encoder that is exported and served.
    """

    backbone: Backbone

    def __init__(self, params: Any, backbone: Backbone) -> None:
        super().__init__()
        self.params = params
        self.backbone = backbone

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) floats in [0, 1] -> the augmented views the loss compares."""
        raise NotImplementedError

    def training_loss(self, views: list[torch.Tensor]) -> torch.Tensor:
        """Scalar loss for one batch of views."""
        raise NotImplementedError

    def after_step(self, global_step: int, total_steps: int) -> None:
        """Hook for per-step updates outside the gradient (EMA teachers and the like)."""

    def embedding_head(self) -> nn.Module | None:
        """A module applied to the pooled backbone features to get the served embedding (a VAE's mean, say).

        None, the default, serves the pooled backbone features themselves.
        """
        return None

    @property
    def embedding_dim(self) -> int:
        """Size of what :meth:`embed` returns (and what is served)."""
        head = self.embedding_head()
        return int(head.out_features) if isinstance(head, nn.Linear) else self.backbone.dim

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) floats in [0, 1] -> (B, D) embeddings, not normalized: what evaluation and serving see."""
        features = self.backbone(images)
        head = self.embedding_head()
        return head(features) if head is not None else features
