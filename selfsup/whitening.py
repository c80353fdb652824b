"""Whitening of served embeddings (Su et al., 2021, "Whitening Sentence Representations for Better Semantics and
Faster Retrieval"): the mean and a ZCA matrix fitted once, at export, on the training set's embeddings, stored with
the encoder and applied to every served vector before its L2 normalization.

Anisotropic embeddings (an MLM or TSDAE encoder's mean-pooled states) share one dominant direction, so that every
cosine is high and neighbours are decided by a few large-variance axes; centering removes the shared direction and
whitening gives every axis unit variance. Methods opt in with ``serve_whitened`` (see
:class:`~selfsup.methods.base.SSLMethod`): bench/quality.py shows where it helps and where it does not.

Stored in the encoder file as ``{"kind": "zca", "mean": (D,) float32, "matrix": (D, D) float32}``.
"""

from typing import Any

import torch
from torch import nn

from selfsup.errors import CheckpointError

# Ridge on the eigenvalues, relative to the largest: directions the training set barely spans are not blown up.
RIDGE = 1e-6
# A table encoder widens a few columns into hundreds of dimensions, most of them nearly flat; whitened in full,
# those flat directions weigh as much in a cosine as the few that carry the columns. KEEL's four tables (5000 rows,
# 30 epochs, seeds 0 / 1, 5 folds), 1e-6 -> 1e-3: the linear probe rose by 0.002 to 0.015 on magic, letter and
# satimage for every method (level on ring), kNN rose on magic by 0.006 to 0.020, where full whitening had left every
# method below raw columns, and moved by -0.007 to +0.003 elsewhere; 1e-2 lifted magic's kNN further but cost
# letter and satimage up to 0.018 (bench/quality_tables.py).
TABLE_RIDGE = 1e-3


class Whitening(nn.Module):
    """(B, D) features -> (B, D) ``(features - mean) @ matrix``, in float32."""

    mean: torch.Tensor
    matrix: torch.Tensor

    def __init__(self, mean: torch.Tensor, matrix: torch.Tensor) -> None:
        super().__init__()
        if mean.ndim != 1 or matrix.shape != (len(mean), len(mean)):
            raise ValueError(f"a whitening needs a (D,) mean and a (D, D) matrix, got {mean.shape}, {matrix.shape}")
        self.register_buffer("mean", mean.detach().float().cpu())
        self.register_buffer("matrix", matrix.detach().float().cpu())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (features.float() - self.mean) @ self.matrix

    def to_payload(self) -> dict[str, Any]:
        return {"kind": "zca", "mean": self.mean.cpu(), "matrix": self.matrix.cpu()}

    @classmethod
    def from_payload(cls, raw: dict[str, Any]) -> "Whitening":
        """Inverse of :meth:`to_payload`."""
        if raw.get("kind") != "zca":
            raise CheckpointError(f"unknown whitening kind {raw.get('kind')!r}")
        return cls(raw["mean"], raw["matrix"])


class WhiteningFit:
    """Running sums of chunks of (n, D) features, in float64: memory O(D^2) however many items are added."""

    def __init__(self, dim: int) -> None:
        self.count = 0
        self.total = torch.zeros(dim, dtype=torch.float64)  # (D,)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64)  # (D, D) sum of x x^T

    def add(self, features: torch.Tensor) -> None:
        chunk = features.detach().to("cpu", torch.float64)  # (n, D)
        self.count += len(chunk)
        self.total += chunk.sum(dim=0)
        self.outer += chunk.T @ chunk

    def finish(self, ridge: float = RIDGE) -> Whitening:
        """The ZCA whitening of what was added: ``V diag(1 / sqrt(l + ridge * max l)) V^T`` of the covariance."""
        if self.count < 2:
            raise ValueError(f"a whitening needs at least 2 items, got {self.count}")
        mean = self.total / self.count
        covariance = (self.outer - self.count * torch.outer(mean, mean)) / (self.count - 1)
        values, vectors = torch.linalg.eigh(covariance)
        values = values.clamp(min=0)
        if float(values.max()) <= 0:
            raise ValueError("a whitening needs features that vary: every item embeds to the same vector")
        matrix = (vectors / torch.sqrt(values + ridge * values.max())) @ vectors.T  # (D, D), symmetric
        return Whitening(mean, matrix)
