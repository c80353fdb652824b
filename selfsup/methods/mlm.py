"""Masked language modelling (Devlin et al., 2019, "BERT: Pre-training of Deep Bidirectional Transformers for
Language Understanding")."""

from dataclasses import dataclass
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import register_method
from selfsup.text.batch import TokenBatch, content_mask
from selfsup.text.encoder import TextParams, TextTransformer
from selfsup.text.tokenizer import SpecialTokens

IGNORE = -100  # the label of positions that are not predicted
MASK_SHARE, RANDOM_SHARE = 0.8, 0.1  # of the chosen tokens: [MASK], a random token; the rest stay as they are


@dataclass(frozen=True)
class MLMParams(TextParams):
    mask_prob: Annotated[float, Field(ge=0.01, le=0.8, description="Fraction of tokens to predict.")] = 0.15


def mask_tokens(
    batch: TokenBatch, *, mask_prob: float, special: SpecialTokens, vocab_size: int
) -> tuple[TokenBatch, torch.Tensor]:
    """BERT's corruption: each content token (never a special or padding one) is chosen with ``mask_prob``;
    a chosen token becomes [MASK] 80% of the time, a random token 10%, and stays itself 10%.

    Returns the corrupted batch and (B, L) labels: the original id where chosen, ``IGNORE`` elsewhere.
    """
    ids = batch.input_ids
    chosen = content_mask(batch, special.ids()) & (torch.rand(ids.shape, device=ids.device) < mask_prob)
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))  # (B, L)
    share = torch.rand(ids.shape, device=ids.device)
    random_ids = torch.randint(vocab_size, ids.shape, device=ids.device)
    # a random draw that hits a special token keeps the original instead: specials mean something to the model
    is_special = torch.isin(random_ids, torch.tensor(special.ids(), device=ids.device))
    to_random = chosen & (share >= MASK_SHARE) & (share < MASK_SHARE + RANDOM_SHARE) & ~is_special
    corrupted = torch.where(chosen & (share < MASK_SHARE), torch.full_like(ids, special.mask), ids)
    corrupted = torch.where(to_random, random_ids, corrupted)
    return TokenBatch(corrupted, batch.attention_mask), labels


class MaskedLMHead(nn.Module):
    """BERT's prediction head: dense, GELU, LayerNorm, then a decoder whose weight is the word embeddings."""

    def __init__(self, dim: int, vocab_size: int, eps: float = 1e-12) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden: torch.Tensor, embedding_weight: torch.Tensor) -> torch.Tensor:
        """(M, H) token states -> (M, V) logits over the vocabulary."""
        return F.linear(self.norm(F.gelu(self.dense(hidden))), embedding_weight, self.bias)


@register_method("mlm", family="masked", modalities=("text",), params=MLMParams)
class MaskedLanguageModel(SSLMethod):
    """Masked language modelling: predict the original of 15% corrupted tokens from the context (BERT).

    The served embedding is the mean-pooled encoder (no head).
    """

    backbone: TextTransformer
    serve_whitened = True  # docstring set, 10 epochs: kNN 0.313 -> 0.467 whitened (bench/quality.py)

    def __init__(self, params: MLMParams, backbone: TextTransformer) -> None:
        super().__init__(params, backbone)
        eps = float(getattr(backbone.model.config, "layer_norm_eps", 1e-12))
        self.head = MaskedLMHead(backbone.dim, backbone.vocab_size, eps)

    def make_views(self, batch: TokenBatch) -> list[Any]:
        corrupted, labels = mask_tokens(
            batch, mask_prob=self.params.mask_prob, special=self.backbone.special, vocab_size=self.backbone.vocab_size
        )
        return [corrupted, labels]  # TokenBatch, (B, L) int64

    def training_loss(self, views: list[Any]) -> torch.Tensor:
        corrupted, labels = views
        tokens = self.backbone.forward_tokens(corrupted)  # (B, L, H)
        predicted = labels != IGNORE  # (B, L)
        if not predicted.any():  # a batch of texts with no content token: nothing to learn, keep the graph
            return tokens.sum() * 0.0
        logits = self.head(tokens[predicted], self.backbone.input_embeddings().weight)  # (M, V)
        return F.cross_entropy(logits.float(), labels[predicted])

    def embed(self, batch: TokenBatch) -> torch.Tensor:
        """(B, L) ids -> (B, H) mean-pooled encoder states."""
        return self.backbone(batch)
