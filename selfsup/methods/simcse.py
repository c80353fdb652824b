"""Unsupervised SimCSE (Gao et al., 2021, "SimCSE: Simple Contrastive Learning of Sentence Embeddings")."""

from dataclasses import dataclass
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from pydantic import Field

from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import register_method
from selfsup.text.batch import TokenBatch
from selfsup.text.encoder import TextParams, TextTransformer


@dataclass(frozen=True)
class SimCSEParams(TextParams):
    temperature: Annotated[float, Field(gt=0, le=10, description="Softmax temperature of the InfoNCE loss.")] = 0.05


def simcse_loss(first: torch.Tensor, second: torch.Tensor, temperature: float) -> torch.Tensor:
    """In-batch InfoNCE over cosine similarities: (B, D) x (B, D) -> scalar.

    Text i's positive is its own second encoding; the other texts' second encodings are its negatives
    (equation 4 of the paper, one direction, as there).
    """
    similarity = F.normalize(first.float(), dim=1) @ F.normalize(second.float(), dim=1).T  # (B, B)
    targets = torch.arange(len(first), device=first.device)
    return F.cross_entropy(similarity / temperature, targets)


@register_method("simcse", family="contrastive", modalities=("text",), params=SimCSEParams)
class SimCSE(SSLMethod):
    """SimCSE: each text encoded twice with different dropout masks, pulled together against the batch.

    Dropout is the only augmentation. The paper trains with an MLP over [CLS] and serves without it; we train
    and serve the mean-pooled encoder directly, the same embedding the other text methods serve.
    """

    backbone: TextTransformer
    serve_whitened = True  # docstring set, 10 epochs: kNN 0.456 -> 0.527 whitened (bench/quality.py)

    def __init__(self, params: SimCSEParams, backbone: TextTransformer) -> None:
        super().__init__(params, backbone)

    def make_views(self, batch: TokenBatch) -> list[Any]:
        return [batch, batch]  # the same ids twice: the noise comes from dropout in training_loss

    def training_loss(self, views: list[Any]) -> torch.Tensor:
        first, second = views
        # one pass over both copies: every row draws its own dropout masks
        pooled = self.backbone(TokenBatch.concat([first, second], self.backbone.special.pad))  # (2B, H)
        return simcse_loss(pooled[: len(first)], pooled[len(first) :], self.params.temperature)

    def embed(self, batch: TokenBatch) -> torch.Tensor:
        """(B, L) ids -> (B, H) mean-pooled encoder states."""
        return self.backbone(batch)
