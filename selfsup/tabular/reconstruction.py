"""Predicting every feature of a row from an embedding, and the per-feature loss of that prediction
(shared by VIME's feature estimator and the tabular denoising autoencoder)."""

import torch
import torch.nn.functional as F
from torch import nn

from selfsup.tabular.batch import TableBatch


class FeatureDecoder(nn.Module):
    """(B, D) -> numerics (B, Fn) and, per categorical column j, logits (B, C_j) over its codes.

    One hidden layer, then one linear output for all numerics and one for all category logits (split per
    column), so the cost does not grow with a Python loop over columns.
    """

    def __init__(self, dim: int, num_numeric: int, cardinalities: tuple[int, ...], hidden: int) -> None:
        super().__init__()
        self.cardinalities = cardinalities
        self.num_numeric = num_numeric
        self.trunk = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        # A table without numerics (or categoricals) gets no output layer for them, not a zero-width one.
        self.numeric = nn.Linear(hidden, num_numeric) if num_numeric else None
        self.categorical = nn.Linear(hidden, sum(cardinalities)) if cardinalities else None

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        hidden = self.trunk(features)  # (B, H)
        numeric = self.numeric(hidden) if self.numeric is not None else hidden.new_zeros(len(hidden), 0)
        logits = self.categorical(hidden).split(list(self.cardinalities), dim=1) if self.categorical is not None else ()
        return numeric, list(logits)  # (B, Fn), Fc x (B, C_j)


def reconstruction_loss(decoded: tuple[torch.Tensor, list[torch.Tensor]], target: TableBatch) -> torch.Tensor:
    """Mean over the F features of each feature's loss: squared error for a (standardized) numeric, cross
    entropy for a categorical, each averaged over the B rows. Scalar.

    Averaging per feature weighs a numeric and a categorical column alike whatever their mix.
    """
    numeric, logits = decoded
    per_feature = [((numeric.float() - target.numeric) ** 2).mean(dim=0)]  # (Fn,)
    per_feature += [F.cross_entropy(z.float(), target.categorical[:, j]).reshape(1) for j, z in enumerate(logits)]
    return torch.cat(per_feature).mean()
