"""A bag-of-n-grams text encoder: IDF-weighted mean of word-piece and hashed word-piece-bigram embeddings.

The encoder of fastText (Joulin et al., 2017) and Sent2Vec (Pagliardini et al., 2018): a text is the average of
its units' vectors, its units being the word pieces and their adjacent pairs, the pairs hashed into a fixed number
of buckets. Three choices of ours, all for small corpora, where a transformer from scratch loses to TF-IDF:

* the average is weighted by each unit's inverse document frequency, fixed from the training corpus, as TF-IDF
  weights its terms, and (``sublinear_tf``) a unit a text holds c times counts 1 + log c rather than c, as
  TF-IDF's sublinear term frequency does (Manning et al., 2008, 6.4.1): a word repeated through a long text
  stops drowning the rest;
* a bigram's weight is its IDF scaled down (``bigram_weight``): a hashed pair mostly repeats what its two
  pieces say, and at full weight the pairs, far more numerous than the pieces, crowd the pieces out of the LSA
  start's few hundred dimensions (measured in :mod:`selfsup.methods.bagcse`);
* the vectors start from latent semantic analysis (Deerwester et al., 1990): the top right singular vectors of
  the corpus's L2-normalized TF-IDF matrix over the same units, so the untrained encoder already embeds a text
  as its LSA projection, and contrastive training (:mod:`selfsup.methods.bagcse`) starts from there.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from selfsup.encoders import register_encoder_kind
from selfsup.text.batch import TokenBatch, content_mask
from selfsup.text.tokenizer import SpecialTokens

HASH_PRIME = 1_000_003  # mixes the first piece of a bigram before the modulo: (a * P + b) mod buckets
SVD_ITERATIONS = 4  # power iterations of the randomized SVD (Halko et al., 2011): 4 is plenty for LSA


@dataclass(frozen=True)
class BagEncoderSpec:
    """The architecture: vocabulary size, bigram buckets, width and the special tokens it skips."""

    vocab_size: int
    buckets: int
    dim: int
    special_tokens: SpecialTokens
    name: str = "bag"
    # False in files written before the option existed: they count a repeated unit c times, and still do
    sublinear_tf: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "text_bag",
            "name": self.name,
            "vocab_size": self.vocab_size,
            "buckets": self.buckets,
            "dim": self.dim,
            "special_tokens": self.special_tokens.to_dict(),
            "sublinear_tf": self.sublinear_tf,
        }


class BagEncoder(nn.Module):
    """:class:`TokenBatch` -> (B, dim): the TF-IDF-weighted mean of the vectors of its pieces and piece bigrams."""

    idf: torch.Tensor  # (U,) a buffer: saved and served with the weights

    def __init__(self, spec: BagEncoderSpec) -> None:
        super().__init__()
        self.spec = spec
        self.special = spec.special_tokens
        self.dim = spec.dim
        self.units = nn.EmbeddingBag(spec.vocab_size + spec.buckets, spec.dim, mode="sum")
        nn.init.normal_(self.units.weight, std=spec.dim**-0.5)
        self.register_buffer("idf", torch.ones(spec.vocab_size + spec.buckets))  # (U,) fitted by fit_corpus

    def unit_ids(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) pieces -> (B, 2L - 1) unit ids and their (B, 2L - 1) bool mask: pieces, then hashed bigrams
        of adjacent content pieces."""
        content = content_mask(batch, self.special.ids())  # (B, L)
        ids = batch.input_ids
        pairs = (ids[:, :-1] * HASH_PRIME + ids[:, 1:]) % self.spec.buckets + self.spec.vocab_size  # (B, L - 1)
        units = torch.cat([ids, pairs], dim=1)
        return units, torch.cat([content, content[:, :-1] & content[:, 1:]], dim=1)

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        units, mask = self.unit_ids(batch)  # (B, U)
        weights = self.idf[units] * mask  # (B, U): padding and special tokens weigh nothing
        if self.spec.sublinear_tf:
            count = occurrences(units, mask).clamp_min(1).float()  # (B, U)
            weights = weights * (1 + count.log()) / count  # the c copies of a unit share its 1 + log c
        total = self.units(units, per_sample_weights=weights.to(self.units.weight.dtype))  # (B, dim)
        return total / weights.sum(dim=1, keepdim=True).clamp_min(1e-6)

    @torch.no_grad()
    def fit_corpus(self, ids: np.ndarray, *, warm_start: bool, max_texts: int, bigram_weight: float = 1.0) -> None:
        """Set the IDF weights from the corpus's (N, L) ids, a bigram's times ``bigram_weight``, and, with
        ``warm_start``, the unit vectors from the LSA of the TF-IDF so weighted (at most ``max_texts`` texts, an
        even sample, are read; the draws are the global torch RNG's)."""
        rows = np.linspace(0, len(ids) - 1, num=min(len(ids), max_texts)).astype(np.int64)
        batch = TokenBatch.from_ids(np.asarray(ids[rows]), self.special.pad)
        units, mask = self.unit_ids(batch)
        counts = _unit_counts(units, mask, self.units.num_embeddings)  # (N, U) sparse
        frequency = torch.zeros(self.units.num_embeddings).index_add_(
            0, counts.indices()[1], torch.ones(counts.indices().shape[1])
        )
        self.idf.copy_(torch.log((1 + len(rows)) / (1 + frequency)) + 1)  # scikit-learn's smooth IDF
        # In the buffer, so that serving (and every file written before the weight existed) reads it as it is
        self.idf[self.spec.vocab_size :] *= bigram_weight
        if warm_start:
            tf = 1 + counts.values().log() if self.spec.sublinear_tf else counts.values()
            term_frequency = torch.sparse_coo_tensor(counts.indices(), tf, counts.shape, check_invariants=False)
            self.units.weight.copy_(_lsa_vectors(term_frequency.coalesce(), self.idf, self.dim))


