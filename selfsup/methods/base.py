"""The contract between a method and the training loop."""

from typing import Any, ClassVar

import torch
from torch import nn

from selfsup.whitening import RIDGE


class SSLMethod(nn.Module):
    """A self-supervised objective around a backbone.

    The loop calls :meth:`make_views` outside autocast and without gradients, then :meth:`training_loss`
    under autocast, then :meth:`after_step` once the optimizer has stepped (momentum encoders, schedules).
    ``backbone`` is the encoder that is exported and served: an image :class:`~selfsup.backbones.Backbone`, or
    another modality's encoder meeting the contract of :mod:`selfsup.encoders` (typed ``Any`` here because
    each modality's methods know which one they get).
    """

    backbone: Any
    # Serve the embedding centered and whitened on the training set (see selfsup.whitening): for methods whose
    # embeddings are anisotropic and where bench/quality.py measured the gain.
    serve_whitened: ClassVar[bool] = False
    # Its ridge, relative to the largest eigenvalue of the embeddings' covariance (selfsup.whitening).
    whitening_ridge: ClassVar[float] = RIDGE

    def __init__(self, params: Any, backbone: nn.Module) -> None:
        super().__init__()
        self.params = params
        self.backbone = backbone

    def make_views(self, batch: Any) -> list[Any]:
        """A batch from the data's ``TrainingData.batch`` (images: (B, 3, H, W) floats in [0, 1]) -> the
        augmented views the loss compares."""
        raise NotImplementedError

    def training_loss(self, views: list[Any]) -> torch.Tensor:
        """Scalar loss for one batch of views."""
        raise NotImplementedError

    def after_step(self, global_step: int, total_steps: int, *, steps_per_epoch: int) -> None:
        """Hook for per-step updates outside the gradient (EMA teachers and the like), after ``global_step`` of
        the run's ``total_steps``; ``steps_per_epoch`` says which epoch that is (a run bounded by ``max_steps`` or
        ``max_minutes`` ends before ``params.epochs``)."""

    @property
    def grad_clip(self) -> float | None:
        """Largest L2 norm of each parameter's gradient (see :func:`selfsup.train.optim.clip_gradients`); None,
        the default, clips nothing."""
        return None

    def weight_decay_at(self, step: int, total_steps: int) -> float | None:
        """Weight decay of the step ``step`` (0-based) of ``total_steps``, for methods whose paper schedules it
        (DINO); None, the default, keeps ``params.weight_decay`` throughout."""
        return None

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

    def embed(self, batch: Any) -> torch.Tensor:
        """A batch -> (B, D) embeddings, not normalized: what evaluation and serving see."""
        features = self.backbone(batch)
        head = self.embedding_head()
        return head(features) if head is not None else features