def occurrences(units: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, U) unit ids and mask -> (B, U) how often each position's unit occurs among its row's masked units
    (0 where masked out); by sorting each row and measuring its runs, O(U log U) memory-light."""
    keyed = torch.where(mask, units, -1)  # masked positions form one run of their own
    ordered, order = keyed.sort(dim=1)  # (B, U)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    run = starts.long().cumsum(dim=1) - 1  # (B, U) which run each sorted position is in
    length = torch.zeros_like(ordered).scatter_add_(1, run, torch.ones_like(ordered))  # (B, U) per run
    count = torch.empty_like(ordered).scatter_(1, order, length.gather(1, run))  # back to the input order
    return count * mask


def _unit_counts(units: torch.Tensor, mask: torch.Tensor, size: int) -> torch.Tensor:
    """(N, U) unit ids and mask -> the (N, size) sparse matrix of how often each text holds each unit."""
    rows = torch.arange(len(units))[:, None].expand_as(units)[mask]
    index = torch.stack([rows, units[mask]])
    values = torch.ones(index.shape[1])
    return torch.sparse_coo_tensor(index, values, (len(units), size), check_invariants=False).coalesce()


def _lsa_vectors(term_frequency: torch.Tensor, idf: torch.Tensor, dim: int) -> torch.Tensor:
    """(size, dim) unit vectors: the top right singular vectors of the row-normalized TF-IDF matrix of the
    (N, size) sparse ``term_frequency`` (raw or sublinear counts, as the encoder weighs them), scaled so
    that a text's mean is its LSA projection; units the sample never saw keep small random vectors."""
    index = term_frequency.indices()
    values = term_frequency.values() * idf[index[1]]
    norms = torch.zeros(term_frequency.shape[0]).index_add_(0, index[0], values**2).sqrt()
    tfidf = torch.sparse_coo_tensor(index, values / norms[index[0]], term_frequency.shape, check_invariants=False)
    tfidf = tfidf.coalesce()  # (N, size)
    rank = min(dim, *tfidf.shape)
    _, _, right = torch.svd_lowrank(tfidf, q=rank, niter=SVD_ITERATIONS)  # (size, rank)
    vectors = torch.randn(term_frequency.shape[1], dim) * 1e-3
    vectors[:, :rank] += right * np.sqrt(dim)  # ~unit-length means, as the random init's
    return vectors


@register_encoder_kind("text_bag")
def bag_encoder_from_spec(raw: dict[str, Any]) -> BagEncoder:
    """Rebuild the architecture of ``BagEncoderSpec.to_dict()`` (weights and IDF are in its state dict)."""
    special = SpecialTokens.from_dict(raw["special_tokens"])
    sublinear = bool(raw.get("sublinear_tf", False))  # absent: written when every count was linear
    dims = int(raw["vocab_size"]), int(raw["buckets"]), int(raw["dim"])
    return BagEncoder(BagEncoderSpec(*dims, special, str(raw["name"]), sublinear_tf=sublinear))
